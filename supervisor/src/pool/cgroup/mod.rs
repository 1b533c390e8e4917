//! The memory cap on all worker processes together (`--workers-memory-max`).
//!
//! Owns the one cgroup every worker is moved into right after it is spawned
//! (before its handshake, so before any untrusted code runs), its limit,
//! its status for `/api/status`, and its removal at shutdown. The
//! supervisor itself stays outside the cap. See docs/sandbox.md, "Memory
//! cap (cgroup)".
//!
//! - cgroup v2 (our cgroup from the `0::` line of `/proc/self/cgroup`, with
//!   `memory` in its `cgroup.controllers`): the supervisor moves itself to
//!   `<ours>/supervisor` (no-internal-processes rule), enables `+memory` in
//!   `<ours>/cgroup.subtree_control` and creates `<ours>/workers` with
//!   `memory.max`, `memory.swap.max` 0 and `memory.oom.group` 0 (the OOM
//!   killer takes one worker, not all).
//! - cgroup v1 (a mounted `memory` hierarchy whose directory for our cgroup
//!   is writable): `<memcg>/mcp-v8-workers-<pid>` with
//!   `memory.limit_in_bytes` (and `memory.memsw.limit_in_bytes` if present).
//!   Leftovers of dead supervisors with no processes are removed at start.
//! - Otherwise the cap is unavailable and [`CgroupStatus::reason`] says why.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

mod discover;
mod setup;
#[cfg(test)]
mod tests;

use discover::{parse_mountinfo, parse_proc_cgroup};
use setup::{setup_v1, setup_v2};

/// Prefix of the per-supervisor v1 cgroup directories.
const V1_PREFIX: &str = "mcp-v8-workers-";

/// A cgroup operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write {value:?} to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        source: io::Error,
    },
    #[error("cannot create {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("{0}")]
    Unsupported(String),
}

/// Which cgroup hierarchy holds the workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CgroupVersion {
    #[serde(rename = "v1")]
    V1,
    #[serde(rename = "v2")]
    V2,
}

/// The `sandbox.memory_cap` object of `/api/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CgroupStatus {
    pub available: bool,
    pub version: Option<CgroupVersion>,
    /// Directory of the workers' cgroup.
    pub path: Option<String>,
    /// The limit as the kernel reports it.
    pub memory_max_bytes: Option<u64>,
    /// Memory charged to the workers now.
    pub memory_current_bytes: Option<u64>,
    /// Why the cap is unavailable (`disabled` when `--workers-memory-max 0`).
    pub reason: Option<String>,
}

/// The workers' cgroup, or the reason there is none.
#[derive(Debug)]
pub struct WorkerCgroup(Result<Active, String>);

#[derive(Debug)]
struct Active {
    version: CgroupVersion,
    dir: PathBuf,
}

impl Active {
    fn file(&self, v2: &str, v1: &str) -> PathBuf {
        self.dir.join(if self.version == CgroupVersion::V2 {
            v2
        } else {
            v1
        })
    }
}

impl WorkerCgroup {
    /// Creates the workers' cgroup with this limit (0: disabled). Never
    /// fails: on error the returned value holds the reason.
    pub fn setup(limit_bytes: u64) -> WorkerCgroup {
        if limit_bytes == 0 {
            return WorkerCgroup(Err("disabled".to_string()));
        }
        let proc_cgroup = match fs::read_to_string("/proc/self/cgroup") {
            Ok(text) => text,
            Err(e) => return WorkerCgroup(Err(format!("cannot read /proc/self/cgroup: {e}"))),
        };
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let entries = parse_proc_cgroup(&proc_cgroup);
        let mounts = parse_mountinfo(&mountinfo);
        let v2 = setup_v2(&entries, &mounts, limit_bytes);
        let v1 = match &v2 {
            Ok(_) => None,
            Err(_) => Some(setup_v1(&entries, &mounts, limit_bytes)),
        };
        WorkerCgroup(match (v2, v1) {
            (Ok(active), _) | (_, Some(Ok(active))) => Ok(active),
            (Err(e2), Some(Err(e1))) => Err(format!("cgroup v2: {e2}; cgroup v1: {e1}")),
            (Err(e2), None) => Err(e2.to_string()),
        })
    }

    /// Moves a worker (all its threads) into the cgroup; no-op when the cap
    /// is unavailable.
    pub fn add(&self, pid: u32) -> Result<(), CgroupError> {
        match &self.0 {
            Ok(active) => write(&active.dir.join("cgroup.procs"), &pid.to_string()),
            Err(_) => Ok(()),
        }
    }

    /// What `/api/status` shows.
    pub fn status(&self) -> CgroupStatus {
        match &self.0 {
            Ok(active) => CgroupStatus {
                available: true,
                version: Some(active.version),
                path: Some(active.dir.display().to_string()),
                memory_max_bytes: read_bytes(&active.file("memory.max", "memory.limit_in_bytes")),
                memory_current_bytes: read_bytes(
                    &active.file("memory.current", "memory.usage_in_bytes"),
                ),
                reason: None,
            },
            Err(reason) => CgroupStatus {
                available: false,
                version: None,
                path: None,
                memory_max_bytes: None,
                memory_current_bytes: None,
                reason: Some(reason.clone()),
            },
        }
    }

    /// Workers the kernel OOM-killed for the cap so far (`oom_kill` of
    /// `memory.events` or v1 `memory.oom_control`); `None` when unknown.
    /// Lets a caller tell a cap kill from another SIGKILL.
    pub fn oom_kills(&self) -> Option<u64> {
        let active = self.0.as_ref().ok()?;
        let text = fs::read_to_string(active.file("memory.events", "memory.oom_control")).ok()?;
        keyed_value(&text, "oom_kill")
    }

    /// Removes the cgroup once the workers are gone (best effort: retries
    /// briefly while the kernel finishes reaping them).
    pub fn cleanup(&self) {
        let Ok(active) = &self.0 else { return };
        for _ in 0..20 {
            match fs::remove_dir(&active.dir) {
                Ok(()) => return,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return,
                Err(_) => std::thread::sleep(Duration::from_millis(25)),
            }
        }
        if let Err(e) = fs::remove_dir(&active.dir) {
            tracing::warn!(path = %active.dir.display(), "cannot remove the workers' cgroup: {e}");
        }
    }
}

/// A byte count from a cgroup file; `None` for `max` (v2) or the v1
/// "unlimited" value, and when unreadable.
fn read_bytes(path: &Path) -> Option<u64> {
    parse_bytes(&fs::read_to_string(path).ok()?)
}

fn parse_bytes(text: &str) -> Option<u64> {
    text.trim().parse().ok().filter(|&n| n < (1u64 << 62))
}

/// The value of `key` in a flat-keyed cgroup file (`key value` lines).
fn keyed_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        line.strip_prefix(key)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

fn read(path: &Path) -> Result<String, CgroupError> {
    fs::read_to_string(path).map_err(|source| CgroupError::Read {
        path: path.into(),
        source,
    })
}

fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    fs::write(path, value).map_err(|source| CgroupError::Write {
        path: path.into(),
        value: value.into(),
        source,
    })
}

/// Creates a cgroup directory; an existing one is reused.
fn create_dir(path: &Path) -> Result<(), CgroupError> {
    match fs::create_dir(path) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(CgroupError::Create {
            path: path.into(),
            source: e,
        }),
        _ => Ok(()),
    }
}
