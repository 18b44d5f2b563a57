//! The module registry and the precompiled cache, through the library and the CLI.

use crate::support::*;
use premod::engine::{Engine, EngineConfig, Readiness};
use premod::home::Home;
use premod::registry::{AddRequest, Registry, RegistryError};
use premod::store::Status;
use std::process::Command;

fn request(name: &str, version: &str) -> AddRequest {
    AddRequest {
        name: name.into(),
        version: version.into(),
        template: None,
        note: None,
        max_size: premod::registry::DEFAULT_MAX_SIZE,
        max_compile: premod::registry::DEFAULT_MAX_COMPILE,
    }
}

fn hostile_bytes() -> Vec<u8> {
    std::fs::read(artifacts::HOSTILE).unwrap()
}

fn other_bytes() -> Vec<u8> {
    std::fs::read(artifacts::IMAGE_CLASSIFICATION).unwrap()
}

fn fresh() -> (tempfile::TempDir, Home, Registry) {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::at(dir.path().join("home")).unwrap();
    let reg = Registry::open(&home).unwrap();
    (dir, home, reg)
}

fn blobs(home: &Home) -> usize {
    std::fs::read_dir(home.blobs())
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn versions_move_through_deploy_and_rollback_with_history() {
    let (_d, home, mut reg) = fresh();
    let v1 = reg
        .add(engine(), &hostile_bytes(), &request("demo", "1.0"))
        .unwrap();
    assert!(v1.created);
    assert_eq!(v1.version.version, "1.0.0");
    assert_eq!(v1.version.status, Status::Registered);
    assert_eq!(v1.version.template.as_deref(), Some("Rust"));
    assert_eq!(v1.version.api_version, premod::engine::API_VERSION);

    let again = reg
        .add(engine(), &hostile_bytes(), &request("demo", "1.0.0"))
        .unwrap();
    assert!(!again.created, "same bytes again is a no-op");
    assert_eq!(again.version.id, v1.version.id);

    match reg.add(engine(), &other_bytes(), &request("demo", "1.0.0")) {
        Err(RegistryError::Conflict {
            stored, uploaded, ..
        }) => {
            assert_eq!(stored, v1.version.digest);
            assert_ne!(uploaded, stored);
        }
        other => panic!("expected a conflict, got {other:?}"),
    }

    assert!(matches!(
        reg.resolve("demo", None),
        Err(RegistryError::NoDeployed(_))
    ));
    assert!(matches!(
        reg.rollback("demo"),
        Err(RegistryError::NoHistory(..))
    ));

    reg.add(engine(), &other_bytes(), &request("demo", "2.0.0"))
        .unwrap();
    assert_eq!(blobs(&home), 2);
    reg.deploy("demo", "1.0.0", Some("first rollout")).unwrap();
    let d2 = reg.deploy("demo", "2.0.0", None).unwrap();
    assert_eq!(d2.status, Status::Deployed);
    assert!(d2.deploy_dt.is_some());
    assert_eq!(reg.get("demo", "1.0.0").unwrap().status, Status::Registered);
    assert_eq!(reg.resolve("demo", None).unwrap().version, "2.0.0");

    let back = reg.rollback("demo").unwrap();
    assert_eq!(back.version, "1.0.0");
    assert_eq!(reg.resolve("demo", None).unwrap().version, "1.0.0");
    let err = reg.rollback("demo").unwrap_err();
    assert!(err.to_string().contains("no earlier deployment"), "{err}");

    let history = reg.history("demo").unwrap();
    let actions: Vec<_> = history
        .iter()
        .map(|d| (d.action.as_str(), d.version.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("deploy", "1.0.0"),
            ("deploy", "2.0.0"),
            ("rollback", "1.0.0")
        ]
    );
    assert_eq!(history[0].note.as_deref(), Some("first rollout"));
}

#[test]
fn rejected_uploads_store_nothing() {
    let (_d, home, mut reg) = fresh();
    let err = reg
        .add(engine(), b"not a module at all", &request("bad", "1.0.0"))
        .unwrap_err();
    assert!(matches!(err, RegistryError::Rejected(_)), "{err}");
    assert!(err.to_string().contains("not a WebAssembly file"), "{err}");

    let command = std::fs::read(artifacts::COMMAND).unwrap();
    let err = reg
        .add(engine(), &command, &request("bad", "1.0.0"))
        .unwrap_err();
    assert!(err.to_string().contains("not a premodule"), "{err}");

    let mut small = request("bad", "1.0.0");
    small.max_size = 1000;
    let err = reg.add(engine(), &hostile_bytes(), &small).unwrap_err();
    assert!(matches!(err, RegistryError::TooLarge { .. }), "{err}");

    let mut quick = request("bad", "1.0.0");
    quick.max_compile = std::time::Duration::ZERO;
    let fresh_engine = Engine::new().unwrap();
    let err = reg
        .add(&fresh_engine, &hostile_bytes(), &quick)
        .unwrap_err();
    assert!(matches!(err, RegistryError::CompileTooSlow { .. }), "{err}");

    assert!(
        reg.add(engine(), &hostile_bytes(), &request("Bad/Name", "1.0.0"))
            .is_err()
    );
    assert!(
        reg.add(engine(), &hostile_bytes(), &request("bad", "latest"))
            .is_err()
    );

    assert!(reg.list(None).unwrap().is_empty(), "no row");
    assert_eq!(blobs(&home), 0, "no blob");
}

#[test]
fn concurrent_adds_of_the_same_bytes_store_one_version() {
    let (_d, home, _reg) = fresh();
    let bytes = hostile_bytes();
    let outcomes: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let home = home.clone();
                let bytes = bytes.clone();
                s.spawn(move || {
                    let mut reg = Registry::open(&home).unwrap();
                    reg.add(engine(), &bytes, &request("same", "1.0.0"))
                        .unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(outcomes.iter().filter(|a| a.created).count(), 1);
    let reg = Registry::open(&home).unwrap();
    assert_eq!(reg.list(None).unwrap().len(), 1);
    assert_eq!(blobs(&home), 1);
}

#[test]
fn versions_in_use_or_deployed_cannot_be_removed() {
    let (_d, home, mut reg) = fresh();
    reg.add(engine(), &hostile_bytes(), &request("demo", "1.0.0"))
        .unwrap();
    reg.add(engine(), &other_bytes(), &request("demo", "2.0.0"))
        .unwrap();
    reg.deploy("demo", "2.0.0", None).unwrap();

    let err = reg.remove("demo", "2.0.0").unwrap_err();
    assert!(matches!(err, RegistryError::IsDeployed { .. }), "{err}");

    let v1 = reg.get("demo", "1.0.0").unwrap();
    let pin = reg
        .lease(&v1, "pin", "model image_classification_premodel rule 0")
        .unwrap();
    let err = reg.remove("demo", "1.0.0").unwrap_err();
    assert!(
        err.to_string()
            .contains("model image_classification_premodel"),
        "{err}"
    );
    reg.release(pin).unwrap();

    let run = reg.lease(&v1, "run", "exec pid 1").unwrap();
    assert!(matches!(
        reg.remove("demo", "1.0.0"),
        Err(RegistryError::InUse { .. })
    ));
    reg.release(run).unwrap();

    let gone = reg.remove("demo", "1.0.0").unwrap();
    assert_eq!(gone.status, Status::Retired);
    assert!(!home.blob(&gone.digest).exists());
    assert!(matches!(
        reg.resolve("demo", Some("1.0.0")),
        Err(RegistryError::Retired { .. })
    ));
    // The same bytes bring it back; history and other versions are untouched.
    let back = reg
        .add(engine(), &hostile_bytes(), &request("demo", "1.0.0"))
        .unwrap();
    assert_eq!(back.version.status, Status::Registered);
    assert!(home.blob(&back.version.digest).exists());
}

#[test]
fn the_cache_compiles_once_detects_corruption_and_follows_engine_settings() {
    let dir = tempfile::tempdir().unwrap();
    let config = EngineConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let bytes = hostile_bytes();

    let first = Engine::with_config(&config).unwrap();
    let m = first.load(&bytes).unwrap();
    assert_eq!(m.readiness(), Readiness::Compiled);
    assert_eq!(first.compile_count(), 1);
    let again = first.load(&bytes).unwrap();
    assert_eq!(again.readiness(), Readiness::InMemory);
    assert_eq!(first.compile_count(), 1);

    // A new engine, as in a new process: loads the artifact, does not compile.
    let second = Engine::with_config(&config).unwrap();
    let m = second.load(&bytes).unwrap();
    assert_eq!(m.readiness(), Readiness::Precompiled);
    assert_eq!((second.compile_count(), second.artifact_hits()), (0, 1));

    // Flip a byte in the middle of the artifact: detected, rebuilt, and still runs.
    let artifact = std::fs::read_dir(second.artifact_dir().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .unwrap();
    // Damage arrives as a new file (premod itself only ever renames artifacts into place):
    // rewriting the file in place would pull the pages from under the engines above, which
    // still run code mapped from it.
    let replace = |bytes: &[u8]| {
        let tmp = artifact.with_extension("damaged");
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::rename(&tmp, &artifact).unwrap();
    };
    let mut art = std::fs::read(&artifact).unwrap();
    let mid = art.len() / 2;
    art[mid] ^= 0xff;
    replace(&art);
    let third = Engine::with_config(&config).unwrap();
    assert_eq!(third.load(&bytes).unwrap().readiness(), Readiness::Compiled);
    assert_eq!(third.compile_count(), 1);
    let fourth = Engine::with_config(&config).unwrap();
    assert_eq!(
        fourth.load(&bytes).unwrap().readiness(),
        Readiness::Precompiled
    );

    // A truncated artifact, and one whose checksum file is gone: rebuilt too.
    let art = std::fs::read(&artifact).unwrap();
    replace(&art[..art.len() / 2]);
    let fifth = Engine::with_config(&config).unwrap();
    assert_eq!(fifth.load(&bytes).unwrap().readiness(), Readiness::Compiled);
    std::fs::remove_file(artifact.with_extension("crc")).unwrap();
    let sixth = Engine::with_config(&config).unwrap();
    assert_eq!(sixth.load(&bytes).unwrap().readiness(), Readiness::Compiled);
    let seventh = Engine::with_config(&config).unwrap();
    assert_eq!(
        seventh.load(&bytes).unwrap().readiness(),
        Readiness::Precompiled
    );

    // Other engine settings: another cache key, so a compile, never a wrong artifact.
    let other = Engine::with_config(&EngineConfig {
        optimize: false,
        ..config.clone()
    })
    .unwrap();
    assert_ne!(other.artifact_dir(), first.artifact_dir());
    assert_eq!(other.load(&bytes).unwrap().readiness(), Readiness::Compiled);
}

fn premod(home: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_premod"))
        .arg("--home")
        .arg(home)
        .args(args)
        .output()
        .expect("run premod")
}

fn stdout_json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn the_cli_runs_a_module_by_name_and_a_deploy_during_a_run_changes_nothing_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let add = |file: &str, version: &str| {
        let out = premod(
            &home,
            &[
                "module",
                "add",
                file,
                "--name",
                "demo",
                "--version",
                version,
                "--json",
            ],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout_json(&out)
    };
    let v1 = add(artifacts::HOSTILE, "1.0.0");
    assert_eq!(v1["created"], true);
    assert_eq!(v1["template"], "Rust");
    let mut v2_bytes = hostile_bytes();
    // Same behaviour, other bytes: a custom section appended to the component.
    v2_bytes.extend_from_slice(&[0, 6, 5, b'p', b'a', b'd', b'd', b'.']);
    let v2_path = dir.path().join("hostile-v2.wasm");
    std::fs::write(&v2_path, &v2_bytes).unwrap();
    add(v2_path.to_str().unwrap(), "2.0.0");
    assert_eq!(
        premod(&home, &["module", "deploy", "demo@1.0.0"])
            .status
            .code(),
        Some(0)
    );

    let sb = Sandbox::new();
    let child = Command::new(env!("CARGO_BIN_EXE_premod"))
        .arg("--home")
        .arg(&home)
        .args([
            "exec",
            "demo",
            "--collection",
            sb.collection().to_str().unwrap(),
            "--output",
            sb.output().to_str().unwrap(),
            "--params",
            r#"{"action": "sleep_ms", "ms": 1500}"#,
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(600));
    let deploy = premod(&home, &["module", "deploy", "demo@2.0.0", "--json"]);
    assert_eq!(
        deploy.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&deploy.stderr)
    );
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = stdout_json(&out);
    let info = &report["module_info"];
    assert_eq!(info["module_name"], "demo");
    assert_eq!(
        info["version"], "1.0.0",
        "the run kept the version it started with"
    );
    assert_eq!(info["digest"], v1["digest"]);
    assert_eq!(info["status"], "deployed");
    assert_eq!(info["template"], "Rust");
    assert!(info["deploy_dt"].is_string());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\"module_name\":\"demo\",\"version\":\"1.0.0\""),
        "{stderr}"
    );

    // The next run by name gets the new deployment; rollback brings the old one back.
    let show = stdout_json(&premod(&home, &["module", "show", "demo", "--json"]));
    assert_eq!(show["history"].as_array().unwrap().len(), 2);
    let back = premod(&home, &["module", "rollback", "demo", "--json"]);
    assert_eq!(stdout_json(&back)["version"], "1.0.0");
    let none = premod(&home, &["module", "rollback", "demo"]);
    assert_eq!(none.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&none.stderr);
    assert_eq!(
        stderr.matches("no earlier deployment").count(),
        1,
        "said once: {stderr}"
    );

    let missing = premod(
        &home,
        &["exec", "nosuch", "--collection", ".", "--output", "x"],
    );
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no module named nosuch"));

    let list = stdout_json(&premod(&home, &["module", "list", "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 2);
    let rm = premod(&home, &["module", "rm", "demo@1.0.0"]);
    assert_eq!(rm.status.code(), Some(2), "deployed versions stay");
    let rm = premod(&home, &["module", "rm", "demo@2.0.0", "--json"]);
    assert_eq!(stdout_json(&rm)["status"], "retired");
}
