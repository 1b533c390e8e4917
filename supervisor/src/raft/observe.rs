//! The node's watch of openraft's metrics ([`watch_leadership`]): it logs
//! role changes and updates the `mcp_v8_cluster_*` metrics
//! (`crate::metrics::ClusterMetrics`).

use std::sync::Arc;

use openraft::ServerState;
use tokio_util::sync::CancellationToken;

use super::node::ClusterNodeHandle;
use super::types::{ClusterNode, NodeId};
use crate::metrics::PeerLabel;

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
