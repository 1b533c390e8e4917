//! Elections with a pre-vote, so that a peer that stalled cannot unseat a
//! live leader.
//!
//! openraft 0.9 campaigns as soon as a follower's timer runs out. A
//! follower that was frozen (`SIGSTOP`, a long GC or VM pause) wakes up
//! with its timer long past due, campaigns with a higher term, and the
//! leader steps down when it sees that term, although every other member
//! still followed it. So openraft's own timer is off (`enable_elect:
//! false`) and this module decides when to campaign:
//!
//! - every member notes when it last heard from a leader (an append or a
//!   snapshot chunk that was not refused for its term: [`LeaderContact`]);
//! - a voter that has not heard from one for the leader lease plus a random
//!   part of the election timeout asks the other voters first
//!   (`POST /raft/prevote`): each grants only if it has not heard from a
//!   leader for a whole lease itself, is not the leader, and the asker's
//!   log is at least as new as its own;
//! - with a majority of grants (itself included) it starts the election
//!   (`trigger().elect()`); otherwise it waits for another random timeout.
//!
//! A pre-vote changes no state, so a refused one costs nothing; the real
//! vote that follows keeps all of Raft's rules.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use openraft::{LogId, ServerState};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::node::ClusterNodeHandle;
use super::rpc_codec;
use super::types::NodeId;

/// How often the election timer is checked.
const TICK: Duration = Duration::from_millis(10);

/// When this node last heard from a leader, in milliseconds since it
/// started (0: never).
#[derive(Debug)]
pub struct LeaderContact {
    started: Instant,
    last_ms: AtomicU64,
}

impl Default for LeaderContact {
    fn default() -> Self {
        LeaderContact {
            started: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }
}

impl LeaderContact {
    /// Notes that a leader was heard from now.
    pub fn touch(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(now, Ordering::Relaxed);
    }

    /// How long ago a leader was heard from (since start if never).
    pub fn silence(&self) -> Duration {
        let now = self.started.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// `POST /raft/prevote` body: would you vote for me?
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PreVoteRequest {
    /// The asking node.
    pub candidate: NodeId,
    /// The asker's last log id.
    pub last_log_id: Option<LogId<NodeId>>,
}

/// `POST /raft/prevote` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PreVoteResponse {
    /// Whether this member would vote for the asker now.
    pub granted: bool,
}

impl ClusterNodeHandle {
    /// Answers a pre-vote (see the module).
    pub fn pre_vote(&self, req: &PreVoteRequest) -> PreVoteResponse {
        let lease = Duration::from_millis(self.timing.election_max_ms);
        let leading = self.raft.metrics().borrow().state == ServerState::Leader;
        let mine = self.log.last_log_id().ok().flatten();
        let granted = !leading && self.contact.silence() >= lease && req.last_log_id >= mine;
        tracing::debug!(candidate = req.candidate, granted, "pre-vote");
        PreVoteResponse { granted }
    }

    /// Asks the other voters for a pre-vote; whether a majority (this node
    /// included) granted it.
    async fn won_pre_vote(&self) -> bool {
        let metrics = self.raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership().clone();
        let voters: Vec<NodeId> = membership.voter_ids().collect();
        let Some(body) = self
            .log
            .last_log_id()
            .ok()
            .map(|last_log_id| PreVoteRequest {
                candidate: self.id,
                last_log_id,
            })
            .and_then(|req| rpc_codec::encode(&req).ok())
        else {
            return false;
        };
        let needed = voters.len() / 2 + 1;
        let mut granted = 1;
        let wait = Duration::from_millis(self.timing.heartbeat_ms * 2);
        let mut asks: FuturesUnordered<_> = voters
            .iter()
            .filter(|id| **id != self.id)
            .filter_map(|id| membership.get_node(id))
            .map(|node| {
                let request = self
                    .peer_request(reqwest::Method::POST, node, "/raft/prevote")
                    .header(reqwest::header::CONTENT_TYPE, rpc_codec::CONTENT_TYPE)
                    .timeout(wait)
                    .body(body.clone());
                async move {
                    let response = request.send().await.ok()?;
                    let bytes = response.bytes().await.ok()?;
                    rpc_codec::decode::<PreVoteResponse>(&bytes).ok()
                }
            })
            .collect();
        while granted < needed {
            match asks.next().await {
                Some(Some(PreVoteResponse { granted: true })) => granted += 1,
                Some(_) => {}
                None => break,
            }
        }
        granted >= needed
    }
}

/// A random election timeout: the leader lease plus a random part of the
/// election timeout's lower bound (so that a voter's lease has expired
/// when the pre-vote reaches it).
fn random_timeout(node: &ClusterNodeHandle) -> Duration {
    let mut bytes = [0u8; 8];
    let spread = node.timing.election_min_ms.max(1);
    let extra = match getrandom::fill(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes) % spread,
        Err(_) => spread / 2,
    };
    Duration::from_millis(node.timing.election_max_ms + spread / 6 + extra)
}

/// The election timer of `node`, until `shutdown`.
pub(super) async fn drive_elections(node: Arc<ClusterNodeHandle>, shutdown: CancellationToken) {
    let mut timeout = random_timeout(&node);
    let mut next_try = Instant::now();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(TICK) => {}
        }
        let (leading, voter) = {
            let m = node.raft.metrics().borrow().clone();
            let voter = m
                .membership_config
                .membership()
                .voter_ids()
                .any(|v| v == node.id);
            (m.state == ServerState::Leader, voter)
        };
        if leading || !voter || node.contact.silence() < timeout || Instant::now() < next_try {
            continue;
        }
        let won = node.won_pre_vote().await;
        timeout = random_timeout(&node);
        next_try = Instant::now() + timeout;
        if won {
            tracing::info!("no leader heard from; pre-vote won, starting an election");
            if node.raft.trigger().elect().await.is_err() {
                return;
            }
        } else {
            tracing::debug!("pre-vote lost; the others still hear a leader or have newer logs");
        }
    }
}
