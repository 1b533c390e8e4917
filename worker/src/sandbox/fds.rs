//! The `fds` and `env` layers: the worker keeps only its IPC socket and
//! stderr, and no environment.
//!
//! Stdin and stdout are pointed at `/dev/null` rather than closed, so that
//! their numbers stay taken and a stray `println!` goes nowhere. Stderr is
//! kept on purpose: the supervisor captures it and logs it with the worker
//! id. Every other inherited fd (leaked pipes, a jobserver, a log file of
//! the parent) is closed, with `close_range(2)` or, on kernels before 5.9,
//! by walking `/proc/self/fd` (acceptable here: this is start-up, long
//! before the seccomp filter forbids opening anything).

use std::ffi::CStr;
use std::io;

use mcp_v8_shared::SandboxLayer;
use nix::sys::stat::{fstat, SFlag};

use super::layer;

/// Verifies `ipc_fd`, redirects stdin/stdout, closes every fd above stderr
/// except `ipc_fd`. Layer `fds`.
pub(super) fn close_other_fds(ipc_fd: i32) -> SandboxLayer {
    let mut notes = Vec::new();
    let ipc_is_socket = match fstat(ipc_fd) {
        Ok(st) => SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFSOCK,
        Err(e) => {
            notes.push(format!("fstat({ipc_fd}): {e}"));
            false
        }
    };
    if !ipc_is_socket {
        notes.push(format!("ipc fd {ipc_fd} is not a socket"));
    }
    for fd in [0, 1] {
        if fd != ipc_fd {
            if let Err(e) = point_at_dev_null(fd) {
                notes.push(format!("fd {fd} -> /dev/null: {e}"));
            }
        }
    }
    if ipc_fd != 2 && !is_open(2) {
        if let Err(e) = point_at_dev_null(2) {
            notes.push(format!("fd 2 -> /dev/null: {e}"));
        }
    }
    let method = match close_from(3, ipc_fd) {
        Ok(method) => method,
        Err(e) => {
            notes.push(format!("closing fds: {e}"));
            "failed"
        }
    };
    let ok = ipc_is_socket && notes.is_empty();
    let mut detail = format!("kept stderr and ipc fd {ipc_fd}; closed the rest with {method}");
    for note in notes {
        detail.push_str("; ");
        detail.push_str(&note);
    }
    layer("fds", ok, detail)
}

/// Removes every environment variable. Layer `env`.
pub(super) fn clear_environment() -> SandboxLayer {
    let keys: Vec<_> = std::env::vars_os().map(|(key, _)| key).collect();
    for key in &keys {
        // The process is single-threaded here (see `prepare_process`), so no
        // other thread can be reading the environment concurrently.
        std::env::remove_var(key);
    }
    let left = std::env::vars_os().count();
    layer(
        "env",
        left == 0,
        format!("removed {} variables, {left} left", keys.len()),
    )
}

fn is_open(fd: i32) -> bool {
    // SAFETY: F_GETFD only reads the descriptor flags of `fd`.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// Replaces `fd` with a read-write `/dev/null`.
fn point_at_dev_null(fd: i32) -> io::Result<()> {
    const DEV_NULL: &CStr = c"/dev/null";
    // SAFETY: the path is a valid NUL-terminated string; the result is
    // checked before use.
    let null = unsafe { libc::open(DEV_NULL.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if null < 0 {
        return Err(io::Error::last_os_error());
    }
    if null == fd {
        // `fd` was closed and open() reused its number; drop O_CLOEXEC.
        // SAFETY: plain fcntl on a descriptor we just opened.
        unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
        return Ok(());
    }
    // SAFETY: dup2 atomically replaces `fd`; `null` is ours to close.
    let rc = unsafe { libc::dup2(null, fd) };
    let err = io::Error::last_os_error();
    // SAFETY: `null` was opened above and is not used afterwards.
    unsafe { libc::close(null) };
    if rc < 0 {
        return Err(err);
    }
    Ok(())
}

/// Closes every fd `>= first` except `keep`; returns the method used.
fn close_from(first: i32, keep: i32) -> io::Result<&'static str> {
    let ranges: &[(i32, i32)] = if keep >= first {
        &[(first, keep - 1), (keep + 1, i32::MAX)]
    } else {
        &[(first, i32::MAX)]
    };
    let mut used_syscall = true;
    for &(lo, hi) in ranges {
        if lo > hi {
            continue;
        }
        // SAFETY: close_range only closes descriptors; nothing in this
        // single-threaded process holds one of these fds as an owned value
        // (std has none open, and the IPC fd is excluded).
        let rc = unsafe { libc::syscall(libc::SYS_close_range, lo as u32, hi as u32, 0u32) };
        if rc != 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::ENOSYS) {
                return Err(err);
            }
            used_syscall = false;
            close_by_listing(first, keep)?;
            break;
        }
    }
    Ok(if used_syscall {
        "close_range"
    } else {
        "/proc/self/fd"
    })
}

/// Fallback for kernels without close_range (before 5.9).
fn close_by_listing(first: i32, keep: i32) -> io::Result<()> {
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd >= first && fd != keep)
        .collect();
    // The directory handle is closed by now; closing its (stale) number
    // again only yields EBADF, which is ignored.
    for fd in fds {
        // SAFETY: see close_from; errors (EBADF) are harmless here.
        unsafe { libc::close(fd) };
    }
    Ok(())
}
