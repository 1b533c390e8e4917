//! Content-addressed heap files under `--directory-path`.
//!
//! Each heap is one file named by the lower-case hex SHA-256 of its payload
//! (the V8 snapshot blob), holding the header of
//! [`mcp_v8_shared::heap_file`] followed by the payload. Writes are atomic: a
//! temp file `.tmp-<hash>-<pid>-<n>` in the same directory is written,
//! fsynced, renamed over the final name, and the directory is fsynced, so a
//! reader sees either no file or a complete one. Writing a heap that already
//! exists is idempotent (the existing file is verified and its mtime
//! refreshed, so the GC treats it as new).
//!
//! Every read verifies the whole file (magic, format version, V8 version,
//! length, checksum, and that the checksum equals the file name) before the
//! payload is returned, so no damaged or foreign blob reaches a worker.
//! Payloads just written or verified are kept in a [`HeapCache`] as long
//! as their file's length and mtime do not change, so a session's next
//! run does not read and hash its heap again.
//!
//! Heap files are written with `O_DIRECT` where the filesystem allows it:
//! they are written once and read back from the cache, not the page cache,
//! and on the 2-core test VM a buffered 10 MB write costs 24 ms against
//! 5 ms direct (fsync included). Elsewhere the write falls back to
//! buffered IO.
//!
//! All functions do blocking file IO; call them from `spawn_blocking`.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use mcp_v8_shared::heap_file::{self, HeapFileError};
use serde::Serialize;

use super::{rfc3339, unix_ms, ErrorClass};

/// Prefix of temp files; never a valid hash, so never mistaken for a heap.
const TEMP_PREFIX: &str = ".tmp-";
/// Bytes read to decode a header without the payload (V8 versions are short).
const HEADER_PROBE_BYTES: u64 = 4096;

/// Bytes of verified payloads kept in memory.
const CACHE_BYTES: usize = 64 << 20;

/// Distinguishes temp files of concurrent writes in one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Errors of the heap store; every variant names the heap or the path.
#[derive(Debug, thiserror::Error)]
pub enum HeapError {
    /// A heap hash that is not 64 lower-case hex characters.
    #[error("invalid heap hash {input:?}: {reason}")]
    InvalidHash {
        /// The offending input (cut to 80 characters).
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No heap file with this hash.
    #[error("heap {hash} not found")]
    NotFound {
        /// The requested heap.
        hash: HeapHash,
    },
    /// The file is intact but written by another V8 or format version.
    #[error("heap {hash} cannot be used by this server: {source}")]
    Incompatible {
        /// The requested heap.
        hash: HeapHash,
        /// `V8Mismatch` or `UnsupportedFormat`.
        source: HeapFileError,
    },
    /// The file is damaged (truncated, bad magic, checksum mismatch).
    #[error("heap {hash} is corrupt: {source}")]
    Corrupt {
        /// The requested heap.
        hash: HeapHash,
        /// The damaged file.
        path: PathBuf,
        /// What is wrong with it.
        source: HeapFileError,
    },
    /// The file is a valid heap file, but of another payload than its name.
    #[error("heap {hash} is corrupt: the file holds heap {actual}")]
    Misnamed {
        /// The requested heap (the file name).
        hash: HeapHash,
        /// The file.
        path: PathBuf,
        /// The hash of the payload actually in the file.
        actual: HeapHash,
    },
    /// A snapshot larger than `--max-heap-bytes`.
    #[error("heap snapshot of {size} bytes exceeds the limit of {limit} bytes (--max-heap-bytes)")]
    TooLarge {
        /// Payload size in bytes.
        size: u64,
        /// The configured limit in bytes.
        limit: u64,
    },
    /// A file-system operation failed.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// What was attempted (`read`, `write`, `rename`, ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

impl HeapError {
    /// How to report this error to a client.
    pub fn class(&self) -> ErrorClass {
        match self {
            HeapError::InvalidHash { .. } => ErrorClass::BadRequest,
            HeapError::NotFound { .. } => ErrorClass::NotFound,
            HeapError::Incompatible { .. } => ErrorClass::Conflict,
            HeapError::TooLarge { .. } => ErrorClass::TooLarge,
            HeapError::Corrupt { .. } | HeapError::Misnamed { .. } | HeapError::Io { .. } => {
                ErrorClass::Internal
            }
        }
    }
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> HeapError + 'a {
    move |source| HeapError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// What `GET /api/heaps/{hash}` shows about a heap file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeapMeta {
    /// The heap.
    pub hash: HeapHash,
    /// Size of the file (header + payload) in bytes.
    pub size_bytes: u64,
    /// Size of the V8 snapshot payload in bytes.
    pub payload_bytes: u64,
    /// When the file was created (birth time, else last write), Unix seconds.
    pub created_unix_secs: u64,
    /// The same instant as RFC 3339 UTC.
    pub created: String,
    /// V8 version that wrote the snapshot.
    pub v8_version: String,
    /// Heap file format version.
    pub format_version: u32,
}

/// The heap directory. Cheap to clone; clones share the GC lock and the
/// cache.
#[derive(Clone)]
pub struct HeapStore {
    /// Directory holding one file per heap.
    dir: PathBuf,
    /// Largest payload `put` accepts, in bytes (`--max-heap-bytes`).
    max_heap_bytes: u64,
    /// Makes "refresh an existing file" in `put` and "check age, delete" in
    /// `gc` atomic with respect to each other.
    gc_lock: Arc<Mutex<()>>,
    /// Recently written or verified payloads.
    cache: Arc<HeapCache>,
}

impl std::fmt::Debug for HeapStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeapStore").field("dir", &self.dir).finish()
    }
}

impl HeapStore {
    /// Opens (creating if needed) the heap directory.
    pub fn open(dir: impl Into<PathBuf>, max_heap_bytes: u64) -> Result<Self, HeapError> {
        let dir = dir.into();
        if !dir.is_dir() {
            fs::create_dir_all(&dir).map_err(io_err("create directory", &dir))?;
            // The new directory's entry must survive a crash too.
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
        }
        Ok(HeapStore {
            dir,
            max_heap_bytes,
            gc_lock: Arc::new(Mutex::new(())),
            cache: Arc::new(HeapCache::new(CACHE_BYTES)),
        })
    }

    /// Size and hit counts of the in-memory heap cache.
    pub fn cache_stats(&self) -> HeapCacheStats {
        self.cache.stats()
    }

    /// The heap directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of a heap's file (whether or not it exists).
    pub fn path_of(&self, hash: &HeapHash) -> PathBuf {
        self.dir.join(hash.to_string())
    }

    /// Whether a file for this heap exists (not verified).
    #[cfg(test)]
    pub fn contains(&self, hash: &HeapHash) -> bool {
        self.path_of(hash).is_file()
    }

    /// Stores a snapshot payload and returns its hash. Atomic and durable
    /// when it returns; idempotent when the heap already exists.
    pub fn put(
        &self,
        payload: impl Into<Vec<u8>>,
        v8_version: &str,
    ) -> Result<HeapHash, HeapError> {
        let payload = payload.into();
        let hash = HeapHash::of_payload(&payload);
        self.put_hashed(hash, Arc::new(payload), v8_version)
    }

    /// [`HeapStore::put`] of a payload whose SHA-256 the caller computed
    /// (`hash` must be `HeapHash::of_payload(&payload)`); the payload is
    /// shared with the heap cache, not copied.
    pub fn put_hashed(
        &self,
        hash: HeapHash,
        payload: Arc<Vec<u8>>,
        v8_version: &str,
    ) -> Result<HeapHash, HeapError> {
        debug_assert_eq!(hash, HeapHash::of_payload(&payload));
        let size = payload.len() as u64;
        if size > self.max_heap_bytes {
            return Err(HeapError::TooLarge {
                size,
                limit: self.max_heap_bytes,
            });
        }
        let path = self.path_of(&hash);
        if self.refresh_existing(&hash, &path) {
            match self.get(&hash, v8_version) {
                Ok(_) => return Ok(hash),
                Err(e) => tracing::warn!(%hash, error = %e, "rewriting damaged heap file"),
            }
        }
        // The file name is the payload's SHA-256, and so is the header's
        // checksum: hash once, and write header and payload without copying.
        let header = heap_file::encode_heap_header(size, hash.as_bytes(), v8_version);
        let temp = self.dir.join(format!(
            "{TEMP_PREFIX}{hash}-{}-{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let written = write_synced(&temp, &header, &payload)
            .and_then(|()| fs::rename(&temp, &path).map_err(io_err("rename", &temp)));
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(e);
        }
        sync_dir(&self.dir)?;
        self.cache.insert(hash, &path, payload, v8_version);
        Ok(hash)
    }

    /// Sets the mtime of an existing heap file to now, under the GC lock, so
    /// the GC cannot remove it right after `put` returned its hash. Returns
    /// whether the file exists.
    fn refresh_existing(&self, hash: &HeapHash, path: &Path) -> bool {
        let _gc = self.gc_lock.lock().unwrap_or_else(|p| p.into_inner());
        match File::options().write(true).open(path) {
            Ok(file) => {
                if let Err(e) = file.set_modified(SystemTime::now()) {
                    tracing::warn!(%hash, error = %e, "cannot refresh heap file mtime");
                }
                true
            }
            Err(_) => false,
        }
    }

    /// Reads a heap and returns its payload after verifying the whole file
    /// against `expected_v8_version` and the hash.
    pub fn get(&self, hash: &HeapHash, expected_v8_version: &str) -> Result<Vec<u8>, HeapError> {
        let path = self.path_of(hash);
        if let Some(payload) = self.cache.get(hash, &path, expected_v8_version) {
            return Ok(payload.as_ref().clone());
        }
        let mut bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(HeapError::NotFound { hash: *hash })
            }
            Err(e) => return Err(io_err("read", &path)(e)),
        };
        let payload_len = heap_file::parse_heap_file(&bytes, expected_v8_version)
            .map_err(|source| file_error(hash, &path, source))?
            .len();
        let header_len = bytes.len() - payload_len;
        let actual = HeapHash::of_payload(&bytes[header_len..]);
        if actual != *hash {
            return Err(HeapError::Misnamed {
                hash: *hash,
                path,
                actual,
            });
        }
        bytes.drain(..header_len);
        let payload = Arc::new(bytes);
        self.cache
            .insert(*hash, &path, payload.clone(), expected_v8_version);
        Ok(Arc::unwrap_or_clone(payload))
    }

    /// Header facts and file times, without reading the payload. Works for
    /// heaps of other V8 versions too (they show their `v8_version`).
    pub fn metadata(&self, hash: &HeapHash) -> Result<HeapMeta, HeapError> {
        let path = self.path_of(hash);
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(HeapError::NotFound { hash: *hash })
            }
            Err(e) => return Err(io_err("open", &path)(e)),
        };
        let stat = file.metadata().map_err(io_err("stat", &path))?;
        let mut probe = Vec::new();
        (&mut file)
            .take(HEADER_PROBE_BYTES)
            .read_to_end(&mut probe)
            .map_err(io_err("read", &path))?;
        let header = match heap_file::parse_heap_header(&probe) {
            // A header longer than the probe (absurdly long V8 version): read
            // the rest of it and parse again.
            Err(HeapFileError::Truncated { expected, .. })
                if probe.len() as u64 == HEADER_PROBE_BYTES =>
            {
                let rest = expected.saturating_sub(HEADER_PROBE_BYTES);
                (&mut file)
                    .take(rest)
                    .read_to_end(&mut probe)
                    .map_err(io_err("read", &path))?;
                heap_file::parse_heap_header(&probe)
            }
            other => other,
        }
        .map_err(|source| file_error(hash, &path, source))?;
        let expected_len = header.header_len as u64 + header.payload_len;
        if stat.len() != expected_len {
            let source = if stat.len() < expected_len {
                HeapFileError::Truncated {
                    expected: expected_len,
                    found: stat.len(),
                }
            } else {
                HeapFileError::TrailingBytes {
                    extra: stat.len() - expected_len,
                }
            };
            return Err(HeapError::Corrupt {
                hash: *hash,
                path,
                source,
            });
        }
        let created = stat
            .created()
            .or_else(|_| stat.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let created_unix_secs = unix_ms(created) / 1000;
        Ok(HeapMeta {
            hash: *hash,
            size_bytes: stat.len(),
            payload_bytes: header.payload_len,
            created_unix_secs,
            created: rfc3339(created_unix_secs),
            v8_version: header.v8_version,
            format_version: header.format_version,
        })
    }
}

fn file_error(hash: &HeapHash, path: &Path, source: HeapFileError) -> HeapError {
    if source.is_incompatible() {
        HeapError::Incompatible {
            hash: *hash,
            source,
        }
    } else {
        HeapError::Corrupt {
            hash: *hash,
            path: path.to_owned(),
            source,
        }
    }
}

mod cache;
mod durable;
mod gc;
mod hash;

use cache::HeapCache;
pub use cache::HeapCacheStats;
use durable::{sync_dir, write_synced};
pub use gc::GcReport;
pub use hash::HeapHash;

#[cfg(test)]
mod tests;
