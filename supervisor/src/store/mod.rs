//! Persistent state of the supervisor: heap files and named sessions.
//!
//! - [`heaps`]: [`HeapStore`], content-addressed heap files under
//!   `--directory-path` (header from `mcp_v8_shared::heap_file`), atomic
//!   writes, verification before a blob reaches a worker, and the garbage
//!   collector.
//! - [`sessions`]: [`SessionStore`], session name -> ordered run history, in
//!   sled at `--session-db-path`.
//! - [`session_locks`]: [`SessionLocks`], per-session async serialisation so
//!   one session runs one execution at a time while different sessions run in
//!   parallel.
//! - [`gc_task`]: the background heap GC ([`spawn_heap_gc`]) and its
//!   [`GcStatus`] for `/api/status`.
//!
//! [`HeapStore`] and [`SessionStore`] do blocking IO (files, fsync, sled
//! flush): call them from `tokio::task::spawn_blocking` on async paths. Both
//! are cheap to clone and safe to share between threads.
//!
//! The consistency rules (what advances a session, what the GC may delete)
//! are described in `docs/heaps.md`.

pub mod gc_task;
pub mod heaps;
pub mod session_locks;
pub mod sessions;

/// Test helper: calls `open` until it succeeds, for up to 5 s. sled
/// releases its file lock asynchronously after the last handle drops, so
/// reopening a database in the same process may fail for a moment.
#[cfg(test)]
pub(crate) fn open_retrying<T, E: std::fmt::Debug>(mut open: impl FnMut() -> Result<T, E>) -> T {
    let mut opened = open();
    for _ in 0..100 {
        if opened.is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        opened = open();
    }
    opened.expect("the database opens again")
}

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

pub use gc_task::{spawn_heap_gc, GcStatus, GcStatusHandle, DEFAULT_GC_INTERVAL};
pub use heaps::{GcReport, HeapCacheStats, HeapError, HeapHash, HeapMeta, HeapStore};
pub use session_locks::SessionLocks;
pub use sessions::{
    RunStatus, SessionEntry, SessionError, SessionName, SessionStore, SessionSummary,
};

/// Largest page a listing returns; larger `limit`s are clamped to this.
pub const MAX_PAGE_LIMIT: usize = 1000;

/// One page of a listing. Pass `next_cursor` back as `cursor` to get the
/// next page; `None` means this was the last page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page<T> {
    /// The items of this page, in listing order.
    pub items: Vec<T>,
    /// Opaque cursor of the next page, if there is one.
    pub next_cursor: Option<String>,
}

/// Any error of the store, for callers that handle heaps and sessions
/// together (the exec path, the HTTP layer).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A heap file error.
    #[error(transparent)]
    Heap(#[from] HeapError),
    /// A session database error.
    #[error(transparent)]
    Session(#[from] SessionError),
}

/// How an error should be reported to a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The request was malformed (bad hash, bad session name, bad cursor): 400.
    BadRequest,
    /// The heap or session does not exist: 404.
    NotFound,
    /// The heap exists but cannot be used by this server (another V8 or
    /// format version), or a session changed under the caller: 409.
    Conflict,
    /// The input is too large (heap above `--max-heap-bytes`): 413.
    TooLarge,
    /// Damaged data or an IO/database failure: 500. The message still names
    /// the hash or session.
    Internal,
}

impl StoreError {
    /// How to report this error to a client.
    pub fn class(&self) -> ErrorClass {
        match self {
            StoreError::Heap(e) => e.class(),
            StoreError::Session(e) => e.class(),
        }
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_unix_ms() -> u64 {
    unix_ms(SystemTime::now())
}

/// Milliseconds since the Unix epoch of `time` (0 before the epoch).
pub fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Formats seconds since the Unix epoch as RFC 3339 UTC, e.g.
/// `2024-05-01T12:00:00Z`.
pub fn rfc3339(unix_secs: u64) -> String {
    let time = UNIX_EPOCH + std::time::Duration::from_secs(unix_secs);
    humantime::format_rfc3339_seconds(time).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_714_564_800), "2024-05-01T12:00:00Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }
}
