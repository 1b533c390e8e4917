//! Live state of each worker slot, as shown by `/api/status`.

use std::time::{Instant, SystemTime};

use mcp_v8_shared::SandboxReport;
use serde::Serialize;

use super::exit_class::ExitClass;

/// What a slot is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerState {
    /// A process is being started (or restarted after backoff).
    Starting,
    /// Ready for a job.
    Idle,
    /// Running a job.
    Busy,
    /// Waiting before the next restart because recent ones died young.
    Backoff,
    /// The pool is shutting down.
    Stopped,
}

/// The execution a busy worker is running.
#[derive(Debug, Clone)]
pub struct CurrentExecution {
    /// Execution id (also in logs).
    pub id: u64,
    /// When the worker got it.
    pub started: Instant,
}

/// Mutable state of one slot, behind the slot's mutex.
#[derive(Debug, Clone)]
pub struct WorkerStatus {
    /// Slot number, stable across restarts.
    pub id: usize,
    /// Pid of the current process, if one is running.
    pub pid: Option<u32>,
    /// What the slot is doing.
    pub state: WorkerState,
    /// The running execution, when busy.
    pub current: Option<CurrentExecution>,
    /// Executions this slot has completed, across restarts.
    pub n_executions: u64,
    /// Processes started in this slot after the first.
    pub n_restarts: u64,
    /// How the previous process ended.
    pub last_exit: Option<ExitClass>,
    /// When the current process became ready.
    pub ready_since: Option<SystemTime>,
    /// Sandbox layers of the current process.
    pub sandbox: Option<SandboxReport>,
}

impl WorkerStatus {
    /// A slot that has not started a process yet.
    pub fn new(id: usize) -> Self {
        WorkerStatus {
            id,
            pid: None,
            state: WorkerState::Starting,
            current: None,
            n_executions: 0,
            n_restarts: 0,
            last_exit: None,
            ready_since: None,
            sandbox: None,
        }
    }
}

/// Resident memory of a process in bytes, from `/proc/<pid>/statm`.
pub fn resident_bytes(pid: u32) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).unwrap_or(4096))
}
