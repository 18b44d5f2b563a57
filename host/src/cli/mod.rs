//! The `premod` command line. Each verb lives in its own file with a clap struct and `run`.

/// `println!` for command output that never panics: when stdout is closed early
/// (`premod runs | head -1`) the rest of the output is dropped quietly.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod catalog;
mod check;
mod exec;
mod module;
mod new;
mod progress;
mod runs;
mod serve;
mod transform;

use crate::limits::{Limits, mib};
use clap::{Args, Parser, Subcommand};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "premod",
    version,
    about = "Run dataset preprocessing modules as sandboxed WebAssembly components",
    long_about = None,
)]
pub struct Cli {
    /// premod's home folder (database, module blobs, precompiled cache) [default:
    /// $PREMOD_HOME, else $XDG_DATA_HOME/premod, else ~/.local/share/premod]
    #[arg(long, global = true, value_name = "DIR")]
    home: Option<std::path::PathBuf>,
    /// Offer modules premod's host-native capabilities (premod:native: ZIP extraction at
    /// native speed, under the step's own limits). `off` keeps every byte of untrusted input
    /// inside the WebAssembly sandbox: modules then do that work themselves, more slowly
    #[arg(
        long,
        global = true,
        value_name = "on|off",
        env = "PREMOD_NATIVE_CAPABILITIES",
        default_value = "on",
        value_parser = parse_switch,
        action = clap::ArgAction::Set,
    )]
    native_capabilities: bool,
    #[command(subcommand)]
    command: Command,
}

/// `on` / `off` (also `true`/`false`, `1`/`0`).
fn parse_switch(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "on" | "true" | "1" | "yes" => Ok(true),
        "off" | "false" | "0" | "no" => Ok(false),
        _ => Err(format!("expected `on` or `off`, got {text:?}")),
    }
}

/// What every command gets: the resolved home folder and the host's settings.
pub(crate) struct Context {
    pub(crate) home: crate::home::Home,
    /// `--native-capabilities`.
    pub(crate) native_capabilities: bool,
}

impl Context {
    /// An engine that keeps precompiled artifacts in the home folder.
    pub(crate) fn engine(&self) -> anyhow::Result<crate::engine::Engine> {
        crate::engine::Engine::with_config(&crate::engine::EngineConfig {
            cache_dir: Some(self.home.cache()),
            native_capabilities: self.native_capabilities,
            ..Default::default()
        })
    }

    pub(crate) fn registry(&self) -> anyhow::Result<crate::registry::Registry> {
        crate::registry::Registry::open(&self.home)
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a module's process-for-train once, exactly as production does
    Exec(exec::ExecArgs),
    /// Run a module's transform on JSON batches read from stdin, one per line
    Transform(transform::TransformArgs),
    /// Check a module file: world, API version, imports; print its exports, size, compile time
    Check(check::CheckArgs),
    /// Create a new module (Rust or Python) with a test, ready for `premod build`
    New(new::NewArgs),
    /// Build a module made by `premod new` into a component; prints the .wasm path
    Build(new::BuildArgs),
    /// Manage module versions: add, list, show, deploy, deprecate, rollback, rm
    #[command(subcommand)]
    Module(module::ModuleCommand),
    /// Manage reference datasets: add, list, rm
    #[command(subcommand)]
    Dataset(catalog::DatasetCommand),
    /// Manage preprocessing models: create, list, show, rm
    #[command(subcommand)]
    Model(catalog::ModelCommand),
    /// Run a model (`run MODEL`), or show a run (`run show ID`)
    Run(runs::RunArgs),
    /// List runs
    Runs(runs::ListArgs),
    /// Print a run's step logs
    Logs(runs::LogsArgs),
    /// Stop a run
    Stop(runs::IdArgs),
    /// Delete a finished run: records, logs and output
    Rm(runs::IdArgs),
    /// Serve the HTTP API and web UI (see /openapi.json)
    Serve(serve::ServeArgs),
    /// Execute a registered run (started by `premod run`)
    #[command(hide = true)]
    Worker(runs::WorkerArgs),
}

/// Limits shared by every command that runs a module.
#[derive(Debug, Args)]
pub(crate) struct LimitArgs {
    /// Wall-time limit for the step, in seconds
    #[arg(long, value_name = "SECS", default_value_t = Limits::default().timeout.as_secs_f64())]
    timeout: f64,
    /// Memory limit for the whole instance, in MiB
    #[arg(long, value_name = "MIB", default_value_t = Limits::default().memory_mib())]
    memory: u64,
    /// Bytes the module may write to /output and /meta, in MiB
    #[arg(long, value_name = "MIB", default_value_t = Limits::default().max_output_bytes / mib(1))]
    max_output: u64,
    /// Files and directories the module may create
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_output_files)]
    max_files: u64,
    /// Bytes of module log kept before it is truncated, in MiB
    #[arg(long, value_name = "MIB", default_value_t = Limits::default().max_log_bytes / mib(1))]
    max_log: u64,
}

impl LimitArgs {
    pub(crate) fn limits(&self) -> anyhow::Result<Limits> {
        let timeout = Duration::try_from_secs_f64(self.timeout)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "--timeout must be a positive number of seconds, got {}",
                    self.timeout
                )
            })?;
        Ok(Limits {
            memory_bytes: mib(self.memory),
            timeout,
            max_output_bytes: mib(self.max_output),
            max_output_files: self.max_files,
            max_log_bytes: mib(self.max_log),
        })
    }
}

/// Parses `--params` text into a JSON object, with an error that shows the expected shape.
pub(crate) fn parse_params(
    text: Option<&str>,
) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let Some(text) = text else {
        return Ok(Default::default());
    };
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(other) => anyhow::bail!(
            "--params must be a JSON object such as '{{\"max_entries\": 50000}}', got {other}"
        ),
        Err(e) => anyhow::bail!(
            "--params is not valid JSON ({e}); pass an object such as '{{\"max_entries\": 50000}}'"
        ),
    }
}

/// A usage error: exit code 2. Its message already holds the whole chain, so it has no
/// `source` (otherwise the chain would print twice).
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
pub struct UsageError(pub anyhow::Error);

/// Parses the arguments and runs the command. Returns the process exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("premod")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        let home = crate::home::Home::resolve(cli.home.as_deref()).map_err(UsageError)?;
        let ctx = Context {
            home,
            native_capabilities: cli.native_capabilities,
        };
        match cli.command {
            Command::Exec(args) => args.run(&ctx).await,
            Command::Transform(args) => args.run(&ctx).await,
            Command::Check(args) => args.run(),
            Command::New(args) => args.run(),
            Command::Build(args) => args.run(),
            Command::Module(cmd) => cmd.run(&ctx),
            Command::Dataset(cmd) => cmd.run(&ctx),
            Command::Model(cmd) => cmd.run(&ctx),
            Command::Run(args) => args.run(&ctx).await,
            Command::Runs(args) => runs::list(&ctx, args),
            Command::Logs(args) => runs::logs(&ctx, args).await,
            Command::Stop(args) => runs::stop(&ctx, args).await,
            Command::Rm(args) => runs::remove(&ctx, args),
            Command::Serve(args) => args.run(&ctx).await,
            Command::Worker(args) => runs::worker(&ctx, args).await,
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            let code = if e.downcast_ref::<UsageError>().is_some() {
                2
            } else {
                1
            };
            ExitCode::from(code)
        }
    }
}
