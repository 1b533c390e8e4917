//! What a node says about the cluster: the `GET /raft/status` document and
//! the `cluster` object of `/api/status`, both read from openraft's
//! metrics. Raft ids are printed as strings: they are 64-bit hashes, and
//! JSON tools (jq, JavaScript) round integers above 2^53.

use std::collections::BTreeMap;

use serde::Serialize;

use super::node::{role_name, ClusterNodeHandle};
use super::types::NodeId;

/// One member in `/raft/status`.
#[derive(Serialize)]
pub struct MemberDoc {
    node_id: String,
    raft_id: String,
    addr: String,
    voter: bool,
    /// The member's incarnation (the id of its database), once it has
    /// joined itself; `None` for a founder named by `--peers` until then.
    incarnation: Option<String>,
}

/// The `/raft/status` document.
#[derive(Serialize)]
pub struct StatusDoc {
    node_id: String,
    raft_id: String,
    addr: String,
    /// `leader`, `follower`, `candidate`, `learner` or `shutdown`.
    role: &'static str,
    /// Whether this node is a learner (a member without a vote).
    is_learner: bool,
    /// The leader's name, when one is known (`leader_id` is the same).
    leader: Option<String>,
    leader_id: Option<String>,
    leader_raft_id: Option<String>,
    term: u64,
    last_log_index: Option<u64>,
    last_applied_index: Option<u64>,
    /// Same as `last_applied_index`.
    last_applied: Option<u64>,
    /// The highest log index known committed (on the leader: by quorum;
    /// elsewhere: as far as this node has applied).
    commit_index: Option<u64>,
    /// Entries in this node's log (after the last purge).
    log_length: u64,
    /// Last log index covered by this node's latest Raft snapshot.
    snapshot_index: Option<u64>,
    /// Last log index removed from this node's log (covered by a snapshot).
    purged_index: Option<u64>,
    members: Vec<MemberDoc>,
    /// Cluster addresses of the other members.
    peers: Vec<String>,
    /// Every member's cluster address by name, this node included.
    peer_addrs: BTreeMap<String, String>,
    /// Names of the learners.
    learners: Vec<String>,
}

/// This node's view of the cluster (`cluster` in `/api/status`).
#[derive(Debug, Clone, Serialize)]
pub struct ClusterSummary {
    /// This node's name.
    pub node_id: String,
    /// Its cluster address.
    pub addr: String,
    /// `leader`, `follower`, `candidate`, `learner` or `shutdown`.
    pub role: &'static str,
    /// The leader's name, when one is known.
    pub leader: Option<String>,
    /// The current Raft term.
    pub term: u64,
    /// Number of members (voters and learners).
    pub members: usize,
    /// Times the leader this node knows changed since it started.
    pub leader_changes: u64,
    /// On the leader: log entries each other member is behind, by name.
    pub replication_lag: BTreeMap<String, u64>,
}

impl ClusterNodeHandle {
    /// The `/raft/status` document.
    pub fn status_doc(&self) -> StatusDoc {
        let metrics = self.raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        let voters: Vec<NodeId> = membership.voter_ids().collect();
        let members: Vec<MemberDoc> = membership
            .nodes()
            .map(|(id, n)| MemberDoc {
                node_id: n.name.clone(),
                raft_id: id.to_string(),
                addr: n.addr.clone(),
                voter: voters.contains(id),
                incarnation: (!n.incarnation.is_empty()).then(|| n.incarnation.clone()),
            })
            .collect();
        let leader = metrics
            .current_leader
            .and_then(|id| membership.get_node(&id))
            .map(|n| n.name.clone());
        let applied = metrics.last_applied.map(|id| id.index);
        let commit_index = match &metrics.replication {
            Some(replication) => {
                let mut matched = replication.clone();
                matched.insert(self.id, metrics.last_applied);
                quorum_index(&matched, &voters).max(applied)
            }
            None => applied,
        };
        let purged = metrics.purged.map_or(0, |l| l.index + 1);
        let log_length = metrics
            .last_log_index
            .map_or(0, |i| i + 1)
            .saturating_sub(purged);
        StatusDoc {
            node_id: self.me.name.clone(),
            raft_id: self.id.to_string(),
            addr: self.me.addr.clone(),
            role: role_name(metrics.state),
            is_learner: membership.get_node(&self.id).is_some() && !voters.contains(&self.id),
            leader_id: leader.clone(),
            leader,
            leader_raft_id: metrics.current_leader.map(|id| id.to_string()),
            term: metrics.current_term,
            last_log_index: metrics.last_log_index,
            last_applied_index: applied,
            last_applied: applied,
            commit_index,
            log_length,
            snapshot_index: metrics.snapshot.map(|l| l.index),
            purged_index: metrics.purged.map(|l| l.index),
            peers: members
                .iter()
                .filter(|m| m.node_id != self.me.name)
                .map(|m| m.addr.clone())
                .collect(),
            peer_addrs: members
                .iter()
                .map(|m| (m.node_id.clone(), m.addr.clone()))
                .collect(),
            learners: members
                .iter()
                .filter(|m| !m.voter)
                .map(|m| m.node_id.clone())
                .collect(),
            members,
        }
    }

    /// This node's view of the cluster, for `/api/status`.
    pub fn summary(&self) -> ClusterSummary {
        let metrics = self.raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        let last = metrics.last_log_index.unwrap_or(0);
        let replication_lag = metrics
            .replication
            .iter()
            .flatten()
            .filter(|(id, _)| **id != self.id)
            .filter_map(|(id, matched)| {
                let name = membership.get_node(id)?.name.clone();
                Some((name, last.saturating_sub(matched.map_or(0, |l| l.index))))
            })
            .collect();
        ClusterSummary {
            node_id: self.me.name.clone(),
            addr: self.me.addr.clone(),
            role: role_name(metrics.state),
            leader: metrics
                .current_leader
                .and_then(|id| membership.get_node(&id))
                .map(|n| n.name.clone()),
            term: metrics.current_term,
            members: membership.nodes().count(),
            leader_changes: self.metrics.leader_changes.get(),
            replication_lag,
        }
    }
}

/// The highest index a majority of `voters` has replicated.
fn quorum_index(
    replication: &BTreeMap<NodeId, Option<openraft::LogId<NodeId>>>,
    voters: &[NodeId],
) -> Option<u64> {
    let mut matched: Vec<Option<u64>> = voters
        .iter()
        .map(|v| replication.get(v).cloned().flatten().map(|l| l.index))
        .collect();
    if matched.is_empty() {
        return None;
    }
    matched.sort_unstable_by(|a, b| b.cmp(a));
    matched[voters.len() / 2]
}
