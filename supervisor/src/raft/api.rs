//! The cluster port: Raft RPCs between members (`/raft/append`,
//! `/raft/vote`, `/raft/snapshot`), `GET /raft/status` for people, and
//! `POST /raft/join` to add a member (any member takes it; followers
//! forward it to the leader).
//!
//! RPC answers are openraft's `Result` as JSON (`{"Ok": ...}` or
//! `{"Err": ...}`), which `network.rs` decodes. Bad input and refusals are
//! the server's usual `{"error": {"code", "message"}}`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{rejection::JsonRejection, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use serde::{Deserialize, Serialize};

use super::node::{role_name, ClusterError, ClusterNodeHandle, Joined};
use super::types::{ClusterNode, NodeId, TypeConfig};
use crate::http::AppError;

/// How long the leader waits for a new member to catch up.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a follower waits for the leader to answer a forwarded join.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(15);

/// Shared state of the cluster routes.
type Node = Arc<ClusterNodeHandle>;

/// The routes of the cluster port.
pub fn router(node: Node) -> Router {
    Router::new()
        .route("/raft/append", post(post_raft_append))
        .route("/raft/vote", post(post_raft_vote))
        .route("/raft/snapshot", post(post_raft_snapshot))
        .route("/raft/status", get(get_raft_status))
        .route("/raft/join", post(post_raft_join))
        .with_state(node)
}

async fn post_raft_append(
    State(node): State<Node>,
    Json(rpc): Json<AppendEntriesRequest<TypeConfig>>,
) -> Json<serde_json::Value> {
    Json(to_json(node.raft.append_entries(rpc).await))
}

async fn post_raft_vote(
    State(node): State<Node>,
    Json(rpc): Json<VoteRequest<NodeId>>,
) -> Json<serde_json::Value> {
    Json(to_json(node.raft.vote(rpc).await))
}

async fn post_raft_snapshot(
    State(node): State<Node>,
    Json(rpc): Json<InstallSnapshotRequest<TypeConfig>>,
) -> Json<serde_json::Value> {
    Json(to_json(node.raft.install_snapshot(rpc).await))
}

/// A Raft result as JSON (serialising these plain types does not fail).
fn to_json<T: Serialize, E: Serialize>(result: Result<T, E>) -> serde_json::Value {
    serde_json::to_value(&result).unwrap_or_else(|e| serde_json::json!({ "Err": e.to_string() }))
}

/// One member in `/raft/status`.
#[derive(Serialize)]
struct MemberDoc {
    node_id: String,
    raft_id: NodeId,
    addr: String,
    voter: bool,
}

/// The `/raft/status` document.
#[derive(Serialize)]
struct StatusDoc {
    node_id: String,
    raft_id: NodeId,
    addr: String,
    /// `leader`, `follower`, `candidate`, `learner` or `shutdown`.
    role: &'static str,
    /// The leader's name, when one is known.
    leader: Option<String>,
    leader_raft_id: Option<NodeId>,
    term: u64,
    last_log_index: Option<u64>,
    last_applied_index: Option<u64>,
    members: Vec<MemberDoc>,
}

async fn get_raft_status(State(node): State<Node>) -> Json<StatusDoc> {
    let metrics = node.raft.metrics().borrow().clone();
    let membership = metrics.membership_config.membership();
    let voters: Vec<NodeId> = membership.voter_ids().collect();
    let members = membership
        .nodes()
        .map(|(id, n)| MemberDoc {
            node_id: n.name.clone(),
            raft_id: *id,
            addr: n.addr.clone(),
            voter: voters.contains(id),
        })
        .collect();
    let leader = metrics
        .current_leader
        .and_then(|id| membership.get_node(&id))
        .map(|n| n.name.clone());
    Json(StatusDoc {
        node_id: node.me.name.clone(),
        raft_id: node.id,
        addr: node.me.addr.clone(),
        role: role_name(metrics.state),
        leader,
        leader_raft_id: metrics.current_leader,
        term: metrics.current_term,
        last_log_index: metrics.last_log_index,
        last_applied_index: metrics.last_applied.map(|id| id.index),
        members,
    })
}

/// `POST /raft/join` body.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JoinRequest {
    /// The new member's `--node-id`.
    node_id: String,
    /// Its cluster address, `host:port`.
    addr: String,
}

async fn post_raft_join(
    State(node): State<Node>,
    body: Result<Json<JoinRequest>, JsonRejection>,
) -> Result<Json<Joined>, AppError> {
    let Json(req) = body.map_err(|e| AppError::bad_request("invalid_request", e.body_text()))?;
    let name = req.node_id.trim();
    if name.is_empty() || name.contains('@') || name.contains(',') {
        return Err(AppError::bad_request(
            "invalid_request",
            "node_id must be a non-empty name without '@' or ','",
        ));
    }
    if !valid_addr(&req.addr) {
        return Err(AppError::bad_request(
            "invalid_request",
            format!("addr {:?} is not host:port", req.addr),
        ));
    }
    let member = ClusterNode {
        name: name.to_string(),
        addr: req.addr.clone(),
    };
    if node.is_leader() {
        let addr = member.addr.clone();
        return match tokio::time::timeout(JOIN_TIMEOUT, node.add_member(member)).await {
            Ok(added) => added.map(Json).map_err(join_error),
            Err(_) => Err(AppError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "join_timeout",
                format!("the new member did not catch up within {JOIN_TIMEOUT:?}; is {addr} reachable from the leader?"),
            )),
        };
    }
    let Some((_, leader)) = node.leader() else {
        let mut e = AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_leader",
            "the cluster has no leader yet; retry shortly",
        );
        e.retry_after = Some(1);
        return Err(e);
    };
    forward_join(&node, &leader, &req).await
}

/// Sends a join to the leader and relays its answer.
async fn forward_join(
    node: &ClusterNodeHandle,
    leader: &ClusterNode,
    req: &JoinRequest,
) -> Result<Json<Joined>, AppError> {
    let url = format!("http://{}/raft/join", leader.addr);
    let response = node
        .client
        .post(&url)
        .timeout(FORWARD_TIMEOUT)
        .json(req)
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
        serde_json::from_value(body)
            .map(Json)
            .map_err(|e| AppError::new(StatusCode::BAD_GATEWAY, "bad_leader_answer", e.to_string()))
    } else {
        let message = body["error"]["message"]
            .as_str()
            .unwrap_or("the leader refused the join")
            .to_string();
        Err(AppError::new(
            StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
            "join_refused",
            message,
        ))
    }
}

fn join_error(e: ClusterError) -> AppError {
    match e {
        ClusterError::IdCollision { .. } => {
            AppError::new(StatusCode::CONFLICT, "node_id_collision", e.to_string())
        }
        other => AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "join_failed",
            other.to_string(),
        ),
    }
}

/// Whether `addr` looks like `host:port` with a valid port.
pub fn valid_addr(addr: &str) -> bool {
    match addr.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0),
        None => false,
    }
}
