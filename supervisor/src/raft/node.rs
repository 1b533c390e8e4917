//! This node's place in the cluster: starting Raft over the sled stores,
//! forming the cluster (`--peers`) or joining one (`--join`), its identity
//! (`meta`) and credentials (`peer`), and stopping. Membership changes are
//! in `membership.rs`, the status documents in `status.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{InitializeError, RaftError};
use openraft::{Raft, ServerState};
use tokio_util::sync::CancellationToken;

use super::auth::{AuthState, ClusterSecret};
use super::log_store::LogStore;
use super::membership::Joined;
use super::meta::{ClusterMeta, MetaError};
use super::network::HttpNetwork;
use super::peer::PeerClient;
use super::prevote::LeaderContact;
use super::rpc_codec::MAX_PAYLOAD_ENTRIES;
pub use super::rpc_codec::SNAPSHOT_CHUNK_BYTES;
use super::state_machine::StateMachine;
use super::types::{node_id_of, ClusterNode, NodeId, TypeConfig};
use crate::metrics::ClusterMetrics;

/// Longest wait between two attempts to join.
const JOIN_BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How long one join request may take (the leader waits up to 10 s for
/// the new member to catch up, maybe behind another member's join).
pub const JOIN_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Raft timing, in milliseconds. A voter that stops hearing the leader
/// asks for a pre-vote after the leader lease (`ELECTION_MAX_MS`) plus a
/// random part of `ELECTION_MIN_MS` (`prevote.rs`), and starts an election
/// only if a majority no longer hears a leader either, so a stalled peer
/// cannot unseat a live one. Appends must answer within one heartbeat.
pub const HEARTBEAT_MS: u64 = 50;
/// Lower bound of the election timeout.
pub const ELECTION_MIN_MS: u64 = 120;
/// Upper bound of the election timeout, and the leader lease.
pub const ELECTION_MAX_MS: u64 = 240;

/// Raft's timers, in milliseconds (the defaults are the constants above).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaftTiming {
    /// Heartbeat interval, also the bound on one append RPC.
    pub heartbeat_ms: u64,
    /// Election timeout, lower bound.
    pub election_min_ms: u64,
    /// Election timeout, upper bound; also the leader lease.
    pub election_max_ms: u64,
}

impl Default for RaftTiming {
    fn default() -> Self {
        RaftTiming {
            heartbeat_ms: HEARTBEAT_MS,
            election_min_ms: ELECTION_MIN_MS,
            election_max_ms: ELECTION_MAX_MS,
        }
    }
}

/// How this node takes part, from the flags.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    /// This node (`--node-id`, `--advertise-addr`); its incarnation is
    /// filled in from the database at start.
    pub me: ClusterNode,
    /// The other founding members (`--peers`).
    pub peers: Vec<ClusterNode>,
    /// A member to ask for admission (`--join`).
    pub join: Option<String>,
    /// The cluster port's secret (`--cluster-secret-file`, ...).
    pub secret: Option<ClusterSecret>,
    /// Raft's timers.
    pub timing: RaftTiming,
    /// Log entries between two snapshots, and kept behind one on purge.
    pub snapshot_logs: u64,
    /// Bytes of one snapshot chunk sent to a member (at most
    /// `SNAPSHOT_CHUNK_BYTES`, which fits the route's body limit).
    pub snapshot_chunk_bytes: u64,
}

impl ClusterSettings {
    /// The settings of the flags in `config`, with the default timers.
    pub fn from_config(config: &crate::config::ClusterConfig) -> Self {
        ClusterSettings {
            me: ClusterNode::new(&config.node_id, &config.advertise_addr),
            peers: config
                .peers
                .iter()
                .map(|(name, addr)| ClusterNode::new(name, addr))
                .collect(),
            join: config.join.clone(),
            secret: config
                .secret
                .as_ref()
                .and_then(|s| ClusterSecret::new(&s.0)),
            timing: RaftTiming::default(),
            snapshot_logs: config.snapshot_logs,
            snapshot_chunk_bytes: SNAPSHOT_CHUNK_BYTES,
        }
    }
}

/// Why the cluster could not start or a membership change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot open the Raft stores: {0}")]
    Store(#[from] sled::Error),
    #[error("invalid Raft configuration: {0}")]
    Config(#[from] openraft::ConfigError),
    #[error(transparent)]
    Meta(#[from] MetaError),
    #[error("Raft failed: {0}")]
    Fatal(String),
    #[error("node id {name:?} maps to Raft id {id}, which member {other:?} already has")]
    IdCollision {
        name: String,
        id: NodeId,
        other: String,
    },
    #[error(
        "member {name:?} is another incarnation (a wiped or duplicate node); remove it first \
         (DELETE /raft/members/{name}) if it was wiped"
    )]
    IncarnationMismatch { name: String },
    #[error(
        "the name {name:?} belongs to the member at {addr}; every node needs its own --node-id"
    )]
    NameInUse { name: String, addr: String },
    #[error("{name:?} is not a member")]
    NotMember { name: String },
    #[error(
        "{member} did not replicate the log within 10 s; it stays a learner until it does, then \
         the leader makes it a voter (is it running and reachable from the leader?)"
    )]
    JoinTimeout { member: String },
    #[error("membership change refused: {0}")]
    Membership(String),
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
    /// This node's name, cluster address and incarnation.
    pub me: ClusterNode,
    /// The plain HTTP client under [`ClusterNodeHandle::peer_request`]
    /// (use that to call peers: it adds the credentials).
    pub client: reqwest::Client,
    /// Builds requests to peers with the credentials.
    pub peers: PeerClient,
    /// This node's incarnation and cluster id.
    pub meta: Arc<ClusterMeta>,
    /// The cluster port's secret, if any.
    pub secret: Option<ClusterSecret>,
    /// The `mcp_v8_cluster_*` metrics.
    pub metrics: ClusterMetrics,
    /// Serialises membership changes on this node (when it leads).
    pub(super) membership_lock: tokio::sync::Mutex<()>,
    /// Raft's timers (the election timer is `prevote.rs`'s).
    pub(super) timing: RaftTiming,
    /// A read handle on this node's log (its last id, for pre-votes).
    pub(super) log: LogStore,
    /// When this node last heard from a leader.
    pub contact: LeaderContact,
}

impl ClusterNodeHandle {
    /// Starts Raft on `db`'s Raft trees; forms the cluster when `peers`
    /// are given (first start only) and keeps asking `join` for admission
    /// in the background until it is a member or `shutdown` fires.
    pub async fn start(
        settings: ClusterSettings,
        db: &sled::Db,
        metrics: ClusterMetrics,
        shutdown: CancellationToken,
    ) -> Result<Arc<Self>, ClusterError> {
        let config = openraft::Config {
            cluster_name: "mcp-v8".into(),
            heartbeat_interval: settings.timing.heartbeat_ms,
            election_timeout_min: settings.timing.election_min_ms,
            election_timeout_max: settings.timing.election_max_ms,
            snapshot_max_chunk_size: settings.snapshot_chunk_bytes.min(SNAPSHOT_CHUNK_BYTES),
            max_payload_entries: MAX_PAYLOAD_ENTRIES,
            install_snapshot_timeout: 10_000,
            // Elections start from `prevote.rs`, after a pre-vote.
            enable_elect: false,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(settings.snapshot_logs),
            max_in_snapshot_log_to_keep: settings.snapshot_logs,
            ..Default::default()
        }
        .validate()?;
        let id = node_id_of(&settings.me.name);
        let meta = Arc::new(ClusterMeta::open(db)?);
        let mut me = settings.me.clone();
        me.incarnation = meta.incarnation().to_string();
        let peers = PeerClient::new(settings.secret.clone(), meta.clone());
        let log = LogStore::open(db)?;
        let log_reader = log.clone();
        let sm = StateMachine::open(db)?;
        let network = HttpNetwork::new(peers.clone());
        let raft = Raft::new(id, Arc::new(config), network, log, sm)
            .await
            .map_err(|e| ClusterError::Fatal(e.to_string()))?;
        let node = Arc::new(ClusterNodeHandle {
            raft,
            id,
            me,
            client: peers.client.clone(),
            peers,
            meta,
            secret: settings.secret.clone(),
            metrics,
            membership_lock: tokio::sync::Mutex::new(()),
            timing: settings.timing,
            log: log_reader,
            contact: LeaderContact::default(),
        });
        if settings.join.is_none() && !settings.peers.is_empty() {
            node.form(&settings.peers).await?;
        }
        if let Some(contact) = settings.join {
            let joining = node.clone();
            let stop = shutdown.clone();
            tokio::spawn(async move { joining.keep_joining(contact, stop).await });
        }
        tokio::spawn(super::membership::promote_learners(
            node.clone(),
            shutdown.clone(),
        ));
        tokio::spawn(super::prevote::drive_elections(
            node.clone(),
            shutdown.clone(),
        ));
        tokio::spawn(super::observe::watch_leadership(node.clone(), shutdown));
        Ok(node)
    }

    /// A request to `path` on the cluster port of `node`, carrying the
    /// cluster secret, the cluster id and the incarnation `node` must
    /// have. Every call to a peer goes through here.
    pub fn peer_request(
        &self,
        method: reqwest::Method,
        node: &ClusterNode,
        path: &str,
    ) -> reqwest::RequestBuilder {
        self.peers.request_on(&self.client, method, node, path)
    }

    /// What the cluster port's [`super::auth::auth_layer`] checks against.
    pub fn auth_state(&self) -> AuthState {
        AuthState {
            secret: self.secret.clone(),
            meta: self.meta.clone(),
        }
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
        let body = serde_json::json!({
            "node_id": self.me.name,
            "addr": self.me.addr,
            "incarnation": self.me.incarnation,
        });
        let mut backoff = Duration::from_millis(200);
        loop {
            let sent = self
                .peers
                .to_addr(reqwest::Method::POST, &contact, "/raft/join")
                .timeout(JOIN_REQUEST_TIMEOUT)
                .json(&body)
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => {
                    let joined: Option<Joined> = r.json().await.ok();
                    let cluster_id = joined.and_then(|j| j.cluster_id);
                    if let Some(id) = cluster_id {
                        if let Err(e) = self.meta.adopt(&id) {
                            tracing::error!(%contact, error = %e, "joined another cluster");
                            return;
                        }
                    }
                    tracing::info!(%contact, "joined the cluster");
                    return;
                }
                Ok(r) if r.status().is_client_error() => {
                    // A bad name, an id collision, another incarnation,
                    // a wrong secret: retrying cannot help.
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

    /// Whether this node is the leader right now.
    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().state == ServerState::Leader
    }

    /// Stops Raft (after the cluster server stopped).
    pub async fn stop(&self) {
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "Raft did not stop cleanly");
        }
    }
}
