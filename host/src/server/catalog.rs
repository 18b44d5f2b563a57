//! `/v1/datasets` and `/v1/models`.

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{self, ApiJson, ApiPath, JsonText};
use crate::catalog::{Catalog, CatalogError, Dataset, Model};
use crate::model::ModelDef;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDataset {
    name: String,
    /// The collection folder on the server's machine.
    collection: String,
}

pub async fn list_datasets(State(state): State<AppState>) -> ApiResult<Json<Vec<Dataset>>> {
    state
        .db(|reg| Ok(Catalog::new(reg).datasets()?))
        .await
        .map(Json)
}

pub async fn add_dataset(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NewDataset>,
) -> ApiResult<(StatusCode, Json<Dataset>)> {
    extract::name(&body.name)?;
    if body.collection.is_empty() || !std::path::Path::new(&body.collection).is_absolute() {
        return Err(ApiError::bad_request(format!(
            "collection must be an absolute folder path on the server, got {:?}",
            body.collection
        )));
    }
    let d =
        state
            .db(move |reg| {
                Ok(Catalog::new(reg)
                    .add_dataset(&body.name, std::path::Path::new(&body.collection))?)
            })
            .await?;
    Ok((StatusCode::CREATED, Json(d)))
}

pub async fn get_dataset(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Dataset>> {
    extract::name(&name)?;
    state
        .db(move |reg| Ok(Catalog::new(reg).dataset(&name)?))
        .await
        .map(Json)
}

pub async fn remove_dataset(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Dataset>> {
    extract::name(&name)?;
    state
        .db(move |reg| Ok(Catalog::new(reg).remove_dataset(&name)?))
        .await
        .map(Json)
}

pub async fn list_models(State(state): State<AppState>) -> ApiResult<Json<Vec<Model>>> {
    state
        .db(|reg| Ok(Catalog::new(reg).models()?))
        .await
        .map(Json)
}

/// The body is a model definition, the same schema as a `.json` model file.
pub async fn create_model(
    State(state): State<AppState>,
    JsonText(text): JsonText,
) -> ApiResult<(StatusCode, Json<Model>)> {
    let def = ModelDef::parse("request body", &text, true)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let m = state
        .db(move |reg| {
            Catalog::new(reg).create_model(&def).map_err(|e| match e {
                // The body names a dataset that does not exist: the request is wrong.
                CatalogError::NoDataset(_) => ApiError::bad_request(format!("dataset: {e}")),
                e => e.into(),
            })
        })
        .await?;
    Ok((StatusCode::CREATED, Json(m)))
}

pub async fn get_model(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Model>> {
    extract::name(&name)?;
    state
        .db(move |reg| Ok(Catalog::new(reg).model(&name)?))
        .await
        .map(Json)
}

pub async fn remove_model(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Model>> {
    extract::name(&name)?;
    let m = state
        .db(move |reg| Ok(Catalog::new(reg).remove_model(&name)?))
        .await?;
    state.pool().forget_model(&m.def.name);
    Ok(Json(m))
}
