//! The `rlimits` layer: resource limits that back up the other layers.
//!
//! - `RLIMIT_NOFILE`: the IPC fd plus a little headroom for V8's start-up
//!   (it may read a few files before the seccomp filter goes on).
//! - `RLIMIT_CORE` 0: a crashing worker must not write its heap (which
//!   holds user data) to disk.
//! - `RLIMIT_FSIZE` 0: no file can grow. `SIGXFSZ` is ignored so that a
//!   stderr redirected to a regular file yields `EFBIG` instead of killing
//!   the worker.
//! - `RLIMIT_CPU`: `cpu_limit_secs` as the last-resort backstop behind the
//!   watchdog and the supervisor's kill (soft limit sends `SIGXCPU`, the
//!   hard limit two seconds later `SIGKILL`); 0 leaves it unset.
//!
//! Deliberately not set: `RLIMIT_AS` (V8 reserves large address ranges and
//! aborts when a reservation fails; the heap is bounded by V8's own limits)
//! and `RLIMIT_NPROC` (it counts every process of the *user*, not of this
//! worker, so a low value breaks V8 thread creation when the supervisor's
//! user runs many processes; seccomp forbids new processes anyway).

use mcp_v8_shared::{SandboxLayer, WORKER_IPC_FD};
use nix::sys::resource::{setrlimit, Resource};
use nix::sys::signal::{signal, SigHandler, Signal};

use super::layer;

/// Descriptors V8 may open at once during start-up, above the IPC fd.
const FD_HEADROOM: u64 = 12;

/// Sets every limit; the layer is active only if all of them took.
pub(super) fn apply(cpu_limit_secs: u64) -> SandboxLayer {
    let nofile = WORKER_IPC_FD as u64 + 1 + FD_HEADROOM;
    let mut limits = vec![
        ("NOFILE", Resource::RLIMIT_NOFILE, nofile, nofile),
        ("CORE", Resource::RLIMIT_CORE, 0, 0),
        ("FSIZE", Resource::RLIMIT_FSIZE, 0, 0),
    ];
    if cpu_limit_secs > 0 {
        let hard = cpu_limit_secs.saturating_add(2);
        limits.push(("CPU", Resource::RLIMIT_CPU, cpu_limit_secs, hard));
    }
    let mut set = Vec::new();
    let mut failed = Vec::new();
    for (name, resource, soft, hard) in limits {
        match setrlimit(resource, soft, hard) {
            Ok(()) => set.push(format!("{name}={soft}")),
            Err(e) => failed.push(format!("{name}: {e}")),
        }
    }
    // SAFETY: SIG_IGN installs no Rust code as a handler.
    if let Err(e) = unsafe { signal(Signal::SIGXFSZ, SigHandler::SigIgn) } {
        failed.push(format!("ignoring SIGXFSZ: {e}"));
    }
    if cpu_limit_secs == 0 {
        set.push("CPU unlimited (cpu_limit_secs=0)".to_string());
    }
    let mut detail = set.join(", ");
    if !failed.is_empty() {
        detail.push_str("; failed: ");
        detail.push_str(&failed.join(", "));
    }
    layer("rlimits", failed.is_empty(), detail)
}
