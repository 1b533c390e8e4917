//! The cluster's Prometheus metrics (`mcp_v8_cluster_*` in `/metrics`),
//! registered with the supervisor's other metrics, and the node's watch of
//! openraft's metrics that updates them and logs role changes
//! ([`watch_leadership`]). On a single node they stay at zero.

use std::sync::Arc;

use openraft::ServerState;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use super::node::ClusterNodeHandle;
use super::types::{ClusterNode, NodeId};

/// Label naming a peer.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PeerLabel {
    /// The peer's `--node-id`.
    pub peer: String,
}

/// The cluster metrics; cheap to clone (the families share their values).
#[derive(Clone, Default)]
pub struct ClusterMetrics {
    /// `mcp_v8_cluster_term`: the current Raft term.
    pub term: Gauge,
    /// `mcp_v8_cluster_is_leader`: 1 on the leader, else 0.
    pub is_leader: Gauge,
    /// `mcp_v8_cluster_leader_changes_total`: times the known leader changed.
    pub leader_changes: Counter,
    /// `mcp_v8_cluster_replication_lag_entries{peer}`: on the leader, how
    /// many log entries each peer is behind.
    pub replication_lag: Family<PeerLabel, Gauge>,
}

impl ClusterMetrics {
    /// Registers the metrics in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = ClusterMetrics::default();
        registry.register("cluster_term", "Current Raft term", metrics.term.clone());
        registry.register(
            "cluster_is_leader",
            "1 if this node is the Raft leader",
            metrics.is_leader.clone(),
        );
        registry.register(
            "cluster_leader_changes",
            "Times the leader this node knows changed",
            metrics.leader_changes.clone(),
        );
        registry.register(
            "cluster_replication_lag_entries",
            "On the leader: log entries each peer is behind",
            metrics.replication_lag.clone(),
        );
        metrics
    }
}

/// Follows openraft's metrics: logs every change of this node's role or of
/// the leader it knows (the operator's view of elections; openraft's own
/// logs are kept at `warn`), updates the `mcp_v8_cluster_*` metrics, and
/// makes the cluster id when this node is the first leader.
pub(super) async fn watch_leadership(node: Arc<ClusterNodeHandle>, shutdown: CancellationToken) {
    let mut metrics = node.raft.metrics();
    let mut last = None;
    loop {
        let m = metrics.borrow_and_update().clone();
        let now = (m.state, m.current_leader);
        if last != Some(now) {
            let leader = node.leader().map(|(_, n)| n.name);
            tracing::info!(role = ?m.state, leader = ?leader, term = m.current_term, "cluster role");
            if last.is_some_and(|(_, was)| was != m.current_leader) && m.current_leader.is_some() {
                node.metrics.leader_changes.inc();
            }
            last = Some(now);
        }
        node.metrics.term.set(m.current_term as i64);
        let leading = m.state == ServerState::Leader;
        node.metrics.is_leader.set(i64::from(leading));
        if leading {
            if let Err(e) = node.meta.ensure_cluster_id() {
                tracing::error!(error = %e, "cannot record the cluster id");
            }
            record_lag(&node, &m);
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            changed = metrics.changed() => if changed.is_err() { return },
        }
    }
}

/// On the leader: how many entries each peer is behind.
fn record_lag(node: &ClusterNodeHandle, m: &openraft::RaftMetrics<NodeId, ClusterNode>) {
    let Some(replication) = &m.replication else {
        return;
    };
    let last = m.last_log_index.unwrap_or(0);
    let membership = m.membership_config.membership();
    for (id, matched) in replication {
        if *id == node.id {
            continue;
        }
        let Some(peer) = membership.get_node(id) else {
            continue;
        };
        let behind = last.saturating_sub(matched.as_ref().map_or(0, |l| l.index));
        node.metrics
            .replication_lag
            .get_or_create(&PeerLabel {
                peer: peer.name.clone(),
            })
            .set(behind as i64);
    }
}
