//! Checks a module before it runs, so that every way a file can be wrong gets its own message:
//! not wasm, a core module, a component of another world, an incompatible API version,
//! missing exports, imports premod does not grant.

use crate::error::StepError;
use semver::Version;

/// The `premod:premodule` version this host implements (the package line of `wit/`).
pub const API_VERSION: &str = "1.1.0";

const PACKAGE: &str = "premod:premodule";

/// The `premod:native` version this host implements (the package line of `wit/native/`):
/// optional host-native capabilities, versioned on their own.
pub const NATIVE_VERSION: &str = "1.0.0";

const NATIVE_PACKAGE: &str = "premod:native";

/// What a component says about itself, read before it is instantiated.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ModuleApi {
    /// The `premod:premodule` version the module was built against.
    pub api_version: Version,
    /// Every export name, e.g. `premod:premodule/train@1.0.0`.
    pub exports: Vec<String>,
    /// Every import name, e.g. `wasi:filesystem/types@0.2.6`.
    pub imports: Vec<String>,
    /// Exports `premod:premodule/train` (`process-for-train`).
    pub has_train: bool,
    /// Exports `premod:premodule/serve` (`init-svc`, `transform`).
    pub has_serve: bool,
    /// Exports `premod:premodule/items` (1.1.0: `plan`, `process-item`, `finish`).
    pub has_items: bool,
}

pub(crate) fn host_api() -> Version {
    Version::parse(API_VERSION).expect("API_VERSION is semver")
}

/// Looks at the first bytes: wasm at all, and a component rather than a core module.
pub(crate) fn sniff(bytes: &[u8]) -> Result<(), StepError> {
    const HINT: &str = "build the module for the wasm32-wasip2 target (e.g. `cargo build --release \
                        --target wasm32-wasip2`), which produces a component";
    let text = std::str::from_utf8(&bytes[..bytes.len().min(64)]).unwrap_or("");
    let text = text.trim_start();
    if text.starts_with("(module") {
        return Err(StepError::invalid_module(format!(
            "this is a core WebAssembly module (text format), not a component; {HINT}"
        )));
    }
    if text.starts_with("(component") {
        return Ok(());
    }
    if bytes.is_empty() {
        return Err(StepError::invalid_module(format!(
            "the file is empty; {HINT}"
        )));
    }
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        let head: Vec<String> = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
        return Err(StepError::invalid_module(format!(
            "not a WebAssembly file (it starts with bytes {}, not 00 61 73 6d); {HINT}",
            head.join(" ")
        )));
    }
    match bytes[4..8] {
        [0x0d, 0x00, 0x01, 0x00] => Ok(()),
        [0x01, 0x00, 0x00, 0x00] => Err(StepError::invalid_module(format!(
            "this is a core WebAssembly module, not a component (wasm32-wasip1 and \
             wasm32-unknown-unknown produce these); {HINT}, or wrap it with \
             `wasm-tools component new`"
        ))),
        [a, b, c, d] => Err(StepError::invalid_module(format!(
            "unsupported WebAssembly binary version/layer {a:02x} {b:02x} {c:02x} {d:02x}; {HINT}"
        ))),
        _ => unreachable!("slice of length 4"),
    }
}

/// Splits `ns:pkg/iface@1.2.3` into (`ns:pkg`, `iface`, version).
fn split_name(name: &str) -> (&str, &str, Option<Version>) {
    let (path, version) = match name.split_once('@') {
        Some((p, v)) => (p, Version::parse(v).ok()),
        None => (name, None),
    };
    match path.split_once('/') {
        Some((pkg, iface)) => (pkg, iface, version),
        None => (path, "", version),
    }
}

/// Reads the module's API from its export and import names.
pub(crate) fn inspect(exports: Vec<String>, imports: Vec<String>) -> Result<ModuleApi, StepError> {
    let host = host_api();
    let ours: Vec<(&str, Option<Version>)> = exports
        .iter()
        .map(|n| split_name(n))
        .filter(|(pkg, _, _)| *pkg == PACKAGE)
        .map(|(_, iface, v)| (iface, v))
        .collect();

    if ours.is_empty() {
        let listed = if exports.is_empty() {
            "nothing".to_string()
        } else {
            exports.join(", ")
        };
        let command = if exports.iter().any(|e| e.starts_with("wasi:cli/run")) {
            " (it is a WASI command, a program with a `main`)"
        } else {
            ""
        };
        return Err(StepError::invalid_module(format!(
            "this component is not a premodule: it exports {listed}{command}, but a premodule \
             exports {PACKAGE}/train@{host} and {PACKAGE}/serve@{host}; build it against the \
             `premodule` world in wit/ (e.g. wit_bindgen::generate!({{ world: \"premodule\" }}))"
        )));
    }

    let mut api_version: Option<Version> = None;
    for (iface, version) in &ours {
        let Some(v) = version else {
            return Err(StepError::invalid_module(format!(
                "export {PACKAGE}/{iface} has no version; build it against wit/ of this premod \
                 ({PACKAGE}@{host})"
            )));
        };
        check_version(PACKAGE, v, &host)?;
        if api_version.as_ref().is_none_or(|cur| v > cur) {
            api_version = Some(v.clone());
        }
    }

    let mut denied = Vec::new();
    let mut unknown = Vec::new();
    for name in &imports {
        let (pkg, iface, version) = split_name(name);
        match pkg {
            "wasi:io" | "wasi:clocks" | "wasi:filesystem" | "wasi:random" => {}
            "wasi:cli" if iface == "run" => unknown.push(name.clone()),
            "wasi:cli" => {}
            // Linked so that Python (componentize-py) modules load, but every use is denied
            // at run time: see `Engine::linker`.
            "wasi:sockets" => {}
            "wasi:http" => denied.push(name.clone()),
            PACKAGE if iface == "host" || iface == "types" => {
                if let Some(v) = version {
                    check_version(PACKAGE, &v, &host)?;
                }
            }
            NATIVE_PACKAGE if iface == "zip" => {
                let native = Version::parse(NATIVE_VERSION).expect("NATIVE_VERSION is semver");
                match version {
                    Some(v) => check_version(NATIVE_PACKAGE, &v, &native)?,
                    None => unknown.push(name.clone()),
                }
            }
            _ => unknown.push(name.clone()),
        }
    }
    if !denied.is_empty() {
        return Err(StepError::invalid_module(format!(
            "the module imports {}, which premod does not grant: premodules have no network \
             access; remove the HTTP client code and read inputs from /collection or /input \
             instead",
            denied.join(", ")
        )));
    }
    if !unknown.is_empty() {
        return Err(StepError::invalid_module(format!(
            "the module imports {}, which premod does not provide; a premodule may import only \
             {PACKAGE}/host, {NATIVE_PACKAGE}/zip and WASI io, clocks, filesystem, random and \
             cli (stdio, exit)",
            unknown.join(", ")
        )));
    }

    let has = |want: &str| ours.iter().any(|(iface, _)| *iface == want);
    Ok(ModuleApi {
        api_version: api_version.expect("at least one versioned export"),
        has_train: has("train"),
        has_serve: has("serve"),
        has_items: has("items"),
        exports,
        imports,
    })
}

fn check_version(package: &str, v: &Version, host: &Version) -> Result<(), StepError> {
    if v.major != host.major {
        return Err(StepError::invalid_module(format!(
            "the module was built against {package}@{v}, but this premod runs modules built \
             against {package}@{}.x (it implements {host}); rebuild the module against wit/ of \
             this premod",
            host.major
        )));
    }
    if (v.minor, v.patch) > (host.minor, host.patch) {
        return Err(StepError::invalid_module(format!(
            "the module was built against {package}@{v}, newer than the {host} this premod \
             implements; upgrade premod, or build the module against {package}@{host}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn api_version_matches_the_wit_package_line() {
        let wit = include_str!("../../../wit/premodule.wit");
        assert!(
            wit.contains(&format!("package premod:premodule@{API_VERSION};")),
            "wit/premodule.wit and API_VERSION disagree"
        );
    }

    #[test]
    fn sniffs_files() {
        assert!(sniff(b"\0asm\x0d\0\x01\0rest").is_ok());
        let core = sniff(b"\0asm\x01\0\0\0").unwrap_err();
        assert!(core.message.contains("core WebAssembly module"), "{core}");
        let text = sniff(b"#!/usr/bin/env python\n").unwrap_err();
        assert!(text.message.contains("not a WebAssembly file"), "{text}");
        assert!(sniff(b"").unwrap_err().message.contains("empty"));
        assert!(sniff(b"  (module)").unwrap_err().message.contains("core"));
        assert!(sniff(b"(component)").is_ok());
    }

    #[test]
    fn accepts_a_premodule_and_reads_its_version() {
        let api = inspect(
            names(&[
                "premod:premodule/train@1.0.0",
                "premod:premodule/serve@1.0.0",
            ]),
            names(&[
                "premod:premodule/host@1.0.0",
                "wasi:filesystem/types@0.2.6",
                "wasi:cli/stdout@0.2.6",
            ]),
        )
        .unwrap();
        assert_eq!(api.api_version, Version::new(1, 0, 0));
        assert!(api.has_train && api.has_serve && !api.has_items);
    }

    #[test]
    fn reads_the_items_export_of_1_1() {
        let api = inspect(
            names(&[
                "premod:premodule/train@1.1.0",
                "premod:premodule/serve@1.1.0",
                "premod:premodule/items@1.1.0",
            ]),
            names(&["premod:premodule/host@1.1.0"]),
        )
        .unwrap();
        assert_eq!(api.api_version, Version::new(1, 1, 0));
        assert!(api.has_items);
        let newer = inspect(names(&["premod:premodule/items@1.2.0"]), vec![]).unwrap_err();
        assert!(newer.message.contains("upgrade premod"), "{newer}");
    }

    #[test]
    fn accepts_the_native_capabilities_of_its_major_version_only() {
        let exports = || {
            names(&[
                "premod:premodule/train@1.0.0",
                "premod:premodule/serve@1.0.0",
            ])
        };
        let api = inspect(exports(), names(&["premod:native/zip@1.0.0"])).unwrap();
        assert_eq!(api.imports, ["premod:native/zip@1.0.0"]);
        let newer = inspect(exports(), names(&["premod:native/zip@1.3.0"])).unwrap_err();
        assert!(newer.message.contains("premod:native@1.3.0"), "{newer}");
        let major = inspect(exports(), names(&["premod:native/zip@2.0.0"])).unwrap_err();
        assert!(major.message.contains("premod:native@1.x"), "{major}");
        let other = inspect(exports(), names(&["premod:native/shell@1.0.0"])).unwrap_err();
        assert!(other.message.contains("does not provide"), "{other}");
    }

    #[test]
    fn api_versions_match_the_wit_package_lines() {
        let native = include_str!("../../../wit/native/zip.wit");
        assert!(native.contains(&format!("package premod:native@{NATIVE_VERSION};")));
    }

    #[test]
    fn the_sdk_copies_of_the_wit_are_the_released_files() {
        assert_eq!(
            include_str!("../../../plugins/premod-sdk/wit/premodule.wit"),
            include_str!("../../../wit/since_v1.0.0/premodule.wit"),
            "premod-sdk builds against the frozen 1.0.0"
        );
        assert_eq!(
            include_str!("../../../plugins/premod-sdk/wit/native/zip.wit"),
            include_str!("../../../wit/native/zip.wit"),
            "copy wit/native/zip.wit to plugins/premod-sdk/wit/native/"
        );
    }

    #[test]
    fn names_each_kind_of_wrong_module() {
        let other = inspect(names(&["wasi:cli/run@0.2.6"]), vec![]).unwrap_err();
        assert_eq!(other.kind, ErrorKind::InvalidModule);
        assert!(other.message.contains("WASI command"), "{other}");

        let major = inspect(names(&["premod:premodule/train@2.0.0"]), vec![]).unwrap_err();
        assert!(major.message.contains("premod:premodule@2.0.0"), "{major}");

        let newer = inspect(names(&["premod:premodule/train@1.4.0"]), vec![]).unwrap_err();
        assert!(newer.message.contains("upgrade premod"), "{newer}");

        let net = inspect(
            names(&["premod:premodule/train@1.0.0"]),
            names(&["wasi:sockets/tcp@0.2.6", "wasi:http/outgoing-handler@0.2.6"]),
        )
        .unwrap_err();
        assert!(
            net.message.contains("wasi:http/outgoing-handler@0.2.6"),
            "{net}"
        );
        assert!(
            !net.message.contains("wasi:sockets"),
            "sockets load, denied at run time: {net}"
        );
        assert!(net.message.contains("no network"), "{net}");

        let odd = inspect(
            names(&["premod:premodule/train@1.0.0"]),
            names(&["acme:gpu/compute@1.0.0"]),
        )
        .unwrap_err();
        assert!(odd.message.contains("acme:gpu/compute"), "{odd}");
    }
}
