//! The HTTP edge's errors: how the services' errors (exec, pool, store,
//! cluster refusals) become an [`AppError`] answer.
//!
//! Every handler returns `Result<_, AppError>`; the type itself lives in
//! `crate::app_error`, shared with the cluster port.

use axum::http::StatusCode;

pub use crate::app_error::AppError;
use crate::exec::{ClusterRefusal, ExecServiceError};
use crate::pool::PoolError;
use crate::store::{ErrorClass, StoreError};

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
