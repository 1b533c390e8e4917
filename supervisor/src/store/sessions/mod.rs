//! Named sessions in sled at `--session-db-path`: session name -> ordered
//! history of runs, and the session's latest heap.
//!
//! Key layout (values are serde_json, so records stay readable and new
//! optional fields can be added with `#[serde(default)]`):
//!
//! | tree       | key                                   | value              |
//! |------------|---------------------------------------|--------------------|
//! | `sessions` | name (UTF-8)                          | [`SessionSummary`] |
//! | `history`  | name, `0x00`, index as big-endian u64 | [`SessionEntry`]   |
//!
//! Session names never contain `0x00` or `0x01`, so one session's history is
//! exactly the key range `name\0 .. name\x01`, ordered by index. Indexes run
//! `0..entries` without gaps. Every write (append, delete) is one sled
//! transaction over both trees followed by `flush`, so it is durable when the
//! call returns and a crash never leaves a summary and its history
//! disagreeing.
//!
//! Consistency rules: only an entry with [`RunStatus::Ok`] carries an output
//! heap and moves `latest_heap`; a failed run may be recorded but does not
//! advance the session. An append whose `input_heap` is not the session's
//! current `latest_heap` is refused ([`SessionError::Conflict`]), so a
//! session's heaps form one chain even if callers forget to serialise.
//!
//! All functions block (sled IO and fsync); call them from `spawn_blocking`.

use std::collections::HashSet;
use std::ops::Bound;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use super::{now_unix_ms, ErrorClass, HeapHash, Page, MAX_PAGE_LIMIT};

/// Longest session name, in bytes.
pub const MAX_SESSION_NAME_LEN: usize = 128;

/// Errors of the session store; variants name the session concerned.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Not 1..=128 characters of `[A-Za-z0-9._:-]`.
    #[error("invalid session name {name:?}: {reason}")]
    InvalidName {
        /// The offending name (cut to 140 characters).
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No session with this name.
    #[error("session {name:?} not found")]
    NotFound {
        /// The session.
        name: String,
    },
    /// The run did not start from the session's latest heap (the session
    /// moved on, or was deleted and recreated, while the run was going on).
    #[error("session {name:?} changed during the run: it is at heap {latest}, the run started from {input}")]
    Conflict {
        /// The session.
        name: String,
        /// The session's latest heap (`none` if it has none).
        latest: String,
        /// The run's input heap (`none` if it started fresh).
        input: String,
    },
    /// An entry that breaks the rules (status `ok` without output heap, or an
    /// output heap on a failed run).
    #[error("invalid history entry for session {name:?}: {reason}")]
    InvalidEntry {
        /// The session.
        name: String,
        /// What is wrong with the entry.
        reason: &'static str,
    },
    /// A pagination cursor this store did not produce.
    #[error("invalid cursor {cursor:?}")]
    InvalidCursor {
        /// The offending cursor.
        cursor: String,
    },
    /// sled failed.
    #[error("session database {path}: {op}: {source}")]
    Db {
        /// What was attempted, with the session name where there is one.
        op: String,
        /// The database directory.
        path: PathBuf,
        /// sled's error.
        source: sled::Error,
    },
    /// A stored record could not be decoded.
    #[error("session database: corrupt record {key}: {source}")]
    Decode {
        /// Which record (tree and key).
        key: String,
        /// serde_json's error.
        source: serde_json::Error,
    },
}

impl SessionError {
    /// How to report this error to a client.
    pub fn class(&self) -> ErrorClass {
        match self {
            SessionError::InvalidName { .. } | SessionError::InvalidCursor { .. } => {
                ErrorClass::BadRequest
            }
            SessionError::NotFound { .. } => ErrorClass::NotFound,
            SessionError::Conflict { .. } => ErrorClass::Conflict,
            SessionError::InvalidEntry { .. }
            | SessionError::Db { .. }
            | SessionError::Decode { .. } => ErrorClass::Internal,
        }
    }
}

/// The session database. Cheap to clone (sled handles are shared).
#[derive(Debug, Clone)]
pub struct SessionStore {
    /// Where the database lives (for error messages).
    path: PathBuf,
    /// The sled database (flushed after every write).
    db: sled::Db,
    /// name -> [`SessionSummary`].
    sessions: sled::Tree,
    /// name \0 be_u64(index) -> [`SessionEntry`].
    history: sled::Tree,
}

impl SessionStore {
    /// Opens (creating if needed) the database at `path`. sled locks the
    /// directory: one process, one `SessionStore` (clone it to share).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SessionError> {
        let path = path.as_ref().to_owned();
        let db_err = |op: &str| {
            let path = path.clone();
            let op = op.to_owned();
            move |source| SessionError::Db { op, path, source }
        };
        let db = sled::open(&path).map_err(db_err("open"))?;
        let sessions = db
            .open_tree("sessions")
            .map_err(db_err("open tree sessions"))?;
        let history = db
            .open_tree("history")
            .map_err(db_err("open tree history"))?;
        Ok(SessionStore {
            path,
            db,
            sessions,
            history,
        })
    }

    fn db_err(&self, op: impl Into<String>, source: sled::Error) -> SessionError {
        SessionError::Db {
            op: op.into(),
            path: self.path.clone(),
            source,
        }
    }

    fn flush(&self, name: &str) -> Result<(), SessionError> {
        self.db
            .flush()
            .map(drop)
            .map_err(|e| self.db_err(format!("flush after {name:?}"), e))
    }

    /// The summary of one session, `None` if it does not exist.
    pub fn summary(&self, name: &str) -> Result<Option<SessionSummary>, SessionError> {
        let name = SessionName::parse(name)?;
        let value = self
            .sessions
            .get(name.as_str())
            .map_err(|e| self.db_err(format!("read session {name:?}"), e))?;
        value
            .map(|v| decode(&v, || format!("sessions/{name}")))
            .transpose()
    }

    /// The heap the session's next run resumes from; `None` if the session
    /// does not exist or has no successful run yet.
    pub fn latest(&self, name: &str) -> Result<Option<HeapHash>, SessionError> {
        Ok(self.summary(name)?.and_then(|s| s.latest_heap))
    }

    /// Records one run and returns its index. An `Ok` entry moves the
    /// session's latest heap to its output heap; other entries are history
    /// only. Creates the session on its first entry. Durable on return.
    /// The rules are [`txn::append_in`]'s, shared with the cluster's state
    /// machine.
    pub fn append(&self, name: &str, entry: SessionEntry) -> Result<u64, SessionError> {
        let name = SessionName::parse(name)?;
        check_entry(&name, &entry)?;
        let now = now_unix_ms();
        let result =
            (&self.sessions, &self.history).transaction(
                |(sessions, history)| match txn::append_in(
                    sessions, history, &name, &entry, None, now,
                )? {
                    Ok(index) => Ok(index),
                    Err(conflict) => Err(ConflictableTransactionError::Abort(conflict)),
                },
            );
        let index = self.finish(result, || format!("append to session {name:?}"))?;
        self.flush(name.as_str())?;
        Ok(index)
    }

    /// One page of a session's history, oldest first. `cursor` is the
    /// `next_cursor` of the previous page; `limit` is clamped to
    /// `1..=MAX_PAGE_LIMIT`.
    pub fn history(
        &self,
        name: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<SessionEntry>, SessionError> {
        let name = SessionName::parse(name)?;
        if self.summary(name.as_str())?.is_none() {
            return Err(SessionError::NotFound {
                name: name.to_string(),
            });
        }
        let start = match cursor {
            None => 0,
            Some(c) => c
                .parse::<u64>()
                .ok()
                .and_then(|i| i.checked_add(1))
                .ok_or_else(|| SessionError::InvalidCursor {
                    cursor: c.to_owned(),
                })?,
        };
        let mut end = name.as_str().as_bytes().to_vec();
        end.push(1);
        let range = self.history.range(history_key(&name, start)..end);
        let (items, more): (Vec<SessionEntry>, bool) = take_page(
            range,
            limit,
            |k| format!("history/{}", String::from_utf8_lossy(k)),
            self,
        )?;
        let next_cursor = more
            .then(|| items.last().map(|e| e.index.to_string()))
            .flatten();
        Ok(Page { items, next_cursor })
    }

    /// One page of sessions in name order. `cursor` is the `next_cursor` of
    /// the previous page; `limit` is clamped to `1..=MAX_PAGE_LIMIT`.
    pub fn list(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<SessionSummary>, SessionError> {
        let start = match cursor {
            None => Bound::Unbounded,
            Some(c) => Bound::Excluded(c.as_bytes().to_vec()),
        };
        let range = self.sessions.range::<Vec<u8>, _>((start, Bound::Unbounded));
        let (items, more): (Vec<SessionSummary>, bool) = take_page(
            range,
            limit,
            |k| format!("sessions/{}", String::from_utf8_lossy(k)),
            self,
        )?;
        let next_cursor = more.then(|| items.last().map(|s| s.name.clone())).flatten();
        Ok(Page { items, next_cursor })
    }

    /// The sled database, which the cluster's Raft trees share.
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// Number of sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Deletes a session and its whole history; `false` if it did not exist.
    /// Its heaps become unreferenced and are left to the GC.
    pub fn delete(&self, name: &str) -> Result<bool, SessionError> {
        let name = SessionName::parse(name)?;
        let result = (&self.sessions, &self.history)
            .transaction(|(sessions, history)| txn::delete_in(sessions, history, &name));
        let existed = self
            .finish(result, || format!("delete session {name:?}"))?
            .is_some();
        if existed {
            self.flush(name.as_str())?;
        }
        Ok(existed)
    }

    /// Every heap some session's history mentions (input or output): the GC
    /// keeps these.
    pub fn referenced_heaps(&self) -> Result<HashSet<HeapHash>, SessionError> {
        let mut heaps = HashSet::new();
        for item in self.history.iter() {
            let (key, value) = item.map_err(|e| self.db_err("scan history", e))?;
            let entry: SessionEntry = decode(&value, || {
                format!("history/{}", String::from_utf8_lossy(&key))
            })?;
            heaps.extend(entry.input_heap);
            heaps.extend(entry.output_heap);
        }
        Ok(heaps)
    }

    fn finish<T>(
        &self,
        result: Result<T, TransactionError<SessionError>>,
        op: impl FnOnce() -> String,
    ) -> Result<T, SessionError> {
        result.map_err(|e| match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => self.db_err(op(), e),
        })
    }
}

/// Decodes up to `limit` records of `range`; also says whether more follow.
fn take_page<T: DeserializeOwned>(
    range: sled::Iter,
    limit: usize,
    key_name: impl Fn(&[u8]) -> String,
    store: &SessionStore,
) -> Result<(Vec<T>, bool), SessionError> {
    let limit = limit.clamp(1, MAX_PAGE_LIMIT);
    let mut items = Vec::new();
    for item in range {
        let (key, value) = item.map_err(|e| store.db_err("scan", e))?;
        if items.len() == limit {
            return Ok((items, true));
        }
        items.push(decode(&value, || key_name(&key))?);
    }
    Ok((items, false))
}

mod txn;
mod types;

use txn::decode;
pub use txn::{append_in, check_entry, delete_in, history_key};
pub use types::{RunStatus, SessionEntry, SessionName, SessionSummary};

#[cfg(test)]
mod tests;
