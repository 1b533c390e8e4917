//! Keeping every referenced heap on two voters.
//!
//! A run is acknowledged once its heap is durable on two nodes, and the
//! replicated state records those two as the heap's holders. When a holder
//! leaves the voters (`DELETE /raft/members/{id}`), the heaps it held have
//! one copy the cluster counts on. A *replication pass* finds them: the
//! heaps the replicated session histories reference whose recorded holders
//! include fewer than two current voters (fewer than all of them in a
//! cluster of one voter). Their number is `under_replicated_heaps` in
//! `/api/status` and `mcp_v8_cluster_under_replicated_heaps` in `/metrics`.
//!
//! On the leader the pass also repairs them, a batch at a time: it takes
//! the heap from its own store (or fetches it from a holder, verified, and
//! stores it), copies it to the other voters the way a new heap is copied,
//! and records the new holders through Raft. A member that is down but
//! still a voter keeps counting as a holder: its disk may come back; remove
//! it to have its heaps copied elsewhere.
//!
//! Passes run every [`PASS_INTERVAL`] and right after this node's
//! membership or role changes, on the blocking pool for the scan.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use openraft::ServerState;
use serde::Serialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::replica::ClusterReplica;
use crate::exec::ClusterRefusal;
use crate::raft::types::{ClusterCommand, ClusterReply};
use crate::store::{HeapError, HeapHash, StoreError};

/// Time between two passes when nothing changes. A pass reads every
/// session's history, so it is not frequent; membership and role changes,
/// the events that make heaps under-replicated, start one at once.
pub const PASS_INTERVAL: Duration = Duration::from_secs(60);

/// Most heaps one pass copies (the rest wait for the next pass).
const REPAIR_BATCH: usize = 64;

/// What the last pass found and did, for `/api/status`.
#[derive(Debug, Clone, Default, Serialize)]
pub(super) struct PassReport {
    /// Referenced heaps with fewer recorded holders among the voters than
    /// wanted, after this pass's repairs.
    pub(super) under_replicated: usize,
    /// Heaps this pass copied and recorded.
    pub(super) repaired: usize,
    /// Heaps this pass could not copy (no holder could send it, no voter
    /// could store it, or the record could not be committed).
    pub(super) failed: usize,
}

impl ClusterReplica {
    /// Starts the passes; they stop when `shutdown` is cancelled.
    pub fn spawn_repair(self: &Arc<Self>, shutdown: CancellationToken) -> JoinHandle<()> {
        let replica = self.clone();
        tokio::spawn(async move {
            let mut changes = replica.node.raft.metrics();
            let mut seen = None;
            let mut next = tokio::time::Instant::now();
            loop {
                let now = {
                    let m = changes.borrow_and_update();
                    (m.membership_config.log_id().map(|l| l.index), m.state)
                };
                // Metrics change on every commit: only a new membership or
                // role, or the interval, starts a pass.
                if seen != Some(now) || tokio::time::Instant::now() >= next {
                    seen = Some(now);
                    replica.pass().await;
                    next = tokio::time::Instant::now() + PASS_INTERVAL;
                }
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    changed = changes.changed() => if changed.is_err() { break },
                    () = tokio::time::sleep_until(next) => {}
                }
            }
        })
    }

    /// One pass: count, and on the leader repair.
    async fn pass(&self) {
        let found = match self.under_replicated().await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "heap replication pass failed");
                return;
            }
        };
        let mut report = PassReport {
            under_replicated: found.len(),
            ..PassReport::default()
        };
        if !found.is_empty() && self.node.raft.metrics().borrow().state == ServerState::Leader {
            for hash in found.iter().take(REPAIR_BATCH) {
                match self.repair(*hash).await {
                    Ok(holders) => {
                        tracing::info!(%hash, ?holders, "under-replicated heap copied");
                        report.repaired += 1;
                    }
                    Err(e) => {
                        tracing::warn!(%hash, code = %e.code, "cannot copy an under-replicated heap: {}", e.message);
                        report.failed += 1;
                    }
                }
            }
            report.under_replicated -= report.repaired;
        }
        if report.under_replicated > 0 || report.repaired > 0 {
            tracing::info!(?report, "heap replication pass");
        }
        self.metrics
            .cluster_under_replicated
            .set(report.under_replicated as i64);
        self.stats
            .heap_repairs
            .fetch_add(report.repaired as u64, Ordering::Relaxed);
        *self.last_pass.lock().unwrap_or_else(|p| p.into_inner()) = Some(report);
    }

    /// The referenced heaps whose recorded holders include fewer than
    /// `min(2, voters)` voters.
    async fn under_replicated(&self) -> Result<Vec<HeapHash>, StoreError> {
        let voters: HashSet<String> = {
            let m = self.node.raft.metrics().borrow().clone();
            let membership = m.membership_config.membership();
            membership
                .voter_ids()
                .filter_map(|id| membership.get_node(&id).map(|n| n.name.clone()))
                .collect()
        };
        let wanted = voters.len().min(2);
        let state = self.state.clone();
        self.stores
            .blocking(move |stores| {
                let referenced = stores.sessions.referenced_heaps()?;
                let mut found: Vec<HeapHash> = referenced
                    .into_iter()
                    .filter(|hash| {
                        let holders = state
                            .heap_record(hash)
                            .ok()
                            .flatten()
                            .map(|r| r.holders)
                            .unwrap_or_default();
                        holders.iter().filter(|h| voters.contains(*h)).count() < wanted
                    })
                    .collect();
                found.sort();
                Ok(found)
            })
            .await
    }

    /// Copies one heap to the other voters and records its holders.
    async fn repair(&self, hash: HeapHash) -> Result<Vec<String>, ClusterRefusal> {
        let payload = match self.stores.load(hash).await {
            Ok(payload) => payload,
            Err(StoreError::Heap(HeapError::NotFound { .. })) => {
                let payload = self.fetch(hash).await?;
                self.stores
                    .save(payload.clone())
                    .await
                    .map_err(|e| ClusterRefusal::unavailable("heap_store_failed", e.to_string()))?;
                payload
            }
            Err(e) => {
                return Err(ClusterRefusal::unavailable(
                    "heap_unreadable",
                    e.to_string(),
                ))
            }
        };
        let holders = self.push(hash, Arc::new(payload)).await?;
        let cmd = ClusterCommand::RecordHeap {
            hash,
            holders: holders.clone(),
            now_ms: crate::store::now_unix_ms(),
        };
        match self.commit(cmd).await? {
            ClusterReply::Done => Ok(holders),
            other => Err(ClusterRefusal::unavailable(
                "heap_record_failed",
                format!("unexpected answer {other:?}"),
            )),
        }
    }
}
