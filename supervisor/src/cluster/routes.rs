//! The cluster-port routes that carry sessions and heaps between nodes.
//! Not for clients: they serve other members (and sit behind the cluster
//! port's authentication).
//!
//! | route | what |
//! | --- | --- |
//! | `POST /cluster/exec` | run a forwarded session job here (JSON job, JSON report); `421 not_leader` if this node does not own sessions |
//! | `POST /cluster/delete/{name}` | delete a session here, the owner |
//! | `POST /cluster/write` | propose a command (bincode) on the leader; answers the reply (bincode) |
//! | `GET /cluster/read_index` | on the leader: confirm leadership and answer the index a linearizable read must wait for |
//! | `GET /cluster/heaps/{hash}` | a heap's verified payload |
//! | `PUT /cluster/heaps/{hash}` | store a heap's payload (verified against the name, fsynced) |

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::commit::BINCODE;
use super::not_leader;
use crate::app_error::AppError;
use crate::exec::{ExecJob, ExecReport, ExecService};
use crate::raft::node::ClusterNodeHandle;
use crate::raft::types::ClusterCommand;
use crate::store::{HeapHash, SessionName, StoreError};

/// Largest forwarded job (code is capped by `--max-code-bytes` anyway).
const JOB_BODY_LIMIT: usize = 64 << 20;
/// Largest command body.
const WRITE_BODY_LIMIT: usize = 1 << 20;

/// What the routes reach.
#[derive(Clone)]
struct Routes {
    exec: Arc<ExecService>,
    node: Arc<ClusterNodeHandle>,
}

/// The routes, for the cluster port. `max_heap_bytes` bounds heap bodies.
pub fn router(exec: Arc<ExecService>, node: Arc<ClusterNodeHandle>, max_heap_bytes: u64) -> Router {
    let heap_limit = usize::try_from(max_heap_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(4096);
    Router::new()
        .route(
            "/cluster/exec",
            post(post_exec).layer(DefaultBodyLimit::max(JOB_BODY_LIMIT)),
        )
        .route("/cluster/delete/{name}", post(post_delete))
        .route(
            "/cluster/write",
            post(post_write).layer(DefaultBodyLimit::max(WRITE_BODY_LIMIT)),
        )
        .route("/cluster/read_index", get(get_read_index))
        .route(
            "/cluster/heaps/{hash}",
            get(get_heap)
                .put(put_heap)
                .layer(DefaultBodyLimit::max(heap_limit)),
        )
        .with_state(Routes { exec, node })
}

async fn post_exec(
    State(r): State<Routes>,
    Json(job): Json<ExecJob>,
) -> Result<Json<ExecReport>, AppError> {
    Ok(Json(r.exec.run_forwarded(job).await?))
}

async fn post_delete(
    State(r): State<Routes>,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    let name = SessionName::parse(&name).map_err(StoreError::from)?;
    Ok(Json(r.exec.delete_here(name).await?).into_response())
}

fn leader_name(node: &ClusterNodeHandle) -> Option<String> {
    node.leader().map(|(_, n)| n.name)
}

async fn post_write(State(r): State<Routes>, body: Bytes) -> Result<Response, AppError> {
    let cmd: ClusterCommand = mcp_v8_shared::decode(&body)
        .map_err(|e| AppError::bad_request("invalid_command", e.to_string()))?;
    if !r.node.is_leader() {
        return Err(not_leader(leader_name(&r.node)).into());
    }
    let written = r.node.raft.client_write(cmd).await.map_err(|e| {
        tracing::warn!(error = %e, "forwarded write failed");
        AppError::from(not_leader(leader_name(&r.node)))
    })?;
    let bytes = mcp_v8_shared::encode(&written.data)
        .map_err(|e| AppError::internal("encode the reply", e))?;
    Ok(([(header::CONTENT_TYPE, BINCODE)], bytes).into_response())
}

async fn get_read_index(State(r): State<Routes>) -> Result<Json<serde_json::Value>, AppError> {
    match r.node.raft.get_read_log_id().await {
        Ok((read, _applied)) => Ok(Json(serde_json::json!({ "index": read.map(|l| l.index) }))),
        Err(_) => Err(not_leader(leader_name(&r.node)).into()),
    }
}

async fn get_heap(State(r): State<Routes>, Path(hash): Path<String>) -> Result<Response, AppError> {
    let hash = HeapHash::parse(&hash).map_err(StoreError::from)?;
    let payload = r.exec.stores().load(hash).await?;
    Ok(([(header::CONTENT_TYPE, BINCODE)], payload).into_response())
}

async fn put_heap(
    State(r): State<Routes>,
    Path(hash): Path<String>,
    body: Bytes,
) -> Result<StatusCode, AppError> {
    let hash = HeapHash::parse(&hash).map_err(StoreError::from)?;
    let actual = HeapHash::of_payload(&body);
    if actual != hash {
        return Err(AppError::bad_request(
            "heap_mismatch",
            format!("the body is heap {actual}, not {hash}"),
        ));
    }
    r.exec.stores().save(body.to_vec()).await?;
    Ok(StatusCode::NO_CONTENT)
}
