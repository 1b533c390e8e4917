//! The seam between the execution path and cluster replication.
//!
//! A single node has no [`Replica`]: sessions are written to the local sled
//! store and heaps to the local directory, as before. In cluster mode the
//! exec path asks its `Replica` (implemented by `crate::cluster`) where a
//! session run must execute, to fetch heaps this node lacks, to copy new
//! heaps to another node, and to commit session writes through Raft. The
//! rules of a session write stay the store's (`store/sessions/txn.rs`);
//! the replica only decides where and how they are applied.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::{Deleted, ExecJob, ExecReport, ExecServiceError};
use crate::store::{HeapHash, SessionEntry, SessionName};

/// A refusal of the cluster (no leader, a node that cannot be reached, a
/// heap no other node would store) or an error answer relayed from another
/// node, as the HTTP edge shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ClusterRefusal {
    /// HTTP status.
    pub status: u16,
    /// Stable machine-readable code (`no_leader`, `not_leader`, ...).
    pub code: String,
    /// What went wrong, for a human.
    pub message: String,
    /// Seconds for `Retry-After`.
    pub retry_after: Option<u64>,
}

impl ClusterRefusal {
    /// 503 with `Retry-After: 1`.
    pub fn unavailable(code: &str, message: impl Into<String>) -> Self {
        ClusterRefusal {
            status: 503,
            code: code.to_string(),
            message: message.into(),
            retry_after: Some(1),
        }
    }
}

impl From<ClusterRefusal> for ExecServiceError {
    fn from(e: ClusterRefusal) -> Self {
        ExecServiceError::Cluster(e)
    }
}

/// Where this node's session runs execute now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// Here: this node serialises the session's runs.
    Here,
    /// On another node: forward the run there.
    Elsewhere,
}

/// What the execution path needs from the cluster. Every method is async
/// and bounded in time; none re-executes a run.
pub trait Replica: Send + Sync + 'static {
    /// Where session runs execute now.
    fn session_owner(&self) -> Owner;

    /// Runs a session job on the owner node. `Ok(None)`: this node became
    /// the owner meanwhile, run it here.
    fn forward_run(
        &self,
        job: ExecJob,
    ) -> BoxFuture<'_, Result<Option<ExecReport>, ExecServiceError>>;

    /// Deletes a session on the owner node (after its running execution).
    /// `Ok(None)`: run it here.
    fn forward_delete(
        &self,
        name: SessionName,
    ) -> BoxFuture<'_, Result<Option<Deleted>, ExecServiceError>>;

    /// On the owner, before reading a session's head: waits (bounded) until
    /// this node has applied every write committed before it became the
    /// owner; refuses with `not_leader` if it is not the owner.
    fn await_owner_ready(&self) -> BoxFuture<'_, Result<(), ClusterRefusal>>;

    /// A heap this node lacks, fetched from a node that holds it and
    /// verified against its hash.
    fn fetch_heap(&self, hash: HeapHash) -> BoxFuture<'_, Result<Vec<u8>, ClusterRefusal>>;

    /// Copies a heap this node just stored durably to at least one other
    /// voter; answers the names of the nodes that hold it (this one
    /// included).
    fn replicate_heap(
        &self,
        hash: HeapHash,
        payload: Arc<Vec<u8>>,
    ) -> BoxFuture<'_, Result<Vec<String>, ClusterRefusal>>;

    /// A unique id for a run about to be committed.
    fn new_run_id(&self) -> String;

    /// Commits a session run through Raft (compare-and-set on the head);
    /// answers its index or a `Conflict`.
    fn commit_run(
        &self,
        name: SessionName,
        entry: SessionEntry,
        run_id: String,
        holders: Vec<String>,
    ) -> BoxFuture<'_, Result<u64, ExecServiceError>>;

    /// Commits the deletion of a session; answers whether it existed.
    fn commit_delete(&self, name: SessionName) -> BoxFuture<'_, Result<bool, ExecServiceError>>;

    /// Records a heap of a run without a session and who holds it.
    fn commit_heap(
        &self,
        hash: HeapHash,
        holders: Vec<String>,
    ) -> BoxFuture<'_, Result<(), ExecServiceError>>;

    /// Waits until this node's state includes every write committed before
    /// the call (a linearizable read barrier).
    fn read_barrier(&self) -> BoxFuture<'_, Result<(), ClusterRefusal>>;

    /// Replication counters for `/api/status`.
    fn status(&self) -> serde_json::Value;
}
