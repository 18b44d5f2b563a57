//! `premod check FILE.wasm`: the engine's own checks on a module file (exactly what `exec` and
//! `module add` run), then what the module says about itself: API version, exports, imports,
//! size, compile time, the language and SDK that built it.

use crate::engine::{API_VERSION, Engine, ModuleApi};
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// The module: a WebAssembly component file (.wasm)
    module: PathBuf,
    /// Print one JSON object instead of text
    #[arg(long)]
    json: bool,
}

/// The `--json` output of a module that passed.
#[derive(Debug, Serialize)]
struct Report {
    ok: bool,
    file: String,
    /// The `premod:premodule` version the module was built against (from its export names).
    api_version: String,
    /// The version this premod implements; it runs every 1.x module up to it.
    host_api_version: &'static str,
    /// What the SDK wrote into the `premod-api-version` custom section, if any.
    declared_api_version: Option<String>,
    /// `premod-sdk` custom section, e.g. `rust 0.1.0`.
    sdk: Option<String>,
    /// `Rust`, `Python`, ... from the producers section.
    template: Option<String>,
    size: u64,
    digest: String,
    compile_ms: f64,
    has_train: bool,
    has_serve: bool,
    exports: Vec<String>,
    imports: Vec<String>,
}

impl CheckArgs {
    pub(crate) fn run(self) -> anyhow::Result<u8> {
        // No precompiled cache: the compile time shown is the real one.
        let engine = Engine::new()?;
        let file = self.module.display().to_string();
        let module = match engine.load_file(&self.module) {
            Ok(m) => m,
            Err(e) => {
                if self.json {
                    let out = serde_json::json!({
                        "ok": false,
                        "file": file,
                        "error": { "kind": e.kind.as_str(), "message": e.message },
                    });
                    out!("{out}");
                } else {
                    eprintln!("error ({}): {file}: {}", e.kind, e.message);
                }
                return Ok(2);
            }
        };
        // The file was just read by the engine; a second read only fails in a race.
        let bytes = std::fs::read(&self.module)?;
        let sections = custom_sections(&bytes, &["premod-api-version", "premod-sdk"]);
        let api: &ModuleApi = module.api();
        let report = Report {
            ok: true,
            file,
            api_version: api.api_version.to_string(),
            host_api_version: API_VERSION,
            declared_api_version: sections[0].clone(),
            sdk: sections[1].clone(),
            // The SDK's section says best: a Python component's producers section names
            // the Rust-built interpreter.
            template: match sections[1].as_deref() {
                Some(s) if s.starts_with("python ") => Some("Python".into()),
                Some(s) if s.starts_with("rust ") => Some("Rust".into()),
                _ => crate::registry::detect_template(&bytes),
            },
            size: module.size(),
            digest: module.digest().to_string(),
            compile_ms: module.compile_time().as_secs_f64() * 1000.0,
            has_train: api.has_train,
            has_serve: api.has_serve,
            exports: api.exports.clone(),
            imports: api.imports.clone(),
        };
        if self.json {
            out!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            out!("{}", text(&report).trim_end());
        }
        Ok(0)
    }
}

fn text(r: &Report) -> String {
    let mut entry_points = Vec::new();
    if r.has_train {
        entry_points.push("train (process-for-train)");
    }
    if r.has_serve {
        entry_points.push("serve (init-svc, transform)");
    }
    let mut out = format!(
        "ok: {} is a premodule for premod:premodule@{} (this premod runs 1.x up to {})\n",
        r.file, r.api_version, r.host_api_version
    );
    let mut row = |k: &str, v: String| out.push_str(&format!("  {k:<14}{v}\n"));
    row(
        "entry points",
        if entry_points.is_empty() {
            "none".into()
        } else {
            entry_points.join(", ")
        },
    );
    row(
        "size",
        format!("{} ({} bytes)", human_bytes(r.size), r.size),
    );
    row("compile", format!("{:.0} ms", r.compile_ms));
    row("digest", r.digest.clone());
    row(
        "built with",
        match (&r.template, &r.sdk) {
            (Some(t), Some(s)) => format!("{t} (premod SDK: {s})"),
            (Some(t), None) => format!("{t} (no premod SDK section)"),
            (None, Some(s)) => format!("premod SDK: {s}"),
            (None, None) => "unknown".into(),
        },
    );
    if let Some(declared) = &r.declared_api_version
        && *declared != r.api_version
    {
        row(
            "warning",
            format!(
                "the premod-api-version section says {declared} but the exports are {}",
                r.api_version
            ),
        );
    }
    out.push_str("  exports\n");
    for e in &r.exports {
        out.push_str(&format!("    {e}\n"));
    }
    out.push_str("  imports\n");
    for i in &r.imports {
        out.push_str(&format!("    {i}\n"));
    }
    out
}

/// The UTF-8 text of each named custom section (the first one found), searching nested
/// modules too: Rust's `#[link_section]` puts them in the core module inside the component.
fn custom_sections(bytes: &[u8], names: &[&str]) -> Vec<Option<String>> {
    use wasmparser::{Parser, Payload};
    let mut found = vec![None; names.len()];
    for payload in Parser::new(0).parse_all(bytes) {
        let Ok(Payload::CustomSection(section)) = payload else {
            continue;
        };
        if let Some(i) = names.iter().position(|n| *n == section.name())
            && found[i].is_none()
        {
            found[i] = Some(String::from_utf8_lossy(section.data()).into_owned());
        }
    }
    found
}

/// Decimal units with one decimal, e.g. `21.5 MB`.
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if n < 1000 {
        return format!("{n} bytes");
    }
    let mut value = n as f64 / 1000.0;
    let mut unit = 0;
    while value >= 999.95 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_custom_sections_and_sizes() {
        // A component holding a core module with a custom section, as `export!` emits.
        fn section(id: u8, body: &[u8]) -> Vec<u8> {
            assert!(body.len() < 128, "one-byte LEB128 sizes only");
            [&[id, body.len() as u8][..], body].concat()
        }
        let name = b"premod-sdk";
        let custom = [&[name.len() as u8][..], name, b"rust 9.9.9"].concat();
        let core = [&b"\0asm\x01\0\0\0"[..], &section(0, &custom)].concat();
        let bytes = [&b"\0asm\x0d\0\x01\0"[..], &section(1, &core)].concat();
        assert_eq!(
            custom_sections(&bytes, &["premod-api-version", "premod-sdk"]),
            [None, Some("rust 9.9.9".to_string())]
        );
        assert_eq!(human_bytes(999), "999 bytes");
        assert_eq!(human_bytes(21_480_000), "21.5 MB");
    }
}
