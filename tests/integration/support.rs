//! Shared helpers: one engine per test binary, temp folders, and a runner for the hostile guest.

use premod::engine::Engine;
use premod::exec::{ExecReport, ExecRequest, exec};
use premod::limits::Limits;
use premod::step::Rule;
use premod::steplog::MemoryObserver;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

pub use premod_test_artifacts as artifacts;

/// One engine for the whole test binary: a module compiles once, and every test also checks
/// that the engine keeps working after the hostile runs of other tests.
pub fn engine() -> &'static Engine {
    static ENGINE: LazyLock<Engine> = LazyLock::new(|| Engine::new().expect("engine"));
    &ENGINE
}

/// An engine with the host-native capabilities turned off (`--native-capabilities off`):
/// modules that would use them do the same work in the sandbox.
pub fn engine_without_native() -> &'static Engine {
    static ENGINE: LazyLock<Engine> = LazyLock::new(|| {
        Engine::with_config(&premod::engine::EngineConfig {
            native_capabilities: false,
            ..Default::default()
        })
        .expect("engine")
    });
    &ENGINE
}

/// A premod home folder for every CLI call of this test binary, so that tests never touch
/// the machine's real one.
pub fn test_home() -> &'static Path {
    static HOME: LazyLock<TempDir> = LazyLock::new(|| tempfile::tempdir().expect("tempdir"));
    HOME.path()
}

/// A collection folder with one known file, and room for outputs.
pub struct Sandbox {
    pub dir: TempDir,
}

pub const COLLECTION_FILE: &str = "data.txt";
pub const COLLECTION_TEXT: &str = "original collection data\n";

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("collection")).unwrap();
        std::fs::write(
            dir.path().join("collection").join(COLLECTION_FILE),
            COLLECTION_TEXT,
        )
        .unwrap();
        Sandbox { dir }
    }

    pub fn collection(&self) -> PathBuf {
        self.dir.path().join("collection")
    }

    pub fn output(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    pub fn meta(&self) -> PathBuf {
        self.dir.path().join("meta")
    }

    /// Every entry under the sandbox folder, relative, sorted: what a test compares before
    /// and after a run.
    pub fn snapshot(&self) -> Vec<(String, Option<Vec<u8>>)> {
        let mut out = Vec::new();
        walk(self.dir.path(), self.dir.path(), &mut out);
        out.sort();
        out
    }

    pub fn request(&self, module: &str, params: serde_json::Value, limits: Limits) -> ExecRequest {
        let serde_json::Value::Object(params) = params else {
            panic!("params must be an object")
        };
        ExecRequest {
            module: PathBuf::from(module),
            collection: self.collection(),
            output: self.output(),
            input: None,
            meta: None,
            rule: Rule {
                params,
                ..Rule::default()
            },
            do_fit: true,
            limits,
            replace: false,
            registered: None,
            parallel: Default::default(),
        }
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Option<Vec<u8>>)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            out.push((format!("{rel}/"), None));
            walk(root, &path, out);
        } else if meta.file_type().is_symlink() {
            out.push((format!("{rel} -> symlink"), None));
        } else {
            out.push((rel, Some(std::fs::read(&path).unwrap())));
        }
    }
}

pub struct Run {
    pub report: ExecReport,
    pub log: Arc<MemoryObserver>,
    /// Keeps the run's folders alive while the test looks at them.
    pub sandbox: Option<Sandbox>,
}

impl Run {
    pub fn messages(&self) -> Vec<String> {
        self.log.messages()
    }

    pub fn error_kind(&self) -> Option<&'static str> {
        self.report.error.as_ref().map(|e| e.kind.as_str())
    }

    pub fn error_message(&self) -> String {
        self.report
            .error
            .as_ref()
            .map(|e| e.message.clone())
            .unwrap_or_default()
    }
}

pub async fn run(req: ExecRequest) -> Run {
    run_with_cancel(req, CancellationToken::new()).await
}

pub async fn run_with_cancel(req: ExecRequest, cancel: CancellationToken) -> Run {
    run_on(engine(), req, cancel).await
}

pub async fn run_on(engine: &Engine, req: ExecRequest, cancel: CancellationToken) -> Run {
    let log = Arc::new(MemoryObserver::default());
    let report = exec(engine, req, log.clone(), cancel).await;
    Run {
        report,
        log,
        sandbox: None,
    }
}

/// Limits small enough for tests to hit quickly.
pub fn test_limits() -> Limits {
    Limits {
        memory_bytes: 256 << 20,
        timeout: std::time::Duration::from_secs(20),
        max_output_bytes: 64 << 20,
        max_output_files: 10_000,
        max_log_bytes: 1 << 20,
    }
}

/// Runs one hostile action in a fresh sandbox whose output target already holds a file, then
/// checks the invariants every failure must keep: the collection and the old output are
/// exactly as they were, no staging folder is left, and the engine still runs a good module.
pub async fn hostile(action: &str, extra: serde_json::Value, limits: Limits) -> Run {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.output()).unwrap();
    std::fs::write(sb.output().join("previous.txt"), "previous output\n").unwrap();
    let before = sb.snapshot();

    let mut params = serde_json::json!({ "action": action });
    if let serde_json::Value::Object(extra) = extra {
        params.as_object_mut().unwrap().extend(extra);
    }
    let mut req = sb.request(artifacts::HOSTILE, params, limits);
    req.replace = true;
    let mut run = run(req).await;

    if run.report.error.is_some() {
        assert_eq!(
            sb.snapshot(),
            before,
            "a failed step changed the sandbox folders ({action})"
        );
    }
    assert_host_still_works().await;
    run.sandbox = Some(sb);
    run
}

/// The engine runs a well-behaved module to completion.
pub async fn assert_host_still_works() {
    let sb = Sandbox::new();
    let req = sb.request(
        artifacts::HOSTILE,
        serde_json::json!({"action": "ok"}),
        test_limits(),
    );
    let run = run(req).await;
    assert_eq!(
        run.report.status, "completed",
        "the host no longer runs a good module: {:?}",
        run.report.error
    );
    assert_eq!(
        std::fs::read_to_string(sb.output().join("ok.txt")).unwrap(),
        "ok\n"
    );
}
