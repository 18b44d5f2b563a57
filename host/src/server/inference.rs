//! `POST /v1/models/{name}/transform`: runs a batch through every rule's `transform`, in
//! order, with the fitted state of the model's latest completed run.
//!
//! Instances come from a [`Pool`] per (model, rule): `init-svc` runs once per instance, with
//! that run's `/meta` folder for the rule mounted read-only, and the instance is reused by
//! later calls. At most `pool_size` instances per (model, rule) exist, so that is also how
//! many calls a rule serves at once; more wait for a free instance. Each call has the
//! server's transform limits (time, memory). An instance that trapped or broke a limit is
//! dropped; one whose module returned an error is kept. A newer completed run (new fitted
//! state, maybe new module versions) replaces the pooled instances of its model.

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{self, ApiPath};
use crate::catalog::Catalog;
use crate::engine::Service;
use crate::error::ErrorKind;
use crate::model::ModelDef;
use crate::runs::{RunRecord, Runs};
use crate::step::{Batch, Rule};
use crate::steplog::{LogLine, StepObserver};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformRequest {
    /// The records: a JSON array.
    batch: serde_json::Value,
    #[serde(default)]
    batch_id: u64,
}

#[derive(Debug, Serialize)]
pub struct TransformResponse {
    batch_id: u64,
    /// The run whose fitted state was used.
    run_id: i64,
    content_type: String,
    batch: serde_json::Value,
}

/// Pooled service instances, per (model, rule).
pub struct Pool {
    size: usize,
    slots: Mutex<HashMap<(String, u32), Arc<Slot>>>,
}

/// The instances of one rule, all started from one run's fitted state and module digest.
struct Slot {
    run_id: i64,
    digest: String,
    idle: Mutex<Vec<Service>>,
    permits: Arc<Semaphore>,
}

impl Pool {
    pub fn new(size: usize) -> Pool {
        Pool {
            size: size.max(1),
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The slot of (model, rule) for this run and digest, replacing an older one.
    fn slot(&self, model: &str, rule_no: u32, run_id: i64, digest: &str) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let key = (model.to_string(), rule_no);
        match slots.get(&key) {
            Some(s) if s.run_id == run_id && s.digest == digest => Arc::clone(s),
            _ => {
                let slot = Arc::new(Slot {
                    run_id,
                    digest: digest.to_string(),
                    idle: Mutex::new(Vec::new()),
                    permits: Arc::new(Semaphore::new(self.size)),
                });
                slots.insert(key, Arc::clone(&slot));
                slot
            }
        }
    }

    /// Drops every instance of `model` (it was removed).
    pub fn forget_model(&self, model: &str) {
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(m, _), _| m != model);
    }
}

impl Slot {
    fn take(&self) -> Option<Service> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    fn put(&self, service: Service) {
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(service);
    }
}

/// Module log lines at inference time become tracing events (there is no step log).
struct TracingObserver {
    model: String,
    rule_no: u32,
}

impl StepObserver for TracingObserver {
    fn log(&self, line: &LogLine) {
        tracing::info!(
            target: "premod::serve",
            model = %self.model,
            rule = self.rule_no,
            "{}",
            line.message
        );
    }
}

pub async fn transform(
    State(state): State<AppState>,
    ApiPath(model): ApiPath<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<TransformResponse>> {
    extract::name(&model)?;
    let bytes =
        extract::read_limited(&headers, body, state.config().max_batch, "the batch").await?;
    let req: TransformRequest = extract::parse_json(&bytes)?;
    if !req.batch.is_array() {
        return Err(ApiError::bad_request(
            "batch must be a JSON array of records, e.g. {\"batch\": [{\"x\": 1}], \"batch_id\": 0}",
        ));
    }
    let (def, run) = {
        let model = model.clone();
        state
            .db(move |reg| {
                let def = Catalog::new(reg).model(&model)?.def;
                let run = Runs::new(reg).latest_completed(&model)?.ok_or_else(|| {
                    ApiError::conflict(format!(
                        "model {model} has no completed run, so there is no fitted state to \
                         serve; run it first (POST /v1/models/{model}/runs) and wait until it \
                         completes"
                    ))
                })?;
                Ok((def, run))
            })
            .await?
    };

    let mut batch = Batch::json(serde_json::to_vec(&req.batch).unwrap_or_default());
    for (i, rule) in def.rules.iter().enumerate() {
        batch = run_rule(&state, &def, &run, i, batch, req.batch_id)
            .await
            .map_err(|e| ApiError {
                message: format!("rule {} ({}): {}", rule.rule_no, rule.module, e.message),
                ..e
            })?;
    }
    let value: serde_json::Value = serde_json::from_slice(&batch.data).map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "module_error",
            format!(
                "the last rule returned {} bytes of {} that are not JSON ({e}); inference \
                 returns JSON records",
                batch.data.len(),
                batch.content_type
            ),
        )
    })?;
    Ok(Json(TransformResponse {
        batch_id: req.batch_id,
        run_id: run.id,
        content_type: batch.content_type,
        batch: value,
    }))
}

/// Runs rule `i` on `batch` with a pooled instance.
async fn run_rule(
    state: &AppState,
    def: &ModelDef,
    run: &RunRecord,
    i: usize,
    batch: Batch,
    batch_id: u64,
) -> ApiResult<Batch> {
    let rule = &def.rules[i];
    let step = run
        .steps
        .iter()
        .find(|s| s.rule_no == rule.rule_no)
        .ok_or_else(|| {
            ApiError::conflict(format!(
                "run {} has no step for rule {}; run the model again",
                run.id, rule.rule_no
            ))
        })?;
    let digest = step.module_digest.clone().ok_or_else(|| {
        ApiError::conflict(format!(
            "run {} did not record the module of rule {}; run the model again",
            run.id, rule.rule_no
        ))
    })?;
    let slot = state.pool().slot(&def.name, rule.rule_no, run.id, &digest);
    let _permit: OwnedSemaphorePermit = tokio::time::timeout(
        state.config().transform_limits.timeout,
        Arc::clone(&slot.permits).acquire_owned(),
    )
    .await
    .map_err(|_| {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!(
                "all {} instances of this rule stayed busy for {:?}; retry later or start the \
                 server with a larger --pool-size",
                state.config().pool_size,
                state.config().transform_limits.timeout
            ),
        )
    })?
    .map_err(|_| ApiError::internal("the instance pool was closed"))?;

    let mut service = match slot.take() {
        Some(s) => s,
        None => start(state, def, run, i, &digest).await?,
    };
    match service.transform(batch, batch_id).await {
        Ok(out) => {
            slot.put(service);
            Ok(out)
        }
        Err(e) => {
            // The module's own error leaves the instance usable; a trap or a broken limit
            // does not.
            if e.kind == ErrorKind::ModuleError {
                slot.put(service);
            }
            Err(e.into())
        }
    }
}

/// A new instance of rule `i`'s module, after `init-svc` with the run's fitted state.
async fn start(
    state: &AppState,
    def: &ModelDef,
    run: &RunRecord,
    i: usize,
    digest: &str,
) -> ApiResult<Service> {
    let rule = &def.rules[i];
    let home = &state.config().home;
    let blob = home.blob(digest);
    let engine = Arc::clone(state.engine());
    let module = tokio::task::spawn_blocking(move || engine.load_file(&blob))
        .await
        .map_err(|e| ApiError::internal(format!("loading the module failed: {e}")))?
        .map_err(|e| {
            ApiError::conflict(format!(
                "the module {digest} used by run {} cannot be loaded ({}); run the model again",
                run.id, e.message
            ))
        })?;
    let meta = crate::runs::meta_dir(home, &def.name, rule.rule_no);
    let columns = def.source_columns(rule);
    let observer = Arc::new(TracingObserver {
        model: def.name.clone(),
        rule_no: rule.rule_no,
    });
    state
        .engine()
        .start_service(
            &module,
            meta.is_dir().then_some(meta.as_path()),
            Rule {
                rule_no: rule.rule_no,
                source_columns: columns,
                params: rule.params.clone(),
            },
            state.config().transform_limits.clone(),
            observer,
        )
        .await
        .map_err(|e| {
            let mut e = ApiError::from(e);
            e.message = format!("init-svc failed: {}", e.message);
            e
        })
}
