//! The replicated state (the Raft state machine), in sled: sessions, their
//! histories and the heaps the cluster knows of.
//!
//! Trees: `sessions` and `history` are the session store's own trees (the
//! node's [`SessionStore`](crate::store::SessionStore) reads them for every
//! local read); `heaps` maps a heap hash to its [`HeapRecord`] (JSON);
//! `raft_state` holds `last_applied` and `membership` (JSON) and the latest
//! snapshot (`snapshot_meta` as JSON, `snapshot_data` as bytes).
//!
//! A batch of entries is applied in one sled transaction over all four
//! trees, so the records and `last_applied` never disagree. It is not
//! flushed on its own: the log already holds the entries durably, and a
//! crash leaves an older consistent state that Raft brings up to date. Commands are applied with the session store's
//! own transaction rules (`store::sessions::append_in`, `delete_in`), so a
//! cluster's sessions behave like a single node's. Business outcomes
//! (conflict, refused) are replies; `apply` fails only on storage errors.
//!
//! One lock ([`StateMachine::lock`]) covers applying a batch and reading the
//! state into a snapshot, so a snapshot is the state at exactly its
//! `last_log_id`. The snapshot format is in `snapshot.rs`.

use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{
    Entry, EntryPayload, LogId, OptionalSend, StorageError, StorageIOError, StoredMembership,
};
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::Transactional;

use super::snapshot::{self, Image};
use super::types::{ClusterCommand, ClusterNode, ClusterReply, HeapRecord, NodeId, TypeConfig};
use crate::store::sessions::{append_in, check_entry, delete_in};
use crate::store::{HeapHash, SessionError, SessionName};

/// Key of the last applied log id in the state tree.
pub(super) const LAST_APPLIED: &[u8] = b"last_applied";
/// Key of the last applied membership.
pub(super) const MEMBERSHIP: &[u8] = b"membership";
/// Key of the latest snapshot's metadata.
const SNAPSHOT_META: &[u8] = b"snapshot_meta";
/// Key of the latest snapshot's bytes.
const SNAPSHOT_DATA: &[u8] = b"snapshot_data";

/// The state machine; cheap to clone (clones share the trees and the lock).
#[derive(Clone)]
pub struct StateMachine {
    /// The database, for flushing.
    db: sled::Db,
    /// The replicated trees: `sessions`, `history`, `heaps`.
    pub(super) trees: Trees,
    /// Last applied id, membership, latest snapshot.
    pub(super) state: sled::Tree,
    /// Held while a batch is applied and while a snapshot reads the state.
    lock: Arc<Mutex<()>>,
}

/// The trees the commands write.
#[derive(Clone)]
pub(super) struct Trees {
    pub(super) sessions: sled::Tree,
    pub(super) history: sled::Tree,
    pub(super) heaps: sled::Tree,
}

pub(super) fn read_error(e: &(impl std::error::Error + 'static)) -> StorageError<NodeId> {
    StorageIOError::read_state_machine(e).into()
}

pub(super) fn write_error(e: &(impl std::error::Error + 'static)) -> StorageError<NodeId> {
    StorageIOError::write_state_machine(e).into()
}

/// Why a transaction was aborted: a damaged record (never a business
/// outcome, which is a reply).
#[derive(Debug)]
pub(super) struct Abort(pub(super) String);

impl From<SessionError> for Abort {
    fn from(e: SessionError) -> Self {
        Abort(e.to_string())
    }
}

/// A failed transaction as a storage error.
pub(super) fn tx_error(e: TransactionError<Abort>) -> StorageError<NodeId> {
    let message = match e {
        TransactionError::Abort(Abort(message)) => message,
        TransactionError::Storage(e) => e.to_string(),
    };
    write_error(&std::io::Error::other(message))
}

/// JSON of these plain types cannot fail; a transaction error if it did.
pub(super) fn to_json<T: Serialize>(
    value: &T,
) -> Result<Vec<u8>, ConflictableTransactionError<Abort>> {
    serde_json::to_vec(value).map_err(|e| ConflictableTransactionError::Abort(Abort(e.to_string())))
}

impl StateMachine {
    /// Opens (creating if needed) the state machine trees of `db`.
    pub fn open(db: &sled::Db) -> Result<Self, sled::Error> {
        Ok(StateMachine {
            db: db.clone(),
            trees: Trees {
                sessions: db.open_tree("sessions")?,
                history: db.open_tree("history")?,
                heaps: db.open_tree("heaps")?,
            },
            state: db.open_tree("raft_state")?,
            lock: Arc::new(Mutex::new(())),
        })
    }

    /// Takes the state machine's lock.
    pub(super) fn lock(&self) -> MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What the replicated state knows of a heap (a local read).
    pub fn heap_record(&self, hash: &HeapHash) -> Result<Option<HeapRecord>, StorageError<NodeId>> {
        match self
            .trees
            .heaps
            .get(hash.as_bytes())
            .map_err(|e| read_error(&e))?
        {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| read_error(&e)),
            None => Ok(None),
        }
    }

    /// Number of heaps the replicated state records.
    pub fn heap_count(&self) -> usize {
        self.trees.heaps.len()
    }

    pub(super) fn get_state<T: for<'a> Deserialize<'a>>(
        &self,
        key: &[u8],
    ) -> Result<Option<T>, StorageError<NodeId>> {
        match self.state.get(key).map_err(|e| read_error(&e))? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| read_error(&e)),
            None => Ok(None),
        }
    }

    async fn flush(&self) -> Result<(), StorageError<NodeId>> {
        self.db.flush_async().await.map_err(|e| write_error(&e))?;
        Ok(())
    }

    /// Builds a snapshot of the current state and keeps it as the latest.
    fn snapshot_now(&self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let (meta, data) = {
            let _state = self.lock();
            let last_applied: Option<LogId<NodeId>> = self.get_state(LAST_APPLIED)?;
            let membership: StoredMembership<NodeId, ClusterNode> =
                self.get_state(MEMBERSHIP)?.unwrap_or_default();
            let data = snapshot::encode(&Image::read(&self.trees)?)?;
            let snapshot_id = match last_applied {
                Some(id) => format!("{}-{}-{}", id.leader_id, id.index, data.len()),
                None => format!("empty-{}", data.len()),
            };
            let meta = SnapshotMeta {
                last_log_id: last_applied,
                last_membership: membership,
                snapshot_id,
            };
            (meta, data)
        };
        self.store_snapshot(&meta, &data)?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(std::io::Cursor::new(data)),
        })
    }

    fn store_snapshot(
        &self,
        meta: &SnapshotMeta<NodeId, ClusterNode>,
        data: &[u8],
    ) -> Result<(), StorageError<NodeId>> {
        let meta = serde_json::to_vec(meta).map_err(|e| write_error(&e))?;
        self.state
            .transaction(|state| {
                state.insert(SNAPSHOT_META, meta.as_slice())?;
                state.insert(SNAPSHOT_DATA, data)?;
                Ok(())
            })
            .map_err(|e: TransactionError<()>| {
                write_error(&std::io::Error::other(format!("{e:?}")))
            })
    }
}

/// Applies one command inside the batch's transaction.
fn apply_command(
    cmd: &ClusterCommand,
    sessions: &TransactionalTree,
    history: &TransactionalTree,
    heaps: &TransactionalTree,
) -> Result<ClusterReply, ConflictableTransactionError<Abort>> {
    Ok(match cmd {
        ClusterCommand::AppendRun {
            session,
            entry,
            run_id,
            now_ms,
            holders,
        } => {
            let name = match SessionName::parse(session) {
                Ok(name) => name,
                Err(e) => return Ok(refused(e)),
            };
            if let Err(e) = check_entry(&name, entry) {
                return Ok(refused(e));
            }
            match append_in::<Abort>(sessions, history, &name, entry, Some(run_id), *now_ms)? {
                Ok(index) => {
                    if let Some(hash) = entry.output_heap {
                        record_heap(heaps, &hash, holders, *now_ms)?;
                    }
                    ClusterReply::Appended { index }
                }
                Err(conflict) => ClusterReply::Conflict {
                    message: conflict.to_string(),
                },
            }
        }
        ClusterCommand::DeleteSession { session } => match SessionName::parse(session) {
            Ok(name) => {
                let outputs = delete_in::<Abort>(sessions, history, &name)?;
                // The records of its heaps go too, so the replicated state
                // does not keep one per run of every deleted session. (A heap
                // another session shares loses its record; the leader's
                // replication pass finds it and records it again.)
                for hash in outputs.iter().flatten() {
                    heaps.remove(hash.as_bytes())?;
                }
                ClusterReply::Deleted {
                    existed: outputs.is_some(),
                }
            }
            Err(e) => refused(e),
        },
        ClusterCommand::RecordHeap {
            hash,
            holders,
            now_ms,
        } => {
            record_heap(heaps, hash, holders, *now_ms)?;
            ClusterReply::Done
        }
    })
}

fn refused(e: SessionError) -> ClusterReply {
    ClusterReply::Refused {
        message: e.to_string(),
    }
}

/// Adds `holders` to a heap's record (creating it).
fn record_heap(
    heaps: &TransactionalTree,
    hash: &HeapHash,
    holders: &[String],
    now_ms: u64,
) -> Result<(), ConflictableTransactionError<Abort>> {
    let mut record: HeapRecord = match heaps.get(hash.as_bytes())? {
        Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        None => HeapRecord {
            holders: Vec::new(),
            recorded_at: now_ms,
        },
    };
    for holder in holders {
        if !record.holders.contains(holder) {
            record.holders.push(holder.clone());
        }
    }
    heaps.insert(hash.as_bytes(), to_json(&record)?)?;
    Ok(())
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let snapshot = self.snapshot_now()?;
        self.flush().await?;
        Ok(snapshot)
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, ClusterNode>), StorageError<NodeId>>
    {
        let last_applied = self.get_state(LAST_APPLIED)?;
        let membership = self.get_state(MEMBERSHIP)?.unwrap_or_default();
        Ok((last_applied, membership))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<ClusterReply>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry<TypeConfig>> = entries.into_iter().collect();
        let replies = {
            let _state = self.lock();
            let t = &self.trees;
            (&t.sessions, &t.history, &t.heaps, &self.state)
                .transaction(|(sessions, history, heaps, state)| {
                    let mut replies = Vec::with_capacity(entries.len());
                    for entry in &entries {
                        state.insert(LAST_APPLIED, to_json(&Some(entry.log_id))?)?;
                        let reply = match &entry.payload {
                            EntryPayload::Blank => ClusterReply::Done,
                            EntryPayload::Normal(cmd) => {
                                apply_command(cmd, sessions, history, heaps)?
                            }
                            EntryPayload::Membership(membership) => {
                                let stored =
                                    StoredMembership::new(Some(entry.log_id), membership.clone());
                                state.insert(MEMBERSHIP, to_json(&stored)?)?;
                                ClusterReply::Done
                            }
                        };
                        replies.push(reply);
                    }
                    Ok(replies)
                })
                .map_err(tx_error)?
        };
        // No flush here: the entries are durable in the log, and the
        // records change together with `last_applied` in one transaction,
        // so after a crash the state is an older consistent one and Raft
        // applies the rest again from the log. (A snapshot is flushed
        // before the log behind it may be purged.)
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<std::io::Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(std::io::Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, ClusterNode>,
        snapshot: Box<std::io::Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        let bytes = snapshot.into_inner();
        let image = snapshot::decode(&bytes)?;
        {
            let _state = self.lock();
            image.install(&self.trees, &self.state, meta)?;
        }
        self.store_snapshot(meta, &bytes)?;
        self.flush().await
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        let Some(meta) = self.get_state::<SnapshotMeta<NodeId, ClusterNode>>(SNAPSHOT_META)? else {
            return Ok(None);
        };
        let data = self
            .state
            .get(SNAPSHOT_DATA)
            .map_err(|e| read_error(&e))?
            .map(|v| v.to_vec())
            .unwrap_or_default();
        Ok(Some(Snapshot {
            meta,
            snapshot: Box::new(std::io::Cursor::new(data)),
        }))
    }
}
