//! Runs of preprocessing models: records, the run state machine, execution of the steps in
//! order, stop, delete and recovery after a crash.
//!
//! A run is `registered` until a worker claims it (at most `capacity` runs are `running` at
//! once), then `running`, then `completed`, `failed` or `stopped`. Each rule is a step named
//! `{rule_no}_{module}`; step k reads the collection and step k-1's output (`/input`). Every
//! step goes through `exec::exec`, exactly like `premod exec`.
//!
//! Home layout for runs:
//! ```text
//! logs/run_{id}/{step}.log          one seed-format log per step
//! work/run_{id}/{step}/             step outputs while the run is in progress (staged)
//! pm/pm_{model}/ds_{id}/            the run's output: its last step's output
//! pm/pm_{model}/meta/rule_{n}/      each rule's fitted state, from the latest run
//! ```

use crate::catalog::Catalog;
use crate::engine::Engine;
use crate::error::{ErrorKind, StepError};
use crate::exec::{ExecRequest, exec};
use crate::home::Home;
use crate::limits::Limits;
use crate::registry::Registry;
use crate::step::Rule;
use crate::steplog::{LogLine, StepObserver};
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("no run {0}; `premod runs` lists the runs")]
    NoRun(i64),
    #[error("run {0} is {1}; stop it first with `premod stop {0}`")]
    Active(i64, String),
    #[error(transparent)]
    Catalog(#[from] crate::catalog::CatalogError),
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("{0}")]
    Io(String),
}

impl RunError {
    pub fn is_bad_input(&self) -> bool {
        match self {
            RunError::NoRun(_) | RunError::Active(..) => true,
            RunError::Catalog(e) => e.is_bad_input(),
            RunError::Registry(e) => e.is_bad_input(),
            RunError::Db(_) | RunError::Io(_) => false,
        }
    }
}

type Result<T> = std::result::Result<T, RunError>;

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A step as recorded.
#[derive(Clone, Debug, Serialize)]
pub struct StepRecord {
    pub rule_no: u32,
    pub name: String,
    pub status: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub module: String,
    pub module_version: Option<String>,
    pub module_digest: Option<String>,
    pub module_info: Option<serde_json::Value>,
    pub progress: (u64, u64),
    pub usage: Option<serde_json::Value>,
    pub error: Option<StepError>,
    pub log: String,
}

/// A run as recorded, with its steps.
#[derive(Clone, Debug, Serialize)]
pub struct RunRecord {
    pub id: i64,
    pub model: String,
    pub dataset: String,
    pub status: String,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub error: Option<StepError>,
    pub output: Option<String>,
    pub worker_pid: Option<u32>,
    pub steps: Vec<StepRecord>,
}

impl RunRecord {
    pub fn is_final(&self) -> bool {
        matches!(self.status.as_str(), "completed" | "failed" | "stopped")
    }
}

fn error_of(kind: Option<String>, message: Option<String>) -> Option<StepError> {
    let kind: ErrorKind = serde_json::from_value(serde_json::Value::String(kind?)).ok()?;
    Some(StepError::new(kind, message.unwrap_or_default()))
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

pub fn run_dir(home: &Home, id: i64) -> PathBuf {
    home.root().join("work").join(format!("run_{id}"))
}

pub fn log_dir(home: &Home, id: i64) -> PathBuf {
    home.root().join("logs").join(format!("run_{id}"))
}

pub fn output_dir(home: &Home, model: &str, id: i64) -> PathBuf {
    home.root()
        .join("pm")
        .join(format!("pm_{model}"))
        .join(format!("ds_{id}"))
}

/// Where rule `rule_no` of `model` keeps its fitted state (written by each run that fits).
pub fn meta_dir(home: &Home, model: &str, rule_no: u32) -> PathBuf {
    home.root()
        .join("pm")
        .join(format!("pm_{model}"))
        .join("meta")
        .join(format!("rule_{rule_no}"))
}

/// Starts `exe worker ID` (the hidden `premod worker` command) as a background process that
/// executes registered run `id`. It gets its own process group, so that a Ctrl-C meant for
/// the caller (a shell command, `premod serve`) does not stop the run; `premod stop` does.
/// It runs with the caller's `--native-capabilities` setting.
pub fn spawn_worker(
    exe: &Path,
    home: &Home,
    id: i64,
    workers: usize,
    native_capabilities: bool,
) -> std::io::Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    std::process::Command::new(exe)
        .arg("--home")
        .arg(home.root())
        .arg("--native-capabilities")
        .arg(if native_capabilities { "on" } else { "off" })
        .args(["worker", &id.to_string(), "--workers", &workers.to_string()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
}

/// Run records over the registry's database.
pub struct Runs<'r> {
    reg: &'r mut Registry,
}

impl<'r> Runs<'r> {
    pub fn new(reg: &'r mut Registry) -> Self {
        Runs { reg }
    }

    fn conn(&self) -> &rusqlite::Connection {
        &self.reg.db().conn
    }

    fn home(&self) -> Home {
        self.reg.home().clone()
    }

    /// Registers a run of `model` (on its reference dataset unless `dataset` is given).
    pub fn create(
        &mut self,
        model: &str,
        dataset: Option<&str>,
        limits: &Limits,
    ) -> Result<RunRecord> {
        let (def, dataset) = {
            let cat = Catalog::new(self.reg);
            let m = cat.model(model)?;
            let d = cat.dataset(dataset.unwrap_or(&m.def.dataset))?;
            (m.def, d)
        };
        let tx = self.reg.db().conn.unchecked_transaction()?;
        tx.execute(
            "INSERT INTO runs (model, dataset, status, created_at, limits) \
             VALUES (?1, ?2, 'registered', ?3, ?4)",
            params![
                def.name,
                dataset.name,
                now(),
                serde_json::to_string(limits).expect("limits serialize")
            ],
        )?;
        let id = tx.last_insert_rowid();
        let logs = log_dir(&self.home(), id);
        for (i, rule) in def.rules.iter().enumerate() {
            let name = def.step_name(i);
            tx.execute(
                "INSERT INTO steps (run_id, rule_no, name, status, module, log) \
                 VALUES (?1, ?2, ?3, 'registered', ?4, ?5)",
                params![
                    id,
                    rule.rule_no,
                    name,
                    rule.module,
                    logs.join(format!("{name}.log")).display().to_string()
                ],
            )?;
        }
        tx.commit()?;
        self.get(id)
    }

    pub fn get(&self, id: i64) -> Result<RunRecord> {
        let run = self
            .conn()
            .query_row(
                "SELECT id, model, dataset, status, created_at, started_at, finished_at, \
                 error_kind, error_message, output, worker_pid FROM runs WHERE id = ?1",
                params![id],
                |r| {
                    Ok(RunRecord {
                        id: r.get(0)?,
                        model: r.get(1)?,
                        dataset: r.get(2)?,
                        status: r.get(3)?,
                        created_at: r.get(4)?,
                        started_at: r.get(5)?,
                        finished_at: r.get(6)?,
                        error: error_of(r.get(7)?, r.get(8)?),
                        output: r.get(9)?,
                        worker_pid: r.get(10)?,
                        steps: Vec::new(),
                    })
                },
            )
            .optional()?
            .ok_or(RunError::NoRun(id))?;
        let mut stmt = self.conn().prepare(
            "SELECT rule_no, name, status, started_at, finished_at, module, module_version, \
             module_digest, module_info, progress_done, progress_total, usage, error_kind, \
             error_message, log FROM steps WHERE run_id = ?1 ORDER BY rule_no",
        )?;
        let json = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
        let steps = stmt
            .query_map(params![id], |r| {
                Ok(StepRecord {
                    rule_no: r.get(0)?,
                    name: r.get(1)?,
                    status: r.get(2)?,
                    started_at: r.get(3)?,
                    finished_at: r.get(4)?,
                    module: r.get(5)?,
                    module_version: r.get(6)?,
                    module_digest: r.get(7)?,
                    module_info: json(r.get(8)?),
                    progress: (r.get::<_, i64>(9)? as u64, r.get::<_, i64>(10)? as u64),
                    usage: json(r.get(11)?),
                    error: error_of(r.get(12)?, r.get(13)?),
                    log: r.get(14)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(RunRecord { steps, ..run })
    }

    /// The newest completed run of `model`, if any: the one whose fitted state serving uses.
    pub fn latest_completed(&self, model: &str) -> Result<Option<RunRecord>> {
        let id: Option<i64> = self
            .conn()
            .query_row(
                "SELECT id FROM runs WHERE model = ?1 AND status = 'completed' \
                 ORDER BY id DESC LIMIT 1",
                params![model],
                |r| r.get(0),
            )
            .optional()?;
        id.map(|id| self.get(id)).transpose()
    }

    pub fn list(&self) -> Result<Vec<RunRecord>> {
        let ids: Vec<i64> = self
            .conn()
            .prepare("SELECT id FROM runs ORDER BY id")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        ids.into_iter().map(|id| self.get(id)).collect()
    }

    /// Asks the run's worker to stop it. A run no worker has claimed yet stops at once.
    pub fn request_stop(&mut self, id: i64) -> Result<RunRecord> {
        let run = self.get(id)?;
        if run.is_final() {
            return Ok(run);
        }
        self.conn().execute(
            "UPDATE runs SET stop_requested = 1 WHERE id = ?1",
            params![id],
        )?;
        if run.status == "registered" && run.worker_pid.is_none_or(|p| !alive(p)) {
            self.finish(id, "stopped", Some(&stopped_error()), None)?;
        }
        self.get(id)
    }

    /// Deletes a finished run: its records, logs and output.
    pub fn remove(&mut self, id: i64) -> Result<RunRecord> {
        let run = self.get(id)?;
        if !run.is_final() {
            return Err(RunError::Active(id, run.status));
        }
        let home = self.home();
        for dir in [log_dir(&home, id), run_dir(&home, id)] {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some(out) = &run.output {
            let _ = std::fs::remove_dir_all(out);
        }
        self.conn()
            .execute("DELETE FROM runs WHERE id = ?1", params![id])?;
        Ok(run)
    }

    /// Marks runs whose worker process is gone as failed (`interrupted`), removes their
    /// staging and work folders, and drops their module leases. Returns their ids.
    pub fn recover(&mut self) -> Result<Vec<i64>> {
        let candidates: Vec<(i64, Option<u32>, String)> = self
            .conn()
            .prepare(
                "SELECT id, worker_pid, status FROM runs WHERE status IN ('registered', 'running')",
            )?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut recovered = Vec::new();
        for (id, pid, status) in candidates {
            let dead = match pid {
                Some(pid) => !alive(pid),
                None => false,
            };
            if !dead {
                continue;
            }
            let error = StepError::new(
                ErrorKind::Interrupted,
                format!(
                    "the premod process running this {} run (pid {}) ended before it finished; \
                     start the model again",
                    status,
                    pid.unwrap_or_default()
                ),
            );
            self.conn().execute(
                "UPDATE steps SET status = 'failed', finished_at = ?2, error_kind = ?3, \
                 error_message = ?4 WHERE run_id = ?1 AND status = 'running'",
                params![id, now(), error.kind.as_str(), error.message],
            )?;
            self.finish(id, "failed", Some(&error), None)?;
            let _ = std::fs::remove_dir_all(run_dir(&self.home(), id));
            self.conn().execute(
                "DELETE FROM leases WHERE kind = 'run' AND holder = ?1",
                params![format!("run {id}")],
            )?;
            recovered.push(id);
        }
        Ok(recovered)
    }

    fn finish(
        &self,
        id: i64,
        status: &str,
        error: Option<&StepError>,
        output: Option<&str>,
    ) -> Result<()> {
        self.conn().execute(
            "UPDATE steps SET status = 'skipped' WHERE run_id = ?1 AND status = 'registered'",
            params![id],
        )?;
        self.conn().execute(
            "UPDATE runs SET status = ?2, finished_at = ?3, error_kind = ?4, error_message = ?5, \
             output = ?6 WHERE id = ?1",
            params![
                id,
                status,
                now(),
                error.map(|e| e.kind.as_str()),
                error.map(|e| e.message.clone()),
                output
            ],
        )?;
        Ok(())
    }
}

fn stopped_error() -> StepError {
    StepError::new(ErrorKind::Stopped, "the run was stopped on request")
}

/// Writes a step's lines to its log file (and on to `forward`), and keeps its progress.
struct StepLog {
    file: Mutex<std::io::BufWriter<std::fs::File>>,
    progress: Mutex<(u64, u64)>,
    forward: Option<Arc<dyn StepObserver>>,
}

impl StepObserver for StepLog {
    fn log(&self, line: &LogLine) {
        if let Ok(mut f) = self.file.lock() {
            let _ = writeln!(f, "{line}");
            let _ = f.flush();
        }
        if let Some(f) = &self.forward {
            f.log(line);
        }
    }

    fn progress(&self, done: u64, total: u64) {
        *self.progress.lock().unwrap_or_else(|e| e.into_inner()) = (done, total);
        if let Some(f) = &self.forward {
            f.progress(done, total);
        }
    }
}

/// Executes run `id`: waits for a free worker slot, resolves every rule's module version
/// once, runs the steps in order and records everything. `forward` also receives the lines.
pub async fn execute(
    home: &Home,
    engine: &Engine,
    id: i64,
    capacity: usize,
    forward: Option<Arc<dyn StepObserver>>,
) -> Result<RunRecord> {
    let mut reg = Registry::open(home).map_err(|e| RunError::Io(format!("{e:#}")))?;
    // Claim a slot: at most `capacity` runs are running at once.
    loop {
        let tx =
            rusqlite::Transaction::new_unchecked(&reg.db().conn, TransactionBehavior::Immediate)?;
        let (status, stop): (String, bool) = tx.query_row(
            "SELECT status, stop_requested FROM runs WHERE id = ?1",
            params![id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if status != "registered" {
            drop(tx);
            return Runs::new(&mut reg).get(id);
        }
        if stop {
            drop(tx);
            Runs::new(&mut reg).finish(id, "stopped", Some(&stopped_error()), None)?;
            return Runs::new(&mut reg).get(id);
        }
        let running: i64 = tx.query_row(
            "SELECT count(*) FROM runs WHERE status = 'running'",
            [],
            |r| r.get(0),
        )?;
        if (running as usize) < capacity.max(1) {
            tx.execute(
                "UPDATE runs SET status = 'running', started_at = ?2, worker_pid = ?3 \
                 WHERE id = ?1",
                params![id, now(), std::process::id()],
            )?;
            tx.commit()?;
            break;
        }
        tx.execute(
            "UPDATE runs SET worker_pid = ?2 WHERE id = ?1",
            params![id, std::process::id()],
        )?;
        tx.commit()?;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let result = run_steps(&mut reg, home, engine, id, forward).await;
    let holder = format!("run {id}");
    reg.db().conn.execute(
        "DELETE FROM leases WHERE kind = 'run' AND holder = ?1",
        params![holder],
    )?;
    let runs = Runs::new(&mut reg);
    match result {
        Ok(output) => runs.finish(id, "completed", None, Some(&output.display().to_string()))?,
        Err(e) => {
            let status = match e.kind {
                ErrorKind::Stopped => "stopped",
                _ => "failed",
            };
            runs.finish(id, status, Some(&e), None)?;
        }
    }
    let _ = std::fs::remove_dir_all(run_dir(home, id));
    runs.get(id)
}

/// Runs the steps; returns the run's output folder, or the error that ended it.
async fn run_steps(
    reg: &mut Registry,
    home: &Home,
    engine: &Engine,
    id: i64,
    forward: Option<Arc<dyn StepObserver>>,
) -> std::result::Result<PathBuf, StepError> {
    let db = |e: rusqlite::Error| StepError::invalid_input(format!("database error: {e}"));
    let (model, dataset, limits): (String, String, String) = reg
        .db()
        .conn
        .query_row(
            "SELECT model, dataset, limits FROM runs WHERE id = ?1",
            params![id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map_err(db)?;
    let limits: Limits = serde_json::from_str(&limits).unwrap_or_default();
    let (def, dataset) = {
        let cat = Catalog::new(reg);
        let m = cat
            .model(&model)
            .map_err(|e| StepError::invalid_input(e.to_string()))?;
        let d = cat
            .dataset(&dataset)
            .map_err(|e| StepError::invalid_input(e.to_string()))?;
        (m.def, d)
    };

    // Resolve every module once, now: a deploy during the run changes nothing for it.
    let mut versions = Vec::new();
    for (i, rule) in def.rules.iter().enumerate() {
        let resolved = crate::registry::parse_ref(&rule.module)
            .and_then(|(name, version)| reg.resolve(&name, version.as_deref()));
        let v = resolved.map_err(|e| {
            StepError::invalid_input(format!("rules[{i}].module {}: {e}", rule.module))
        })?;
        reg.lease(&v, "run", &format!("run {id}"))
            .map_err(|e| StepError::invalid_input(e.to_string()))?;
        reg.db()
            .conn
            .execute(
                "UPDATE steps SET module_version = ?3, module_digest = ?4 \
                 WHERE run_id = ?1 AND rule_no = ?2",
                params![id, rule.rule_no, v.version, v.digest],
            )
            .map_err(db)?;
        versions.push(v);
    }

    let work = run_dir(home, id);
    std::fs::create_dir_all(&work)
        .map_err(|e| StepError::invalid_input(format!("cannot create {}: {e}", work.display())))?;
    let logs = log_dir(home, id);
    std::fs::create_dir_all(&logs)
        .map_err(|e| StepError::invalid_input(format!("cannot create {}: {e}", logs.display())))?;

    let mut input: Option<PathBuf> = None;
    for (i, rule) in def.rules.iter().enumerate() {
        let name = def.step_name(i);
        let out = work.join(&name);
        let log_path = logs.join(format!("{name}.log"));
        let file = std::fs::File::create(&log_path).map_err(|e| {
            StepError::invalid_input(format!("cannot create {}: {e}", log_path.display()))
        })?;
        let log = Arc::new(StepLog {
            file: Mutex::new(std::io::BufWriter::new(file)),
            progress: Mutex::new((0, 0)),
            forward: forward.clone(),
        });
        reg.db()
            .conn
            .execute(
                "UPDATE steps SET status = 'running', started_at = ?3 \
                 WHERE run_id = ?1 AND rule_no = ?2",
                params![id, rule.rule_no, now()],
            )
            .map_err(db)?;

        let columns = def.source_columns(rule);
        let request = ExecRequest {
            module: home.blob(&versions[i].digest),
            collection: PathBuf::from(&dataset.collection),
            output: out.clone(),
            input: input.clone(),
            meta: Some(meta_dir(home, &def.name, rule.rule_no)),
            rule: Rule {
                rule_no: rule.rule_no,
                source_columns: columns,
                params: rule.params.clone(),
            },
            do_fit: true,
            limits: limits.clone(),
            replace: false,
            registered: Some(versions[i].clone()),
            parallel: Default::default(),
        };

        // Watch for `premod stop` and publish progress while the step runs.
        let cancel = CancellationToken::new();
        let watcher = {
            let home = home.clone();
            let cancel = cancel.clone();
            let log = Arc::clone(&log);
            let rule_no = rule.rule_no;
            tokio::spawn(async move {
                let Ok(reg) = Registry::open(&home) else {
                    return;
                };
                let mut last = (0, 0);
                loop {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let stop: bool = reg
                        .db()
                        .conn
                        .query_row(
                            "SELECT stop_requested FROM runs WHERE id = ?1",
                            params![id],
                            |r| r.get(0),
                        )
                        .unwrap_or(false);
                    if stop {
                        cancel.cancel();
                    }
                    let now = *log.progress.lock().unwrap_or_else(|e| e.into_inner());
                    if now != last {
                        last = now;
                        let _ = reg.db().conn.execute(
                            "UPDATE steps SET progress_done = ?3, progress_total = ?4 \
                             WHERE run_id = ?1 AND rule_no = ?2",
                            params![id, rule_no, now.0 as i64, now.1 as i64],
                        );
                    }
                }
            })
        };
        let report = exec(engine, request, log.clone(), cancel).await;
        watcher.abort();

        let progress = *log.progress.lock().unwrap_or_else(|e| e.into_inner());
        let status = match &report.error {
            None => "completed",
            Some(e) if e.kind == ErrorKind::Stopped => "stopped",
            Some(_) => "failed",
        };
        reg.db()
            .conn
            .execute(
                "UPDATE steps SET status = ?3, finished_at = ?4, module_info = ?5, usage = ?6, \
                 error_kind = ?7, error_message = ?8, progress_done = ?9, progress_total = ?10 \
                 WHERE run_id = ?1 AND rule_no = ?2",
                params![
                    id,
                    rule.rule_no,
                    status,
                    now(),
                    serde_json::to_string(&report.module_info).ok(),
                    serde_json::to_string(&report.usage).ok(),
                    report.error.as_ref().map(|e| e.kind.as_str()),
                    report.error.as_ref().map(|e| e.message.clone()),
                    progress.0 as i64,
                    progress.1 as i64
                ],
            )
            .map_err(db)?;
        if let Some(e) = report.error {
            return Err(StepError::new(
                e.kind,
                format!("step {name}: {}", e.message),
            ));
        }
        input = Some(out);
    }

    // The run's output is the last step's output.
    let last = input.expect("a model has at least one rule");
    let target = output_dir(home, &def.name, id);
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(|e| {
            StepError::invalid_input(format!("cannot create {}: {e}", parent.display()))
        })?;
    }
    let _ = std::fs::remove_dir_all(&target);
    std::fs::rename(&last, &target).map_err(|e| {
        StepError::invalid_input(format!(
            "cannot move the output to {}: {e}",
            target.display()
        ))
    })?;
    Ok(target)
}
