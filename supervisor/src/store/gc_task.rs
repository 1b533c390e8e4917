//! The background heap garbage collector and its status for `/api/status`.
//!
//! Each pass reads the set of heaps the session database references, then
//! lets [`HeapStore::gc`] remove unreferenced heap files older than the
//! retention. Both steps block, so a pass runs in `spawn_blocking`. The
//! first pass runs right after start-up, then one every `interval`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{now_unix_ms, GcReport, HeapStore, SessionStore, StoreError};

/// Default time between two GC passes.
pub const DEFAULT_GC_INTERVAL: Duration = Duration::from_secs(3600);

/// What `/api/status` shows about the heap GC.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GcStatus {
    /// Completed passes since start-up (successful or not).
    pub runs: u64,
    /// End of the last pass, Unix milliseconds.
    pub last_run_at: Option<u64>,
    /// Report of the last successful pass.
    pub last_report: Option<GcReport>,
    /// Error of the last pass, if it failed.
    pub last_error: Option<String>,
    /// Heap files removed since start-up.
    pub total_removed: u64,
    /// Bytes freed since start-up.
    pub total_bytes_freed: u64,
}

/// Shared, cheaply cloned view of the GC status.
#[derive(Debug, Clone, Default)]
pub struct GcStatusHandle {
    /// The status, updated after each pass.
    inner: Arc<Mutex<GcStatus>>,
}

impl GcStatusHandle {
    /// A copy of the current status.
    pub fn snapshot(&self) -> GcStatus {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn record(&self, result: &Result<GcReport, StoreError>) {
        let mut status = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        status.runs += 1;
        status.last_run_at = Some(now_unix_ms());
        match result {
            Ok(report) => {
                status.total_removed += report.removed as u64;
                status.total_bytes_freed += report.bytes_freed;
                status.last_report = Some(report.clone());
                status.last_error = None;
            }
            Err(e) => status.last_error = Some(e.to_string()),
        }
    }
}

/// One blocking GC pass: referenced heaps from `sessions`, then
/// [`HeapStore::gc`].
pub fn run_gc_pass(
    heaps: &HeapStore,
    sessions: &SessionStore,
    retention: Duration,
) -> Result<GcReport, StoreError> {
    let referenced = sessions.referenced_heaps()?;
    Ok(heaps.gc(&referenced, retention)?)
}

/// Starts the background GC; it stops when `shutdown` is cancelled.
pub fn spawn_heap_gc(
    heaps: HeapStore,
    sessions: SessionStore,
    retention: Duration,
    interval: Duration,
    shutdown: CancellationToken,
) -> (JoinHandle<()>, GcStatusHandle) {
    let status = GcStatusHandle::default();
    let handle = tokio::spawn({
        let status = status.clone();
        async move {
            loop {
                let (heaps, sessions) = (heaps.clone(), sessions.clone());
                let pass =
                    tokio::task::spawn_blocking(move || run_gc_pass(&heaps, &sessions, retention));
                match pass.await {
                    Ok(result) => {
                        match &result {
                            Ok(report) => tracing::info!(?report, "heap gc pass"),
                            Err(e) => tracing::warn!(error = %e, "heap gc pass failed"),
                        }
                        status.record(&result);
                    }
                    Err(e) => tracing::error!(error = %e, "heap gc pass panicked"),
                }
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(interval) => {}
                }
            }
        }
    });
    (handle, status)
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::time::SystemTime;

    use super::*;
    use crate::store::{RunStatus, SessionEntry};

    #[tokio::test]
    async fn background_gc_keeps_session_heaps_and_reports() {
        let dir = tempfile::tempdir().unwrap();
        let heaps = HeapStore::open(dir.path().join("heaps"), 1 << 20).unwrap();
        let sessions = SessionStore::open(dir.path().join("db")).unwrap();
        let kept = heaps.put(b"in a session", "v8").unwrap();
        let orphan = heaps.put(b"orphan", "v8").unwrap();
        for hash in [kept, orphan] {
            let file = File::options()
                .write(true)
                .open(heaps.path_of(&hash))
                .unwrap();
            file.set_modified(SystemTime::now() - Duration::from_secs(10 * 86_400))
                .unwrap();
        }
        let entry = SessionEntry {
            index: 0,
            input_heap: None,
            output_heap: Some(kept),
            code_sha256: String::new(),
            started_at: 0,
            duration_ms: 1,
            status: RunStatus::Ok,
        };
        sessions.append("s", entry).unwrap();

        let shutdown = CancellationToken::new();
        let week = Duration::from_secs(7 * 86_400);
        let (task, status) = spawn_heap_gc(
            heaps.clone(),
            sessions,
            week,
            Duration::from_secs(3600),
            shutdown.clone(),
        );
        for _ in 0..200 {
            if status.snapshot().runs > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let snapshot = status.snapshot();
        assert_eq!(snapshot.runs, 1);
        assert_eq!(snapshot.total_removed, 1);
        assert_eq!(snapshot.last_report.unwrap().kept, 1);
        assert!(heaps.contains(&kept));
        assert!(!heaps.contains(&orphan));
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
    }
}
