//! Membership changes, made on the leader one at a time (under one lock):
//! a join adds the node as a learner, waits (bounded) until it has
//! replicated the log, and only then makes it a voter, with
//! `ChangeMembers::AddVoterIds` so that concurrent changes never drop one
//! another's voters; a leave removes a voter or a learner. A learner whose
//! join timed out (its node was not running yet) is made a voter by the
//! leader once it has replicated the log ([`promote_learners`]).
//!
//! Names, Raft ids and incarnations are checked first: a name whose Raft
//! id another member has, or that a member with another incarnation (or,
//! without a matching incarnation, at another address) already holds, is
//! refused, so a duplicate `--node-id` or a wiped node never takes a
//! member's place.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use openraft::{ChangeMembers, ServerState};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::node::{ClusterError, ClusterNodeHandle};
use super::types::{node_id_of, ClusterNode, NodeId};

/// How long the leader waits for a new learner to replicate the log.
pub const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the leader looks for learners to promote.
const PROMOTE_EVERY: Duration = Duration::from_secs(1);

/// What a successful join answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Joined {
    /// The member that was added (or already was one).
    pub node_id: String,
    /// The leader that added it.
    pub leader: String,
    /// Members after the change, by name.
    pub members: Vec<String>,
    /// The cluster's id, for the new member to record.
    #[serde(default)]
    pub cluster_id: Option<String>,
}

/// What a successful leave answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Left {
    /// The member that was removed.
    pub node_id: String,
    /// Whether it was a voter (else a learner).
    pub was_voter: bool,
    /// Members after the change, by name.
    pub members: Vec<String>,
}

fn membership_error(e: RaftError<NodeId, ClientWriteError<NodeId, ClusterNode>>) -> ClusterError {
    ClusterError::Membership(e.to_string())
}

impl ClusterNodeHandle {
    /// On the leader: makes `node` a voter once it has replicated the log
    /// (see the module). Joining again is a no-op for a voter and a retry
    /// of the promotion for a learner.
    pub async fn add_member(&self, node: ClusterNode) -> Result<Joined, ClusterError> {
        let _serial = self.membership_lock.lock().await;
        let id = node_id_of(&node.name);
        let current = self.raft.metrics().borrow().membership_config.clone();
        let membership = current.membership();
        let existing = membership.get_node(&id).cloned();
        let update = match &existing {
            None => None,
            Some(old) => self.check_rejoin(old, &node, id)?,
        };
        let is_voter = membership.voter_ids().any(|v| v == id);
        if existing.is_none() {
            self.raft
                .add_learner(id, node.clone(), false)
                .await
                .map_err(membership_error)?;
            tracing::info!(member = %node, "learner added");
        } else if let Some(updated) = update {
            self.raft
                .change_membership(
                    ChangeMembers::SetNodes(BTreeMap::from([(id, updated.clone())])),
                    false,
                )
                .await
                .map_err(membership_error)?;
            tracing::info!(member = %updated, "member's address or incarnation recorded");
        }
        if !is_voter {
            self.wait_caught_up(id, &node).await?;
            self.raft
                .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
                .await
                .map_err(membership_error)?;
            tracing::info!(member = %node, "member added as a voter");
        }
        Ok(Joined {
            node_id: node.name,
            leader: self.me.name.clone(),
            members: self.member_names(),
            cluster_id: Some(self.meta.ensure_cluster_id()?),
        })
    }

    /// Whether `node` may join as the member `old` already holding its
    /// Raft id; `Some` with the record to store if it must be updated.
    fn check_rejoin(
        &self,
        old: &ClusterNode,
        node: &ClusterNode,
        id: NodeId,
    ) -> Result<Option<ClusterNode>, ClusterError> {
        if old.name != node.name {
            return Err(ClusterError::IdCollision {
                name: node.name.clone(),
                id,
                other: old.name.clone(),
            });
        }
        let both_bound = !old.incarnation.is_empty() && !node.incarnation.is_empty();
        if both_bound && old.incarnation != node.incarnation {
            return Err(ClusterError::IncarnationMismatch {
                name: node.name.clone(),
            });
        }
        let same_node = both_bound && old.incarnation == node.incarnation;
        if old.addr != node.addr && !same_node {
            return Err(ClusterError::NameInUse {
                name: node.name.clone(),
                addr: old.addr.clone(),
            });
        }
        let binds = old.incarnation.is_empty() && !node.incarnation.is_empty();
        Ok((binds || old.addr != node.addr).then(|| node.clone()))
    }

    /// Waits until the leader has replicated its whole log (as it is now)
    /// to the learner `id`, at most [`CATCH_UP_TIMEOUT`].
    async fn wait_caught_up(&self, id: NodeId, node: &ClusterNode) -> Result<(), ClusterError> {
        let target = self.raft.metrics().borrow().last_log_index;
        let caught_up = self
            .raft
            .wait(Some(CATCH_UP_TIMEOUT))
            .metrics(
                |m| {
                    let matched = m
                        .replication
                        .as_ref()
                        .and_then(|r| r.get(&id).cloned().flatten());
                    matched.map(|l| l.index) >= target
                },
                "the learner replicated the log",
            )
            .await;
        caught_up
            .map(|_| ())
            .map_err(|_| ClusterError::JoinTimeout {
                member: node.to_string(),
            })
    }

    /// On the leader: removes the member `name` (a voter or a learner).
    pub async fn remove_member(&self, name: &str) -> Result<Left, ClusterError> {
        let _serial = self.membership_lock.lock().await;
        let id = node_id_of(name);
        let current = self.raft.metrics().borrow().membership_config.clone();
        let membership = current.membership();
        match membership.get_node(&id) {
            Some(node) if node.name == name => {}
            _ => {
                return Err(ClusterError::NotMember {
                    name: name.to_string(),
                })
            }
        }
        let was_voter = membership.voter_ids().any(|v| v == id);
        let change = if was_voter {
            ChangeMembers::RemoveVoters(BTreeSet::from([id]))
        } else {
            ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        };
        self.raft
            .change_membership(change, false)
            .await
            .map_err(membership_error)?;
        tracing::info!(member = name, was_voter, "member removed");
        Ok(Left {
            node_id: name.to_string(),
            was_voter,
            members: self.member_names(),
        })
    }

    /// On the leader: makes a voter of every learner that has replicated
    /// the whole log. Every learner is a node that asked to join (there is
    /// no other way to add one), so one that catches up after its join
    /// timed out is promoted as its join would have.
    async fn promote_caught_up(&self) -> Result<(), ClusterError> {
        let ready = |m: &openraft::RaftMetrics<NodeId, ClusterNode>| -> BTreeSet<NodeId> {
            let (Some(replication), ServerState::Leader) = (&m.replication, m.state) else {
                return BTreeSet::new();
            };
            let membership = m.membership_config.membership();
            let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
            membership
                .nodes()
                .map(|(id, _)| *id)
                .filter(|id| !voters.contains(id))
                .filter(|id| {
                    let matched = replication.get(id).cloned().flatten();
                    matched.is_some() && matched.map(|l| l.index) >= m.last_log_index
                })
                .collect()
        };
        if ready(&self.raft.metrics().borrow()).is_empty() {
            return Ok(());
        }
        let _serial = self.membership_lock.lock().await;
        let learners = ready(&self.raft.metrics().borrow());
        if learners.is_empty() {
            return Ok(());
        }
        self.raft
            .change_membership(ChangeMembers::AddVoterIds(learners.clone()), false)
            .await
            .map_err(membership_error)?;
        let membership = self.raft.metrics().borrow().membership_config.clone();
        for id in learners {
            if let Some(node) = membership.membership().get_node(&id) {
                tracing::info!(member = %node, "learner caught up; member added as a voter");
            }
        }
        Ok(())
    }

    /// The names of the members (voters and learners) this node knows.
    pub fn member_names(&self) -> Vec<String> {
        let current = self.raft.metrics().borrow().membership_config.clone();
        current
            .membership()
            .nodes()
            .map(|(_, n)| n.name.clone())
            .collect()
    }
}

/// Promotes caught-up learners on the leader until `shutdown`.
pub(super) async fn promote_learners(node: Arc<ClusterNodeHandle>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(PROMOTE_EVERY) => {}
        }
        if let Err(e) = node.promote_caught_up().await {
            tracing::warn!(error = %e, "cannot promote a learner");
        }
    }
}
