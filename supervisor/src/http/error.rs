//! The one error type of the HTTP edge.
//!
//! Every handler returns `Result<_, AppError>`; an `AppError` renders as
//! `{"error": {"code", "message"}}` with the right status (and
//! `Retry-After` on 503). Internal detail goes to the log, not the client.

use std::borrow::Cow;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::exec::{ClusterRefusal, ExecServiceError};
use crate::pool::PoolError;
use crate::store::{ErrorClass, StoreError};

/// An error answer.
#[derive(Debug)]
pub struct AppError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code (`invalid_request`, `queue_full`, ...).
    pub code: Cow<'static, str>,
    /// What went wrong, for a human.
    pub message: String,
    /// Seconds for `Retry-After`, on 503.
    pub retry_after: Option<u64>,
}

impl AppError {
    /// An error with the given status, code and message.
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        AppError {
            status,
            code: code.into(),
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400 Bad Request.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404 Not Found.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 500, logging the detail and telling the client only that it failed.
    pub fn internal(context: &str, detail: impl std::fmt::Display) -> Self {
        tracing::error!("{context}: {detail}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("{context} failed"),
        )
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = Json(json!({ "error": { "code": self.code, "message": self.message } }));
        let mut response = (self.status, body).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<ExecServiceError> for AppError {
    fn from(e: ExecServiceError) -> Self {
        match e {
            ExecServiceError::InvalidRequest(msg) => AppError::bad_request("invalid_request", msg),
            ExecServiceError::CodeTooLarge { .. } => AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "code_too_large",
                e.to_string(),
            ),
            ExecServiceError::Pool(
                PoolError::QueueFull { .. } | PoolError::QueueBytesFull { .. },
            ) => AppError {
                retry_after: Some(1),
                ..AppError::new(StatusCode::SERVICE_UNAVAILABLE, "queue_full", e.to_string())
            },
            ExecServiceError::Pool(PoolError::ShuttingDown) => AppError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                e.to_string(),
            ),
            ExecServiceError::Store(e) => e.into(),
            ExecServiceError::Dropped => AppError::internal("execution", e),
            ExecServiceError::Cluster(e) => e.into(),
        }
    }
}

impl From<ClusterRefusal> for AppError {
    fn from(e: ClusterRefusal) -> Self {
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_GATEWAY);
        AppError {
            retry_after: e.retry_after,
            ..AppError::new(status, e.code, e.message)
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        let (status, code) = match e.class() {
            ErrorClass::BadRequest => (StatusCode::BAD_REQUEST, "invalid_request"),
            ErrorClass::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ErrorClass::Conflict if matches!(e, StoreError::Session(_)) => {
                (StatusCode::CONFLICT, "session_conflict")
            }
            ErrorClass::Conflict => (StatusCode::CONFLICT, "conflict"),
            ErrorClass::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "heap_too_large"),
            ErrorClass::Internal => {
                // The message names the hash or session, never a path.
                tracing::error!("store: {e:?}");
                let message = match &e {
                    StoreError::Heap(crate::store::HeapError::Io { .. })
                    | StoreError::Session(crate::store::SessionError::Db { .. }) => {
                        "storage failure; see the server log".to_string()
                    }
                    other => other.to_string(),
                };
                return AppError::new(StatusCode::INTERNAL_SERVER_ERROR, "storage_error", message);
            }
        };
        AppError::new(status, code, e.to_string())
    }
}
