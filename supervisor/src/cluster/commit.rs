//! Proposing a command through Raft from any node, and the read barrier.
//!
//! On the leader a command goes to `client_write`; elsewhere it is sent to
//! the leader's `/cluster/write` (bincode). Every command is safe to
//! propose twice (a run carries its `run_id`, a heap record is a set
//! union), so a commit whose answer was lost is retried, bounded by
//! [`MAX_ATTEMPTS`](super::MAX_ATTEMPTS); without a leader the answer is
//! 503 `no_leader`.

use std::sync::atomic::Ordering;
use std::time::Instant;

use openraft::error::{ClientWriteError, RaftError};

use super::replica::ClusterReplica;
use super::{no_leader, relayed, MAX_ATTEMPTS, RETRY_PAUSE};
use crate::exec::ClusterRefusal;
use crate::raft::types::{ClusterCommand, ClusterReply};

/// Content type of bincode bodies on the cluster port.
pub const BINCODE: &str = "application/octet-stream";

/// Longest wait for one proposal to commit (a leader cut off from its
/// quorum never answers on its own).
const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Why one attempt did not commit.
enum Attempt {
    /// Worth another try (leader changed, leader unreachable).
    Retry(String),
    /// Final.
    Fail(ClusterRefusal),
}

impl ClusterReplica {
    /// Commits `cmd` and answers what applying it replied.
    pub(super) async fn commit(&self, cmd: ClusterCommand) -> Result<ClusterReply, ClusterRefusal> {
        let started = Instant::now();
        let mut last = String::new();
        for _ in 0..MAX_ATTEMPTS {
            let attempt = match self.leader().await {
                None => Err(Attempt::Retry("no leader".into())),
                Some((id, _)) if id == self.node.id => self.write_here(&cmd).await,
                Some((_, leader)) => self.write_at(&leader, &cmd).await,
            };
            match attempt {
                Ok(reply) => {
                    let elapsed = started.elapsed();
                    self.stats.commits.fetch_add(1, Ordering::Relaxed);
                    self.stats
                        .commit_micros
                        .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
                    self.metrics.commit(elapsed.as_secs_f64());
                    return Ok(reply);
                }
                Err(Attempt::Fail(refusal)) => {
                    self.stats.commit_failures.fetch_add(1, Ordering::Relaxed);
                    return Err(refusal);
                }
                Err(Attempt::Retry(why)) => last = why,
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
        self.stats.commit_failures.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(reason = %last, "commit gave up after {MAX_ATTEMPTS} attempts");
        Err(no_leader())
    }

    /// Proposes on this node, the leader.
    async fn write_here(&self, cmd: &ClusterCommand) -> Result<ClusterReply, Attempt> {
        let proposed = self.node.raft.client_write(cmd.clone());
        let Ok(written) = tokio::time::timeout(WRITE_TIMEOUT, proposed).await else {
            return Err(Attempt::Retry("no quorum answered in time".into()));
        };
        match written {
            Ok(response) => Ok(response.data),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => {
                Err(Attempt::Retry("leadership moved".into()))
            }
            Err(e) => Err(Attempt::Retry(e.to_string())),
        }
    }

    /// Sends the command to the leader's `/cluster/write`.
    async fn write_at(
        &self,
        leader: &crate::raft::types::ClusterNode,
        cmd: &ClusterCommand,
    ) -> Result<ClusterReply, Attempt> {
        self.metrics.forwarded("write");
        self.stats.forwarded.fetch_add(1, Ordering::Relaxed);
        let body = mcp_v8_shared::encode(cmd)
            .map_err(|e| Attempt::Fail(ClusterRefusal::unavailable("encode", e.to_string())))?;
        let sent = self
            .request(reqwest::Method::POST, leader, "/cluster/write")
            .header(reqwest::header::CONTENT_TYPE, BINCODE)
            .timeout(WRITE_TIMEOUT * 2)
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => return Err(Attempt::Retry(format!("leader {leader}: {e}"))),
        };
        if !response.status().is_success() {
            let refusal = relayed(response).await;
            return Err(if refusal.code == "not_leader" || refusal.status >= 500 {
                Attempt::Retry(refusal.message)
            } else {
                Attempt::Fail(refusal)
            });
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| Attempt::Retry(format!("leader {leader}: {e}")))?;
        mcp_v8_shared::decode(&bytes).map_err(|e| {
            Attempt::Fail(ClusterRefusal {
                status: 502,
                code: "bad_leader_answer".into(),
                message: format!("the leader's answer does not decode: {e}"),
                retry_after: None,
            })
        })
    }

    /// Waits until this node applied every write committed before the call.
    pub(super) async fn barrier(&self) -> Result<(), ClusterRefusal> {
        let index = match self.leader().await {
            None => return Err(no_leader()),
            Some((id, _)) if id == self.node.id => {
                return match self.node.raft.ensure_linearizable().await {
                    Ok(_) => Ok(()),
                    Err(e) => Err(ClusterRefusal::unavailable("not_leader", e.to_string())),
                };
            }
            Some((_, leader)) => {
                self.metrics.forwarded("read");
                let sent = self
                    .request(reqwest::Method::GET, &leader, "/cluster/read_index")
                    .timeout(std::time::Duration::from_secs(5))
                    .send()
                    .await
                    .map_err(|e| {
                        ClusterRefusal::unavailable(
                            "leader_unreachable",
                            format!("cannot reach the leader {leader}: {e}"),
                        )
                    })?;
                if !sent.status().is_success() {
                    return Err(relayed(sent).await);
                }
                let body: serde_json::Value = sent.json().await.unwrap_or_default();
                body["index"].as_u64()
            }
        };
        let Some(index) = index else {
            return Ok(());
        };
        self.node
            .raft
            .wait(Some(std::time::Duration::from_secs(5)))
            .applied_index_at_least(Some(index), "read barrier")
            .await
            .map(drop)
            .map_err(|_| {
                ClusterRefusal::unavailable(
                    "read_timeout",
                    "this node did not catch up with the leader in time",
                )
            })
    }
}
