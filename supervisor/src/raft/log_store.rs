//! The Raft log and vote, in sled.
//!
//! Tree `raft_log`: one entry per key, the key being the log index as
//! big-endian `u64` (so sled's byte order is log order and a range of
//! indexes is one range scan), the value the entry as JSON. Tree
//! `raft_log_meta`: `vote`, `committed` and `last_purged`, as JSON.
//!
//! sled flushes to disk on its own only every 500 ms, so every write that
//! Raft relies on (a vote, appended entries, a truncation, a purge) is
//! followed by an explicit flush before it is acknowledged.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};

use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{Entry, LogId, OptionalSend, StorageError, StorageIOError, Vote};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::types::{NodeId, TypeConfig};

/// Key of the vote in the meta tree.
const VOTE: &[u8] = b"vote";
/// Key of the last known committed log id.
const COMMITTED: &[u8] = b"committed";
/// Key of the last purged log id.
const LAST_PURGED: &[u8] = b"last_purged";

/// The log store; cheap to clone (sled trees are shared handles).
#[derive(Clone)]
pub struct LogStore {
    /// The database, for flushing.
    db: sled::Db,
    /// Entries by big-endian index.
    log: sled::Tree,
    /// Vote, committed and last purged ids.
    meta: sled::Tree,
}

/// An error reading the log, for Raft.
fn read_error(e: &(impl std::error::Error + 'static)) -> StorageError<NodeId> {
    StorageIOError::read_logs(e).into()
}

/// An error writing the log, for Raft.
fn write_error(e: &(impl std::error::Error + 'static)) -> StorageError<NodeId> {
    StorageIOError::write_logs(e).into()
}

/// The sled key of a log index.
fn key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

/// The first and one-past-last index of `range` (`None` past the end).
fn bounds(range: &impl RangeBounds<u64>) -> (u64, Option<u64>) {
    let start = match range.start_bound() {
        Bound::Included(&i) => i,
        Bound::Excluded(&i) => i.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&i) => i.checked_add(1),
        Bound::Excluded(&i) => Some(i),
        Bound::Unbounded => None,
    };
    (start, end)
}

impl LogStore {
    /// Opens (creating if needed) the log trees of `db`.
    pub fn open(db: &sled::Db) -> Result<Self, sled::Error> {
        Ok(LogStore {
            db: db.clone(),
            log: db.open_tree("raft_log")?,
            meta: db.open_tree("raft_log_meta")?,
        })
    }

    fn get_meta<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StorageError<NodeId>> {
        match self.meta.get(key).map_err(|e| read_error(&e))? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| read_error(&e)),
            None => Ok(None),
        }
    }

    fn put_meta<T: Serialize>(&self, key: &[u8], value: &T) -> Result<(), StorageError<NodeId>> {
        let bytes = serde_json::to_vec(value).map_err(|e| write_error(&e))?;
        self.meta.insert(key, bytes).map_err(|e| write_error(&e))?;
        Ok(())
    }

    async fn flush(&self) -> Result<(), StorageError<NodeId>> {
        self.db.flush_async().await.map_err(|e| write_error(&e))?;
        Ok(())
    }

    /// The id of the last entry (the last purged one if the log is empty).
    pub(super) fn last_log_id(&self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        let last_purged: Option<LogId<NodeId>> = self.get_meta(LAST_PURGED)?;
        Ok(self.last_entry()?.map(|e| e.log_id).or(last_purged))
    }

    /// The entry with the highest index, if any.
    fn last_entry(&self) -> Result<Option<Entry<TypeConfig>>, StorageError<NodeId>> {
        match self.log.last().map_err(|e| read_error(&e))? {
            Some((_, bytes)) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| read_error(&e)),
            None => Ok(None),
        }
    }

    /// Removes the entries with index in `from..to` (`to = None`: to the end).
    fn remove_range(&self, from: u64, to: Option<u64>) -> Result<(), StorageError<NodeId>> {
        let keys = match to {
            Some(to) => self.log.range(key(from)..key(to)),
            None => self.log.range(key(from)..),
        };
        let mut batch = sled::Batch::default();
        for item in keys {
            let (k, _) = item.map_err(|e| write_error(&e))?;
            batch.remove(k);
        }
        self.log.apply_batch(batch).map_err(|e| write_error(&e))
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<NodeId>> {
        let (start, end) = bounds(&range);
        if end.is_some_and(|end| end <= start) {
            return Ok(Vec::new());
        }
        let items = match end {
            Some(end) => self.log.range(key(start)..key(end)),
            None => self.log.range(key(start)..),
        };
        items
            .map(|item| {
                let (_, bytes) = item.map_err(|e| read_error(&e))?;
                serde_json::from_slice(&bytes).map_err(|e| read_error(&e))
            })
            .collect()
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let last_purged: Option<LogId<NodeId>> = self.get_meta(LAST_PURGED)?;
        let last = self.last_entry()?.map(|e| e.log_id).or(last_purged);
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        self.put_meta(VOTE, vote)?;
        self.flush().await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        self.get_meta(VOTE)
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> Result<(), StorageError<NodeId>> {
        self.put_meta(COMMITTED, &committed)?;
        self.flush().await
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        Ok(self.get_meta::<Option<LogId<NodeId>>>(COMMITTED)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = sled::Batch::default();
        for entry in entries {
            let bytes = serde_json::to_vec(&entry).map_err(|e| write_error(&e))?;
            batch.insert(&key(entry.log_id.index), bytes);
        }
        self.log.apply_batch(batch).map_err(|e| write_error(&e))?;
        // Acknowledge only once the entries are on disk.
        let flushed = self
            .db
            .flush_async()
            .await
            .map(|_| ())
            .map_err(io::Error::other);
        let failed = flushed.as_ref().err().map(write_error);
        callback.log_io_completed(flushed);
        match failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        self.remove_range(log_id.index, None)?;
        self.flush().await
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        // Record the purge point first: a crash in between leaves entries
        // that are ignored, never a gap that is not accounted for.
        self.put_meta(LAST_PURGED, &log_id)?;
        self.remove_range(0, log_id.index.checked_add(1))?;
        self.flush().await
    }
}
