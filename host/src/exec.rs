//! One step, end to end, exactly as production runs it: check the inputs, stage the output,
//! run the module in the engine, write the seed-format log lines around it, and move the
//! output into place only on success. `premod exec` is a thin CLI over [`exec`].

use crate::engine::{Engine, Module, TrainJob};
use crate::error::{ErrorKind, StepError};
use crate::limits::Limits;
use crate::staging::Staged;
use crate::step::{MetaMount, Mounts, Parallel, Rule, Summary, Usage};
use crate::steplog::{Level, LogLine, Source, StepObserver};
use crate::store::ModuleVersion;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

/// What to run and where.
#[derive(Clone, Debug)]
pub struct ExecRequest {
    pub module: PathBuf,
    pub collection: PathBuf,
    pub output: PathBuf,
    pub input: Option<PathBuf>,
    /// With `do_fit`, the fitted state is written here (staged like the output); without,
    /// it is mounted read-only.
    pub meta: Option<PathBuf>,
    pub rule: Rule,
    pub do_fit: bool,
    pub limits: Limits,
    /// Replace a non-empty output folder's contents when the step succeeds.
    pub replace: bool,
    /// The registry version `module` is the blob of, when run by name: module_info then
    /// carries its fields, and the bytes must match its digest.
    pub registered: Option<ModuleVersion>,
    /// Workers and the item error policy, for modules that export `items` (per-item steps).
    pub parallel: Parallel,
}

/// What ran: the seed's `module_info`. Fields the registry fills (version, deploy time,
/// status) are `null` for a module run from a file.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ModuleInfo {
    pub module_name: String,
    pub version: Option<String>,
    /// `sha256:<hex>` of the component bytes.
    pub digest: String,
    pub size: u64,
    pub template: Option<String>,
    pub api_version: Option<String>,
    pub deploy_dt: Option<String>,
    pub status: Option<String>,
    /// The file the module was loaded from.
    pub source: String,
}

/// The outcome of one step: the `--json` output of `premod exec`.
#[derive(Clone, Debug, Serialize)]
pub struct ExecReport {
    /// `completed` or `failed`.
    pub status: &'static str,
    pub error: Option<StepError>,
    pub module_info: ModuleInfo,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub finished_at: OffsetDateTime,
    pub summary: Option<Summary>,
    pub usage: Usage,
    /// Where the output is (only when completed).
    pub output: Option<PathBuf>,
}

impl ExecReport {
    /// The process exit code: 0 completed, 1 the module failed, 2 bad input.
    pub fn exit_code(&self) -> u8 {
        match &self.error {
            None => 0,
            Some(e) if e.kind.is_bad_input() => 2,
            Some(_) => 1,
        }
    }
}

fn host_line(observer: &dyn StepObserver, level: Level, message: impl Into<String>) {
    observer.log(&LogLine::now(level, Source::Host, message));
}

/// The seed's params line: the rule as the platform records it, with module_info.
fn params_line(req: &ExecRequest, info: &ModuleInfo) -> String {
    let value = serde_json::json!({
        "rule": {
            "source_column": req.rule.source_columns.iter().map(|c| &c.name).collect::<Vec<_>>(),
            "source_type": req.rule.source_columns.iter().map(|c| &c.data_type).collect::<Vec<_>>(),
            "rule_no": req.rule.rule_no.to_string(),
            "param": req.rule.params,
            "module_info": info,
        },
        "do_fit": req.do_fit,
        "limits": req.limits,
    });
    format!("params={value}")
}

fn require_dir(path: &Path, what: &str) -> Result<PathBuf, StepError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => std::fs::canonicalize(path).map_err(|e| {
            StepError::invalid_input(format!("cannot resolve {what} {}: {e}", path.display()))
        }),
        Ok(_) => Err(StepError::invalid_input(format!(
            "{what} {} is not a folder",
            path.display()
        ))),
        Err(e) => Err(StepError::invalid_input(format!(
            "{what} {} cannot be used: {e}",
            path.display()
        ))),
    }
}

/// The absolute form of a path that may not exist yet.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Everything that can be checked before the module runs.
struct Prepared {
    module: Module,
    mounts: Mounts,
    output: Staged,
    meta: Option<Staged>,
}

fn prepare(
    engine: &Engine,
    req: &ExecRequest,
    bytes: &[u8],
    info: &mut ModuleInfo,
) -> Result<Prepared, StepError> {
    let collection = require_dir(&req.collection, "collection folder")?;
    let input = req
        .input
        .as_deref()
        .map(|p| require_dir(p, "input folder"))
        .transpose()?;
    let output = absolute(&req.output);
    for (name, ro) in [("collection", Some(&collection)), ("input", input.as_ref())] {
        if let Some(ro) = ro
            && (output.starts_with(ro) || ro.starts_with(&output))
        {
            return Err(StepError::invalid_input(format!(
                "output folder {} overlaps the {name} folder {}; the output must be outside \
                 the folders the module reads",
                output.display(),
                ro.display()
            )));
        }
    }
    let module = engine.load(bytes)?;
    info.api_version = Some(module.api().api_version.to_string());

    let staged_output = Staged::prepare(&output, req.replace)?;
    let (meta_mount, staged_meta) = match (&req.meta, req.do_fit) {
        (None, _) => (None, None),
        (Some(meta), true) => {
            let staged = Staged::prepare(&absolute(meta), true)?;
            let mount = MetaMount {
                path: staged.path().to_path_buf(),
                writable: true,
            };
            (Some(mount), Some(staged))
        }
        (Some(meta), false) => {
            let path = require_dir(meta, "meta folder (fitted state, needed when not fitting)")?;
            (
                Some(MetaMount {
                    path,
                    writable: false,
                }),
                None,
            )
        }
    };
    Ok(Prepared {
        module,
        mounts: Mounts {
            collection,
            input,
            output: staged_output.path().to_path_buf(),
            meta: meta_mount,
        },
        output: staged_output,
        meta: staged_meta,
    })
}

/// Runs one step. Never panics on bad input: every failure is in the report.
pub async fn exec(
    engine: &Engine,
    req: ExecRequest,
    observer: Arc<dyn StepObserver>,
    cancel: CancellationToken,
) -> ExecReport {
    let started_at = OffsetDateTime::now_utc();
    let obs = observer.as_ref();
    host_line(obs, Level::Info, "### preprocessing start ###");

    let mut info = match &req.registered {
        Some(v) => ModuleInfo {
            module_name: v.name.clone(),
            version: Some(v.version.clone()),
            digest: v.digest.clone(),
            size: v.size,
            template: v.template.clone(),
            api_version: Some(v.api_version.clone()),
            deploy_dt: v.deploy_dt.clone(),
            status: Some(v.status.as_str().to_string()),
            source: format!("registry:{}@{}", v.name, v.version),
        },
        None => ModuleInfo {
            module_name: req
                .module
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            source: req.module.display().to_string(),
            ..Default::default()
        },
    };
    let bytes = std::fs::read(&req.module)
        .map_err(|e| {
            StepError::invalid_input(format!(
                "cannot read module file {}: {e}",
                req.module.display()
            ))
        })
        .and_then(|bytes| {
            let digest = crate::digest::sha256(&bytes);
            match &req.registered {
                Some(v) if v.digest != digest => Err(StepError::invalid_module(format!(
                    "the stored blob of {}@{} does not match its digest (expected {}, found \
                     {digest}); remove the version and add it again",
                    v.name, v.version, v.digest
                ))),
                Some(_) => Ok(bytes),
                None => {
                    info.digest = digest;
                    info.size = bytes.len() as u64;
                    info.template = crate::registry::detect_template(&bytes);
                    Ok(bytes)
                }
            }
        });

    let prepared = bytes.and_then(|bytes| prepare(engine, &req, &bytes, &mut info));
    host_line(obs, Level::Info, params_line(&req, &info));

    let (result, usage, output) = match prepared {
        Err(e) => (Err(e), Usage::default(), None),
        Ok(p) => {
            host_line(
                obs,
                Level::Info,
                format!(
                    "module_path={} digest={} api={}",
                    info.source,
                    info.digest,
                    info.api_version.as_deref().unwrap_or("?")
                ),
            );
            let job = TrainJob {
                mounts: p.mounts,
                rule: req.rule.clone(),
                do_fit: req.do_fit,
                limits: req.limits.clone(),
                cancel,
            };
            let observer = Arc::clone(&observer);
            let outcome = match p.module.api().has_items && !req.parallel.whole {
                true => {
                    engine
                        .run_items(&p.module, job, &req.parallel, observer)
                        .await
                }
                false => engine.run_train(&p.module, job, observer).await,
            };
            let result = match outcome.result {
                Ok(summary) => commit(p.output, p.meta).map(|out| (summary, out)),
                // Dropping the staged folders removes them; the targets are untouched.
                Err(e) => Err(e),
            };
            match result {
                Ok((summary, out)) => (Ok(summary), outcome.usage, Some(out)),
                Err(e) => (Err(e), outcome.usage, None),
            }
        }
    };

    if let Err(e) = &result {
        host_line(
            obs,
            Level::Error,
            format!("preprocessing failed ({}): {}", e.kind, e.message),
        );
    }
    host_line(obs, Level::Info, "### preprocessing finished ###");
    let (total, success, error) = match &result {
        Ok(s) => (s.total, s.success, s.error),
        Err(_) => (1, 0, 1),
    };
    host_line(
        obs,
        Level::Info,
        format!("Status : total:{total}, success:{success}, error:{error}"),
    );

    let (summary, error) = match result {
        Ok(s) => (Some(s), None),
        Err(e) => (None, Some(e)),
    };
    ExecReport {
        status: if error.is_none() {
            "completed"
        } else {
            "failed"
        },
        error,
        module_info: info,
        started_at,
        finished_at: OffsetDateTime::now_utc(),
        summary,
        usage,
        output,
    }
}

fn commit(output: Staged, meta: Option<Staged>) -> Result<PathBuf, StepError> {
    let target = output.target().to_path_buf();
    let io = |what: &str, e: std::io::Error| {
        StepError::new(
            ErrorKind::InvalidInput,
            format!("the step succeeded but its {what} could not be moved into place: {e}"),
        )
    };
    if let Some(meta) = meta {
        meta.commit().map_err(|e| io("fitted state (/meta)", e))?;
    }
    output.commit().map_err(|e| io("output", e))?;
    Ok(target)
}
