//! Recently written or read heap payloads, kept in memory so that the next
//! run of a session does not read and hash its heap file again.
//!
//! An entry is only as good as the file behind it: it records the file's
//! length and modification time when the payload was verified or written,
//! and a lookup serves it only while a `stat` of the file still shows both
//! (a truncated, rewritten or deleted file misses and is read and verified
//! in full, so damage on disk is still reported). Entries are also tied to
//! the V8 version they were verified for. Least recently used entries go
//! first once the payloads exceed the byte budget.

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use lru::LruCache;
use serde::Serialize;

use super::HeapHash;

/// Payloads larger than this share of the budget are not cached.
const MAX_SHARE: usize = 4;

/// One verified payload and the file state it was verified against.
struct Entry {
    /// The V8 snapshot payload.
    payload: Arc<Vec<u8>>,
    /// V8 version the file's header named.
    v8_version: Arc<str>,
    /// File length (header + payload) at verification.
    file_len: u64,
    /// File modification time at verification.
    modified: SystemTime,
}

/// The mutable part of the cache.
struct Inner {
    /// Entries, most recently used first.
    entries: LruCache<HeapHash, Entry>,
    /// Sum of the cached payload sizes.
    bytes: usize,
}

/// A byte-bounded LRU cache of verified heap payloads; shared by clones of
/// the heap store.
pub struct HeapCache {
    /// Largest total payload size kept.
    budget: usize,
    /// The entries, under one lock (operations are a map lookup or insert).
    inner: Mutex<Inner>,
    /// Lookups served from memory.
    hits: AtomicU64,
    /// Lookups that had to read the file (absent, stale or foreign).
    misses: AtomicU64,
}

/// What `/api/status` shows of the cache.
#[derive(Debug, Clone, Serialize)]
pub struct HeapCacheStats {
    /// Payloads held.
    pub entries: usize,
    /// Their total size in bytes.
    pub bytes: usize,
    /// The most it holds, in bytes.
    pub budget_bytes: usize,
    /// Lookups served from memory since start.
    pub hits: u64,
    /// Lookups that read and verified the file since start.
    pub misses: u64,
}

impl HeapCache {
    /// An empty cache holding at most `budget` bytes of payloads.
    pub fn new(budget: usize) -> Self {
        HeapCache {
            budget,
            inner: Mutex::new(Inner {
                entries: LruCache::unbounded(),
                bytes: 0,
            }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The payload of `hash` if it is cached for `v8_version` and the file
    /// at `path` still has the length and mtime it was verified with.
    pub fn get(&self, hash: &HeapHash, path: &Path, v8_version: &str) -> Option<Arc<Vec<u8>>> {
        let found = self.lookup(hash, path, v8_version);
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    fn lookup(&self, hash: &HeapHash, path: &Path, v8_version: &str) -> Option<Arc<Vec<u8>>> {
        let (payload, file_len, modified) = {
            let mut inner = self.lock();
            let entry = inner.entries.get(hash)?;
            if &*entry.v8_version != v8_version {
                return None;
            }
            (entry.payload.clone(), entry.file_len, entry.modified)
        };
        match fs::metadata(path) {
            Ok(stat) if stat.len() == file_len && stat.modified().ok() == Some(modified) => {
                Some(payload)
            }
            _ => {
                self.remove(hash);
                None
            }
        }
    }

    /// Caches `payload`, verified against the file at `path` as it is now.
    pub fn insert(&self, hash: HeapHash, path: &Path, payload: Arc<Vec<u8>>, v8_version: &str) {
        let size = payload.len();
        if size > self.budget / MAX_SHARE {
            return;
        }
        let Ok(stat) = fs::metadata(path) else {
            return;
        };
        let Ok(modified) = stat.modified() else {
            return;
        };
        let entry = Entry {
            payload,
            v8_version: v8_version.into(),
            file_len: stat.len(),
            modified,
        };
        let mut inner = self.lock();
        if let Some(old) = inner.entries.put(hash, entry) {
            inner.bytes -= old.payload.len();
        }
        inner.bytes += size;
        while inner.bytes > self.budget {
            match inner.entries.pop_lru() {
                Some((_, old)) => inner.bytes -= old.payload.len(),
                None => break,
            }
        }
    }

    /// Forgets `hash` (its file was deleted or failed a check).
    pub fn remove(&self, hash: &HeapHash) {
        let mut inner = self.lock();
        if let Some(old) = inner.entries.pop(hash) {
            inner.bytes -= old.payload.len();
        }
    }

    /// Number of cached payloads and their total size.
    pub fn usage(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.entries.len(), inner.bytes)
    }

    /// Size and effect of the cache.
    pub fn stats(&self) -> HeapCacheStats {
        let (entries, bytes) = self.usage();
        HeapCacheStats {
            entries,
            bytes,
            budget_bytes: self.budget,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(n: u8) -> HeapHash {
        HeapHash::of_payload(&[n])
    }

    /// A cache holding heap 1 (`payload`) for a file in a temp dir.
    fn cache_with_one_entry() -> (tempfile::TempDir, std::path::PathBuf, HeapCache) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("heap");
        fs::write(&path, b"header+payload").unwrap();
        let cache = HeapCache::new(1 << 20);
        cache.insert(hash(1), &path, Arc::new(b"payload".to_vec()), "v8");
        (dir, path, cache)
    }

    #[test]
    fn serves_an_entry_while_its_file_is_unchanged() {
        let (_dir, path, cache) = cache_with_one_entry();
        let hit = cache.get(&hash(1), &path, "v8").expect("a hit");
        assert_eq!(hit.as_slice(), b"payload");
        // Another V8 version never gets it.
        assert!(cache.get(&hash(1), &path, "other v8").is_none());
    }

    #[test]
    fn a_changed_or_deleted_file_misses_and_drops_the_entry() {
        let (_dir, path, cache) = cache_with_one_entry();
        // Same length, new contents: the mtime moves on.
        std::thread::sleep(std::time::Duration::from_millis(10));
        fs::write(&path, b"header+PAYLOAD").unwrap();
        assert!(cache.get(&hash(1), &path, "v8").is_none());
        assert_eq!(cache.usage(), (0, 0));

        cache.insert(hash(1), &path, Arc::new(b"payload".to_vec()), "v8");
        fs::remove_file(&path).unwrap();
        assert!(cache.get(&hash(1), &path, "v8").is_none());
        assert_eq!(cache.usage(), (0, 0));
    }

    #[test]
    fn keeps_within_the_budget_dropping_least_recently_used() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("heap");
        fs::write(&path, b"x").unwrap();
        let cache = HeapCache::new(1000);
        for n in 0..4 {
            cache.insert(hash(n), &path, Arc::new(vec![n; 250]), "v8");
        }
        assert_eq!(cache.usage(), (4, 1000));
        // Touch 0, then add one more: 1 is the least recently used.
        assert!(cache.get(&hash(0), &path, "v8").is_some());
        cache.insert(hash(9), &path, Arc::new(vec![9; 250]), "v8");
        assert_eq!(cache.usage(), (4, 1000));
        assert!(cache.get(&hash(1), &path, "v8").is_none());
        assert!(cache.get(&hash(0), &path, "v8").is_some());
        // Payloads over a quarter of the budget are not kept at all.
        cache.insert(hash(7), &path, Arc::new(vec![7; 251]), "v8");
        assert!(cache.get(&hash(7), &path, "v8").is_none());
        assert_eq!(cache.usage(), (4, 1000));
    }
}
