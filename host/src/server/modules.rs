//! `/v1/modules`: upload, list, show, deploy, deprecate, rollback, remove.

use super::AppState;
use super::error::ApiResult;
use super::extract::{self, ApiPath, ApiQuery};
use crate::registry::{AddRequest, Added, DEFAULT_MAX_COMPILE};
use crate::store::{Deployment, Lease, ModuleVersion};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    name: String,
    version: String,
    /// Language/template; read from the component when absent.
    template: Option<String>,
    note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteQuery {
    note: Option<String>,
}

/// A module: its versions and deployment history.
#[derive(Debug, Serialize)]
pub struct ModuleDetail {
    name: String,
    deployed: Option<String>,
    versions: Vec<ModuleVersion>,
    history: Vec<Deployment>,
}

/// One version and who holds it (runs executing it, model rules pinning it).
#[derive(Debug, Serialize)]
pub struct VersionDetail {
    #[serde(flatten)]
    version: ModuleVersion,
    leases: Vec<Lease>,
}

pub async fn list(State(state): State<AppState>) -> ApiResult<Json<Vec<ModuleVersion>>> {
    state.db(|reg| Ok(reg.list(None)?)).await.map(Json)
}

/// The body is the component's bytes, read with the upload limit (413 before reading when
/// `Content-Length` is over it) and kept in memory: nothing is written unless it is accepted.
pub async fn upload(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Added>)> {
    extract::name(&q.name)?;
    extract::version(&q.version)?;
    let max = state.config().max_upload;
    let bytes = extract::read_limited(&headers, body, max, "the module").await?;
    let engine = state.engine().clone();
    let added = state
        .db(move |reg| {
            let req = AddRequest {
                name: q.name,
                version: q.version,
                template: q.template.filter(|t| !t.is_empty()),
                note: q.note.filter(|n| !n.is_empty()),
                max_size: max,
                max_compile: DEFAULT_MAX_COMPILE,
            };
            Ok(reg.add(&engine, &bytes, &req)?)
        })
        .await?;
    let status = match added.created {
        true => StatusCode::CREATED,
        false => StatusCode::OK,
    };
    Ok((status, Json(added)))
}

pub async fn show(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<ModuleDetail>> {
    extract::name(&name)?;
    state
        .db(move |reg| {
            let versions = reg.list(Some(&name))?;
            if versions.is_empty() {
                return Err(crate::registry::RegistryError::NoModule(name).into());
            }
            let history = reg.history(&name)?;
            let deployed = versions
                .iter()
                .find(|v| v.status == crate::store::Status::Deployed)
                .map(|v| v.version.clone());
            Ok(ModuleDetail {
                name,
                deployed,
                versions,
                history,
            })
        })
        .await
        .map(Json)
}

pub async fn show_version(
    State(state): State<AppState>,
    ApiPath((name, version)): ApiPath<(String, String)>,
) -> ApiResult<Json<VersionDetail>> {
    extract::name(&name)?;
    let version = extract::version(&version)?;
    state
        .db(move |reg| {
            let v = reg.get(&name, &version)?;
            let leases = reg.leases(&v)?;
            Ok(VersionDetail { version: v, leases })
        })
        .await
        .map(Json)
}

pub async fn deploy(
    State(state): State<AppState>,
    ApiPath((name, version)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<NoteQuery>,
) -> ApiResult<Json<ModuleVersion>> {
    extract::name(&name)?;
    let version = extract::version(&version)?;
    state
        .db(move |reg| Ok(reg.deploy(&name, &version, q.note.as_deref())?))
        .await
        .map(Json)
}

pub async fn deprecate(
    State(state): State<AppState>,
    ApiPath((name, version)): ApiPath<(String, String)>,
) -> ApiResult<Json<ModuleVersion>> {
    extract::name(&name)?;
    let version = extract::version(&version)?;
    state
        .db(move |reg| Ok(reg.deprecate(&name, &version)?))
        .await
        .map(Json)
}

pub async fn rollback(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<ModuleVersion>> {
    extract::name(&name)?;
    state
        .db(move |reg| Ok(reg.rollback(&name)?))
        .await
        .map(Json)
}

pub async fn remove(
    State(state): State<AppState>,
    ApiPath((name, version)): ApiPath<(String, String)>,
) -> ApiResult<Json<ModuleVersion>> {
    extract::name(&name)?;
    let version = extract::version(&version)?;
    state
        .db(move |reg| Ok(reg.remove(&name, &version)?))
        .await
        .map(Json)
}
