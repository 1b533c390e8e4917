//! Sending a session run or a session delete to the leader, which owns
//! every session's turn.
//!
//! A job is re-sent only when it certainly did not run: the connection to
//! the leader could not be made, or the node answered `not_leader` (it
//! refuses before running anything). Any other failure after the job was
//! sent is 502 `leader_unreachable` and the job is not retried: it may have
//! run, and runs are never executed twice behind the client's back. The
//! leader's own error answers are relayed as they are.

use std::sync::atomic::Ordering;

use super::replica::ClusterReplica;
use super::{no_leader, relayed, MAX_ATTEMPTS, RETRY_PAUSE};
use crate::exec::{ClusterRefusal, Deleted, ExecJob, ExecReport, ExecServiceError};
use crate::raft::types::ClusterNode;
use crate::store::SessionName;

/// What one attempt to reach the leader gave.
enum Sent {
    /// The leader answered 200.
    Answered(reqwest::Response),
    /// This node is the leader now: run it here.
    Here,
    /// Certainly not delivered, or refused before running: try again.
    Again,
}

impl ClusterReplica {
    /// Sends one request to the current leader, retrying only while it
    /// certainly did not run.
    async fn to_leader(
        &self,
        kind: &'static str,
        build: impl Fn(&ClusterNode) -> reqwest::RequestBuilder,
    ) -> Result<Option<reqwest::Response>, ClusterRefusal> {
        for _ in 0..MAX_ATTEMPTS {
            let sent = match self.leader().await {
                None => Sent::Again,
                Some((id, _)) if id == self.node.id => Sent::Here,
                Some((_, leader)) => {
                    self.metrics.forwarded(kind);
                    self.stats.forwarded.fetch_add(1, Ordering::Relaxed);
                    match build(&leader).send().await {
                        Ok(r) if r.status().is_success() => Sent::Answered(r),
                        Ok(r) => {
                            let refusal = relayed(r).await;
                            if refusal.code != "not_leader" {
                                return Err(refusal);
                            }
                            Sent::Again
                        }
                        Err(e) if e.is_connect() => Sent::Again,
                        Err(e) => {
                            return Err(ClusterRefusal {
                                status: 502,
                                code: "leader_unreachable".into(),
                                message: format!(
                                    "the leader {leader} did not answer ({e}); the {kind} may or \
                                     may not have happened: read the session to find out"
                                ),
                                retry_after: None,
                            })
                        }
                    }
                }
            };
            match sent {
                Sent::Answered(response) => return Ok(Some(response)),
                Sent::Here => return Ok(None),
                Sent::Again => tokio::time::sleep(RETRY_PAUSE).await,
            }
        }
        Err(no_leader())
    }

    /// Runs a session job on the leader; `None` if this node is the leader.
    pub(super) async fn forward_job(
        &self,
        job: ExecJob,
    ) -> Result<Option<ExecReport>, ExecServiceError> {
        let deadline = self.run_deadline;
        let response = self
            .to_leader("run", |leader| {
                self.request(reqwest::Method::POST, leader, "/cluster/exec")
                    .timeout(deadline)
                    .json(&job)
            })
            .await?;
        let Some(response) = response else {
            return Ok(None);
        };
        let report = response
            .json::<ExecReport>()
            .await
            .map_err(|e| ClusterRefusal {
                status: 502,
                code: "bad_leader_answer".into(),
                message: format!("the leader's report does not decode: {e}"),
                retry_after: None,
            })?;
        Ok(Some(report))
    }

    /// Deletes a session on the leader; `None` if this node is the leader.
    pub(super) async fn forward_delete_to_leader(
        &self,
        name: SessionName,
    ) -> Result<Option<Deleted>, ExecServiceError> {
        let path = format!("/cluster/delete/{name}");
        let response = self
            .to_leader("delete", |leader| {
                self.request(reqwest::Method::POST, leader, &path)
                    .timeout(self.run_deadline)
            })
            .await?;
        let Some(response) = response else {
            return Ok(None);
        };
        Ok(Some(Deleted {
            deleted: response
                .json::<serde_json::Value>()
                .await
                .ok()
                .and_then(|v| v["deleted"].as_str().map(str::to_owned))
                .unwrap_or_else(|| name.to_string()),
        }))
    }
}
