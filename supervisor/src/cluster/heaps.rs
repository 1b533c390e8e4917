//! Heap bytes between nodes: copying a new heap to other voters before its
//! run is committed, and fetching a heap this node lacks from a holder.
//!
//! A copy counts once the receiver has verified it (its SHA-256 must be the
//! name) and written it durably (`HeapStore::put`: fsync, rename, fsync of
//! the directory). A run is committed only after one other voter has
//! answered so, which makes "durable on two nodes" true when the client
//! hears 200. A fetched heap is verified the same way before it is used.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};

use super::replica::ClusterReplica;
use crate::exec::ClusterRefusal;
use crate::raft::types::ClusterNode;
use crate::store::HeapHash;

/// Longest wait for one copy to be pushed or fetched.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(15);

impl ClusterReplica {
    /// Pushes `payload` to every other voter at once; answers when one of
    /// them has stored it (the rest finish in the background). Names of the
    /// holders, this node first.
    pub(super) async fn push(
        &self,
        hash: HeapHash,
        payload: Arc<Vec<u8>>,
    ) -> Result<Vec<String>, ClusterRefusal> {
        let voters: Vec<ClusterNode> = self
            .others()
            .into_iter()
            .filter_map(|(voter, node)| voter.then_some(node))
            .collect();
        let mut holders = vec![self.me().to_string()];
        if voters.is_empty() {
            // A cluster of one voter: this disk is all there is.
            return Ok(holders);
        }
        let body = bytes::Bytes::from_owner(ArcBytes(payload));
        let path = format!("/cluster/heaps/{hash}");
        let mut pushes: FuturesUnordered<_> = voters
            .into_iter()
            .map(|to| {
                let request = self
                    .request(reqwest::Method::PUT, &to, &path)
                    .header(reqwest::header::CONTENT_TYPE, super::commit::BINCODE)
                    .timeout(TRANSFER_TIMEOUT)
                    .body(body.clone());
                let metrics = self.metrics.clone();
                let bytes = body.len() as u64;
                async move {
                    let ok = match request.send().await {
                        Ok(r) if r.status().is_success() => true,
                        Ok(r) => {
                            tracing::warn!(%hash, to = %to, status = %r.status(), "heap push refused");
                            false
                        }
                        Err(e) => {
                            tracing::warn!(%hash, to = %to, error = %e, "heap push failed");
                            false
                        }
                    };
                    metrics.heap_transfer("push", ok, if ok { bytes } else { 0 });
                    (to, ok)
                }
            })
            .collect();
        let mut failures = 0;
        while let Some((to, ok)) = pushes.next().await {
            let stats = &self.stats;
            if ok {
                stats.heap_pushes.fetch_add(1, Ordering::Relaxed);
                stats
                    .heap_push_bytes
                    .fetch_add(body.len() as u64, Ordering::Relaxed);
                holders.push(to.name);
                // The other copies go on without holding up the client.
                tokio::spawn(async move { while pushes.next().await.is_some() {} });
                return Ok(holders);
            }
            stats.heap_push_failures.fetch_add(1, Ordering::Relaxed);
            failures += 1;
        }
        Err(ClusterRefusal::unavailable(
            "heap_not_replicated",
            format!(
                "no other voter could store heap {hash} ({failures} tried); nothing was \
                 committed, retry shortly"
            ),
        ))
    }

    /// Fetches a heap from a node that holds it (the recorded holders
    /// first, then every other member) and verifies its hash.
    pub(super) async fn fetch(&self, hash: HeapHash) -> Result<Vec<u8>, ClusterRefusal> {
        let recorded = self
            .state
            .heap_record(&hash)
            .ok()
            .flatten()
            .map(|r| r.holders)
            .unwrap_or_default();
        let mut candidates: Vec<ClusterNode> = self.others().into_iter().map(|(_, n)| n).collect();
        candidates.sort_by_key(|n| !recorded.contains(&n.name));
        let path = format!("/cluster/heaps/{hash}");
        let mut not_found = 0;
        for from in &candidates {
            let got = self
                .request(reqwest::Method::GET, from, &path)
                .timeout(TRANSFER_TIMEOUT)
                .send()
                .await;
            let bytes = match got {
                Ok(r) if r.status().is_success() => r.bytes().await.ok(),
                Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => {
                    not_found += 1;
                    None
                }
                _ => None,
            };
            let verified = bytes.filter(|b| HeapHash::of_payload(b) == hash);
            let stats = &self.stats;
            match verified {
                Some(payload) => {
                    stats.heap_fetches.fetch_add(1, Ordering::Relaxed);
                    stats
                        .heap_fetch_bytes
                        .fetch_add(payload.len() as u64, Ordering::Relaxed);
                    self.metrics
                        .heap_transfer("fetch", true, payload.len() as u64);
                    tracing::info!(%hash, from = %from, bytes = payload.len(), "heap fetched");
                    return Ok(payload.to_vec());
                }
                None => {
                    stats.heap_fetch_failures.fetch_add(1, Ordering::Relaxed);
                    self.metrics.heap_transfer("fetch", false, 0);
                }
            }
        }
        if recorded.is_empty() && not_found == candidates.len() {
            // No node has it and the cluster never recorded it.
            return Err(ClusterRefusal {
                status: 404,
                code: "not_found".into(),
                message: format!("heap {hash} not found"),
                retry_after: None,
            });
        }
        Err(ClusterRefusal {
            status: 503,
            code: "heap_unavailable".into(),
            message: format!(
                "heap {hash} is not on this node and no other node could send it ({} asked)",
                candidates.len()
            ),
            retry_after: Some(1),
        })
    }
}

/// A shared payload as the owner of a `Bytes` body (no copy per push).
struct ArcBytes(Arc<Vec<u8>>);

impl AsRef<[u8]> for ArcBytes {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}
