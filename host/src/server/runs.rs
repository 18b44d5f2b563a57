//! `/v1/runs` and `/v1/models/{name}/runs`: create (executed by a background `premod worker`,
//! as `premod run` does), list, show, stop, delete; step logs, whole or followed live, and
//! run events, both as server-sent events.

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{self, ApiPath, ApiQuery, OptionalJson};
use crate::limits::{Limits, mib};
use crate::registry::Registry;
use crate::runs::{RunRecord, Runs};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt, stream};
use serde::Deserialize;
use std::convert::Infallible;
use std::path::PathBuf;
use std::time::Duration;

/// Optional body of `POST /v1/models/{name}/runs`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRun {
    /// Run on this dataset instead of the model's reference dataset.
    dataset: Option<String>,
    limits: Option<RunLimits>,
}

/// Per-step limits, named and in the units of `premod run`'s flags; absent ones keep their
/// defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunLimits {
    /// Seconds.
    timeout: Option<f64>,
    /// MiB.
    memory: Option<u64>,
    /// MiB.
    max_output: Option<u64>,
    max_files: Option<u64>,
    /// MiB.
    max_log: Option<u64>,
}

impl RunLimits {
    fn limits(&self) -> ApiResult<Limits> {
        let mut l = Limits::default();
        if let Some(t) = self.timeout {
            l.timeout = Duration::try_from_secs_f64(t)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "limits.timeout must be a positive number of seconds, got {t}"
                    ))
                })?;
        }
        let positive = |v: Option<u64>, what: &str| match v {
            Some(0) => Err(ApiError::bad_request(format!(
                "limits.{what} must be at least 1"
            ))),
            v => Ok(v),
        };
        if let Some(m) = positive(self.memory, "memory")? {
            l.memory_bytes = mib(m);
        }
        if let Some(m) = positive(self.max_output, "max_output")? {
            l.max_output_bytes = mib(m);
        }
        if let Some(n) = positive(self.max_files, "max_files")? {
            l.max_output_files = n;
        }
        if let Some(m) = positive(self.max_log, "max_log")? {
            l.max_log_bytes = mib(m);
        }
        Ok(l)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    model: Option<String>,
}

/// Registers a run of the model and starts a worker process for it.
pub async fn create(
    State(state): State<AppState>,
    ApiPath(model): ApiPath<String>,
    OptionalJson(body): OptionalJson<NewRun>,
) -> ApiResult<(StatusCode, Json<RunRecord>)> {
    extract::name(&model)?;
    let body = body.unwrap_or_default();
    if let Some(d) = &body.dataset {
        extract::name(d)?;
    }
    let limits = body.limits.unwrap_or_default().limits()?;
    let run = state
        .db(move |reg| {
            let mut runs = Runs::new(reg);
            runs.recover()?;
            Ok(runs.create(&model, body.dataset.as_deref(), &limits)?)
        })
        .await?;
    let config = state.config();
    match crate::runs::spawn_worker(
        &config.worker_exe,
        &config.home,
        run.id,
        config.workers,
        config.native_capabilities,
    ) {
        Ok(mut child) => {
            // Reap the worker when it ends, so that it never lingers as a zombie (which would
            // look alive to crash recovery).
            std::thread::spawn(move || child.wait());
        }
        Err(e) => {
            let id = run.id;
            state
                .db(move |reg| Ok(Runs::new(reg).request_stop(id)?))
                .await?;
            return Err(ApiError::internal(format!(
                "cannot start a worker ({}) for run {id}: {e}",
                config.worker_exe.display()
            )));
        }
    }
    let id = run.id;
    let run = state.db(move |reg| Ok(Runs::new(reg).get(id)?)).await?;
    Ok((StatusCode::CREATED, Json(run)))
}

pub async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Vec<RunRecord>>> {
    if let Some(m) = &q.model {
        extract::name(m)?;
    }
    state
        .db(move |reg| {
            let mut runs = Runs::new(reg);
            runs.recover()?;
            let all = runs.list()?;
            Ok(all
                .into_iter()
                .filter(|r| q.model.as_ref().is_none_or(|m| &r.model == m))
                .collect())
        })
        .await
        .map(Json)
}

pub async fn get(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<RunRecord>> {
    state.db(move |reg| current(reg, id)).await.map(Json)
}

/// Asks the run's worker to stop it; the run becomes `stopped` when the worker has
/// interrupted its step (a run not yet started stops at once).
pub async fn stop(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<RunRecord>> {
    state
        .db(move |reg| {
            let mut runs = Runs::new(reg);
            runs.recover()?;
            Ok(runs.request_stop(id)?)
        })
        .await
        .map(Json)
}

/// Deletes a finished run: records, logs and output.
pub async fn remove(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<RunRecord>> {
    state
        .db(move |reg| {
            let mut runs = Runs::new(reg);
            runs.recover()?;
            Ok(runs.remove(id)?)
        })
        .await
        .map(Json)
}

/// The run as it is now, after marking it failed if its worker died.
fn current(reg: &mut Registry, id: i64) -> ApiResult<RunRecord> {
    let mut runs = Runs::new(reg);
    runs.recover()?;
    Ok(runs.get(id)?)
}

/// The log file of step `rule_no` of run `id`.
async fn step_log(state: &AppState, id: i64, rule_no: u32) -> ApiResult<PathBuf> {
    state
        .db(move |reg| {
            let run = current(reg, id)?;
            run.steps
                .iter()
                .find(|s| s.rule_no == rule_no)
                .map(|s| PathBuf::from(&s.log))
                .ok_or_else(|| {
                    ApiError::not_found(format!(
                        "run {id} has no step {rule_no}; its steps are rule numbers {}",
                        run.steps
                            .iter()
                            .map(|s| s.rule_no.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })
        })
        .await
}

/// The whole step log so far, as text. A step that has not started has an empty log.
pub async fn log(
    State(state): State<AppState>,
    ApiPath((id, rule_no)): ApiPath<(i64, u32)>,
) -> ApiResult<impl IntoResponse> {
    let path = step_log(&state, id, rule_no).await?;
    let text = match tokio::fs::read(&path).await {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return Err(ApiError::internal(format!(
                "cannot read the log {}: {e}",
                path.display()
            )));
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        text,
    ))
}

/// Follows a step log: every complete line as a `message` event whose id is the byte offset
/// after it (a reconnect with `Last-Event-ID` resumes there), then one `end` event with the
/// final run when the run is over.
pub async fn log_stream(
    State(state): State<AppState>,
    ApiPath((id, rule_no)): ApiPath<(i64, u32)>,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    let path = step_log(&state, id, rule_no).await?;
    let offset = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let follow = Follow {
        state: state.clone(),
        id,
        reg: None,
        path,
        offset,
        done: false,
    };
    let events = stream::unfold(follow, |mut f| async move {
        if f.done {
            return None;
        }
        let events = f.next_events().await;
        Some((stream::iter(events), f))
    })
    .flatten();
    Ok(sse(events))
}

/// Status and progress of a run: a `run` event with the whole run whenever it changes, then
/// an `end` event with the final run.
pub async fn events(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<impl IntoResponse> {
    state.db(move |reg| current(reg, id)).await?;
    let watch = Watch {
        state: state.clone(),
        id,
        reg: None,
        last: None,
        done: false,
    };
    let events = stream::unfold(watch, |mut w| async move {
        if w.done {
            return None;
        }
        let events = w.next_events().await;
        Some((stream::iter(events), w))
    })
    .flatten();
    Ok(sse(events))
}

fn sse(
    events: impl Stream<Item = Event> + Send + 'static,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    Sse::new(events.map(Ok)).keep_alive(KeepAlive::default())
}

/// Reads the run with a connection kept by the stream, on a blocking thread.
async fn poll_run(reg: &mut Option<Registry>, state: &AppState, id: i64) -> ApiResult<RunRecord> {
    let home = state.config().home.clone();
    let taken = reg.take();
    let (back, result) = tokio::task::spawn_blocking(move || {
        let mut reg = match taken {
            Some(r) => r,
            None => match Registry::open(&home) {
                Ok(r) => r,
                Err(e) => return (None, Err(ApiError::from(e))),
            },
        };
        let result = current(&mut reg, id);
        (Some(reg), result)
    })
    .await
    .map_err(|e| ApiError::internal(format!("a database task failed: {e}")))?;
    *reg = back;
    result
}

fn error_event(e: &ApiError) -> Event {
    Event::default()
        .event("error")
        .data(serde_json::json!({"error": {"code": e.code, "message": e.message}}).to_string())
}

fn end_event(run: &RunRecord) -> Event {
    Event::default()
        .event("end")
        .data(serde_json::to_string(run).unwrap_or_default())
}

/// Waits one poll interval; false when the server is shutting down.
async fn pause(state: &AppState) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(state.config().poll) => true,
        _ = state.shutdown().cancelled() => false,
    }
}

struct Follow {
    state: AppState,
    id: i64,
    reg: Option<Registry>,
    path: PathBuf,
    offset: u64,
    done: bool,
}

impl Follow {
    /// The next batch of events: new lines, and `end` once the run is final.
    async fn next_events(&mut self) -> Vec<Event> {
        loop {
            // Status first, then the file: everything written before the run ended is read.
            let run = match poll_run(&mut self.reg, &self.state, self.id).await {
                Ok(r) => r,
                Err(e) => {
                    self.done = true;
                    return vec![error_event(&e)];
                }
            };
            let mut events = match self.read_lines().await {
                Ok(ev) => ev,
                Err(e) => {
                    self.done = true;
                    return vec![error_event(&e)];
                }
            };
            if run.is_final() {
                self.done = true;
                events.push(end_event(&run));
            }
            if !events.is_empty() {
                return events;
            }
            if !pause(&self.state).await {
                self.done = true;
                return Vec::new();
            }
        }
    }

    /// Complete lines after `offset`; a line still being written waits for its newline.
    async fn read_lines(&mut self) -> ApiResult<Vec<Event>> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        let mut file = match tokio::fs::File::open(&self.path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(ApiError::internal(format!(
                    "cannot read the log {}: {e}",
                    self.path.display()
                )));
            }
        };
        let mut bytes = Vec::new();
        let read = async {
            file.seek(std::io::SeekFrom::Start(self.offset)).await?;
            file.read_to_end(&mut bytes).await
        };
        read.await.map_err(|e| {
            ApiError::internal(format!("cannot read the log {}: {e}", self.path.display()))
        })?;
        let mut events = Vec::new();
        let mut start = 0;
        while let Some(nl) = bytes[start..].iter().position(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(&bytes[start..start + nl]);
            start += nl + 1;
            events.push(
                Event::default()
                    .id((self.offset + start as u64).to_string())
                    .data(line.trim_end_matches('\r')),
            );
        }
        self.offset += start as u64;
        Ok(events)
    }
}

struct Watch {
    state: AppState,
    id: i64,
    reg: Option<Registry>,
    last: Option<String>,
    done: bool,
}

impl Watch {
    async fn next_events(&mut self) -> Vec<Event> {
        loop {
            let run = match poll_run(&mut self.reg, &self.state, self.id).await {
                Ok(r) => r,
                Err(e) => {
                    self.done = true;
                    return vec![error_event(&e)];
                }
            };
            let json = serde_json::to_string(&run).unwrap_or_default();
            let mut events = Vec::new();
            if self.last.as_deref() != Some(json.as_str()) {
                events.push(Event::default().event("run").data(&json));
                self.last = Some(json);
            }
            if run.is_final() {
                self.done = true;
                events.push(end_event(&run));
            }
            if !events.is_empty() {
                return events;
            }
            if !pause(&self.state).await {
                self.done = true;
                return Vec::new();
            }
        }
    }
}
