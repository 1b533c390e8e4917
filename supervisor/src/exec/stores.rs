//! The heap and session stores as the async exec path uses them: every
//! blocking call (file IO, fsync, sled flush) runs on the blocking pool.

use std::sync::Arc;

use serde::Serialize;

use crate::store::{
    HeapError, HeapHash, HeapMeta, HeapStore, Page, SessionEntry, SessionError, SessionLocks,
    SessionName, SessionStore, SessionSummary, StoreError,
};

/// Heap files, sessions and per-session turns; cheap to clone.
#[derive(Clone)]
pub struct Stores {
    /// Content-addressed heap files.
    pub heaps: HeapStore,
    /// Session histories in sled.
    pub sessions: SessionStore,
    /// One run per session at a time.
    pub locks: SessionLocks,
    /// V8 version heaps are written with and must match on read.
    pub v8_version: Arc<str>,
}

impl Stores {
    /// Runs a blocking store call on the blocking pool.
    pub async fn blocking<T: Send + 'static>(
        &self,
        call: impl FnOnce(&Stores) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let stores = self.clone();
        match tokio::task::spawn_blocking(move || call(&stores)).await {
            Ok(result) => result,
            Err(e) => Err(StoreError::Heap(HeapError::Io {
                op: "run blocking store task",
                path: self.heaps.dir().to_path_buf(),
                source: std::io::Error::other(e.to_string()),
            })),
        }
    }

    /// Reads and verifies a heap's payload.
    pub async fn load(&self, hash: HeapHash) -> Result<Vec<u8>, StoreError> {
        self.blocking(move |s| Ok(s.heaps.get(&hash, &s.v8_version)?))
            .await
    }

    /// Stores a heap payload; returns its hash.
    pub async fn save(&self, payload: Vec<u8>) -> Result<HeapHash, StoreError> {
        self.blocking(move |s| Ok(s.heaps.put(payload, &s.v8_version)?))
            .await
    }

    /// The latest heap of a session and its verified payload (`None`s for
    /// a new session), in one trip to the blocking pool.
    pub async fn resume(
        &self,
        name: &SessionName,
    ) -> Result<(Option<HeapHash>, Option<Vec<u8>>), StoreError> {
        let name = name.clone();
        self.blocking(move |s| match s.sessions.latest(name.as_str())? {
            Some(hash) => Ok((Some(hash), Some(s.heaps.get(&hash, &s.v8_version)?))),
            None => Ok((None, None)),
        })
        .await
    }

    /// Stores a payload already hashed by the caller, without copying it.
    pub async fn save_hashed(
        &self,
        hash: HeapHash,
        payload: Arc<Vec<u8>>,
    ) -> Result<HeapHash, StoreError> {
        self.blocking(move |s| Ok(s.heaps.put_hashed(hash, payload, &s.v8_version)?))
            .await
    }

    /// Records a finished session run in one trip to the blocking pool:
    /// stores its new heap first (when it has one), then appends `entry`
    /// with that heap as its output. Returns the new heap's hash.
    pub async fn record(
        &self,
        name: &SessionName,
        heap: Option<Vec<u8>>,
        mut entry: SessionEntry,
    ) -> Result<Option<HeapHash>, StoreError> {
        let name = name.clone();
        self.blocking(move |s| {
            if let Some(payload) = heap {
                entry.output_heap = Some(s.heaps.put(payload, &s.v8_version)?);
            }
            let output = entry.output_heap;
            s.sessions.append(name.as_str(), entry)?;
            Ok(output)
        })
        .await
    }
}

/// One session with a page of its history, as REST and MCP return it.
#[derive(Debug, Serialize)]
pub struct SessionDoc {
    /// Name, entry count, latest heap, timestamps.
    #[serde(flatten)]
    pub summary: SessionSummary,
    /// A page of runs, oldest first.
    pub history: Page<SessionEntry>,
}

/// What deleting a session answers.
#[derive(Debug, Serialize)]
pub struct Deleted {
    /// The session that was deleted.
    pub deleted: String,
}

/// Session and heap queries shared by the REST routes and the MCP tools.
impl Stores {
    /// A page of sessions in name order.
    pub async fn list_sessions(
        &self,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<Page<SessionSummary>, StoreError> {
        self.blocking(move |s| Ok(s.sessions.list(cursor.as_deref(), limit)?))
            .await
    }

    /// One session and a page of its history; `NotFound` if unknown.
    pub async fn session(
        &self,
        name: &str,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<SessionDoc, StoreError> {
        let name = SessionName::parse(name)?;
        self.blocking(move |s| {
            let summary =
                s.sessions
                    .summary(name.as_str())?
                    .ok_or_else(|| SessionError::NotFound {
                        name: name.as_str().into(),
                    })?;
            let history = s
                .sessions
                .history(name.as_str(), cursor.as_deref(), limit)?;
            Ok(SessionDoc { summary, history })
        })
        .await
    }

    /// Deletes a session after its running execution (if any) finished;
    /// `NotFound` if unknown. Its heaps are left to the garbage collector.
    pub async fn delete_session(&self, name: &str) -> Result<Deleted, StoreError> {
        let name = SessionName::parse(name)?;
        let _turn = self.locks.lock(name.as_str()).await;
        let target = name.clone();
        let existed = self
            .blocking(move |s| Ok(s.sessions.delete(target.as_str())?))
            .await?;
        if !existed {
            return Err(SessionError::NotFound {
                name: name.as_str().into(),
            }
            .into());
        }
        Ok(Deleted {
            deleted: name.as_str().to_string(),
        })
    }

    /// Size, creation time, V8 and format version of a heap.
    pub async fn heap_meta(&self, hash: &str) -> Result<HeapMeta, StoreError> {
        let hash = HeapHash::parse(hash)?;
        self.blocking(move |s| Ok(s.heaps.metadata(&hash)?)).await
    }
}
