//! Authoring: `premod new NAME --lang rust|python` scaffolds a module with a passing test;
//! `premod build [DIR]` builds it into a component and prints the .wasm path.
//!
//! The SDKs are not on a package registry, so premod carries them: the Rust SDK's sources
//! and WIT and the Python SDK are embedded in the binary (`include_str!`) and written into
//! the scaffold (`vendor/premod-sdk`, `premod_sdk/`). A scaffold builds with crates.io (Rust)
//! or componentize-py from PyPI (Python) and nothing else.

use super::UsageError;
use anyhow::{Context as _, anyhow, bail};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One embedded file: its path relative to the folder it is written to, and its text.
type Embedded = (&'static str, &'static str);

macro_rules! embed {
    ($root:literal, $($path:literal),+ $(,)?) => {
        &[$(($path, include_str!(concat!($root, $path)))),+]
    };
}

/// The Rust SDK crate, as written to `vendor/premod-sdk` (its Cargo.toml is rewritten, it
/// inherits fields from the plugins workspace).
const RUST_SDK: &[Embedded] = embed!(
    "../../../plugins/premod-sdk/",
    "src/lib.rs",
    "src/__private.rs",
    "src/context.rs",
    "src/error.rs",
    "src/host.rs",
    "src/native.rs",
    "src/py.rs",
    "src/testing.rs",
    "wit/premodule.wit",
    "wit/native/zip.wit",
);
const RUST_SDK_MANIFEST: &str = include_str!("../../../plugins/premod-sdk/Cargo.toml");
const PLUGINS_MANIFEST: &str = include_str!("../../../plugins/Cargo.toml");
/// Versions the first-party modules build with; cargo drops what a scaffold does not use.
const PLUGINS_LOCK: &str = include_str!("../../../plugins/Cargo.lock");

/// The Python SDK package, as written to `premod_sdk/`.
const PYTHON_SDK: &[Embedded] = embed!(
    "../../../plugins/python/premod_sdk/",
    "__init__.py",
    "_component.py",
    "_preload.py",
    "_runtime.py",
    "build.py",
    "testing.py",
    "wit/premodule.wit",
);

const RUST_TEMPLATE: &[Embedded] = &[
    (
        "Cargo.toml",
        include_str!("../../templates/rust/Cargo.toml.tmpl"),
    ),
    (
        ".cargo/config.toml",
        include_str!("../../templates/rust/config.toml.tmpl"),
    ),
    (
        "src/lib.rs",
        include_str!("../../templates/rust/lib.rs.tmpl"),
    ),
    (
        "README.md",
        include_str!("../../templates/rust/README.md.tmpl"),
    ),
    (".gitignore", "/target\n"),
];

const PYTHON_TEMPLATE: &[Embedded] = &[
    (
        "{{name}}.py",
        include_str!("../../templates/python/module.py.tmpl"),
    ),
    (
        "test_{{name}}.py",
        include_str!("../../templates/python/test_module.py.tmpl"),
    ),
    (
        "README.md",
        include_str!("../../templates/python/README.md.tmpl"),
    ),
    (".gitignore", "/target\n__pycache__/\n"),
];

const WASM_TARGET: &str = "wasm32-wasip2";
const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Lang {
    Rust,
    Python,
}

#[derive(Debug, Args)]
pub(crate) struct NewArgs {
    /// The module's name: lowercase letters, digits and `_`, starting with a letter
    name: String,
    /// The language of the module
    #[arg(long, value_enum)]
    lang: Lang,
    /// Create the module's folder NAME inside this folder [default: the current folder]
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

impl NewArgs {
    pub(crate) fn run(self) -> anyhow::Result<u8> {
        check_name(&self.name).map_err(UsageError)?;
        let parent = self.dir.unwrap_or_else(|| PathBuf::from("."));
        let root = parent.join(&self.name);
        if root.exists() {
            let empty = root
                .read_dir()
                .map(|mut d| d.next().is_none())
                .unwrap_or(false);
            if !empty {
                return Err(UsageError(anyhow!(
                    "{} already exists and is not empty; choose another NAME or --dir",
                    root.display()
                ))
                .into());
            }
        }
        let files = scaffold(&self.name, self.lang)?;
        for (rel, text) in &files {
            let path = root.join(rel);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            std::fs::write(&path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        let shown = root.display();
        match self.lang {
            Lang::Rust => out!(
                "created {shown} (Rust premodule, premod-sdk in vendor/premod-sdk)\n\
                 next:\n  cd {shown}\n  cargo test\n  premod build\n  premod exec \
                 target/{WASM_TARGET}/release/{}.wasm --collection DIR --output DIR",
                self.name
            ),
            Lang::Python => out!(
                "created {shown} (Python premodule, premod_sdk/ for the tests)\n\
                 next:\n  cd {shown}\n  python3 -m unittest\n  premod build      \
                 (needs `pip install {COMPONENTIZE_PY}`)\n  premod exec target/{}.wasm \
                 --collection DIR --output DIR",
                self.name
            ),
        }
        Ok(0)
    }
}

fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        bail!(
            "`{name}` is not a valid module name: use 1 to 64 lowercase letters, digits and `_`, \
             starting with a letter (e.g. `my_module`); it names the crate or Python module"
        );
    }
    if matches!(name, "premod_sdk" | "premod_app" | "test" | "wit_world") {
        bail!("`{name}` is reserved by the SDKs; choose another name");
    }
    Ok(())
}

/// `my_module` -> `MyModule`.
fn type_name(name: &str) -> String {
    name.split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            let first = c.next().map(|f| f.to_ascii_uppercase());
            first.into_iter().chain(c).collect::<String>()
        })
        .collect()
}

fn fill(template: &str, name: &str) -> String {
    template
        .replace("{{name}}", name)
        .replace("{{Type}}", &type_name(name))
}

/// Every file of a new module, relative to its folder.
fn scaffold(name: &str, lang: Lang) -> anyhow::Result<Vec<(String, String)>> {
    let mut files = Vec::new();
    match lang {
        Lang::Rust => {
            for (rel, text) in RUST_TEMPLATE {
                files.push((rel.to_string(), fill(text, name)));
            }
            for (rel, text) in RUST_SDK {
                files.push((format!("vendor/premod-sdk/{rel}"), text.to_string()));
            }
            files.push((
                "vendor/premod-sdk/Cargo.toml".into(),
                standalone_manifest(RUST_SDK_MANIFEST, PLUGINS_MANIFEST)?,
            ));
            files.push(("Cargo.lock".into(), PLUGINS_LOCK.to_string()));
        }
        Lang::Python => {
            for (rel, text) in PYTHON_TEMPLATE {
                files.push((fill(rel, name), fill(text, name)));
            }
            for (rel, text) in PYTHON_SDK {
                files.push((format!("premod_sdk/{rel}"), text.to_string()));
            }
        }
    }
    Ok(files)
}

/// The SDK's manifest without workspace inheritance: `version.workspace = true` becomes the
/// plugins workspace's value.
fn standalone_manifest(crate_manifest: &str, workspace_manifest: &str) -> anyhow::Result<String> {
    let workspace: toml::Table = toml::from_str(workspace_manifest)?;
    let package = workspace
        .get("workspace")
        .and_then(|w| w.get("package"))
        .and_then(|p| p.as_table())
        .ok_or_else(|| anyhow!("plugins/Cargo.toml has no [workspace.package]"))?;
    let mut out = String::new();
    for line in crate_manifest.lines() {
        let key = line.trim().strip_suffix(".workspace = true");
        match key.and_then(|k| package.get(k).map(|v| (k, v))) {
            Some((k, v)) => out.push_str(&format!("{k} = {v}\n")),
            None if key.is_some() => bail!("the SDK inherits `{line}` from no workspace value"),
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    Ok(out)
}

#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    /// The module's folder (made by `premod new`), or a Python module file [default: .]
    path: Option<PathBuf>,
    /// Print only the .wasm path
    #[arg(long, short)]
    quiet: bool,
}

impl BuildArgs {
    pub(crate) fn run(self) -> anyhow::Result<u8> {
        let path = self.path.unwrap_or_else(|| PathBuf::from("."));
        let built = if path.is_file() {
            build_python(&path, self.quiet)?
        } else if path.join("Cargo.toml").is_file() {
            build_rust(&path, self.quiet)?
        } else if path.is_dir() {
            build_python(&python_module(&path)?, self.quiet)?
        } else {
            return Err(UsageError(anyhow!(
                "{} does not exist; give a module folder made by `premod new` or a .py file",
                path.display()
            ))
            .into());
        };
        out!("{}", built.display());
        Ok(0)
    }
}

/// The one top-level `.py` file of `dir` that defines `process_for_train` (tests and the SDK
/// are not candidates).
fn python_module(dir: &Path) -> anyhow::Result<PathBuf> {
    let mut found = Vec::new();
    for entry in dir
        .read_dir()
        .with_context(|| format!("cannot list {}", dir.display()))?
    {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !name.ends_with(".py") || name.starts_with("test_") || name.ends_with("_test.py") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.contains("def process_for_train(") {
            found.push(path);
        }
    }
    found.sort();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(UsageError(anyhow!(
            "{} has no Cargo.toml and no .py file defining process_for_train(pm); give a \
             module folder made by `premod new` or a .py file",
            dir.display()
        ))
        .into()),
        _ => Err(UsageError(anyhow!(
            "{} has several modules ({}); give the .py file to build",
            dir.display(),
            found
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into()),
    }
}

fn build_rust(dir: &Path, quiet: bool) -> anyhow::Result<PathBuf> {
    let manifest = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("cannot read {}", manifest.display()))?;
    let table: toml::Table = toml::from_str(&text)
        .map_err(|e| UsageError(anyhow!("{} is not valid TOML: {e}", manifest.display())))?;
    let package = table
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .ok_or_else(|| {
            UsageError(anyhow!(
                "{} has no [package] name; `premod build` builds one module crate",
                manifest.display()
            ))
        })?
        .to_string();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(&cargo);
    // Inside the folder, so that its .cargo/config.toml applies.
    cmd.current_dir(dir)
        .args(["build", "--release", "--target", WASM_TARGET])
        .args(["--message-format", "json-render-diagnostics"])
        .stdout(Stdio::piped())
        .stderr(if quiet {
            Stdio::piped()
        } else {
            Stdio::inherit()
        });
    let out = cmd.output().with_context(|| {
        format!("cannot run `{cargo}`; install Rust with rustup (https://rustup.rs)")
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let hint = if stderr.contains("target may not be installed")
            || stderr.contains("can't find crate for `core`")
        {
            format!("; install the target: `rustup target add {WASM_TARGET}`")
        } else {
            String::new()
        };
        bail!(
            "`cargo build --release --target {WASM_TARGET}` failed in {}{hint}{}",
            dir.display(),
            if quiet {
                format!("\n{}", stderr.trim_end())
            } else {
                " (see above)".into()
            }
        );
    }
    let wanted = package.replace('-', "_");
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact"
            || msg["target"]["name"].as_str().map(|n| n.replace('-', "_")) != Some(wanted.clone())
        {
            continue;
        }
        if let Some(wasm) = msg["filenames"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str())
            .find(|f| f.ends_with(".wasm"))
        {
            return Ok(PathBuf::from(wasm));
        }
    }
    bail!(
        "cargo built {package} but produced no .wasm file; its [lib] needs \
         crate-type = [\"cdylib\"]"
    )
}

fn build_python(module: &Path, quiet: bool) -> anyhow::Result<PathBuf> {
    if module.extension().and_then(|e| e.to_str()) != Some("py") {
        return Err(UsageError(anyhow!(
            "{} is not a Python module (.py) or a module folder",
            module.display()
        ))
        .into());
    }
    let stem = module
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or_else(|| anyhow!("{} has no usable file name", module.display()))?;
    let dir = module.parent().unwrap_or(Path::new("."));
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot open {}", dir.display()))?;
    let output = dir.join("target").join(format!("{stem}.wasm"));
    // The SDK inside premod, so that the build matches this premod whatever the folder holds.
    let sdk = tempfile::Builder::new()
        .prefix("premod-sdk-py-")
        .tempdir()?;
    for (rel, text) in PYTHON_SDK {
        let path = sdk.path().join("premod_sdk").join(rel);
        std::fs::create_dir_all(path.parent().expect("a file in a folder"))?;
        std::fs::write(&path, text)?;
    }
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let mut cmd = Command::new(&python);
    cmd.args(["-m", "premod_sdk.build"])
        .arg(module)
        .arg("-o")
        .arg(&output)
        .env("PYTHONPATH", sdk.path())
        .stdout(if quiet {
            Stdio::null()
        } else {
            Stdio::inherit()
        });
    let status = cmd.status().with_context(|| {
        format!("cannot run `{python}`; install Python 3 and `pip install {COMPONENTIZE_PY}`")
    })?;
    if !status.success() {
        bail!(
            "building {} failed (see above); the Python build needs `pip install {COMPONENTIZE_PY}`",
            module.display()
        );
    }
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("my_module2").is_ok());
        for bad in ["", "My", "2x", "a-b", "a b", "premod_sdk", &"x".repeat(65)] {
            let e = check_name(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("`{bad}`")), "{e}");
        }
        assert_eq!(type_name("my_module2"), "MyModule2");
    }

    #[test]
    fn the_vendored_sdk_manifest_stands_alone() {
        let m = standalone_manifest(RUST_SDK_MANIFEST, PLUGINS_MANIFEST).unwrap();
        assert!(!m.contains(".workspace"), "{m}");
        let t: toml::Table = toml::from_str(&m).unwrap();
        assert_eq!(t["package"]["name"].as_str(), Some("premod-sdk"));
        assert!(t["package"]["version"].is_str() && t["package"]["edition"].is_str());
    }

    #[test]
    fn scaffolds_fill_every_placeholder() {
        for lang in [Lang::Rust, Lang::Python] {
            let files = scaffold("my_mod", lang).unwrap();
            for (rel, text) in &files {
                let sdk = rel.starts_with("vendor/") || rel.starts_with("premod_sdk/");
                assert!(sdk || !text.contains("{{"), "{rel}");
            }
        }
        let py = scaffold("my_mod", Lang::Python).unwrap();
        assert!(py.iter().any(|(r, _)| r == "my_mod.py"));
        assert!(py.iter().any(|(r, _)| r == "premod_sdk/wit/premodule.wit"));
    }
}
