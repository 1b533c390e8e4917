//! The Raft metrics (`mcp_v8_cluster_term`, `_is_leader`,
//! `_leader_changes_total`, `_replication_lag_entries`), registered with the
//! supervisor's other metrics and updated by `raft::observe`. On a single
//! node they stay at zero.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

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
