//! The cluster port's routes: Raft RPCs between members (`/raft/append`,
//! `/raft/vote`, `/raft/snapshot`), `GET /raft/status` for people, and the
//! membership routes `POST /raft/join` and `DELETE /raft/members/{node_id}`
//! (any member takes them; followers forward them to the leader).
//!
//! RPC bodies are bincode (`rpc_codec`); an RPC answer is openraft's
//! `Result`. Bad input and refusals are the server's usual
//! `{"error": {"code", "message"}}`. Each route has its own body limit.
//! Who may call is checked by `auth.rs`'s layer over the whole router.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, VoteRequest,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::membership::{Joined, Left};
use super::node::{ClusterError, ClusterNodeHandle, JOIN_REQUEST_TIMEOUT};
use super::prevote::PreVoteRequest;
use super::rpc_codec::{
    self, APPEND_BODY_LIMIT, DEFAULT_BODY_LIMIT, JOIN_BODY_LIMIT, SNAPSHOT_BODY_LIMIT,
};
use super::status::StatusDoc;
use super::types::{ClusterNode, NodeId, TypeConfig};
use crate::app_error::AppError;
use crate::config::{valid_addr, valid_name};

/// Shared state of the cluster routes.
type Node = Arc<ClusterNodeHandle>;

/// The routes of the cluster port (without the auth layer, which `main`
/// puts over everything served on the port).
pub fn router(node: Node) -> Router {
    Router::new()
        .route(
            "/raft/append",
            post(post_raft_append).layer(DefaultBodyLimit::max(APPEND_BODY_LIMIT)),
        )
        .route(
            "/raft/snapshot",
            post(post_raft_snapshot).layer(DefaultBodyLimit::max(SNAPSHOT_BODY_LIMIT)),
        )
        .route("/raft/vote", post(post_raft_vote))
        .route("/raft/prevote", post(post_raft_prevote))
        .route("/raft/status", get(get_raft_status))
        .route(
            "/raft/join",
            post(post_raft_join).layer(DefaultBodyLimit::max(JOIN_BODY_LIMIT)),
        )
        .route("/raft/members/{node_id}", delete(delete_raft_member))
        .layer(DefaultBodyLimit::max(DEFAULT_BODY_LIMIT))
        .with_state(node)
}

/// A body that could not be read: 413 over the route's limit, else 400.
fn body_error(status: StatusCode, text: String) -> AppError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::new(status, "body_too_large", text)
    } else {
        AppError::bad_request("invalid_request", text)
    }
}

/// Decodes an RPC body, or answers 400 (413 over the route's limit).
fn rpc_body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, AppError> {
    let body = body.map_err(|e| body_error(e.status(), e.body_text()))?;
    rpc_codec::decode(&body).map_err(|e| AppError::bad_request("invalid_request", e.to_string()))
}

/// A Raft result as a bincode body.
fn rpc_answer<T: Serialize, E: Serialize>(result: Result<T, E>) -> Response {
    match rpc_codec::encode(&result) {
        Ok(bytes) => ([(header::CONTENT_TYPE, rpc_codec::CONTENT_TYPE)], bytes).into_response(),
        Err(e) => AppError::internal("encoding a Raft answer", e).into_response(),
    }
}

async fn post_raft_append(
    State(node): State<Node>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let rpc: AppendEntriesRequest<TypeConfig> = rpc_body(body)?;
    let answer = node.raft.append_entries(rpc).await;
    if matches!(&answer, Ok(r) if !matches!(r, AppendEntriesResponse::HigherVote(_))) {
        node.contact.touch();
    }
    Ok(rpc_answer(answer))
}

/// A pre-vote (`prevote.rs`): answered from this node's view, changes
/// nothing.
async fn post_raft_prevote(
    State(node): State<Node>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let rpc: PreVoteRequest = rpc_body(body)?;
    let answer = rpc_codec::encode(&node.pre_vote(&rpc))
        .map_err(|e| AppError::internal("encoding a pre-vote", e))?;
    Ok(([(header::CONTENT_TYPE, rpc_codec::CONTENT_TYPE)], answer).into_response())
}

async fn post_raft_vote(
    State(node): State<Node>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let rpc: VoteRequest<NodeId> = rpc_body(body)?;
    Ok(rpc_answer(node.raft.vote(rpc).await))
}

async fn post_raft_snapshot(
    State(node): State<Node>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let rpc: InstallSnapshotRequest<TypeConfig> = rpc_body(body)?;
    let answer = node.raft.install_snapshot(rpc).await;
    if answer.is_ok() {
        node.contact.touch();
    }
    Ok(rpc_answer(answer))
}

async fn get_raft_status(State(node): State<Node>) -> Json<StatusDoc> {
    Json(node.status_doc())
}

/// `POST /raft/join` body.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JoinRequest {
    /// The new member's `--node-id`.
    node_id: String,
    /// Its cluster address, `host:port`.
    addr: String,
    /// Its database's incarnation (a node's own `--join` sends it; a
    /// join by hand may leave it out, and the node binds it later).
    #[serde(default)]
    incarnation: String,
}

async fn post_raft_join(
    State(node): State<Node>,
    body: Result<Json<JoinRequest>, JsonRejection>,
) -> Result<Json<Joined>, AppError> {
    let Json(req) = body.map_err(|e| body_error(e.status(), e.body_text()))?;
    let name = req.node_id.trim();
    if !valid_name(name) {
        return Err(AppError::bad_request(
            "invalid_request",
            "node_id must be a non-empty name without '@', ',' or '/'",
        ));
    }
    if !valid_addr(&req.addr) {
        return Err(AppError::bad_request(
            "invalid_request",
            format!("addr {:?} is not host:port", req.addr),
        ));
    }
    if !req.incarnation.chars().all(|c| c.is_ascii_hexdigit()) || req.incarnation.len() > 64 {
        return Err(AppError::bad_request(
            "invalid_request",
            "incarnation must be hex digits",
        ));
    }
    if node.is_leader() {
        let member = ClusterNode {
            name: name.to_string(),
            addr: req.addr.clone(),
            incarnation: req.incarnation.clone(),
        };
        return node
            .add_member(member)
            .await
            .map(Json)
            .map_err(membership_error);
    }
    let leader = leader_or_503(&node).await?;
    let request = node
        .peer_request(reqwest::Method::POST, &leader, "/raft/join")
        .json(&req);
    forward(request, &leader).await
}

async fn delete_raft_member(
    State(node): State<Node>,
    Path(name): Path<String>,
) -> Result<Json<Left>, AppError> {
    if !valid_name(&name) {
        return Err(AppError::bad_request("invalid_request", "bad node_id"));
    }
    if node.is_leader() {
        return node
            .remove_member(&name)
            .await
            .map(Json)
            .map_err(membership_error);
    }
    let leader = leader_or_503(&node).await?;
    let request = node.peer_request(
        reqwest::Method::DELETE,
        &leader,
        &format!("/raft/members/{name}"),
    );
    forward(request, &leader).await
}

/// How long a membership request waits for a leader to be known (an
/// election in progress) before it is refused.
const LEADER_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// The leader (waiting up to [`LEADER_WAIT`] while there is none), or 503
/// `no_leader` with `Retry-After`.
async fn leader_or_503(node: &ClusterNodeHandle) -> Result<ClusterNode, AppError> {
    if node.leader().is_none() {
        let _ = node
            .raft
            .wait(Some(LEADER_WAIT))
            .metrics(|m| m.current_leader.is_some(), "a leader is known")
            .await;
    }
    match node.leader() {
        Some((_, leader)) => Ok(leader),
        None => {
            let mut e = AppError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "no_leader",
                "the cluster has no leader yet; retry shortly",
            );
            e.retry_after = Some(1);
            Err(e)
        }
    }
}

/// Sends a membership request to the leader and relays its answer (its
/// status and error code included).
async fn forward<T: DeserializeOwned>(
    request: reqwest::RequestBuilder,
    leader: &ClusterNode,
) -> Result<Json<T>, AppError> {
    let response = request
        .timeout(JOIN_REQUEST_TIMEOUT)
        .send()
        .await
        .map_err(|e| {
            AppError::new(
                StatusCode::BAD_GATEWAY,
                "leader_unreachable",
                format!("cannot reach the leader {leader}: {e}"),
            )
        })?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if status.is_success() {
        return serde_json::from_value(body).map(Json).map_err(|e| {
            AppError::new(StatusCode::BAD_GATEWAY, "bad_leader_answer", e.to_string())
        });
    }
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or("the leader refused the change")
        .to_string();
    let code = relayed_code(body["error"]["code"].as_str().unwrap_or(""));
    Err(AppError::new(
        StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
        code,
        message,
    ))
}

/// The leader's error code, if it is one of ours (codes are `&'static`).
fn relayed_code(code: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "invalid_request",
        "node_id_collision",
        "incarnation_mismatch",
        "node_id_in_use",
        "not_member",
        "join_timeout",
        "membership_failed",
        "no_leader",
        "unauthorized",
        "cluster_mismatch",
    ];
    KNOWN
        .iter()
        .find(|k| **k == code)
        .copied()
        .unwrap_or("leader_refused")
}

fn membership_error(e: ClusterError) -> AppError {
    let (status, code) = match &e {
        ClusterError::IdCollision { .. } => (StatusCode::CONFLICT, "node_id_collision"),
        ClusterError::IncarnationMismatch { .. } => (StatusCode::CONFLICT, "incarnation_mismatch"),
        ClusterError::NameInUse { .. } => (StatusCode::CONFLICT, "node_id_in_use"),
        ClusterError::NotMember { .. } => (StatusCode::NOT_FOUND, "not_member"),
        ClusterError::JoinTimeout { .. } => (StatusCode::GATEWAY_TIMEOUT, "join_timeout"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "membership_failed"),
    };
    AppError::new(status, code, e.to_string())
}
