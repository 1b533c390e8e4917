//! Classifies how a worker process ended.
//!
//! The class decides what the caller sees (`crashed`, `timeout`,
//! `sandbox_violation`), the `last_exit` field in `/api/status`, and the
//! label of the worker-restart metric.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use serde::Serialize;

/// Why a worker process is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitClass {
    /// Exited with status 0 (asked to shut down, or socket closed).
    Normal,
    /// Killed by us because an execution overran its deadline plus grace.
    TimeoutKill,
    /// Killed by us because the caller cancelled the execution.
    Cancelled,
    /// Killed by us because it hit a limit or broke the protocol.
    Retired,
    /// Killed by SIGSYS: the seccomp filter caught a forbidden syscall.
    SandboxViolation,
    /// SIGABRT/SIGTRAP/SIGILL/SIGSEGV/SIGBUS: V8 fatal error or a crash.
    V8Fatal,
    /// SIGXCPU: the worker used up its RLIMIT_CPU backstop.
    CpuLimit,
    /// SIGKILL by the kernel because the workers' cgroup hit its memory cap.
    MemoryCap,
    /// Killed by another signal we did not send (OOM killer, operator).
    Signal,
    /// Exited with a non-zero status (start-up or IPC failure).
    Error,
}

impl ExitClass {
    /// Classifies a wait status; `killed_by_us` says what we meant by a
    /// SIGKILL we sent, if we sent one.
    pub fn from_status(status: ExitStatus, killed_by_us: Option<ExitClass>) -> ExitClass {
        if let Some(signal) = status.signal() {
            return match signal {
                libc::SIGSYS => ExitClass::SandboxViolation,
                libc::SIGXCPU => ExitClass::CpuLimit,
                libc::SIGKILL => killed_by_us.unwrap_or(ExitClass::Signal),
                libc::SIGABRT | libc::SIGTRAP | libc::SIGILL | libc::SIGSEGV | libc::SIGBUS => {
                    ExitClass::V8Fatal
                }
                _ => ExitClass::Signal,
            };
        }
        match status.code() {
            Some(0) => ExitClass::Normal,
            _ => ExitClass::Error,
        }
    }

    /// Stable lower-case name for metrics labels and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ExitClass::Normal => "normal",
            ExitClass::TimeoutKill => "timeout_kill",
            ExitClass::Cancelled => "cancelled",
            ExitClass::Retired => "retired",
            ExitClass::SandboxViolation => "sandbox_violation",
            ExitClass::V8Fatal => "v8_fatal",
            ExitClass::CpuLimit => "cpu_limit",
            ExitClass::MemoryCap => "memory_cap",
            ExitClass::Signal => "signal",
            ExitClass::Error => "error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signalled(sig: i32) -> ExitStatus {
        ExitStatus::from_raw(sig)
    }

    fn exited(code: i32) -> ExitStatus {
        ExitStatus::from_raw(code << 8)
    }

    #[test]
    fn classification_table() {
        let cases = [
            (signalled(libc::SIGSYS), None, ExitClass::SandboxViolation),
            (signalled(libc::SIGKILL), None, ExitClass::Signal),
            (
                signalled(libc::SIGKILL),
                Some(ExitClass::TimeoutKill),
                ExitClass::TimeoutKill,
            ),
            (signalled(libc::SIGABRT), None, ExitClass::V8Fatal),
            (signalled(libc::SIGTRAP), None, ExitClass::V8Fatal),
            (signalled(libc::SIGSEGV), None, ExitClass::V8Fatal),
            (signalled(libc::SIGTERM), None, ExitClass::Signal),
            (signalled(libc::SIGXCPU), None, ExitClass::CpuLimit),
            (exited(0), None, ExitClass::Normal),
            (exited(1), None, ExitClass::Error),
        ];
        for (status, ours, want) in cases {
            assert_eq!(ExitClass::from_status(status, ours), want, "{status:?}");
        }
    }
}
