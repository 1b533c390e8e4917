//! Sessions and heaps across the cluster: the [`Replica`](crate::exec::Replica)
//! the exec path uses in cluster mode, and the cluster-port routes other
//! nodes call.
//!
//! - `replica`: [`ClusterReplica`], who owns session runs (the Raft leader),
//!   waiting for the owner to be ready, run ids, statistics.
//! - `commit`: proposing a command through Raft, forwarded to the leader
//!   with bounded retries.
//! - `forward`: sending a session run or delete to the leader.
//! - `heaps`: copying a new heap to another voter, fetching a missing one
//!   from a holder (verified by its SHA-256).
//! - `repair`: replication passes that count heaps on fewer than two
//!   voters and, on the leader, copy them to another voter.
//! - `routes`: `/cluster/exec`, `/cluster/delete/{name}`, `/cluster/write`,
//!   `/cluster/read_index`, `GET|PUT /cluster/heaps/{hash}`.
//!
//! Heap bytes travel only on these routes, never in the Raft log. The
//! routes sit on the cluster port beside Raft's own.

mod commit;
mod forward;
mod heaps;
mod repair;
mod replica;
mod routes;

pub use replica::ClusterReplica;
pub use routes::router;

use std::time::Duration;

use axum::http::StatusCode;

use crate::exec::ClusterRefusal;

/// Longest wait for a leader to be known before a request is refused.
const LEADER_WAIT: Duration = Duration::from_secs(3);

/// Attempts to reach the leader before giving up (each after a leader
/// change or an unreachable leader).
const MAX_ATTEMPTS: usize = 5;

/// Pause between two attempts.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// The answer of a node that is not the leader (421, `not_leader`).
pub fn not_leader(leader: Option<String>) -> ClusterRefusal {
    ClusterRefusal {
        status: StatusCode::MISDIRECTED_REQUEST.as_u16(),
        code: "not_leader".into(),
        message: match leader {
            Some(name) => format!("this node is not the leader; the leader is {name}"),
            None => "this node is not the leader, and no leader is known".into(),
        },
        retry_after: Some(1),
    }
}

/// 503 `no_leader`.
fn no_leader() -> ClusterRefusal {
    ClusterRefusal::unavailable("no_leader", "the cluster has no leader now; retry shortly")
}

/// Reads `{"error": {"code", "message"}}` of another node's error answer.
async fn relayed(response: reqwest::Response) -> ClusterRefusal {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    ClusterRefusal {
        status,
        code: body["error"]["code"]
            .as_str()
            .unwrap_or("cluster_error")
            .to_string(),
        message: body["error"]["message"]
            .as_str()
            .unwrap_or("another node refused the request")
            .to_string(),
        retry_after,
    }
}
