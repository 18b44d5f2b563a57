//! `premod serve`: the HTTP API (JSON under `/v1`, documented by `docs/openapi.json`), live
//! logs and progress as server-sent events, the inference endpoint, and the web UI.
//!
//! **HTTP boundary.** Handlers only translate: they validate input ([`extract`]), call the
//! same core the CLI uses (`Registry`, `Catalog`, `Runs`, `Engine`) on a blocking thread with
//! its own database connection, and map errors to [`ApiError`]. Runs are executed by the
//! same background worker process as `premod run` (`premod worker ID`).

mod auth;
mod catalog;
mod error;
mod extract;
mod inference;
mod modules;
mod runs;
mod ui;

pub use auth::{MIN_TOKEN_LEN, Token};
pub use error::{ApiError, ApiResult};
pub use extract::MAX_JSON_DEPTH;

use crate::engine::Engine;
use crate::home::Home;
use crate::limits::Limits;
use crate::registry::Registry;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::IntoResponse;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The OpenAPI document, kept in the repository and served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("../../../docs/openapi.json");

/// How the server behaves; `premod serve` fills it from its flags.
#[derive(Clone, Debug)]
pub struct Config {
    pub home: Home,
    /// Required (as `Authorization: Bearer`) for every mutating request when set.
    pub token: Option<Token>,
    /// The `premod` executable started as `premod worker ID` for each run.
    pub worker_exe: PathBuf,
    /// Runs that may execute at once (others wait as `registered`).
    pub workers: usize,
    /// Largest module upload, in bytes.
    pub max_upload: u64,
    /// Largest JSON body of ordinary routes, in bytes.
    pub max_json: usize,
    /// Largest body of an inference call, in bytes.
    pub max_batch: u64,
    /// Instances kept per (model, rule) for inference; also the calls served at once.
    pub pool_size: usize,
    /// Limits of one inference call (per rule: memory, time; nothing is written).
    pub transform_limits: Limits,
    /// How often live endpoints (SSE) look for changes.
    pub poll: Duration,
    /// Whether runs started here may use `premod:native` (passed to each worker).
    pub native_capabilities: bool,
}

impl Config {
    /// Defaults for a server over `home`; the worker is this executable.
    pub fn new(home: Home) -> Config {
        Config {
            home,
            token: None,
            worker_exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("premod")),
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            native_capabilities: true,
            max_upload: crate::registry::DEFAULT_MAX_SIZE,
            max_json: 1 << 20,
            max_batch: 16 << 20,
            pool_size: 4,
            transform_limits: Limits {
                timeout: Duration::from_secs(30),
                memory_bytes: 1024 << 20,
                ..Limits::default()
            },
            poll: Duration::from_millis(200),
        }
    }
}

struct Inner {
    config: Config,
    engine: Arc<Engine>,
    pool: inference::Pool,
    /// Cancelled when the server shuts down: live streams end.
    shutdown: CancellationToken,
}

/// What every handler gets: the configuration, the engine and the inference pool.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl AppState {
    pub fn new(config: Config, engine: Arc<Engine>) -> AppState {
        AppState(Arc::new(Inner {
            pool: inference::Pool::new(config.pool_size),
            config,
            engine,
            shutdown: CancellationToken::new(),
        }))
    }

    pub fn config(&self) -> &Config {
        &self.0.config
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.0.engine
    }

    fn pool(&self) -> &inference::Pool {
        &self.0.pool
    }

    /// Ends live streams (SSE); call before a graceful shutdown.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.0.shutdown
    }

    /// Runs `f` on a blocking thread with its own registry (database connection).
    async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Registry) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        let home = self.config().home.clone();
        tokio::task::spawn_blocking(move || {
            let mut reg = Registry::open(&home)?;
            f(&mut reg)
        })
        .await
        .map_err(|e| ApiError::internal(format!("a database task failed: {e}")))?
    }
}

/// Declares the API's routes once: the router is built from this list, and [`ROUTES`] lists
/// them for the test that compares the code with `docs/openapi.json`.
macro_rules! api_routes {
    ($($method:ident $path:literal => $handler:expr,)*) => {
        /// Every API route as (method, path), in the OpenAPI path syntax.
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        fn api_router() -> Router<AppState> {
            Router::new()
                $(.route($path, axum::routing::on(axum::routing::MethodFilter::$method, $handler)))*
        }
    };
}

api_routes! {
    GET "/openapi.json" => openapi,
    GET "/v1/health" => health,
    GET "/v1/datasets" => catalog::list_datasets,
    POST "/v1/datasets" => catalog::add_dataset,
    GET "/v1/datasets/{name}" => catalog::get_dataset,
    DELETE "/v1/datasets/{name}" => catalog::remove_dataset,
    GET "/v1/modules" => modules::list,
    POST "/v1/modules" => modules::upload,
    GET "/v1/modules/{name}" => modules::show,
    GET "/v1/modules/{name}/versions/{version}" => modules::show_version,
    DELETE "/v1/modules/{name}/versions/{version}" => modules::remove,
    POST "/v1/modules/{name}/versions/{version}/deploy" => modules::deploy,
    POST "/v1/modules/{name}/versions/{version}/deprecate" => modules::deprecate,
    POST "/v1/modules/{name}/rollback" => modules::rollback,
    GET "/v1/models" => catalog::list_models,
    POST "/v1/models" => catalog::create_model,
    GET "/v1/models/{name}" => catalog::get_model,
    DELETE "/v1/models/{name}" => catalog::remove_model,
    POST "/v1/models/{name}/runs" => runs::create,
    POST "/v1/models/{name}/transform" => inference::transform,
    GET "/v1/runs" => runs::list,
    GET "/v1/runs/{id}" => runs::get,
    DELETE "/v1/runs/{id}" => runs::remove,
    POST "/v1/runs/{id}/stop" => runs::stop,
    GET "/v1/runs/{id}/events" => runs::events,
    GET "/v1/runs/{id}/steps/{rule_no}/log" => runs::log,
    GET "/v1/runs/{id}/steps/{rule_no}/log/stream" => runs::log_stream,
}

/// The whole application: API, OpenAPI document and UI, with body limits, auth and the
/// same-origin checks.
pub fn app(state: AppState) -> Router {
    let max_json = state.config().max_json;
    api_router()
        .merge(ui::router())
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(max_json))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::same_origin,
        ))
        .with_state(state)
}

/// Serves `app(state)` on `listener` until `shutdown` completes; live streams end first.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let streams = state.shutdown().clone();
    let app = app(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            streams.cancel();
        })
        .await
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn health(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "api_version": crate::engine::API_VERSION.to_string(),
        "auth_required": state.config().token.is_some(),
        "native_capabilities": match state.config().native_capabilities {
            true => serde_json::json!({ "version": crate::engine::NATIVE_VERSION, "zip": true }),
            false => serde_json::Value::Null,
        },
    }))
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "no route {method} {}; /openapi.json lists the API",
        uri.path()
    ))
}

async fn wrong_method(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} does not accept {method}; /openapi.json lists the methods of each path",
            uri.path()
        ),
    )
}
