//! The API's one error type: a status, a stable machine-readable `code` and a message a person
//! can act on, rendered as `{"error":{"code":"...","message":"..."}}`. Server-side failures
//! are logged with their details; the client gets the same message.

use crate::catalog::CatalogError;
use crate::error::{ErrorKind, StepError};
use crate::registry::RegistryError;
use crate::runs::RunError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    /// One of `bad_request`, `unauthorized`, `forbidden`, `not_found`, `method_not_allowed`,
    /// `conflict`, `payload_too_large`, `unsupported_media_type`, `invalid_module`,
    /// `module_error`, `module_failed`, `timeout`, `unavailable`, `internal`.
    pub code: &'static str,
    pub message: String,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(
                status = self.status.as_u16(),
                code = self.code,
                "{}",
                self.message
            );
        } else {
            tracing::debug!(
                status = self.status.as_u16(),
                code = self.code,
                "{}",
                self.message
            );
        }
        let body = serde_json::json!({
            "error": { "code": self.code, "message": self.message }
        });
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        let message = e.to_string();
        match e {
            RegistryError::InvalidName(_) | RegistryError::InvalidVersion(..) => {
                ApiError::bad_request(message)
            }
            RegistryError::NotFound(..) | RegistryError::NoModule(_) => {
                ApiError::not_found(message)
            }
            RegistryError::NoDeployed(_)
            | RegistryError::Conflict { .. }
            | RegistryError::NoHistory(..)
            | RegistryError::Retired { .. }
            | RegistryError::IsDeployed { .. }
            | RegistryError::InUse { .. } => ApiError::conflict(message),
            RegistryError::Rejected(_) | RegistryError::CompileTooSlow { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_module", message)
            }
            RegistryError::TooLarge { .. } => ApiError::too_large(message),
            RegistryError::Corrupt { .. } | RegistryError::Db(_) | RegistryError::Io(_) => {
                ApiError::internal(message)
            }
        }
    }
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        let message = e.to_string();
        match e {
            CatalogError::DatasetExists(..)
            | CatalogError::ModelExists(_)
            | CatalogError::DatasetInUse(..)
            | CatalogError::ModelHasRuns(..) => ApiError::conflict(message),
            CatalogError::BadCollection(..) => ApiError::bad_request(message),
            CatalogError::NoDataset(_) | CatalogError::NoModel(_) => ApiError::not_found(message),
            // A rule of a model in the request body names a module that cannot be used.
            CatalogError::Module(_, e) if e.is_bad_input() => ApiError::bad_request(message),
            CatalogError::Module(..) => ApiError::internal(message),
            CatalogError::Registry(e) => e.into(),
            CatalogError::Db(_) => ApiError::internal(message),
        }
    }
}

impl From<RunError> for ApiError {
    fn from(e: RunError) -> Self {
        let message = e.to_string();
        match e {
            RunError::NoRun(_) => ApiError::not_found(message),
            RunError::Active(..) => ApiError::conflict(message),
            RunError::Catalog(e) => e.into(),
            RunError::Registry(e) => e.into(),
            RunError::Db(_) | RunError::Io(_) => ApiError::internal(message),
        }
    }
}

impl From<StepError> for ApiError {
    /// A module failing at inference time.
    fn from(e: StepError) -> Self {
        let (status, code) = match e.kind {
            ErrorKind::ModuleError => (StatusCode::UNPROCESSABLE_ENTITY, "module_error"),
            ErrorKind::InvalidInput => (StatusCode::BAD_REQUEST, "bad_request"),
            ErrorKind::InvalidModule => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_module"),
            ErrorKind::Timeout => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
            ErrorKind::Stopped | ErrorKind::Interrupted => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            ErrorKind::MemoryLimit | ErrorKind::OutputLimit | ErrorKind::Trap => {
                (StatusCode::INTERNAL_SERVER_ERROR, "module_failed")
            }
        };
        ApiError::new(status, code, format!("{}: {}", e.kind, e.message))
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError::internal(format!("{e:#}"))
    }
}
