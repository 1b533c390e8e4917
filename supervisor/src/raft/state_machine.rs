//! The replicated metadata (the Raft state machine), in sled.
//!
//! Tree `raft_data`: the key/value records the log's commands build.
//! Tree `raft_state`: `last_applied` and `membership` (JSON), and the
//! latest snapshot (`snapshot`: its metadata and bytes). A batch of entries
//! is applied in one sled transaction over both trees, so the records and
//! `last_applied` never disagree, and flushed before Raft hears of it.
//!
//! A snapshot is the whole record set as one JSON object; the metadata is
//! small by design (heap bytes never enter the log), so this stays cheap.

use std::collections::BTreeMap;
use std::io::Cursor;

use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{
    Entry, EntryPayload, LogId, OptionalSend, StorageError, StorageIOError, StoredMembership,
};
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use super::types::{ClusterCommand, ClusterNode, ClusterReply, NodeId, TypeConfig};

/// Key of the last applied log id in the state tree.
const LAST_APPLIED: &[u8] = b"last_applied";
/// Key of the last applied membership.
const MEMBERSHIP: &[u8] = b"membership";
/// Key of the latest snapshot.
const SNAPSHOT: &[u8] = b"snapshot";

/// The latest snapshot as stored.
#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    /// What it covers.
    meta: SnapshotMeta<NodeId, ClusterNode>,
    /// The records, as JSON.
    data: Vec<u8>,
}

/// The state machine; cheap to clone.
#[derive(Clone)]
pub struct StateMachine {
    /// The database, for flushing.
    db: sled::Db,
    /// The records.
    data: sled::Tree,
    /// Last applied id, membership, latest snapshot.
    state: sled::Tree,
}

fn read_error(e: &(impl std::error::Error + 'static)) -> StorageError<NodeId> {
    StorageIOError::read_state_machine(e).into()
}

fn write_error(e: &(impl std::error::Error + 'static)) -> StorageError<NodeId> {
    StorageIOError::write_state_machine(e).into()
}

/// A JSON encoding that cannot fail for these plain types, as a sled
/// transaction error if it ever does.
fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, ConflictableTransactionError<String>> {
    serde_json::to_vec(value).map_err(|e| ConflictableTransactionError::Abort(e.to_string()))
}

impl StateMachine {
    /// Opens (creating if needed) the state machine trees of `db`.
    pub fn open(db: &sled::Db) -> Result<Self, sled::Error> {
        Ok(StateMachine {
            db: db.clone(),
            data: db.open_tree("raft_data")?,
            state: db.open_tree("raft_state")?,
        })
    }

    /// The value of one record (a local read: it may lag the leader).
    #[cfg(test)]
    pub fn get(&self, key: &str) -> Result<Option<String>, StorageError<NodeId>> {
        self.data
            .get(key)
            .map_err(|e| read_error(&e))?
            .map(|v| String::from_utf8(v.to_vec()).map_err(|e| read_error(&e)))
            .transpose()
    }

    fn get_state<T: for<'a> Deserialize<'a>>(
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

    /// Every record, in key order.
    fn records(&self) -> Result<BTreeMap<String, String>, StorageError<NodeId>> {
        self.data
            .iter()
            .map(|item| {
                let (k, v) = item.map_err(|e| read_error(&e))?;
                let k = String::from_utf8(k.to_vec()).map_err(|e| read_error(&e))?;
                let v = String::from_utf8(v.to_vec()).map_err(|e| read_error(&e))?;
                Ok((k, v))
            })
            .collect()
    }

    /// Builds a snapshot of the current state and keeps it as the latest.
    fn snapshot_now(&self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let last_applied: Option<LogId<NodeId>> = self.get_state(LAST_APPLIED)?;
        let membership: StoredMembership<NodeId, ClusterNode> =
            self.get_state(MEMBERSHIP)?.unwrap_or_default();
        let data = serde_json::to_vec(&self.records()?).map_err(|e| read_error(&e))?;
        let snapshot_id = match last_applied {
            Some(id) => format!("{}-{}-{}", id.leader_id, id.index, data.len()),
            None => format!("empty-{}", data.len()),
        };
        let meta = SnapshotMeta {
            last_log_id: last_applied,
            last_membership: membership,
            snapshot_id,
        };
        self.store_snapshot(&meta, &data)?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }

    fn store_snapshot(
        &self,
        meta: &SnapshotMeta<NodeId, ClusterNode>,
        data: &[u8],
    ) -> Result<(), StorageError<NodeId>> {
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data: data.to_vec(),
        };
        let bytes = serde_json::to_vec(&stored).map_err(|e| write_error(&e))?;
        self.state
            .insert(SNAPSHOT, bytes)
            .map_err(|e| write_error(&e))?;
        Ok(())
    }
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
        let replies = (&self.data, &self.state)
            .transaction(|(data, state)| {
                let mut replies = Vec::with_capacity(entries.len());
                for entry in &entries {
                    state.insert(LAST_APPLIED, to_json(&Some(entry.log_id))?)?;
                    let reply = match &entry.payload {
                        EntryPayload::Blank => ClusterReply::default(),
                        EntryPayload::Normal(ClusterCommand::Put { key, value }) => {
                            let previous = data.insert(key.as_bytes(), value.as_bytes())?;
                            ClusterReply {
                                previous: previous
                                    .map(|v| String::from_utf8_lossy(&v).into_owned()),
                            }
                        }
                        EntryPayload::Normal(ClusterCommand::Delete { key }) => {
                            let previous = data.remove(key.as_bytes())?;
                            ClusterReply {
                                previous: previous
                                    .map(|v| String::from_utf8_lossy(&v).into_owned()),
                            }
                        }
                        EntryPayload::Membership(membership) => {
                            let stored =
                                StoredMembership::new(Some(entry.log_id), membership.clone());
                            state.insert(MEMBERSHIP, to_json(&stored)?)?;
                            ClusterReply::default()
                        }
                    };
                    replies.push(reply);
                }
                Ok(replies)
            })
            .map_err(|e: TransactionError<String>| {
                write_error(&std::io::Error::other(e.to_string()))
            })?;
        self.flush().await?;
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, ClusterNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        let bytes = snapshot.into_inner();
        let records: BTreeMap<String, String> =
            serde_json::from_slice(&bytes).map_err(|e| write_error(&e))?;
        let last_applied = to_json(&meta.last_log_id);
        let membership = to_json(&meta.last_membership);
        // Replace every record: remove the ones the snapshot lacks. (Listed
        // before the transaction, which must not read the trees it locks.)
        let mut stale = Vec::new();
        for key in self.data.iter().keys() {
            let key = key.map_err(|e| read_error(&e))?;
            if !records.contains_key(String::from_utf8_lossy(&key).as_ref()) {
                stale.push(key);
            }
        }
        (&self.data, &self.state)
            .transaction(|(data, state)| {
                for key in &stale {
                    data.remove(key)?;
                }
                for (k, v) in &records {
                    data.insert(k.as_bytes(), v.as_bytes())?;
                }
                state.insert(LAST_APPLIED, last_applied.clone()?)?;
                state.insert(MEMBERSHIP, membership.clone()?)?;
                Ok(())
            })
            .map_err(|e: TransactionError<String>| {
                write_error(&std::io::Error::other(e.to_string()))
            })?;
        self.store_snapshot(meta, &bytes)?;
        self.flush().await
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        let stored: Option<StoredSnapshot> = self.get_state(SNAPSHOT)?;
        Ok(stored.map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
        }))
    }
}
