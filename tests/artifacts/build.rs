//! Builds the WebAssembly components the integration tests run: the first-party plugins
//! (`plugins/`) and the guest test programs (`tests/guests/`), each its own cargo workspace
//! targeting wasm32-wasip2. Emits one path constant per component into `$OUT_DIR/paths.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

/// (workspace folder, constant name, artifact file stem)
const COMPONENTS: &[(&str, &str, &str)] = &[
    ("plugins", "IMAGE_CLASSIFICATION", "image_classification"),
    ("plugins", "TABULAR_NORMALIZE", "tabular_normalize"),
    ("plugins", "IMAGE_RESIZE", "image_resize"),
    ("tests/guests", "HOSTILE", "hostile"),
    ("tests/guests", "COMMAND", "command"),
    ("tests/guests", "FUTURE_MAJOR", "future_major"),
    ("tests/guests", "SERVE_ONLY", "serve_only"),
    ("tests/guests", "NETWORKED", "networked"),
    ("tests/guests", "ITEMS", "items"),
];

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root");
    ensure_target();
    println!("cargo:rerun-if-changed={}", root.join("wit").display());

    let mut workspaces: Vec<&str> = COMPONENTS.iter().map(|c| c.0).collect();
    workspaces.dedup();
    for ws in workspaces {
        let dir = root.join(ws);
        watch_sources(&dir);
        let packages: Vec<&str> = COMPONENTS
            .iter()
            .filter(|c| c.0 == ws)
            .map(|c| c.2)
            .collect();
        build(&dir, &packages);
    }

    let mut code = String::new();
    for (ws, name, stem) in COMPONENTS {
        let path: PathBuf = root
            .join(ws)
            .join("target")
            .join(TARGET)
            .join("release")
            .join(format!("{stem}.wasm"));
        assert!(
            path.exists(),
            "{} was not built; run `cargo build --release --target {TARGET} --manifest-path {ws}/Cargo.toml` to see why",
            path.display()
        );
        code.push_str(&format!(
            "pub const {name}: &str = {:?};\n",
            path.display().to_string()
        ));
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("paths.rs");
    std::fs::write(out, code).unwrap();
}

fn ensure_target() {
    let sysroot = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args(["--print", "sysroot"])
        .output()
        .expect("run rustc --print sysroot");
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_string();
    let lib = Path::new(&sysroot).join("lib/rustlib").join(TARGET);
    if !lib.exists() {
        panic!(
            "the {TARGET} target is not installed, so the test components cannot be built; \
             run `rustup target add {TARGET}` and try again"
        );
    }
}

/// Re-run this script when a workspace's manifests or any member's sources change
/// (not on changes under `target/`, which the nested build itself writes).
fn watch_sources(dir: &Path) {
    for f in ["Cargo.toml", "Cargo.lock", ".cargo/config.toml"] {
        println!("cargo:rerun-if-changed={}", dir.join(f).display());
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() && name != "target" && name != ".cargo" {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}

/// Builds just the packages the tests use (the package name is the artifact's stem).
fn build(dir: &Path, packages: &[&str]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    // Run inside the workspace so that its .cargo/config.toml (guest target features) applies.
    cmd.current_dir(dir);
    cmd.args(["build", "--release", "--target", TARGET, "--manifest-path"])
        .arg(dir.join("Cargo.toml"));
    for p in packages {
        cmd.args(["-p", p]);
    }
    // The outer build's settings must not leak into the nested one (its own config sets
    // the guest target features).
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(var);
    }
    for (key, _) in std::env::vars() {
        if key.starts_with("CARGO_PROFILE_") || key.starts_with("CARGO_CFG_") {
            cmd.env_remove(key);
        }
    }
    // Build-script stdout is parsed by cargo: keep the nested build's chatter on stderr.
    cmd.stdout(std::io::stderr());
    let status = cmd.status().expect("run cargo for the guest components");
    assert!(
        status.success(),
        "building the components in {} failed (see the output above); run `cargo build \
         --release --target {TARGET} --manifest-path {}/Cargo.toml` to reproduce",
        dir.display(),
        dir.display()
    );
}
