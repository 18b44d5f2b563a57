//! `premod serve`: the HTTP API and web UI over the same home folder as the CLI.

use super::{Context, UsageError};
use crate::limits::mib;
use crate::server::{AppState, Config, Token};
use clap::Args;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

#[derive(Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on; anything but a loopback address needs a token
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Bearer token required for every change (POST, DELETE); prefer the environment
    /// variable, since arguments are visible to other users of the machine
    #[arg(long, env = "PREMOD_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Runs that may execute at once (others wait as `registered`)
    #[arg(long, default_value_t = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))]
    workers: usize,
    /// Largest module upload, in MiB
    #[arg(long, value_name = "MIB", default_value_t = crate::registry::DEFAULT_MAX_SIZE >> 20)]
    max_upload: u64,
    /// Largest inference request body, in MiB
    #[arg(long, value_name = "MIB", default_value_t = 16)]
    max_batch: u64,
    /// Module instances kept per model rule for inference (and calls served at once)
    #[arg(long, value_name = "N", default_value_t = 4)]
    pool_size: usize,
    /// Time limit of one rule's transform call, in seconds
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    transform_timeout: f64,
    /// Memory limit of one inference instance, in MiB
    #[arg(long, value_name = "MIB", default_value_t = 1024)]
    transform_memory: u64,
}

impl std::fmt::Debug for ServeArgs {
    /// Never shows the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeArgs")
            .field("addr", &self.addr)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl ServeArgs {
    fn config(&self, ctx: &Context) -> anyhow::Result<Config> {
        let token = match self.token.as_deref().filter(|t| !t.is_empty()) {
            Some(t) => Some(Token::new(t).map_err(|e| anyhow::anyhow!("--token: {e}"))?),
            None => None,
        };
        if token.is_none() && !self.addr.ip().is_loopback() {
            anyhow::bail!(
                "listening on {} makes the API reachable from other machines, so it needs a \
                 token: set PREMOD_TOKEN (at least {} characters, e.g. `openssl rand -hex 24`) \
                 or listen on 127.0.0.1",
                self.addr,
                crate::server::MIN_TOKEN_LEN
            );
        }
        if self.pool_size == 0 || self.workers == 0 {
            anyhow::bail!("--pool-size and --workers must be at least 1");
        }
        let timeout = Duration::try_from_secs_f64(self.transform_timeout)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "--transform-timeout must be a positive number of seconds, got {}",
                    self.transform_timeout
                )
            })?;
        let mut config = Config::new(ctx.home.clone());
        config.token = token;
        config.workers = self.workers;
        config.max_upload = mib(self.max_upload);
        config.max_batch = mib(self.max_batch);
        config.pool_size = self.pool_size;
        config.transform_limits.timeout = timeout;
        config.transform_limits.memory_bytes = mib(self.transform_memory);
        config.native_capabilities = ctx.native_capabilities;
        Ok(config)
    }

    pub(crate) async fn run(self, ctx: &Context) -> anyhow::Result<u8> {
        let config = self.config(ctx).map_err(UsageError)?;
        let mut reg = ctx.registry()?;
        crate::runs::Runs::new(&mut reg).recover()?;
        drop(reg);
        let engine = Arc::new(ctx.engine()?);
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .map_err(|e| UsageError(anyhow::anyhow!("cannot listen on {}: {e}", self.addr)))?;
        let addr = listener.local_addr()?;
        let auth = match config.token.is_some() {
            true => "changes need the bearer token",
            false => "no token: loopback only",
        };
        // The first line on stdout is the address, for scripts that listen on port 0.
        out!("premod serve: listening on http://{addr}");
        std::io::stdout().flush()?;
        eprintln!(
            "premod serve: home {}; UI at http://{addr}/, API at /v1, OpenAPI at /openapi.json; \
             {auth}; Ctrl-C or SIGTERM stops the server (runs in progress go on)",
            ctx.home.root().display()
        );
        let state = AppState::new(config, engine);
        crate::server::serve(listener, state, async {
            use tokio::signal::unix::{SignalKind, signal};
            let mut term = signal(SignalKind::terminate()).ok();
            let terminated = async {
                match term.as_mut() {
                    Some(t) => {
                        t.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminated => {}
            }
            eprintln!("premod serve: stopping (runs in progress go on in their workers)");
        })
        .await?;
        Ok(0)
    }
}
