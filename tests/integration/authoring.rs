//! Module authoring (issue 6): the Rust and Python SDKs' example modules in the real host,
//! `premod check`, and `premod new` → `premod build` → `premod check` → `premod exec` for both
//! languages.
//!
//! The Python components are built here, once per test run and cached by the digest of their
//! sources (`python_components`), with the SDK's own builder; that needs componentize-py
//! (`pip install componentize-py==0.25.1`, which `scripts/setup.sh` runs). Without it these
//! tests fail and say so: they are never skipped.

use crate::support::*;
use premod::step::{Batch, Column, Rule};
use premod::steplog::{Level, MemoryObserver, Source};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, OnceLock};

const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Fails the test, saying how to install componentize-py, if it is missing.
fn require_componentize_py() {
    let ok = Command::new(python())
        .args(["-c", "import componentize_py"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "componentize-py is not installed for `{}`, so the Python premodules cannot be built; \
         run `{} -m pip install {COMPONENTIZE_PY}` (scripts/setup.sh does it) and run the tests \
         again",
        python(),
        python()
    );
}

/// The Python components the tests run.
struct PyComponents {
    image_classification: PathBuf,
    tabular_normalize: PathBuf,
    probe: PathBuf,
}

/// (file stem, module source relative to the repository)
const PY_MODULES: [(&str, &str); 3] = [
    (
        "image_classification_py",
        "examples/modules/image_classification_py/image_classification_preprocess.py",
    ),
    (
        "tabular_normalize_py",
        "examples/modules/tabular_normalize/tabular_normalize.py",
    ),
    ("python_sdk_probe", "plugins/python/tests/sdk_probe.py"),
];

/// Builds the Python example components with `plugins/python/build.sh` (the SDK's builder)
/// into `$CARGO_TARGET_TMPDIR/py-components/<digest of the sources>/`, once; later runs with
/// the same sources reuse them.
fn python_components() -> &'static PyComponents {
    static BUILT: OnceLock<PyComponents> = OnceLock::new();
    BUILT.get_or_init(|| {
        let repo = repo();
        let mut sources: Vec<PathBuf> = PY_MODULES.iter().map(|m| repo.join(m.1)).collect();
        let sdk = repo.join("plugins/python/premod_sdk");
        for entry in walkdir(&sdk) {
            if entry.extension().is_some_and(|e| e == "py" || e == "wit") {
                sources.push(entry);
            }
        }
        sources.sort();
        let mut all = Vec::new();
        for s in &sources {
            all.extend_from_slice(s.strip_prefix(&repo).unwrap().to_str().unwrap().as_bytes());
            all.extend(std::fs::read(s).unwrap());
        }
        let digest = premod::digest::sha256(&all);
        let key = &digest["sha256:".len()..][..16];
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("py-components")
            .join(key);
        let path = |stem: &str| dir.join(format!("{stem}.wasm"));
        if !PY_MODULES.iter().all(|m| path(m.0).exists()) {
            require_componentize_py();
            let staging = dir.with_extension(format!("part{}", std::process::id()));
            std::fs::create_dir_all(&staging).unwrap();
            // All at once: componentize-py is mostly single-threaded.
            let builds: Vec<_> = PY_MODULES
                .iter()
                .map(|(stem, src)| {
                    let out = staging.join(format!("{stem}.wasm"));
                    let child = Command::new(repo.join("plugins/python/build.sh"))
                        .arg(repo.join(src))
                        .arg("-o")
                        .arg(&out)
                        .arg("-q")
                        .stdout(std::process::Stdio::piped())
                        .stderr(std::process::Stdio::piped())
                        .spawn()
                        .expect("run plugins/python/build.sh");
                    (stem, child)
                })
                .collect();
            for (stem, child) in builds {
                let out = child
                    .wait_with_output()
                    .expect("wait for plugins/python/build.sh");
                assert!(
                    out.status.success(),
                    "building {stem} with plugins/python/build.sh failed:\n{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::rename(&staging, &dir).unwrap();
        }
        PyComponents {
            image_classification: path(PY_MODULES[0].0),
            tabular_normalize: path(PY_MODULES[1].0),
            probe: path(PY_MODULES[2].0),
        }
    })
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "__pycache__") {
                out.extend(walkdir(&path));
            }
        } else {
            out.push(path);
        }
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// Every file under `dir`, relative, sorted, with its bytes.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = walkdir(dir)
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            (rel, std::fs::read(&p).unwrap())
        })
        .collect();
    files.sort();
    files
}

fn rule(params: Value, columns: &[(&str, &str)]) -> Rule {
    let Value::Object(params) = params else {
        panic!("params must be an object")
    };
    Rule {
        params,
        source_columns: columns
            .iter()
            .map(|(n, t)| Column {
                name: n.to_string(),
                data_type: t.to_string(),
            })
            .collect(),
        ..Rule::default()
    }
}

/// A request to run `module` on `collection` into `output`, with the defaults of
/// `Sandbox::request` (rule 0 on the `dataset` column, params `{}`, fitting, test limits).
fn request(module: &Path, collection: PathBuf, output: PathBuf) -> premod::exec::ExecRequest {
    let mut req = Sandbox::new().request(module.to_str().unwrap(), json!({}), test_limits());
    req.collection = collection;
    req.output = output;
    req
}

/// What one twin did: the module's own log lines, the output trees, the state and the
/// transformed batches.
#[derive(Debug, PartialEq)]
struct TabularResult {
    train_log: Vec<String>,
    test_log: Vec<String>,
    train_output: Vec<(String, Vec<u8>)>,
    test_output: Vec<(String, Vec<u8>)>,
    summaries: Vec<String>,
    state: Value,
    batches: Vec<Value>,
}

fn module_lines(log: &MemoryObserver) -> Vec<String> {
    log.lines()
        .into_iter()
        .filter(|l| l.source != Source::Host)
        .map(|l| format!("{} {}", l.level.tag(), l.message))
        .collect()
}

/// Trains `module` on the sample's train folder (fitting into a fresh /meta), runs it on the
/// test folder with that state (`do_fit` false), then starts it as a service on the same
/// /meta and transforms the sample batches.
async fn tabular_twin(module: &Path, params: Value, columns: &[(&str, &str)]) -> TabularResult {
    let sample = repo().join("examples/modules/tabular_normalize/sample");
    let tmp = tempfile::tempdir().unwrap();
    let meta = tmp.path().join("meta");
    let mut summaries = Vec::new();
    let mut logs = Vec::new();
    for (set, do_fit) in [("train", true), ("test", false)] {
        let collection = tmp.path().join(set);
        copy_dir(&sample.join(set), &collection);
        let mut req = request(module, collection, tmp.path().join(format!("{set}-out")));
        req.meta = Some(meta.clone());
        req.rule = rule(params.clone(), columns);
        req.do_fit = do_fit;
        let run = run(req).await;
        assert_eq!(
            run.report.status,
            "completed",
            "{} {set}: {:?}\n{:#?}",
            module.display(),
            run.report.error,
            run.messages()
        );
        let s = &run.report.summary;
        summaries.push(serde_json::to_string(s).unwrap());
        logs.push(module_lines(&run.log));
    }
    let state: Value =
        serde_json::from_slice(&std::fs::read(meta.join("state.json")).unwrap()).unwrap();

    let loaded = engine().load_file(module).unwrap();
    let observer = Arc::new(MemoryObserver::default());
    let mut service = engine()
        .start_service(
            &loaded,
            Some(&meta),
            rule(json!({}), &[]),
            test_limits(),
            observer,
        )
        .await
        .unwrap_or_else(|e| panic!("{} init-svc: {e}", module.display()));
    let mut batches = Vec::new();
    let lines = std::fs::read_to_string(sample.join("batches.jsonl")).unwrap();
    for (i, line) in lines.lines().enumerate() {
        let out = service
            .transform(Batch::json(line), i as u64)
            .await
            .unwrap_or_else(|e| panic!("{} transform: {e}", module.display()));
        assert_eq!(out.content_type, Batch::JSON);
        batches.push(serde_json::from_slice(&out.data).unwrap());
    }
    let test_log = logs.pop().unwrap();
    TabularResult {
        train_log: logs.pop().unwrap(),
        test_log,
        train_output: tree(&tmp.path().join("train-out")),
        test_output: tree(&tmp.path().join("test-out")),
        summaries,
        state,
        batches,
    }
}

#[tokio::test]
async fn tabular_twins_train_then_transform_with_the_state_from_meta_alike() {
    let py = python_components();
    // z-score on columns named by the params; min-max on the rule's source columns.
    let cases = [
        (json!({"columns": ["area", "rooms"]}), vec![]),
        (
            json!({"method": "minmax", "decimals": 3}),
            vec![("area", "number"), ("rooms", "number")],
        ),
    ];
    for (params, columns) in cases {
        let rust = tabular_twin(
            Path::new(artifacts::TABULAR_NORMALIZE),
            params.clone(),
            &columns,
        )
        .await;
        let python = tabular_twin(&py.tabular_normalize, params.clone(), &columns).await;
        assert_eq!(
            rust, python,
            "the Rust and Python twins differ for {params}"
        );

        // And they did the work: 8 training rows, state with every column, batches changed.
        assert_eq!(rust.train_output.len(), 2);
        assert!(
            rust.summaries[0].contains("\"total\":8"),
            "{:?}",
            rust.summaries
        );
        assert_eq!(rust.state["rows"], 8);
        let fitted: Vec<&str> = rust.state["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        let method = params["method"].as_str().unwrap_or("zscore");
        assert_eq!(rust.state["method"], method);
        if method == "zscore" {
            assert_eq!(fitted, ["area", "rooms"]);
            let area = rust.batches[0][0]["area"].as_f64().unwrap();
            assert!(area.abs() < 1.0, "area 84.5 is near the mean: {area}");
        } else {
            assert_eq!(fitted, ["area", "rooms"]);
            assert!(rust.train_log.iter().any(|l| l.contains("min=39.600000")));
        }
        assert!(
            rust.test_log
                .iter()
                .any(|l| l.contains("[tabular] loaded /meta/state.json")),
            "{:?}",
            rust.test_log
        );
    }
}

#[tokio::test]
async fn python_logging_goes_to_the_step_log_with_its_levels() {
    let py = python_components();
    let sb = Sandbox::new();
    let req = sb.request(py.probe.to_str().unwrap(), json!({}), test_limits());
    let probe = run(req).await;
    assert_eq!(probe.report.status, "completed", "{:?}", probe.report.error);
    let lines: Vec<(Level, String)> = probe
        .log
        .lines()
        .into_iter()
        .filter(|l| l.source != Source::Host)
        .map(|l| (l.level, l.message))
        .collect();
    let has = |level: Level, text: &str| {
        assert!(
            lines.iter().any(|(l, m)| *l == level && m == text),
            "no {level:?} line {text:?} in {lines:#?}"
        )
    };
    has(Level::Debug, "probe debug");
    has(Level::Info, "probe info /collection");
    has(Level::Warn, "probe warning");
    has(Level::Error, "probe error");
    has(Level::Error, "probe critical");
    has(Level::Trace, "probe level 5");
    has(Level::Info, "probe: probe named");
    has(Level::Info, "probe print");
    has(Level::Info, "probe two");
    has(Level::Info, "lines");
    has(Level::Error, "probe caught");
    has(Level::Error, "ZeroDivisionError: division by zero");
    // The SDK names Python in the producers section (the interpreter inside is Rust-built).
    assert_eq!(probe.report.module_info.template.as_deref(), Some("Python"));
    let s = probe.report.summary.as_ref().unwrap();
    assert_eq!((s.total, s.success, s.error), (3, 2, 1));
    assert_eq!(probe.log.progress_events().last(), Some(&(1, 2)));

    // Exceptions become the WIT error variants, reported as `module-error: <variant>: ...`.
    for (mode, expected) in [
        ("raise:invalid-params", "invalid-params: probe: bad params"),
        (
            "raise:ValueError",
            "invalid-data: ValueError: could not convert",
        ),
        ("raise:OSError", "io: FileNotFoundError"),
        ("raise:KeyError", "other: KeyError: 'missing'"),
        (
            "raise:lazy-import",
            "import encodings.cp1250 at the top of your module",
        ),
    ] {
        let sb = Sandbox::new();
        let req = sb.request(
            py.probe.to_str().unwrap(),
            json!({ "mode": mode }),
            test_limits(),
        );
        let run = run(req).await;
        assert_eq!(run.error_kind(), Some("module-error"), "{mode}");
        assert!(
            run.error_message().contains(expected),
            "{mode}: {}",
            run.error_message()
        );
    }
}

#[tokio::test]
async fn python_image_classification_matches_the_rust_module() {
    let py = python_components();
    let tmp = tempfile::tempdir().unwrap();
    let collection = tmp.path().join("collection");
    std::fs::create_dir(&collection).unwrap();
    premod_datagen::write_dataset(
        &premod_datagen::Options::small(),
        &collection.join("dataset.zip"),
    )
    .unwrap();
    let mut results = Vec::new();
    for (name, module) in [
        ("rust", PathBuf::from(artifacts::IMAGE_CLASSIFICATION)),
        ("python", py.image_classification.clone()),
    ] {
        let output = tmp.path().join(format!("out-{name}"));
        let req = request(&module, collection.clone(), output.clone());
        let run = run(req).await;
        assert_eq!(
            run.report.status, "completed",
            "{name}: {:?}",
            run.report.error
        );
        let hunmin: Vec<String> = run
            .log
            .lines()
            .into_iter()
            // The platform's lines; the Rust module also says at debug level where its
            // extraction ran (host-native or in the sandbox), which Python does not choose.
            .filter(|l| l.source != Source::Host && l.message.starts_with("[hunmin log]"))
            .map(|l| format!("{} {}", l.level.tag(), l.message))
            .collect();
        let summary = serde_json::to_value(&run.report.summary).unwrap();
        results.push((hunmin, summary, tree(&output)));
    }
    let python = results.pop().unwrap();
    let rust = results.pop().unwrap();
    assert_eq!(rust.0, python.0, "the [hunmin log] lines differ");
    assert_eq!(rust.1, python.1, "the summaries differ");
    assert!(
        rust.2.len() > 10,
        "the Rust module extracted {} files",
        rust.2.len()
    );
    assert!(rust.2 == python.2, "the extracted trees differ");
    assert_eq!(rust.0[3], " INFO [hunmin log] dir_list : ['dataset.zip']");
}

// --- the CLI: check, new, build ------------------------------------------------------------

fn premod(args: &[&str], dir: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_premod"));
    cmd.args(args)
        .env_remove("PREMOD_LOG")
        .env("PREMOD_HOME", test_home());
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    cmd.output().expect("run premod")
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn check_describes_a_good_module() {
    let out = premod(&["check", artifacts::TABULAR_NORMALIZE], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for want in [
        "is a premodule for premod:premodule@1.0.0",
        "train (process-for-train), serve (init-svc, transform)",
        "Rust (premod SDK: rust 0.1.0)",
        "premod:premodule/train@1.0.0",
        "premod:premodule/host@1.0.0",
        " ms\n",
    ] {
        assert!(stdout.contains(want), "{want:?} not in\n{stdout}");
    }

    let out = premod(&["check", artifacts::TABULAR_NORMALIZE, "--json"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["api_version"], "1.0.0");
    assert_eq!(report["declared_api_version"], "1.0.0");
    assert_eq!(report["host_api_version"], premod::engine::API_VERSION);
    assert_eq!(report["sdk"], "rust 0.1.0");
    assert_eq!(report["has_train"], true);
    assert_eq!(
        report["size"].as_u64(),
        Some(
            std::fs::metadata(artifacts::TABULAR_NORMALIZE)
                .unwrap()
                .len()
        )
    );
    assert!(report["compile_ms"].as_f64().unwrap() > 0.0);
    assert!(report["digest"].as_str().unwrap().starts_with("sha256:"));
}

#[test]
fn check_describes_a_python_module() {
    let py = python_components();
    let out = premod(
        &["check", py.tabular_normalize.to_str().unwrap(), "--json"],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["template"], "Python");
    assert!(
        report["sdk"]
            .as_str()
            .unwrap()
            .starts_with("python 0.1.0 componentize-py 0.25.1"),
        "{report}"
    );
    assert_eq!(report["declared_api_version"], "1.0.0");
}

#[test]
fn check_refuses_bad_files_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let not_wasm = tmp.path().join("notes.wasm");
    std::fs::write(&not_wasm, "hello").unwrap();
    let core = tmp.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let empty = tmp.path().join("empty.wasm");
    std::fs::write(&empty, b"").unwrap();
    let missing = tmp.path().join("missing.wasm");
    for (file, reason) in [
        (&not_wasm, "not a WebAssembly file"),
        (&core, "core WebAssembly module"),
        (&empty, "the file is empty"),
        (&missing, "cannot read module file"),
        (
            &PathBuf::from(artifacts::FUTURE_MAJOR),
            "premod:premodule@2.0.0",
        ),
    ] {
        let out = premod(&["check", file.to_str().unwrap()], None);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(reason), "{reason:?} not in {stderr}");
        assert!(out.stdout.is_empty(), "{}", text(&out));

        let out = premod(&["check", file.to_str().unwrap(), "--json"], None);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["ok"], false);
        assert!(report["error"]["kind"].is_string());
        assert!(
            report["error"]["message"]
                .as_str()
                .unwrap()
                .contains(reason),
            "{report}"
        );
    }
}

/// A collection folder with two files, and the path of an output folder next to it.
fn small_collection(dir: &Path) -> (PathBuf, PathBuf) {
    let collection = dir.join("collection");
    std::fs::create_dir_all(&collection).unwrap();
    std::fs::write(collection.join("a.txt"), "a").unwrap();
    std::fs::write(collection.join("b.csv"), "x\n1\n").unwrap();
    (collection, dir.join("output"))
}

/// `check` then `exec` of a freshly built scaffold: the template copies the chosen files.
fn check_and_exec(wasm: &str, dir: &Path) {
    let out = premod(&["check", wasm], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (collection, output) = small_collection(dir);
    let out = premod(
        &[
            "exec",
            wasm,
            "--collection",
            collection.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
            "--params",
            r#"{"extensions": [".csv"]}"#,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[hunmin log] dir_list : ['a.txt', 'b.csv']"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Status : total:1, success:1, error:0"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(output.join("b.csv")).unwrap(),
        "x\n1\n"
    );
    assert!(!output.join("a.txt").exists());
}

#[test]
fn new_rust_module_tests_builds_checks_and_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = premod(
        &[
            "new",
            "my_filter",
            "--lang",
            "rust",
            "--dir",
            tmp.path().to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let module = tmp.path().join("my_filter");
    assert!(module.join("vendor/premod-sdk/wit/premodule.wit").is_file());

    // The same cargo target folder for every run of this test: dependencies build once.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("scaffold-target");
    let test = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["test", "--release", "--quiet"])
        .current_dir(&module)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(
        test.status.success(),
        "cargo test of the scaffold:\n{}",
        text(&test)
    );

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_premod"));
    cmd.args(["build", "--quiet"])
        .current_dir(&module)
        .env("CARGO_TARGET_DIR", &target);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let wasm = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(
        wasm.ends_with("wasm32-wasip2/release/my_filter.wasm"),
        "{wasm}"
    );
    check_and_exec(&wasm, tmp.path());

    // A second `new` into the same place is refused.
    let out = premod(
        &[
            "new",
            "my_filter",
            "--lang",
            "rust",
            "--dir",
            tmp.path().to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
}

#[test]
fn new_python_module_tests_builds_checks_and_runs() {
    require_componentize_py();
    let tmp = tempfile::tempdir().unwrap();
    let out = premod(
        &["new", "my_filter_py", "--lang", "python"],
        Some(tmp.path()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let module = tmp.path().join("my_filter_py");
    assert!(module.join("my_filter_py.py").is_file());
    assert!(module.join("premod_sdk/build.py").is_file());

    let test = Command::new(python())
        .args(["-m", "unittest", "-q"])
        .current_dir(&module)
        .output()
        .unwrap();
    assert!(
        test.status.success(),
        "unittest of the scaffold:\n{}",
        text(&test)
    );

    let out = premod(&["build", "--quiet"], Some(&module));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let wasm = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(wasm.ends_with("target/my_filter_py.wasm"), "{wasm}");
    let wasm = module.join(wasm).to_str().unwrap().to_string();
    check_and_exec(&wasm, tmp.path());
}

#[test]
fn new_and_build_refuse_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let out = premod(&["new", "My-Module", "--lang", "rust"], Some(tmp.path()));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid module name"));
    let out = premod(&["build"], Some(tmp.path()));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no Cargo.toml and no .py file"),
        "{}",
        text(&out)
    );
}
