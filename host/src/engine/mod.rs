//! The engine: the only part of premod that touches wasmtime.
//!
//! [`Engine::load`] checks and compiles a component into a [`Module`]; [`Engine::run_train`]
//! runs its `process-for-train` once in a fresh store and instance with the sandbox of
//! [`Mounts`] and the [`Limits`]; [`Engine::start_service`] instantiates it once for
//! `init-svc`, and [`Service::transform`] then runs batches against that instance.
//!
//! Enforcement, in one place:
//! - memory: [`limiter::InstanceLimiter`] sums every memory and table of the instance;
//! - time: an epoch tick every [`TICK`] lets a CPU-bound guest be interrupted at its deadline
//!   or when cancelled, and the call itself races a timer, so a guest blocked inside a WASI
//!   call (sleep, poll) is dropped too;
//! - output: [`fs`] charges an [`quota::OutputQuota`] before any byte or entry is written;
//! - logs: [`logger::ModuleLog`] bounds `host.log` and captured stdout/stderr.

mod bindings;
mod cache;
mod check;
mod fs;
mod items;
mod limiter;
mod logger;
mod native;
mod quota;

pub use check::{API_VERSION, ModuleApi, NATIVE_VERSION};

use crate::error::{ErrorKind, StepError};
use crate::limits::Limits;
use crate::step::{Batch, Mounts, Rule, Summary, Usage};
use crate::steplog::{Level, Source, StepObserver};
use bindings::exports::premod::premodule::{items as items_api, serve, train};
use bindings::premod::premodule::{host, types};
use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use wasmtime::component::{Component, HasSelf, InstancePre, Linker, ResourceTable};
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// How often the epoch advances: the granularity of timeouts and cancellation for a
/// CPU-bound guest.
pub const TICK: Duration = Duration::from_millis(10);

/// A wasmtime engine configured for premodules, with the linker that grants their imports.
pub struct Engine {
    engine: wasmtime::Engine,
    linker: Linker<StepState>,
    /// Components compiled by this engine, by digest: a module loaded twice compiles once.
    compiled: Mutex<HashMap<String, Component>>,
    /// Precompiled artifacts on disk, when the engine has a cache folder.
    artifacts: Option<cache::ArtifactCache>,
    compiles: AtomicU64,
    artifact_hits: AtomicU64,
    native_capabilities: bool,
    _ticker: EpochTicker,
}

/// Engine settings. Everything here that changes compiled code is part of the precompiled
/// cache key, so changing it never loads an incompatible artifact.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Where precompiled artifacts are kept (`$PREMOD_HOME/cache`); `None` compiles in memory only.
    pub cache_dir: Option<std::path::PathBuf>,
    /// Optimise generated code (Cranelift `speed`); off compiles faster and runs slower.
    pub optimize: bool,
    /// Offer the host-native capabilities of `premod:native` (`wit/native/`). Off, every
    /// call answers `unavailable` and modules do the work in the sandbox themselves.
    pub native_capabilities: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            cache_dir: None,
            optimize: true,
            native_capabilities: true,
        }
    }
}

/// How a module was made ready, for logs and benchmarks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Readiness {
    /// Compiled from the component bytes.
    Compiled,
    /// Loaded from a precompiled artifact on disk.
    Precompiled,
    /// Already compiled by this engine.
    InMemory,
}

/// A checked, compiled premodule, ready to instantiate any number of times.
pub struct Module {
    digest: String,
    size: u64,
    readiness: Readiness,
    pre: InstancePre<StepState>,
    train: Option<train::GuestIndices>,
    serve: Option<serve::GuestIndices>,
    items: Option<items_api::GuestIndices>,
    api: ModuleApi,
    compile_time: Duration,
}

impl Module {
    /// What the module exports and imports, and the API version it was built against.
    pub fn api(&self) -> &ModuleApi {
        &self.api
    }

    /// `sha256:<hex>` of the component's bytes.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Size of the component in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether the module was compiled, loaded precompiled, or reused from memory.
    pub fn readiness(&self) -> Readiness {
        self.readiness
    }

    /// How long making the module ready took (compiling, or loading an artifact).
    pub fn compile_time(&self) -> Duration {
        self.compile_time
    }
}

/// One run of `process-for-train`.
pub struct TrainJob {
    pub mounts: Mounts,
    pub rule: Rule,
    pub do_fit: bool,
    pub limits: Limits,
    /// Cancelling it stops the step (reported as [`ErrorKind::Stopped`]).
    pub cancel: CancellationToken,
}

/// How a step ended, and what it used either way.
#[derive(Clone, Debug)]
pub struct StepOutcome {
    pub result: Result<Summary, StepError>,
    pub usage: Usage,
}

/// Per-store state: WASI, the resource table, and the step's limits and log.
pub(crate) struct StepState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: limiter::InstanceLimiter,
    quota: Arc<quota::OutputQuota>,
    log: Arc<logger::ModuleLog>,
    deadline: Instant,
    timeout: Duration,
    cancel: CancellationToken,
    /// Whether the module's `progress` calls reach the observer; in a per-item step the
    /// host reports progress itself (items done of items total).
    guest_progress: bool,
    /// What `premod:native` may touch.
    native: native::NativeAccess,
}

impl WasiView for StepState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl wasmtime_wasi_io::IoView for StepState {
    fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}

impl types::Host for StepState {}

impl host::Host for StepState {
    fn log(&mut self, level: types::Level, message: String) {
        let level = match level {
            types::Level::Trace => Level::Trace,
            types::Level::Debug => Level::Debug,
            types::Level::Info => Level::Info,
            types::Level::Warn => Level::Warn,
            types::Level::Error => Level::Error,
        };
        self.log.log(level, Source::Module, &message);
    }

    fn progress(&mut self, done: u64, total: u64) {
        if self.guest_progress {
            self.log.observer().progress(done, total);
        }
    }
}

/// Why the host interrupted a guest.
#[derive(Debug, thiserror::Error)]
enum Interrupted {
    #[error(
        "the module ran past the time limit of {0:?}; raise it with --timeout if the dataset \
         needs longer"
    )]
    Timeout(Duration),
    #[error("the step was stopped on request")]
    Stopped,
}

fn quota_fs(state: &mut StepState) -> fs::QuotaFs<'_> {
    fs::QuotaFs {
        inner: wasmtime_wasi::filesystem::WasiFilesystemCtxView {
            ctx: state.wasi.filesystem(),
            table: &mut state.table,
        },
        quota: &state.quota,
    }
}

impl Engine {
    /// Creates an engine with the default settings and no artifact cache.
    pub fn new() -> anyhow::Result<Engine> {
        Self::with_config(&EngineConfig::default())
    }

    /// Creates an engine with epoch interruption and the premodule linker.
    pub fn with_config(settings: &EngineConfig) -> anyhow::Result<Engine> {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.cranelift_opt_level(match settings.optimize {
            true => wasmtime::OptLevel::Speed,
            false => wasmtime::OptLevel::None,
        });
        // For profiling modules with Linux `perf`: `PREMOD_PERFMAP=1` writes
        // /tmp/perf-PID.map, which names the module's functions in `perf report`.
        if std::env::var_os("PREMOD_PERFMAP").is_some_and(|v| v == "1") {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = wasmtime::Engine::new(&config)?;
        let linker = Self::linker(&engine)?;
        let artifacts = settings
            .cache_dir
            .as_deref()
            .map(|dir| cache::ArtifactCache::new(dir, &engine));
        let ticker = EpochTicker::start(engine.clone());
        Ok(Engine {
            engine,
            linker,
            compiled: Mutex::new(HashMap::new()),
            artifacts,
            compiles: AtomicU64::new(0),
            artifact_hits: AtomicU64::new(0),
            native_capabilities: settings.native_capabilities,
            _ticker: ticker,
        })
    }

    /// How many components this engine has compiled (not loaded from a cache).
    pub fn compile_count(&self) -> u64 {
        self.compiles.load(Ordering::Relaxed)
    }

    /// How many components this engine loaded from precompiled artifacts.
    pub fn artifact_hits(&self) -> u64 {
        self.artifact_hits.load(Ordering::Relaxed)
    }

    /// The folder holding this engine's precompiled artifacts, if it has one.
    pub fn artifact_dir(&self) -> Option<&Path> {
        self.artifacts.as_ref().map(|a| a.dir())
    }

    /// The imports premod grants, and nothing else: WASI io, clocks, random, filesystem (with
    /// the output quota), cli stdio/exit/environment (empty), sockets (every use denied),
    /// and `premod:premodule/host`.
    fn linker(engine: &wasmtime::Engine) -> anyhow::Result<Linker<StepState>> {
        use wasmtime_wasi::cli::{WasiCli, WasiCliView};
        use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
        use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
        use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, random, sockets};
        use wasmtime_wasi::random::WasiRandom;
        use wasmtime_wasi::sockets::{WasiSockets, WasiSocketsView};

        let mut linker = Linker::<StepState>::new(engine);
        let l = &mut linker;
        wasmtime_wasi_io::add_to_linker_async(l)?;
        clocks::wall_clock::add_to_linker::<_, WasiClocks>(l, |s| s.clocks())?;
        clocks::monotonic_clock::add_to_linker::<_, WasiClocks>(l, |s| s.clocks())?;
        random::random::add_to_linker::<_, WasiRandom>(l, |s| s.wasi.random())?;
        random::insecure::add_to_linker::<_, WasiRandom>(l, |s| s.wasi.random())?;
        random::insecure_seed::add_to_linker::<_, WasiRandom>(l, |s| s.wasi.random())?;
        filesystem::preopens::add_to_linker::<_, WasiFilesystem>(l, |s| s.filesystem())?;
        filesystem::types::add_to_linker::<_, fs::QuotaFsData>(l, quota_fs)?;
        cli::exit::add_to_linker::<_, WasiCli>(l, |s| s.cli())?;
        cli::environment::add_to_linker::<_, WasiCli>(l, |s| s.cli())?;
        cli::stdin::add_to_linker::<_, WasiCli>(l, |s| s.cli())?;
        cli::stdout::add_to_linker::<_, WasiCli>(l, |s| s.cli())?;
        cli::stderr::add_to_linker::<_, WasiCli>(l, |s| s.cli())?;
        cli::terminal_input::add_to_linker::<_, WasiCli>(l, |s| s.cli())?;
        cli::terminal_output::add_to_linker::<_, WasiCli>(l, |s| s.cli())?;
        cli::terminal_stdin::add_to_linker::<_, WasiCli>(l, |s| s.cli())?;
        cli::terminal_stdout::add_to_linker::<_, WasiCli>(l, |s| s.cli())?;
        cli::terminal_stderr::add_to_linker::<_, WasiCli>(l, |s| s.cli())?;
        // Sockets are linked because every componentize-py module imports them (CPython
        // builds its socket module in), but the store's WASI context denies every use:
        // no TCP, no UDP, no name lookups, no address passes the check. wasi:http is not
        // linked at all, and `check` rejects modules that import it.
        let options = Default::default();
        sockets::network::add_to_linker::<_, WasiSockets>(l, &options, |s| s.sockets())?;
        sockets::instance_network::add_to_linker::<_, WasiSockets>(l, |s| s.sockets())?;
        sockets::tcp::add_to_linker::<_, WasiSockets>(l, |s| s.sockets())?;
        sockets::tcp_create_socket::add_to_linker::<_, WasiSockets>(l, |s| s.sockets())?;
        sockets::udp::add_to_linker::<_, WasiSockets>(l, |s| s.sockets())?;
        sockets::udp_create_socket::add_to_linker::<_, WasiSockets>(l, |s| s.sockets())?;
        sockets::ip_name_lookup::add_to_linker::<_, WasiSockets>(l, |s| s.sockets())?;
        bindings::PremoduleItems::add_to_linker::<_, HasSelf<StepState>>(l, |s| s)?;
        bindings::native::Capabilities::add_to_linker::<_, HasSelf<StepState>>(l, |s| s)?;
        Ok(linker)
    }

    /// Reads, checks and compiles a module file.
    pub fn load_file(&self, path: &Path) -> Result<Module, StepError> {
        let bytes = std::fs::read(path).map_err(|e| {
            StepError::invalid_input(format!("cannot read module file {}: {e}", path.display()))
        })?;
        self.load(&bytes)
    }

    /// Checks and compiles a module: every way the bytes can be wrong is an
    /// [`ErrorKind::InvalidModule`] that says what is wrong and how to fix it.
    pub fn load(&self, bytes: &[u8]) -> Result<Module, StepError> {
        check::sniff(bytes)?;
        let digest = crate::digest::sha256(bytes);
        let started = Instant::now();
        let (component, readiness) = self.component(bytes, &digest)?;
        let compile_time = started.elapsed();
        let ty = component.component_type();
        let exports = ty
            .exports(&self.engine)
            .map(|(n, _)| n.to_string())
            .collect();
        let imports = ty
            .imports(&self.engine)
            .map(|(n, _)| n.to_string())
            .collect();
        let api = check::inspect(exports, imports)?;
        let pre = self.linker.instantiate_pre(&component).map_err(|e| {
            StepError::invalid_module(format!(
                "the module's imports do not match what premod provides: {e:#}"
            ))
        })?;
        let train = match api.has_train {
            true => {
                Some(train::GuestIndices::new(&pre).map_err(|e| signature_mismatch("train", e))?)
            }
            false => None,
        };
        let serve = match api.has_serve {
            true => {
                Some(serve::GuestIndices::new(&pre).map_err(|e| signature_mismatch("serve", e))?)
            }
            false => None,
        };
        let items = match api.has_items {
            true => Some(
                items_api::GuestIndices::new(&pre).map_err(|e| signature_mismatch("items", e))?,
            ),
            false => None,
        };
        let module = Module {
            digest,
            size: bytes.len() as u64,
            readiness,
            pre,
            train,
            serve,
            items,
            api,
            compile_time,
        };
        self.keep_artifact(&module);
        Ok(module)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Component>> {
        self.compiled.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The compiled component for `bytes`: from memory, from a precompiled artifact, or
    /// compiled now (and then written as an artifact).
    fn component(&self, bytes: &[u8], digest: &str) -> Result<(Component, Readiness), StepError> {
        if let Some(c) = self.cache().get(digest).cloned() {
            return Ok((c, Readiness::InMemory));
        }
        let from_disk = self
            .artifacts
            .as_ref()
            .and_then(|a| a.load(&self.engine, digest));
        let (component, readiness) = match from_disk {
            Some(c) => {
                self.artifact_hits.fetch_add(1, Ordering::Relaxed);
                (c, Readiness::Precompiled)
            }
            None => {
                let started = Instant::now();
                let c = Component::new(&self.engine, bytes).map_err(|e| {
                    StepError::invalid_module(format!("the component does not validate: {e:#}"))
                })?;
                self.compiles.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    digest,
                    ms = started.elapsed().as_millis() as u64,
                    "compiled component"
                );
                (c, Readiness::Compiled)
            }
        };
        self.cache().insert(digest.to_string(), component.clone());
        Ok((component, readiness))
    }

    /// Writes the precompiled artifact of a module that passed every check.
    fn keep_artifact(&self, module: &Module) {
        if module.readiness == Readiness::Compiled
            && let Some(artifacts) = &self.artifacts
        {
            artifacts.store(module.pre.component(), &module.digest);
        }
    }

    /// The sandbox of one step: the given mounts, no environment, no arguments, captured
    /// stdio, and the step's limits, with a fresh output quota and module log.
    fn spec(
        &self,
        mounts: &Mounts,
        limits: &Limits,
        cancel: CancellationToken,
        observer: Arc<dyn StepObserver>,
        collection_and_output: bool,
    ) -> StoreSpec {
        StoreSpec {
            engine: self.engine.clone(),
            mounts: mounts.clone(),
            collection_and_output,
            memory_bytes: limits.memory_bytes,
            quota: Arc::new(quota::OutputQuota::new(
                limits.max_output_bytes,
                limits.max_output_files,
            )),
            log: Arc::new(logger::ModuleLog::new(observer, limits.max_log_bytes)),
            deadline: Instant::now() + limits.timeout,
            timeout: limits.timeout,
            cancel,
            guest_progress: true,
            native_capabilities: self.native_capabilities,
        }
    }

    /// A store with the sandbox of one step (see [`Engine::spec`]).
    fn store(
        &self,
        mounts: &Mounts,
        limits: &Limits,
        cancel: CancellationToken,
        observer: Arc<dyn StepObserver>,
        collection_and_output: bool,
    ) -> Result<Store<StepState>, StepError> {
        self.spec(mounts, limits, cancel, observer, collection_and_output)
            .build()
    }

    /// Runs `process-for-train` once, in a fresh instance.
    pub async fn run_train(
        &self,
        module: &Module,
        job: TrainJob,
        observer: Arc<dyn StepObserver>,
    ) -> StepOutcome {
        let started = Instant::now();
        let Some(train) = &module.train else {
            return StepOutcome {
                result: Err(missing_export(&module.api, "train")),
                usage: Usage::default(),
            };
        };
        let mut store =
            match self.store(&job.mounts, &job.limits, job.cancel.clone(), observer, true) {
                Ok(store) => store,
                Err(e) => {
                    return StepOutcome {
                        result: Err(e),
                        usage: Usage::default(),
                    };
                }
            };
        let ctx = train_context(&job);
        let deadline = store.data().deadline;
        let result = guarded(deadline, &job.cancel, job.limits.timeout, async {
            let instance = module.pre.instantiate_async(&mut store).await?;
            let guest = match train.load(&mut store, &instance) {
                Ok(guest) => guest,
                Err(e) => return Ok(Err(Mismatch(signature_mismatch("train", e)))),
            };
            Ok(guest
                .call_process_for_train(&mut store, &ctx)
                .await?
                .map_err(Guest))
        })
        .await;
        let result = match result {
            Ok(Ok(s)) => Ok(Summary {
                total: s.total,
                success: s.success,
                error: s.error,
                message: s.message,
            }),
            Ok(Err(Guest(e))) => Err(module_error(e)),
            Ok(Err(Mismatch(e))) => Err(e),
            Err(e) => Err(classify(e)),
        };
        let usage = usage(&store, started);
        StepOutcome { result, usage }
    }

    /// Instantiates the module for serving and calls `init-svc` once. `/meta` is mounted
    /// read-only; nothing else is.
    pub async fn start_service(
        &self,
        module: &Module,
        meta: Option<&Path>,
        rule: Rule,
        limits: Limits,
        observer: Arc<dyn StepObserver>,
    ) -> Result<Service, StepError> {
        let Some(serve) = &module.serve else {
            return Err(missing_export(&module.api, "serve"));
        };
        let mounts = Mounts {
            collection: Default::default(),
            input: None,
            output: Default::default(),
            meta: meta.map(|p| crate::step::MetaMount {
                path: p.to_path_buf(),
                writable: false,
            }),
        };
        let cancel = CancellationToken::new();
        let mut store = self.store(&mounts, &limits, cancel.clone(), observer, false)?;
        let ctx = types::ServeContext {
            meta: "/meta".into(),
            rule: wit_rule(&rule),
        };
        let deadline = store.data().deadline;
        let result = guarded(deadline, &cancel, limits.timeout, async {
            let instance = module.pre.instantiate_async(&mut store).await?;
            let guest = match serve.load(&mut store, &instance) {
                Ok(guest) => guest,
                Err(e) => return Ok(Err(Mismatch(signature_mismatch("serve", e)))),
            };
            let r = guest.call_init_svc(&mut store, &ctx).await?;
            Ok(r.map(|()| guest).map_err(Guest))
        })
        .await;
        match result {
            Ok(Ok(guest)) => Ok(Service {
                store,
                guest,
                limits,
                cancel,
                failed: None,
            }),
            Ok(Err(Guest(e))) => Err(module_error(e)),
            Ok(Err(Mismatch(e))) => Err(e),
            Err(e) => Err(classify(e)),
        }
    }
}

/// A module instance kept for inference: `init-svc` ran once, `transform` runs per batch.
pub struct Service {
    store: Store<StepState>,
    guest: serve::Guest,
    limits: Limits,
    cancel: CancellationToken,
    failed: Option<StepError>,
}

impl Service {
    /// Transforms one batch. The call has the service's time limit; after a trap or limit
    /// breach the instance is not reused and every later call reports that failure.
    pub async fn transform(&mut self, batch: Batch, batch_id: u64) -> Result<Batch, StepError> {
        if let Some(e) = &self.failed {
            return Err(StepError::new(
                e.kind,
                format!(
                    "this service instance failed earlier and cannot be reused: {}",
                    e.message
                ),
            ));
        }
        let deadline = Instant::now() + self.limits.timeout;
        self.store.data_mut().deadline = deadline;
        self.store.set_epoch_deadline(1);
        let input = types::Batch {
            content_type: batch.content_type,
            data: batch.data,
        };
        let store = &mut self.store;
        let guest = &self.guest;
        let result = guarded(deadline, &self.cancel, self.limits.timeout, async {
            guest.call_transform(store, &input, batch_id).await
        })
        .await;
        match result {
            Ok(Ok(b)) => Ok(Batch {
                content_type: b.content_type,
                data: b.data,
            }),
            Ok(Err(e)) => Err(module_error(e)),
            Err(e) => {
                let e = classify(e);
                self.failed = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Resources used so far by this instance.
    pub fn usage(&self) -> Usage {
        usage(&self.store, Instant::now())
    }
}

/// Everything a store of one step is made from. A per-item step builds one store per
/// worker (and a new one after an item traps) from clones of the same spec, so every
/// instance has the same sandbox and memory limit and shares the quota, log, deadline and
/// cancel token.
#[derive(Clone)]
pub(crate) struct StoreSpec {
    engine: wasmtime::Engine,
    mounts: Mounts,
    collection_and_output: bool,
    memory_bytes: u64,
    quota: Arc<quota::OutputQuota>,
    log: Arc<logger::ModuleLog>,
    deadline: Instant,
    timeout: Duration,
    cancel: CancellationToken,
    guest_progress: bool,
    native_capabilities: bool,
}

impl StoreSpec {
    fn build(&self) -> Result<Store<StepState>, StepError> {
        let log = &self.log;
        let mut wasi = WasiCtxBuilder::new();
        // File I/O runs on the calling thread instead of hopping to a blocking pool for every
        // call; the call itself still races the step's timer.
        wasi.allow_blocking_current_thread(true);
        wasi.allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }));
        wasi.stdout(logger::CapturedStdio {
            log: Arc::clone(log),
            source: Source::Stdout,
        });
        wasi.stderr(logger::CapturedStdio {
            log: Arc::clone(log),
            source: Source::Stderr,
        });
        let mut mount = |host: &Path, guest: &str, perms: FsPerms| {
            wasi.preopened_dir(host, guest, perms)
                .map(|_| ())
                .map_err(|e| {
                    StepError::invalid_input(format!(
                        "cannot mount {} at {guest}: {e:#}",
                        host.display()
                    ))
                })
        };
        let mounts = &self.mounts;
        if self.collection_and_output {
            mount(&mounts.collection, "/collection", FsPerms::ReadOnly)?;
            if let Some(input) = &mounts.input {
                mount(input, "/input", FsPerms::ReadOnly)?;
            }
            mount(&mounts.output, "/output", FsPerms::ReadWrite)?;
        }
        if let Some(meta) = &mounts.meta {
            let perms = match meta.writable {
                true => FsPerms::ReadWrite,
                false => FsPerms::ReadOnly,
            };
            mount(&meta.path, "/meta", perms)?;
        }
        let state = StepState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limiter: limiter::InstanceLimiter::new(self.memory_bytes),
            quota: Arc::clone(&self.quota),
            log: Arc::clone(log),
            deadline: self.deadline,
            timeout: self.timeout,
            cancel: self.cancel.clone(),
            guest_progress: self.guest_progress,
            native: native::NativeAccess {
                enabled: self.native_capabilities,
                mounts: self.collection_and_output.then(|| self.mounts.clone()),
            },
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|ctx| {
            let state = ctx.data();
            if state.cancel.is_cancelled() {
                return Err(Interrupted::Stopped.into());
            }
            if Instant::now() >= state.deadline {
                return Err(Interrupted::Timeout(state.timeout).into());
            }
            Ok(UpdateDeadline::Yield(1))
        });
        Ok(store)
    }
}

/// Runs a guest call against the deadline and the cancel token. A CPU-bound guest is stopped
/// by the epoch callback; one blocked inside a host call is dropped here.
async fn guarded<R>(
    deadline: Instant,
    cancel: &CancellationToken,
    timeout: Duration,
    call: impl Future<Output = wasmtime::Result<R>>,
) -> wasmtime::Result<R> {
    tokio::select! {
        r = call => r,
        _ = tokio::time::sleep_until(deadline.into()) => Err(Interrupted::Timeout(timeout).into()),
        _ = cancel.cancelled() => Err(Interrupted::Stopped.into()),
    }
}

/// What `process-for-train` (and the per-item calls) are told about the step.
fn train_context(job: &TrainJob) -> types::TrainContext {
    types::TrainContext {
        paths: types::Paths {
            collection: "/collection".into(),
            input: job.mounts.input.as_ref().map(|_| "/input".into()),
            output: "/output".into(),
            meta: job.mounts.meta.as_ref().map(|_| "/meta".into()),
        },
        rule: wit_rule(&job.rule),
        do_fit: job.do_fit,
    }
}

fn wit_rule(rule: &Rule) -> types::Rule {
    types::Rule {
        rule_no: rule.rule_no,
        source_columns: rule
            .source_columns
            .iter()
            .map(|c| types::Column {
                name: c.name.clone(),
                data_type: c.data_type.clone(),
            })
            .collect(),
        params: serde_json::Value::Object(rule.params.clone()).to_string(),
    }
}

fn usage(store: &Store<StepState>, started: Instant) -> Usage {
    let state = store.data();
    let log = state.log.usage();
    Usage {
        wall_ms: started.elapsed().as_millis() as u64,
        peak_memory_bytes: state.limiter.peak(),
        output_bytes: state.quota.bytes(),
        output_files: state.quota.files(),
        log_bytes: log.bytes,
        log_lines_dropped: log.dropped_lines,
    }
}

/// An export whose functions or types differ from the host's WIT. wasmtime checks function
/// types when an instance's exports are loaded, so this surfaces after instantiation (no guest
/// code has run yet) as well as at load time for missing functions.
fn signature_mismatch(iface: &str, e: wasmtime::Error) -> StepError {
    StepError::invalid_module(format!(
        "the module's premod:premodule/{iface} export does not match the interface of \
         premod:premodule@{API_VERSION}: {e:#}; rebuild it against wit/ of this premod"
    ))
}

/// A call's outcome that is not a trap: the guest's own error, or an export of the wrong type.
enum NotOk {
    Guest(types::Error),
    Mismatch(StepError),
}
use NotOk::{Guest, Mismatch};

fn missing_export(api: &ModuleApi, iface: &str) -> StepError {
    StepError::invalid_module(format!(
        "the module does not export premod:premodule/{iface}@{} (it exports {}); \
         implement the whole `premodule` world",
        api.api_version,
        api.exports.join(", ")
    ))
}

fn module_error(e: types::Error) -> StepError {
    let (variant, text) = match e {
        types::Error::InvalidParams(t) => ("invalid-params", t),
        types::Error::InvalidData(t) => ("invalid-data", t),
        types::Error::Io(t) => ("io", t),
        types::Error::Unsupported(t) => ("unsupported", t),
        types::Error::Other(t) => ("other", t),
    };
    StepError::new(ErrorKind::ModuleError, format!("{variant}: {text}"))
}

/// Turns a trap or host error from a guest call into the step's error.
fn classify(e: wasmtime::Error) -> StepError {
    tracing::debug!(error = format!("{e:?}"), "guest call failed");
    if let Some(q) = e.downcast_ref::<quota::OutputLimitExceeded>() {
        return StepError::new(ErrorKind::OutputLimit, q.to_string());
    }
    if let Some(m) = e.downcast_ref::<limiter::MemoryLimitExceeded>() {
        return StepError::new(ErrorKind::MemoryLimit, m.to_string());
    }
    if let Some(i) = e.downcast_ref::<Interrupted>() {
        let kind = match i {
            Interrupted::Timeout(_) => ErrorKind::Timeout,
            Interrupted::Stopped => ErrorKind::Stopped,
        };
        return StepError::new(kind, i.to_string());
    }
    if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return StepError::new(
            ErrorKind::Trap,
            format!(
                "the module exited (status {}) instead of returning a result; return an error \
                 variant to fail the step",
                exit.0
            ),
        );
    }
    if let Some(trap) = e.downcast_ref::<Trap>() {
        let what = match trap {
            Trap::StackOverflow => {
                "stack overflow: the module recursed too deeply (unbounded recursion?)".to_string()
            }
            Trap::UnreachableCodeReached => "the module executed `unreachable`: a panic or abort \
                 in the module (its stderr, in the log, usually says why)"
                .to_string(),
            Trap::MemoryOutOfBounds => "out-of-bounds memory access in the module".to_string(),
            other => format!("the module trapped: {other}"),
        };
        return StepError::new(ErrorKind::Trap, what);
    }
    StepError::new(ErrorKind::Trap, format!("the module failed: {e:#}"))
}

/// Advances the engine's epoch every [`TICK`] until dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: wasmtime::Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("premod-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawn the epoch thread");
        EpochTicker {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
