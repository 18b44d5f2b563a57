//! Per-item (data-parallel) steps, for modules that export `premod:premodule/items` (1.1.0):
//! `plan` once in its own instance, `process-item` for every item on a pool of worker
//! instances (one OS thread each), then `finish` once in a fresh instance.
//!
//! Every instance is built from one [`StoreSpec`]: the same mounts and per-instance memory
//! limit, and one shared output quota, module log, deadline and cancel token, so the quota
//! is counted exactly across workers and a timeout or stop ends every instance (the epoch
//! callback of each store sees the shared token and deadline).

use super::bindings::exports::premod::premodule::items as api;
use super::{
    Engine, Guest, Interrupted, Mismatch, Module, StepOutcome, StepState, StoreSpec, TrainJob,
    classify, guarded, missing_export, module_error, signature_mismatch, train_context,
};
use crate::error::{ErrorKind, StepError};
use crate::step::{Mounts, OnItemError, Parallel, Summary, Usage};
use crate::steplog::{Level, LogLine, Source, StepObserver};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;
use wasmtime::Store;
use wasmtime::component::InstancePre;

/// More items than this is almost certainly a mistake in `plan` (or a hostile module
/// making the host enumerate forever); a step over it fails with a clear message.
pub const MAX_ITEMS: usize = 1_000_000;

/// Why one item failed.
#[derive(Clone, Debug)]
struct ItemFailure {
    error: StepError,
}

/// One item's outcome: its note, or why it failed, by item index.
type ItemResult = (usize, Result<Option<String>, ItemFailure>);

/// What one worker did.
#[derive(Default)]
struct WorkerReport {
    results: Vec<ItemResult>,
    /// A failure that ends the whole step (timeout, stop, output limit, a broken module).
    fatal: Option<StepError>,
    /// Largest memory of any instance this worker ran.
    peak: u64,
}

/// State the workers share.
struct Shared {
    items: Vec<String>,
    next: AtomicUsize,
    done: AtomicU64,
    /// Set when an item failed under [`OnItemError::Fail`]: the others stop.
    failed_fast: AtomicBool,
    policy: OnItemError,
    observer: Arc<dyn StepObserver>,
}

fn host_line(observer: &dyn StepObserver, level: Level, message: String) {
    observer.log(&LogLine::now(level, Source::Host, message));
}

impl Engine {
    /// Runs a per-item step: `plan`, `process-item` for every item on `parallel.workers`
    /// instances, then `finish`. The summary counts items: total, succeeded, and failed
    /// (skipped under [`OnItemError::Skip`]).
    pub async fn run_items(
        &self,
        module: &Module,
        job: TrainJob,
        parallel: &Parallel,
        observer: Arc<dyn StepObserver>,
    ) -> StepOutcome {
        let started = Instant::now();
        let Some(indices) = &module.items else {
            return StepOutcome {
                result: Err(missing_export(&module.api, "items")),
                usage: Usage::default(),
            };
        };
        // A child of the step's token: cancelling it (an item failed under `fail`) stops
        // every worker without looking like a stop request from the user.
        let abort = job.cancel.child_token();
        // If this future is dropped mid-step (its caller gave up), the worker threads stop too.
        let _stop_workers = abort.clone().drop_guard();
        let mut spec = self.spec(
            &job.mounts,
            &job.limits,
            abort.clone(),
            Arc::clone(&observer),
            true,
        );
        spec.guest_progress = false;
        let ctx = train_context(&job);
        let mut peak = 0;

        let result = async {
            let (source, plan_peak) = plan(&spec, module, indices, &ctx).await?;
            peak = plan_peak;
            let (items, what) = enumerate(&job.mounts, source)?;
            let workers = parallel.workers.max(1).min(items.len().max(1));
            host_line(
                observer.as_ref(),
                Level::Info,
                format!(
                    "per-item step: {} item{} ({what}), {workers} worker{}, on item error: {}",
                    items.len(),
                    if items.len() == 1 { "" } else { "s" },
                    if workers == 1 { "" } else { "s" },
                    match parallel.on_item_error {
                        OnItemError::Fail => "fail",
                        OnItemError::Skip => "skip",
                    }
                ),
            );
            observer.progress(0, items.len() as u64);
            let shared = Arc::new(Shared {
                items,
                next: AtomicUsize::new(0),
                done: AtomicU64::new(0),
                failed_fast: AtomicBool::new(false),
                policy: parallel.on_item_error,
                observer: Arc::clone(&observer),
            });
            let reports = run_workers(&spec, module, indices, &ctx, &shared, workers).await;
            peak = peak.max(reports.iter().map(|r| r.peak).sum());
            let outcomes = collect(&job, &shared, reports)?;

            let failed: Vec<&ItemResult> = outcomes.iter().filter(|(_, r)| r.is_err()).collect();
            for (index, r) in &failed {
                if let Err(f) = r {
                    host_line(
                        observer.as_ref(),
                        Level::Error,
                        format!(
                            "item #{index} {} skipped ({}): {}",
                            shared.items[*index], f.error.kind, f.error.message
                        ),
                    );
                }
            }
            let total = shared.items.len() as u64;
            let error = failed.len() as u64;
            let outcomes: Vec<api::ItemOutcome> = outcomes
                .into_iter()
                .map(|(index, r)| api::ItemOutcome {
                    item: api::Item {
                        index: index as u64,
                        key: shared.items[index].clone(),
                    },
                    summary: r
                        .map(|note| api::ItemSummary { note })
                        .map_err(|f| format!("{}: {}", f.error.kind, f.error.message)),
                })
                .collect();
            let (message, finish_peak) = finish(&spec, module, indices, &ctx, &outcomes).await?;
            peak = peak.max(finish_peak);
            Ok(Summary {
                total,
                success: total - error,
                error,
                message,
            })
        }
        .await;
        let log = spec.log.usage();
        StepOutcome {
            result,
            usage: Usage {
                wall_ms: started.elapsed().as_millis() as u64,
                peak_memory_bytes: peak,
                output_bytes: spec.quota.bytes(),
                output_files: spec.quota.files(),
                log_bytes: log.bytes,
                log_lines_dropped: log.dropped_lines,
            },
        }
    }
}

/// Instantiates the module in a new store and loads its `items` export.
async fn instance(
    spec: &StoreSpec,
    pre: &InstancePre<StepState>,
    indices: &api::GuestIndices,
) -> Result<(Store<StepState>, api::Guest), StepError> {
    let mut store = spec.build()?;
    let loaded = guarded(spec.deadline, &spec.cancel, spec.timeout, async {
        let instance = pre.instantiate_async(&mut store).await?;
        Ok(indices
            .load(&mut store, &instance)
            .map_err(|e| signature_mismatch("items", e)))
    })
    .await;
    match loaded {
        Ok(Ok(guest)) => Ok((store, guest)),
        Ok(Err(e)) => Err(e),
        Err(e) => Err(classify(e)),
    }
}

async fn plan(
    spec: &StoreSpec,
    module: &Module,
    indices: &api::GuestIndices,
    ctx: &super::types::TrainContext,
) -> Result<(api::ItemSource, u64), StepError> {
    let (mut store, guest) = instance(spec, &module.pre, indices).await?;
    let r = guarded(spec.deadline, &spec.cancel, spec.timeout, async {
        Ok(guest.call_plan(&mut store, ctx).await?.map_err(Guest))
    })
    .await;
    let peak = store.data().limiter.peak();
    match r {
        Ok(Ok(source)) => Ok((source, peak)),
        Ok(Err(Guest(e))) => Err(in_call("plan", module_error(e))),
        Ok(Err(Mismatch(e))) => Err(e),
        Err(e) => Err(in_call("plan", classify(e))),
    }
}

async fn finish(
    spec: &StoreSpec,
    module: &Module,
    indices: &api::GuestIndices,
    ctx: &super::types::TrainContext,
    outcomes: &[api::ItemOutcome],
) -> Result<(Option<String>, u64), StepError> {
    let (mut store, guest) = instance(spec, &module.pre, indices).await?;
    let r = guarded(spec.deadline, &spec.cancel, spec.timeout, async {
        Ok(guest
            .call_finish(&mut store, ctx, outcomes)
            .await?
            .map_err(Guest))
    })
    .await;
    let peak = store.data().limiter.peak();
    match r {
        Ok(Ok(message)) => Ok((message, peak)),
        Ok(Err(Guest(e))) => Err(in_call("finish", module_error(e))),
        Ok(Err(Mismatch(e))) => Err(e),
        Err(e) => Err(in_call("finish", classify(e))),
    }
}

fn in_call(what: &str, e: StepError) -> StepError {
    StepError::new(e.kind, format!("in `{what}`: {}", e.message))
}

/// Starts `n` worker threads and waits for all of them. Each thread has its own
/// single-threaded runtime, so the workers run in parallel whatever runtime the caller uses.
async fn run_workers(
    spec: &StoreSpec,
    module: &Module,
    indices: &api::GuestIndices,
    ctx: &super::types::TrainContext,
    shared: &Arc<Shared>,
    n: usize,
) -> Vec<WorkerReport> {
    let mut waiting = Vec::with_capacity(n);
    for w in 0..n {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let spec = spec.clone();
        let pre = module.pre.clone();
        let indices = indices.clone();
        let ctx = ctx.clone();
        let shared = Arc::clone(shared);
        let spawned = std::thread::Builder::new()
            .name(format!("premod-item-{w}"))
            .spawn(move || {
                let report = match tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                {
                    Ok(rt) => rt.block_on(worker(&spec, &pre, &indices, &ctx, &shared)),
                    Err(e) => WorkerReport {
                        fatal: Some(StepError::new(
                            ErrorKind::Interrupted,
                            format!("cannot start a worker runtime: {e}"),
                        )),
                        ..WorkerReport::default()
                    },
                };
                let _ = tx.send(report);
            });
        match spawned {
            Ok(_) => waiting.push(rx),
            Err(e) => {
                // Fewer workers still finish the step; none at all is reported below.
                tracing::warn!(error = %e, "cannot start a worker thread");
                if w == 0 {
                    return vec![WorkerReport {
                        fatal: Some(StepError::new(
                            ErrorKind::Interrupted,
                            format!("cannot start a worker thread: {e}"),
                        )),
                        ..WorkerReport::default()
                    }];
                }
            }
        }
    }
    let mut reports = Vec::with_capacity(waiting.len());
    for rx in waiting {
        reports.push(rx.await.unwrap_or_else(|_| WorkerReport {
            fatal: Some(StepError::new(
                ErrorKind::Interrupted,
                "a worker thread ended without a report (it panicked)",
            )),
            ..WorkerReport::default()
        }));
    }
    reports
}

/// One worker: takes the next item until none is left, the step is stopped, or (under
/// `fail`) an item failed. An instance is reused for many items; after a trap or the memory
/// limit it is dropped and the next item gets a fresh one.
async fn worker(
    spec: &StoreSpec,
    pre: &InstancePre<StepState>,
    indices: &api::GuestIndices,
    ctx: &super::types::TrainContext,
    shared: &Shared,
) -> WorkerReport {
    let mut report = WorkerReport::default();
    let mut current: Option<(Store<StepState>, api::Guest)> = None;
    let total = shared.items.len() as u64;
    loop {
        if spec.cancel.is_cancelled() {
            break;
        }
        let index = shared.next.fetch_add(1, Ordering::Relaxed);
        let Some(key) = shared.items.get(index) else {
            break;
        };
        if current.is_none() {
            match instance(spec, pre, indices).await {
                Ok(pair) => current = Some(pair),
                Err(e) => {
                    report.fatal = Some(e);
                    break;
                }
            }
        }
        let (store, guest) = current.as_mut().expect("instance made above");
        let item = api::Item {
            index: index as u64,
            key: key.clone(),
        };
        let r = guarded(spec.deadline, &spec.cancel, spec.timeout, async {
            guest.call_process_item(&mut *store, ctx, &item).await
        })
        .await;
        let outcome = match r {
            Ok(Ok(summary)) => Ok(summary.note),
            Ok(Err(e)) => Err(ItemFailure {
                error: module_error(e),
            }),
            Err(e) => {
                let e = classify(e);
                report.peak = report.peak.max(store.data().limiter.peak());
                current = None;
                match e.kind {
                    // The item broke its instance; the step can go on with a fresh one.
                    ErrorKind::Trap | ErrorKind::MemoryLimit => Err(ItemFailure { error: e }),
                    // Time, quota and stop belong to the whole step.
                    _ => {
                        report.fatal = Some(e);
                        break;
                    }
                }
            }
        };
        let failed = outcome.is_err();
        report.results.push((index, outcome));
        let done = shared.done.fetch_add(1, Ordering::Relaxed) + 1;
        shared.observer.progress(done, total);
        if failed && shared.policy == OnItemError::Fail {
            shared.failed_fast.store(true, Ordering::Relaxed);
            spec.cancel.cancel();
            break;
        }
    }
    if let Some((store, _)) = &current {
        report.peak = report.peak.max(store.data().limiter.peak());
    }
    report
}

/// Turns the workers' reports into the items' outcomes in item order, or the step's error.
fn collect(
    job: &TrainJob,
    shared: &Shared,
    reports: Vec<WorkerReport>,
) -> Result<Vec<ItemResult>, StepError> {
    if job.cancel.is_cancelled() {
        return Err(StepError::new(
            ErrorKind::Stopped,
            Interrupted::Stopped.to_string(),
        ));
    }
    let failed_fast = shared.failed_fast.load(Ordering::Relaxed);
    let mut outcomes = Vec::with_capacity(shared.items.len());
    let mut fatal = None;
    for report in reports {
        outcomes.extend(report.results);
        if let Some(e) = report.fatal {
            // A worker stopped because another one's item failed: not an error of its own.
            let sibling_stop = failed_fast && e.kind == ErrorKind::Stopped;
            if !sibling_stop && fatal.is_none() {
                fatal = Some(e);
            }
        }
    }
    if let Some(e) = fatal {
        return Err(e);
    }
    outcomes.sort_by_key(|(index, _)| *index);
    if shared.policy == OnItemError::Fail
        && let Some((index, Err(f))) = outcomes.iter().find(|(_, r)| r.is_err())
    {
        return Err(StepError::new(
            f.error.kind,
            format!(
                "item #{index} {} failed: {} (use --on-item-error skip to count failed items \
                 and go on)",
                shared.items[*index], f.error.message
            ),
        ));
    }
    if outcomes.len() != shared.items.len() {
        return Err(StepError::new(
            ErrorKind::Interrupted,
            format!(
                "only {} of {} items were processed",
                outcomes.len(),
                shared.items.len()
            ),
        ));
    }
    Ok(outcomes)
}

/// The items `plan` asked for: guest paths of files under a mounted read-only folder
/// (sorted), or the module's own keys (in its order). Returns them and a description.
fn enumerate(mounts: &Mounts, source: api::ItemSource) -> Result<(Vec<String>, String), StepError> {
    let bad = |m: String| StepError::new(ErrorKind::ModuleError, format!("in `plan`: {m}"));
    match source {
        api::ItemSource::Keys(keys) => {
            if keys.len() > MAX_ITEMS {
                return Err(bad(format!(
                    "the module listed {} items, over the limit of {MAX_ITEMS}",
                    keys.len()
                )));
            }
            Ok((keys, "keys listed by the module".into()))
        }
        api::ItemSource::Files(sel) => {
            let (guest_root, host_root) = resolve(mounts, &sel.root).map_err(bad)?;
            match std::fs::symlink_metadata(&host_root) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Err(bad(format!("{guest_root} is not a folder"))),
                Err(e) => return Err(bad(format!("cannot read {guest_root}: {e}"))),
            }
            let extensions: Vec<String> = sel.extensions.iter().map(|e| e.to_lowercase()).collect();
            let mut items = Vec::new();
            let mut pending = vec![(host_root, guest_root.clone())];
            while let Some((dir, guest)) = pending.pop() {
                let entries = std::fs::read_dir(&dir)
                    .map_err(|e| bad(format!("cannot list {guest}: {e}")))?;
                for entry in entries {
                    let entry = entry.map_err(|e| bad(format!("cannot list {guest}: {e}")))?;
                    let name = entry.file_name();
                    let Some(name) = name.to_str() else {
                        return Err(bad(format!(
                            "{guest} holds a file whose name is not UTF-8 ({}); rename it",
                            name.to_string_lossy()
                        )));
                    };
                    let path = format!("{}/{name}", guest.trim_end_matches('/'));
                    let ty = entry
                        .file_type()
                        .map_err(|e| bad(format!("cannot read {path}: {e}")))?;
                    if ty.is_dir() {
                        pending.push((entry.path(), path));
                    } else if ty.is_file() {
                        let lower = name.to_lowercase();
                        if extensions.is_empty() || extensions.iter().any(|e| lower.ends_with(e)) {
                            items.push(path);
                            if items.len() > MAX_ITEMS {
                                return Err(bad(format!(
                                    "{guest_root} holds more than {MAX_ITEMS} matching files"
                                )));
                            }
                        }
                    }
                    // Symbolic links and special files are not items.
                }
            }
            items.sort_unstable();
            let filter = match sel.extensions.is_empty() {
                true => "every file".to_string(),
                false => sel.extensions.join(", "),
            };
            Ok((items, format!("{filter} under {guest_root}")))
        }
    }
}

/// Maps a guest folder under `/collection` or `/input` to the host folder it is mounted from.
fn resolve(mounts: &Mounts, root: &str) -> Result<(String, PathBuf), String> {
    let path = Path::new(root);
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(format!("item root {root:?} has a `..` component"));
            }
        }
    }
    if !root.starts_with('/') || parts.is_empty() {
        return Err(format!(
            "item root {root:?} must be /collection or /input or a folder inside them"
        ));
    }
    let base = match parts[0].as_str() {
        "collection" => mounts.collection.clone(),
        "input" => mounts.input.clone().ok_or_else(|| {
            format!(
                "item root {root:?} is under /input, but this step has no input (it is the \
                 first rule); read /collection instead"
            )
        })?,
        _ => {
            return Err(format!(
                "item root {root:?} must be /collection or /input or a folder inside them \
                 (the read-only mounts)"
            ));
        }
    };
    let host = parts[1..].iter().fold(base, |p, c| p.join(c));
    Ok((format!("/{}", parts.join("/")), host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mounts(root: &Path) -> Mounts {
        Mounts {
            collection: root.join("c"),
            input: Some(root.join("i")),
            output: root.join("o"),
            meta: None,
        }
    }

    #[test]
    fn resolves_only_read_only_mounts() {
        let m = mounts(Path::new("/h"));
        assert_eq!(
            resolve(&m, "/input/a/b").unwrap(),
            ("/input/a/b".into(), PathBuf::from("/h/i/a/b"))
        );
        assert_eq!(
            resolve(&m, "/collection/").unwrap().1,
            PathBuf::from("/h/c")
        );
        for bad in ["/output", "/meta", "/input/../output", "relative", "/", ""] {
            assert!(resolve(&m, bad).is_err(), "{bad}");
        }
        let first = Mounts { input: None, ..m };
        assert!(resolve(&first, "/input").unwrap_err().contains("no input"));
    }

    #[test]
    fn enumerates_sorted_files_by_extension_without_links() {
        let dir = tempfile::tempdir().unwrap();
        let m = mounts(dir.path());
        for f in [
            "c/b/2.PNG",
            "c/b/1.png",
            "c/a.png",
            "c/notes.txt",
            "c/z/y/x.jpg",
        ] {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"x").unwrap();
        }
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("c/link.png")).unwrap();
        let source = api::ItemSource::Files(api::FileSelector {
            root: "/collection".into(),
            extensions: vec![".png".into(), ".jpg".into()],
        });
        let (items, what) = enumerate(&m, source).unwrap();
        assert_eq!(
            items,
            [
                "/collection/a.png",
                "/collection/b/1.png",
                "/collection/b/2.PNG",
                "/collection/z/y/x.jpg"
            ]
        );
        assert_eq!(what, ".png, .jpg under /collection");
        let missing = api::ItemSource::Files(api::FileSelector {
            root: "/collection/none".into(),
            extensions: vec![],
        });
        let e = enumerate(&m, missing).unwrap_err();
        assert_eq!(e.kind, ErrorKind::ModuleError);
        assert!(e.message.contains("/collection/none"), "{e}");
    }
}
