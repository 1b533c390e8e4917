//! The HTTP surface: REST API, status, health, metrics (and MCP at /mcp).

mod error;
mod rest;
mod sessions;
mod status;

use std::sync::Arc;
use std::time::Instant;

use axum::routing::{get, post};
use axum::Router;

pub use error::AppError;

use crate::config::Config;
use crate::exec::ExecService;
use crate::metrics::Metrics;
use crate::store::GcStatusHandle;
use tokio_util::sync::CancellationToken;

/// State every handler can reach; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Validated configuration.
    pub config: Arc<Config>,
    /// The execution path shared with MCP.
    pub exec: Arc<ExecService>,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
    /// When the server started, for uptime.
    pub started: Instant,
    /// Outcome of the background heap garbage collector.
    pub heap_gc: GcStatusHandle,
    /// Cancelled on SIGINT/SIGTERM; ends the MCP streams.
    pub shutdown: CancellationToken,
    /// This node's Raft node, in cluster mode.
    pub cluster: Option<Arc<crate::raft::node::ClusterNodeHandle>>,
}

/// The router for the HTTP port.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/exec", post(rest::post_exec))
        .route("/api/sessions", get(sessions::list_sessions))
        .route(
            "/api/sessions/{name}",
            get(sessions::get_session).delete(sessions::delete_session),
        )
        .route("/api/heaps/{hash}", get(sessions::get_heap))
        .route("/api/status", get(status::get_status))
        .route("/healthz", get(status::get_healthz))
        .route("/readyz", get(status::get_readyz))
        .route("/metrics", get(status::get_metrics))
        .nest_service(
            "/mcp",
            crate::mcp::http::streamable_http_service(
                state.config.clone(),
                state.exec.clone(),
                state.shutdown.clone(),
            ),
        )
        .fallback(not_found)
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> AppError {
    AppError::not_found(format!("no route for {}", uri.path()))
}
