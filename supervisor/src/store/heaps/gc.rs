//! The heap garbage collector: removes heap files no session references
//! once they are older than the retention, and temp files of interrupted
//! writes.

use std::collections::HashSet;
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::{io_err, HeapError, HeapHash, HeapStore, TEMP_PREFIX};

/// Temp files older than this are leftovers of a crash; the GC removes them.
const TEMP_RETENTION: Duration = Duration::from_secs(3600);

/// What one garbage-collection pass did; shown in `/api/status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GcReport {
    /// Heap files removed.
    pub removed: usize,
    /// Heap files kept (referenced, or younger than the retention).
    pub kept: usize,
    /// Bytes freed by removed heap files and temp files.
    pub bytes_freed: u64,
    /// Leftover temp files of interrupted writes that were removed.
    pub temp_files_removed: usize,
    /// Files that could not be inspected or removed (logged).
    pub errors: usize,
}

impl HeapStore {
    /// Removes heap files that are not in `referenced` and were last written
    /// more than `retention` ago, and temp files left by interrupted writes.
    /// Files that are not heaps or temp files are left alone.
    pub fn gc(
        &self,
        referenced: &HashSet<HeapHash>,
        retention: Duration,
    ) -> Result<GcReport, HeapError> {
        let mut report = GcReport::default();
        let entries = fs::read_dir(&self.dir).map_err(io_err("list", &self.dir))?;
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    tracing::warn!(dir = %self.dir.display(), error = %e, "heap gc: cannot list");
                    report.errors += 1;
                    continue;
                }
            };
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(TEMP_PREFIX) {
                if let Some(freed) = self.remove_if_old(&entry.path(), TEMP_RETENTION, &mut report)
                {
                    report.temp_files_removed += 1;
                    report.bytes_freed += freed;
                }
                continue;
            }
            let Ok(hash) = HeapHash::parse(name) else {
                continue;
            };
            if referenced.contains(&hash) {
                report.kept += 1;
            } else if let Some(freed) = self.remove_if_old(&entry.path(), retention, &mut report) {
                self.cache.remove(&hash);
                tracing::info!(%hash, bytes = freed, "heap gc: removed unreferenced heap");
                report.removed += 1;
                report.bytes_freed += freed;
            } else {
                report.kept += 1;
            }
        }
        Ok(report)
    }

    /// Removes `path` if its mtime is at least `age` ago; returns its size.
    fn remove_if_old(&self, path: &Path, age: Duration, report: &mut GcReport) -> Option<u64> {
        let _gc = self.gc_lock.lock().unwrap_or_else(|p| p.into_inner());
        let stat = fs::symlink_metadata(path).ok()?;
        let modified = stat.modified().ok()?;
        let elapsed = SystemTime::now()
            .duration_since(modified)
            .unwrap_or(Duration::ZERO);
        if !stat.is_file() || elapsed < age {
            return None;
        }
        match fs::remove_file(path) {
            Ok(()) => Some(stat.len()),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "heap gc: cannot remove");
                report.errors += 1;
                None
            }
        }
    }
}
