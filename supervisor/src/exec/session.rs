//! Stateful runs: session runs and heap runs, on one node or in a cluster.
//!
//! A session run takes the session's turn (its lock) on the node that owns
//! it, resumes from the session's latest heap, runs, and records the
//! outcome before the turn passes on. Single node: the heap file is written
//! and fsynced, then the history entry is appended (sled, flushed). Cluster
//! ([`Replica`]): the owner is the Raft leader; it fetches the input heap
//! from another node if it lacks it, and after the run writes the new heap,
//! copies it to at least one other voter, and commits the entry through
//! Raft with a compare-and-set on the session's head. The client's answer
//! comes only after the commit, so an acknowledged run is on a quorum and
//! its heap on two disks. A run is never executed twice: forwarding is
//! retried only while no node has accepted the job.

use std::sync::Arc;
use std::time::Instant;

use mcp_v8_shared::ExecRequest;
use sha2::{Digest, Sha256};

use super::{
    Deleted, ExecJob, ExecReport, ExecService, ExecServiceError, ExecStatus, Owner, RunStatus,
};
use crate::store::{
    HeapError, HeapHash, HeapMeta, SessionEntry, SessionError, SessionName, StoreError,
};

impl ExecService {
    /// In cluster mode, runs a session job on its owner if that is another
    /// node; `None` when it is to run here.
    pub(super) async fn forward_if_elsewhere(
        &self,
        job: &ExecJob,
    ) -> Result<Option<ExecReport>, ExecServiceError> {
        let Some(replica) = &self.replica else {
            return Ok(None);
        };
        if replica.session_owner() == Owner::Here {
            return Ok(None);
        }
        // Validate before the job leaves this node.
        self.request_for(job)?;
        if let Some(name) = &job.session {
            SessionName::parse(name).map_err(StoreError::from)?;
        }
        replica.forward_run(job.clone()).await
    }

    /// One session run on the owner node, from taking the session's turn
    /// to recording its outcome.
    pub(super) async fn session_run(
        self: Arc<Self>,
        job: ExecJob,
        mut request: ExecRequest,
        started: Instant,
    ) -> Result<ExecReport, ExecServiceError> {
        let name = job.session.as_deref().unwrap_or_default();
        let name = SessionName::parse(name).map_err(StoreError::from)?;
        let _turn = self.stores.locks.lock(name.as_str()).await;
        if let Some(replica) = &self.replica {
            replica.await_owner_ready().await?;
        }
        // One trip to the blocking pool for the head and its payload; a
        // head this node lacks is fetched from another (cluster mode).
        let (input, payload) = match self.stores.resume(&name).await {
            Err(StoreError::Heap(HeapError::NotFound { hash })) if self.replica.is_some() => {
                (Some(hash), Some(self.heap_payload(hash).await?))
            }
            resumed => resumed?,
        };
        request.heap = payload;
        request.snapshot = true;
        let code_sha256 = hex::encode(Sha256::digest(job.code.as_bytes()));
        let started_at = crate::store::now_unix_ms();
        let (mut report, heap) = self.dispatch(request, &job).await?;
        let entry = SessionEntry {
            index: 0,
            input_heap: input,
            output_heap: None,
            code_sha256,
            started_at,
            duration_ms: started.elapsed().as_millis() as u64,
            status: run_status(report.status, heap.is_some()),
        };
        let output = match &self.replica {
            None => self.stores.record(&name, heap, entry).await?,
            Some(replica) => {
                let (entry, holders) = self.store_output(heap, entry).await?;
                let output = entry.output_heap;
                let run_id = replica.new_run_id();
                replica
                    .commit_run(name.clone(), entry, run_id, holders)
                    .await?;
                output
            }
        };
        report.heap = output.or(input).map(|h| h.to_string());
        report.session = Some(name.as_str().to_string());
        Ok(report)
    }

    /// Cluster mode: writes a run's new heap here and copies it to another
    /// voter; answers the entry naming it and the nodes that hold it.
    async fn store_output(
        &self,
        heap: Option<Vec<u8>>,
        mut entry: SessionEntry,
    ) -> Result<(SessionEntry, Vec<String>), ExecServiceError> {
        let (Some(payload), Some(replica)) = (heap, &self.replica) else {
            return Ok((entry, Vec::new()));
        };
        let (hash, holders) = self.save_and_replicate(payload, replica.as_ref()).await?;
        entry.output_heap = Some(hash);
        Ok((entry, holders))
    }

    /// Writes a heap here and copies it to another voter at the same time;
    /// answers when both are durable.
    async fn save_and_replicate(
        &self,
        payload: Vec<u8>,
        replica: &dyn super::Replica,
    ) -> Result<(HeapHash, Vec<String>), ExecServiceError> {
        let hash = HeapHash::of_payload(&payload);
        let payload = Arc::new(payload);
        let (saved, holders) = tokio::join!(
            self.stores.save_hashed(hash, payload.clone()),
            replica.replicate_heap(hash, payload.clone())
        );
        Ok((saved?, holders?))
    }

    /// A run from a given heap, without a session: returns the new heap's
    /// hash (recorded with its holders in cluster mode).
    pub(super) async fn heap_run(&self, job: ExecJob) -> Result<ExecReport, ExecServiceError> {
        let mut request = self.request_for(&job)?;
        let hash =
            HeapHash::parse(job.heap.as_deref().unwrap_or_default()).map_err(StoreError::from)?;
        request.heap = Some(self.heap_payload(hash).await?);
        request.snapshot = true;
        let (mut report, heap) = self.dispatch(request, &job).await?;
        if let Some(bytes) = heap {
            let hash = match &self.replica {
                None => self.stores.save(bytes).await?,
                Some(replica) => {
                    let (hash, holders) = self.save_and_replicate(bytes, replica.as_ref()).await?;
                    replica.commit_heap(hash, holders).await?;
                    hash
                }
            };
            report.heap = Some(hash.to_string());
        }
        Ok(report)
    }

    /// A heap's verified payload: from this node's store, or in cluster
    /// mode fetched from a node that holds it (and then stored here).
    async fn heap_payload(&self, hash: HeapHash) -> Result<Vec<u8>, ExecServiceError> {
        match (self.stores.load(hash).await, &self.replica) {
            (Ok(payload), _) => Ok(payload),
            (Err(StoreError::Heap(HeapError::NotFound { .. })), Some(replica)) => {
                let payload = replica.fetch_heap(hash).await?;
                self.stores.save(payload.clone()).await?;
                Ok(payload)
            }
            (Err(e), _) => Err(e.into()),
        }
    }

    /// Size, creation time, V8 and format version of a heap; in cluster
    /// mode a heap another node holds is fetched first.
    pub async fn heap_meta(&self, hash: &str) -> Result<HeapMeta, ExecServiceError> {
        match (self.stores.heap_meta(hash).await, &self.replica) {
            (Err(StoreError::Heap(HeapError::NotFound { hash })), Some(_)) => {
                self.heap_payload(hash).await?;
                Ok(self.stores.heap_meta(&hash.to_string()).await?)
            }
            (result, _) => Ok(result?),
        }
    }

    /// Deletes a session after its running execution (if any) finished;
    /// `NotFound` if unknown. In cluster mode on the session's owner.
    pub async fn delete_session(&self, name: &str) -> Result<Deleted, ExecServiceError> {
        let Some(replica) = &self.replica else {
            return Ok(self.stores.delete_session(name).await?);
        };
        let name = SessionName::parse(name).map_err(StoreError::from)?;
        if replica.session_owner() == Owner::Elsewhere {
            if let Some(deleted) = replica.forward_delete(name.clone()).await? {
                return Ok(deleted);
            }
        }
        self.delete_here(name).await
    }

    /// Deletes a session on this node, the owner, under its lock.
    pub async fn delete_here(&self, name: SessionName) -> Result<Deleted, ExecServiceError> {
        let Some(replica) = &self.replica else {
            return Ok(self.stores.delete_session(name.as_str()).await?);
        };
        let _turn = self.stores.locks.lock(name.as_str()).await;
        replica.await_owner_ready().await?;
        if !replica.commit_delete(name.clone()).await? {
            return Err(StoreError::from(SessionError::NotFound {
                name: name.as_str().into(),
            })
            .into());
        }
        Ok(Deleted {
            deleted: name.as_str().to_string(),
        })
    }

    /// In cluster mode with `consistent`, waits until this node has applied
    /// every write committed before the call; reads are local otherwise.
    pub async fn read_barrier(&self, consistent: bool) -> Result<(), ExecServiceError> {
        match (&self.replica, consistent) {
            (Some(replica), true) => Ok(replica.read_barrier().await?),
            _ => Ok(()),
        }
    }
}

/// The history status of a session run.
fn run_status(status: ExecStatus, saved: bool) -> RunStatus {
    match status {
        ExecStatus::Ok if saved => RunStatus::Ok,
        ExecStatus::Ok | ExecStatus::Error => RunStatus::Error,
        ExecStatus::Timeout => RunStatus::Timeout,
        ExecStatus::MemoryLimit => RunStatus::MemoryLimit,
        ExecStatus::Crashed | ExecStatus::SandboxViolation | ExecStatus::Cancelled => {
            RunStatus::Killed
        }
    }
}
