//! The heap and session stores as the async exec path uses them: every
//! blocking call (file IO, fsync, sled flush) runs on the blocking pool.

use std::sync::Arc;

use crate::store::{
    HeapError, HeapHash, HeapStore, SessionEntry, SessionLocks, SessionName, SessionStore,
    StoreError,
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
        self.blocking(move |s| Ok(s.heaps.put(&payload, &s.v8_version)?))
            .await
    }

    /// The latest heap of a session, if it has one.
    pub async fn latest(&self, name: &SessionName) -> Result<Option<HeapHash>, StoreError> {
        let name = name.clone();
        self.blocking(move |s| Ok(s.sessions.latest(name.as_str())?))
            .await
    }

    /// Appends a run to a session's history.
    pub async fn append(&self, name: &SessionName, entry: SessionEntry) -> Result<u64, StoreError> {
        let name = name.clone();
        self.blocking(move |s| Ok(s.sessions.append(name.as_str(), entry)?))
            .await
    }
}
