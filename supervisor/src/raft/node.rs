//! This node's place in the cluster: starting Raft over the sled stores,
//! forming the cluster (`--peers`) or joining one (`--join`), adding
//! members on the leader, and stopping.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, InitializeError, RaftError};
use openraft::{Raft, ServerState};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::log_store::LogStore;
use super::network::HttpNetwork;
use super::state_machine::StateMachine;
use super::types::{node_id_of, ClusterNode, NodeId, TypeConfig};

/// Longest wait between two attempts to join.
const JOIN_BACKOFF_MAX: Duration = Duration::from_secs(5);

/// How this node takes part, from the flags.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    /// This node (`--node-id`, `--advertise-addr`).
    pub me: ClusterNode,
    /// The other founding members (`--peers`).
    pub peers: Vec<ClusterNode>,
    /// A member to ask for admission (`--join`).
    pub join: Option<String>,
}

/// Why the cluster could not start or a member could not be added.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot open the Raft stores: {0}")]
    Store(#[from] sled::Error),
    #[error("invalid Raft configuration: {0}")]
    Config(#[from] openraft::ConfigError),
    #[error("Raft failed: {0}")]
    Fatal(String),
    #[error("node id {name:?} maps to Raft id {id}, which member {other:?} already has")]
    IdCollision {
        name: String,
        id: NodeId,
        other: String,
    },
    #[error("membership change refused: {0}")]
    Membership(String),
}

/// What a successful join answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Joined {
    /// The member that was added (or already was one).
    pub node_id: String,
    /// The leader that added it.
    pub leader: String,
    /// Members after the change, by name.
    pub members: Vec<String>,
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
}

/// The name of a Raft role, as the status pages show it.
pub fn role_name(state: ServerState) -> &'static str {
    match state {
        ServerState::Leader => "leader",
        ServerState::Follower => "follower",
        ServerState::Candidate => "candidate",
        ServerState::Learner => "learner",
        ServerState::Shutdown => "shutdown",
    }
}

/// The running Raft node of this process.
pub struct ClusterNodeHandle {
    /// The Raft instance.
    pub raft: Raft<TypeConfig>,
    /// This node's Raft id.
    pub id: NodeId,
    /// This node's name and cluster address.
    pub me: ClusterNode,
    /// Client for forwarding to the leader.
    pub client: reqwest::Client,
}

impl ClusterNodeHandle {
    /// Starts Raft on `db`'s Raft trees; forms the cluster when `peers`
    /// are given (first start only) and keeps asking `join` for admission
    /// in the background until it is a member or `shutdown` fires.
    pub async fn start(
        settings: ClusterSettings,
        db: &sled::Db,
        shutdown: CancellationToken,
    ) -> Result<Arc<Self>, ClusterError> {
        let config = openraft::Config {
            cluster_name: "mcp-v8".into(),
            heartbeat_interval: 200,
            election_timeout_min: 1000,
            election_timeout_max: 2000,
            ..Default::default()
        }
        .validate()?;
        let id = node_id_of(&settings.me.name);
        let log = LogStore::open(db)?;
        let sm = StateMachine::open(db)?;
        let raft = Raft::new(id, Arc::new(config), HttpNetwork::default(), log, sm)
            .await
            .map_err(|e| ClusterError::Fatal(e.to_string()))?;
        let node = Arc::new(ClusterNodeHandle {
            raft,
            id,
            me: settings.me.clone(),
            client: reqwest::Client::new(),
        });
        if settings.join.is_none() && !settings.peers.is_empty() {
            node.form(&settings.peers).await?;
        }
        if let Some(contact) = settings.join {
            let joining = node.clone();
            let stop = shutdown.clone();
            tokio::spawn(async move { joining.keep_joining(contact, stop).await });
        }
        tokio::spawn(log_leadership(node.clone(), shutdown));
        Ok(node)
    }

    /// Initialises the cluster with this node and `peers` as voters, unless
    /// this node already belongs to one (a restart).
    async fn form(&self, peers: &[ClusterNode]) -> Result<(), ClusterError> {
        let mut members = BTreeMap::new();
        for node in std::iter::once(&self.me).chain(peers) {
            let id = node_id_of(&node.name);
            if let Some(other) = members.insert(id, node.clone()) {
                return Err(ClusterError::IdCollision {
                    name: node.name.clone(),
                    id,
                    other: other.name,
                });
            }
        }
        match self.raft.initialize(members).await {
            Ok(()) => {
                tracing::info!(members = peers.len() + 1, "cluster formed");
                Ok(())
            }
            Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {
                tracing::info!("cluster already formed; resuming");
                Ok(())
            }
            Err(e) => Err(ClusterError::Fatal(e.to_string())),
        }
    }

    /// Asks `contact` to add this node until it answers yes.
    async fn keep_joining(&self, contact: String, shutdown: CancellationToken) {
        let url = format!("http://{contact}/raft/join");
        let body = serde_json::json!({ "node_id": self.me.name, "addr": self.me.addr });
        let mut backoff = Duration::from_millis(200);
        loop {
            let sent = self.client.post(&url).json(&body).send().await;
            match sent {
                Ok(r) if r.status().is_success() => {
                    tracing::info!(%contact, "joined the cluster");
                    return;
                }
                Ok(r) if r.status().is_client_error() => {
                    // A bad name or an id collision: retrying cannot help.
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    tracing::error!(%contact, %status, %text, "join refused; not retrying");
                    return;
                }
                Ok(r) => {
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    tracing::warn!(%contact, %status, %text, "join not possible yet; retrying");
                }
                Err(e) => {
                    tracing::warn!(%contact, error = %e, "cannot reach the cluster; retrying")
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(JOIN_BACKOFF_MAX);
        }
    }

    /// The current leader's id and node, if one is known.
    pub fn leader(&self) -> Option<(NodeId, ClusterNode)> {
        let metrics = self.raft.metrics().borrow().clone();
        let leader = metrics.current_leader?;
        let node = metrics
            .membership_config
            .membership()
            .get_node(&leader)?
            .clone();
        Some((leader, node))
    }

    /// This node's view of the cluster, for `/api/status`.
    pub fn summary(&self) -> ClusterSummary {
        let metrics = self.raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
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
        }
    }

    /// Whether this node is the leader right now.
    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().state == ServerState::Leader
    }

    /// On the leader: makes `node` a voter (first a learner that catches
    /// up, then a member). Adding a member twice is a no-op.
    pub async fn add_member(&self, node: ClusterNode) -> Result<Joined, ClusterError> {
        let id = node_id_of(&node.name);
        let membership = self.raft.metrics().borrow().membership_config.clone();
        let current = membership.membership();
        if let Some(existing) = current.get_node(&id) {
            if existing.name != node.name {
                return Err(ClusterError::IdCollision {
                    name: node.name,
                    id,
                    other: existing.name.clone(),
                });
            }
        }
        let mut voters: BTreeSet<NodeId> = current.voter_ids().collect();
        if !voters.contains(&id) {
            self.raft
                .add_learner(id, node.clone(), true)
                .await
                .map_err(membership_error)?;
            voters.insert(id);
            self.raft
                .change_membership(voters, false)
                .await
                .map_err(membership_error)?;
            tracing::info!(member = %node, "member added");
        }
        let after = self.raft.metrics().borrow().membership_config.clone();
        Ok(Joined {
            node_id: node.name,
            leader: self.me.name.clone(),
            members: after
                .membership()
                .nodes()
                .map(|(_, n)| n.name.clone())
                .collect(),
        })
    }

    /// Stops Raft (after the cluster server stopped).
    pub async fn stop(&self) {
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "Raft did not stop cleanly");
        }
    }
}

/// Logs every change of this node's role or of the leader it knows (the
/// operator's view of elections; openraft's own logs are kept at `warn`).
async fn log_leadership(node: Arc<ClusterNodeHandle>, shutdown: CancellationToken) {
    let mut metrics = node.raft.metrics();
    let mut last = None;
    loop {
        let now = {
            let m = metrics.borrow_and_update();
            (m.state, m.current_leader, m.current_term)
        };
        if last.map(|(state, leader, _)| (state, leader)) != Some((now.0, now.1)) {
            let leader = node.leader().map(|(_, n)| n.name);
            tracing::info!(role = ?now.0, leader = ?leader, term = now.2, "cluster role");
            last = Some(now);
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            changed = metrics.changed() => if changed.is_err() { return },
        }
    }
}

fn membership_error(e: RaftError<NodeId, ClientWriteError<NodeId, ClusterNode>>) -> ClusterError {
    ClusterError::Membership(e.to_string())
}
