//! [`ClusterReplica`]: the exec path's [`Replica`] in cluster mode.
//!
//! The owner of every session's turn is the Raft leader: it serialises a
//! session's runs under its local per-session lock, with a warm heap cache,
//! and its proposals need no extra hop. A follower forwards session runs
//! and deletes to it. The compare-and-set on the session head in the state
//! machine stays the safety net, so a race during a failover is a
//! `session_conflict`, never a fork.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use openraft::ServerState;
use serde::Serialize;

use super::not_leader;
use super::repair::PassReport;
use crate::exec::{
    ClusterRefusal, Deleted, ExecJob, ExecReport, ExecServiceError, Owner, Replica, Stores,
};
use crate::metrics::Metrics;
use crate::raft::node::ClusterNodeHandle;
use crate::raft::state_machine::StateMachine;
use crate::raft::types::{ClusterCommand, ClusterNode, ClusterReply};
use crate::store::{HeapHash, SessionEntry, SessionError, SessionName, StoreError};

/// How long a new leader may take to apply what earlier terms committed
/// before a session run on it is refused.
const OWNER_READY_WAIT: Duration = Duration::from_secs(5);

/// Counters shown under `cluster.replication` in `/api/status`.
#[derive(Debug, Default)]
pub(super) struct Stats {
    pub(super) forwarded: AtomicU64,
    pub(super) commits: AtomicU64,
    pub(super) commit_failures: AtomicU64,
    /// Sum of the successful commits' latencies, microseconds.
    pub(super) commit_micros: AtomicU64,
    pub(super) heap_pushes: AtomicU64,
    pub(super) heap_push_failures: AtomicU64,
    pub(super) heap_push_bytes: AtomicU64,
    pub(super) heap_fetches: AtomicU64,
    pub(super) heap_fetch_failures: AtomicU64,
    pub(super) heap_fetch_bytes: AtomicU64,
    pub(super) heap_repairs: AtomicU64,
}

/// A snapshot of [`Stats`].
#[derive(Debug, Serialize)]
struct StatsDoc {
    forwarded: u64,
    commits: u64,
    commit_failures: u64,
    /// Mean latency of this node's successful commits, milliseconds.
    commit_mean_ms: f64,
    heap_pushes: u64,
    heap_push_failures: u64,
    heap_push_bytes: u64,
    heap_fetches: u64,
    heap_fetch_failures: u64,
    heap_fetch_bytes: u64,
    heaps_recorded: usize,
    /// Referenced heaps on fewer than two voters, as of the last pass.
    under_replicated_heaps: Option<usize>,
    /// Heaps copied to another voter by the leader's passes.
    heap_repairs: u64,
    /// The last replication pass (`cluster/repair.rs`).
    last_replication_pass: Option<PassReport>,
}

/// Sessions and heaps replicated through Raft and the cluster port.
pub struct ClusterReplica {
    /// This node's Raft node.
    pub(super) node: Arc<ClusterNodeHandle>,
    /// A read view of the replicated state (heap holders).
    pub(super) state: StateMachine,
    /// Prometheus metrics.
    pub(super) metrics: Arc<Metrics>,
    /// Longest a forwarded run may take (the execution timeout plus
    /// recording).
    pub(super) run_deadline: Duration,
    /// Counters for `/api/status`.
    pub(super) stats: Stats,
    /// This node's heap and session stores.
    pub(super) stores: Stores,
    /// What the last replication pass found (`None` before the first).
    pub(super) last_pass: Mutex<Option<PassReport>>,
    /// Distinguishes this process's run ids from earlier ones of the node.
    boot: u64,
    /// Run ids of this process.
    runs: AtomicU64,
}

impl ClusterReplica {
    /// A replica over this node's Raft node and stores.
    pub fn new(
        node: Arc<ClusterNodeHandle>,
        stores: Stores,
        metrics: Arc<Metrics>,
        execution_timeout: Duration,
    ) -> Result<Self, sled::Error> {
        let state = StateMachine::open(stores.sessions.db())?;
        let boot = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Ok(ClusterReplica {
            node,
            state,
            metrics,
            run_deadline: execution_timeout + Duration::from_secs(30),
            stats: Stats::default(),
            stores,
            last_pass: Mutex::new(None),
            boot,
            runs: AtomicU64::new(0),
        })
    }

    /// This node's name.
    pub(super) fn me(&self) -> &str {
        &self.node.me.name
    }

    /// A request to another node's cluster port.
    pub(super) fn request(
        &self,
        method: reqwest::Method,
        to: &ClusterNode,
        path: &str,
    ) -> reqwest::RequestBuilder {
        self.node.peer_request(method, to, path)
    }

    /// The other members, voters first.
    pub(super) fn others(&self) -> Vec<(bool, ClusterNode)> {
        let metrics = self.node.raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        let voters: Vec<u64> = membership.voter_ids().collect();
        let mut others: Vec<(bool, ClusterNode)> = membership
            .nodes()
            .filter(|(id, _)| **id != self.node.id)
            .map(|(id, n)| (voters.contains(id), n.clone()))
            .collect();
        others.sort_by_key(|(voter, _)| !voter);
        others
    }

    /// Waits (bounded) until a leader is known; its id and node.
    pub(super) async fn leader(&self) -> Option<(u64, ClusterNode)> {
        if let Some(leader) = self.node.leader() {
            return Some(leader);
        }
        let _ = self
            .node
            .raft
            .wait(Some(super::LEADER_WAIT))
            .metrics(|m| m.current_leader.is_some(), "a leader is known")
            .await;
        self.node.leader()
    }

    /// The counters as JSON, for `/api/status`.
    pub fn stats_json(&self) -> serde_json::Value {
        let s = &self.stats;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let last = self
            .last_pass
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        serde_json::to_value(StatsDoc {
            forwarded: get(&s.forwarded),
            commits: get(&s.commits),
            commit_failures: get(&s.commit_failures),
            commit_mean_ms: get(&s.commit_micros) as f64 / 1000.0 / get(&s.commits).max(1) as f64,
            heap_pushes: get(&s.heap_pushes),
            heap_push_failures: get(&s.heap_push_failures),
            heap_push_bytes: get(&s.heap_push_bytes),
            heap_fetches: get(&s.heap_fetches),
            heap_fetch_failures: get(&s.heap_fetch_failures),
            heap_fetch_bytes: get(&s.heap_fetch_bytes),
            heaps_recorded: self.state.heap_count(),
            under_replicated_heaps: last.as_ref().map(|p| p.under_replicated),
            heap_repairs: get(&s.heap_repairs),
            last_replication_pass: last,
        })
        .unwrap_or_default()
    }

    async fn owner_ready(&self) -> Result<(), ClusterRefusal> {
        // Ready once the entry this leader committed in its own term is
        // applied: everything earlier terms committed is applied too.
        let ready = |m: &openraft::RaftMetrics<u64, ClusterNode>| {
            m.state != ServerState::Leader
                || m.last_applied
                    .is_some_and(|l| l.leader_id.term == m.current_term)
        };
        let waited = self
            .node
            .raft
            .wait(Some(OWNER_READY_WAIT))
            .metrics(ready, "the leader applied its term's first entry")
            .await;
        match waited {
            Ok(m) if m.state == ServerState::Leader => Ok(()),
            Ok(_) => Err(not_leader(self.node.leader().map(|(_, n)| n.name))),
            Err(_) => Err(ClusterRefusal::unavailable(
                "leader_not_ready",
                "the new leader has not caught up yet; retry shortly",
            )),
        }
    }

    async fn commit_run_now(
        &self,
        name: SessionName,
        entry: SessionEntry,
        run_id: String,
        holders: Vec<String>,
    ) -> Result<u64, ExecServiceError> {
        let cmd = ClusterCommand::AppendRun {
            session: name.as_str().to_string(),
            entry,
            run_id,
            now_ms: crate::store::now_unix_ms(),
            holders,
        };
        match self.commit(cmd).await? {
            ClusterReply::Appended { index } => Ok(index),
            ClusterReply::Conflict { message } => Err(conflict(&name, message)),
            other => Err(unexpected(other)),
        }
    }
}

/// A head that moved during the run: 409 `session_conflict`.
fn conflict(name: &SessionName, message: String) -> ExecServiceError {
    tracing::warn!(session = %name, %message, "session run refused: head moved");
    ExecServiceError::Store(StoreError::Session(SessionError::Conflict {
        name: name.as_str().into(),
        latest: message,
        input: "the run's input".into(),
    }))
}

fn unexpected(reply: ClusterReply) -> ExecServiceError {
    let message = match reply {
        ClusterReply::Refused { message } => message,
        other => format!("unexpected answer {other:?}"),
    };
    ExecServiceError::InvalidRequest(message)
}

impl Replica for ClusterReplica {
    fn session_owner(&self) -> Owner {
        if self.node.is_leader() {
            Owner::Here
        } else {
            Owner::Elsewhere
        }
    }

    fn forward_run(
        &self,
        job: ExecJob,
    ) -> BoxFuture<'_, Result<Option<ExecReport>, ExecServiceError>> {
        self.forward_job(job).boxed()
    }

    fn forward_delete(
        &self,
        name: SessionName,
    ) -> BoxFuture<'_, Result<Option<Deleted>, ExecServiceError>> {
        self.forward_delete_to_leader(name).boxed()
    }

    fn await_owner_ready(&self) -> BoxFuture<'_, Result<(), ClusterRefusal>> {
        self.owner_ready().boxed()
    }

    fn fetch_heap(&self, hash: HeapHash) -> BoxFuture<'_, Result<Vec<u8>, ClusterRefusal>> {
        self.fetch(hash).boxed()
    }

    fn replicate_heap(
        &self,
        hash: HeapHash,
        payload: Arc<Vec<u8>>,
    ) -> BoxFuture<'_, Result<Vec<String>, ClusterRefusal>> {
        self.push(hash, payload).boxed()
    }

    fn new_run_id(&self) -> String {
        let n = self.runs.fetch_add(1, Ordering::Relaxed);
        format!("{}:{:x}:{n:x}", self.me(), self.boot)
    }

    fn commit_run(
        &self,
        name: SessionName,
        entry: SessionEntry,
        run_id: String,
        holders: Vec<String>,
    ) -> BoxFuture<'_, Result<u64, ExecServiceError>> {
        self.commit_run_now(name, entry, run_id, holders).boxed()
    }

    fn commit_delete(&self, name: SessionName) -> BoxFuture<'_, Result<bool, ExecServiceError>> {
        async move {
            let cmd = ClusterCommand::DeleteSession {
                session: name.as_str().to_string(),
            };
            match self.commit(cmd).await? {
                ClusterReply::Deleted { existed } => Ok(existed),
                other => Err(unexpected(other)),
            }
        }
        .boxed()
    }

    fn commit_heap(
        &self,
        hash: HeapHash,
        holders: Vec<String>,
    ) -> BoxFuture<'_, Result<(), ExecServiceError>> {
        async move {
            let cmd = ClusterCommand::RecordHeap {
                hash,
                holders,
                now_ms: crate::store::now_unix_ms(),
            };
            self.commit(cmd).await?;
            Ok(())
        }
        .boxed()
    }

    fn read_barrier(&self) -> BoxFuture<'_, Result<(), ClusterRefusal>> {
        self.barrier().boxed()
    }

    fn status(&self) -> serde_json::Value {
        self.stats_json()
    }
}
