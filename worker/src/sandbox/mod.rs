//! Locks the worker process down before any untrusted code runs.
//! (Stub: being implemented.)

use mcp_v8_shared::{SandboxLayer, WorkerConfig};

/// Why the sandbox could not be put in place.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("seccomp unavailable and --sandbox=strict: {0}")]
    StrictUnavailable(String),
}

/// Step 1: adopt the IPC fd, close every other fd, clear the environment.
pub fn prepare_process(_ipc_fd: i32) -> Vec<SandboxLayer> {
    Vec::new()
}

/// Step 2-3: namespaces and rlimits, while still single-threaded.
pub fn restrict_process(_config: &WorkerConfig) -> Vec<SandboxLayer> {
    Vec::new()
}

/// Step 5-6: no_new_privs and the seccomp filter, after V8 is initialised.
pub fn seal(_config: &WorkerConfig) -> Result<Vec<SandboxLayer>, SandboxError> {
    Ok(Vec::new())
}
