//! Test-only attacks run from inside a locked-down worker, to prove each
//! layer holds (feature `attack-hooks`; never in a release build).
//!
//! Each operation issues the forbidden syscall through raw `libc`, so the
//! kernel and the filter decide, not a Rust wrapper. Under the real filter
//! most of them never return: the process dies of `SIGSYS`. If one does
//! return: `Ok` with the errno text when the sandbox refused it (`EPERM`,
//! `ENOSYS`), `Err` when it succeeded or failed for a reason that shows the
//! kernel actually ran it (e.g. `ENOTSOCK`).

use std::ffi::CStr;
use std::io;

/// Names accepted by [`perform`].
pub const NAMES: &[&str] = &[
    "ok",
    "open",
    "write_file",
    "socket",
    "connect",
    "fork",
    "clone_process",
    "clone3",
    "thread",
    "execve",
    "ptrace",
    "kill",
    "sched_other",
    "tiocsti",
    "poll",
];

/// Runs the named attack; see the module docs for the result.
pub fn perform(name: &str) -> Result<String, String> {
    match name {
        "ok" => Ok("control: nothing attempted".into()),
        "open" => open(c"/etc/passwd", libc::O_RDONLY),
        "write_file" => open(c"/tmp/x", libc::O_WRONLY | libc::O_CREAT),
        "socket" => {
            // SAFETY: plain syscall with integer arguments.
            let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
            returned_fd("socket", fd)
        }
        "connect" => connect_loopback(),
        "fork" => {
            // SAFETY: the child only calls _exit, which is async-signal-safe.
            let pid = unsafe { libc::fork() };
            child_or_refusal("fork", pid as libc::c_long)
        }
        "clone_process" => {
            // SAFETY: a clone without CLONE_VM gives the child a copy of
            // our memory; it only calls _exit.
            let pid = unsafe { libc::syscall(libc::SYS_clone, libc::SIGCHLD, 0, 0, 0, 0) };
            child_or_refusal("clone(SIGCHLD)", pid)
        }
        "clone3" => clone3(),
        "thread" => match std::thread::Builder::new().spawn(|| ()) {
            Ok(handle) => {
                let _ = handle.join();
                Err("std::thread::spawn succeeded".into())
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM | libc::ENOSYS)) => {
                Ok(format!("thread refused: {e}"))
            }
            Err(e) => Err(format!("thread creation reached the kernel: {e}")),
        },
        "execve" => {
            let path = c"/bin/true";
            let argv = [path.as_ptr(), std::ptr::null()];
            let envp = [std::ptr::null()];
            // SAFETY: NUL-terminated path and NULL-terminated arrays.
            let rc = unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
            refusal("execve(/bin/true)", rc as libc::c_long)
        }
        "ptrace" => {
            // SAFETY: PTRACE_TRACEME takes no pointers.
            let rc = unsafe { libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) };
            refusal("ptrace(PTRACE_TRACEME)", rc)
        }
        "kill" => {
            // Signal 0 only checks that the target exists and may be
            // signalled; init is unharmed either way.
            // SAFETY: plain syscall with integer arguments.
            let rc = unsafe { libc::kill(1, 0) };
            refusal("kill(1, 0)", rc as libc::c_long)
        }
        "sched_other" => {
            let mut param = libc::sched_param { sched_priority: 0 };
            // SAFETY: `param` is a valid sched_param to write to.
            let rc = unsafe { libc::sched_getparam(1, &mut param) };
            refusal("sched_getparam(1)", rc as libc::c_long)
        }
        "tiocsti" => {
            // Push a byte into the input of the terminal behind stderr, the
            // classic escape from a sandbox that shares a tty.
            let byte: libc::c_char = b'x' as libc::c_char;
            // SAFETY: TIOCSTI reads one byte from the pointer.
            let rc = unsafe { libc::ioctl(2, libc::TIOCSTI, &byte) };
            refusal("ioctl(2, TIOCSTI)", rc as libc::c_long)
        }
        "poll" => {
            // Waiting on a descriptor: the worker waits for its host
            // replies by reading, never by polling (docs/sandbox.md).
            let mut pfd = libc::pollfd {
                fd: 0,
                events: libc::POLLIN,
                revents: 0,
            };
            let ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: one valid pollfd and a valid timespec.
            let rc = unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
            refusal("ppoll(0)", rc as libc::c_long)
        }
        other => Err(format!("unknown attack {other:?}; known: {NAMES:?}")),
    }
}

fn open(path: &CStr, flags: libc::c_int) -> Result<String, String> {
    // SAFETY: NUL-terminated path; mode is read only with O_CREAT.
    let fd = unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC, 0o600) };
    let what = format!("open({path:?})");
    let result = returned_fd(&what, fd);
    if fd >= 0 && flags & libc::O_CREAT != 0 {
        // SAFETY: NUL-terminated path.
        unsafe { libc::unlink(path.as_ptr()) };
    }
    result
}

/// `connect(0, 127.0.0.1:1)`: fd 0 is /dev/null, so an unfiltered kernel
/// answers ENOTSOCK; the filter must stop it before that.
fn connect_loopback() -> Result<String, String> {
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 1u16.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_be_bytes([127, 0, 0, 1]).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `addr` is a valid sockaddr_in of `len` bytes.
    let rc = unsafe { libc::connect(0, (&addr as *const libc::sockaddr_in).cast(), len) };
    refusal("connect(0, 127.0.0.1:1)", rc as libc::c_long)
}

fn clone3() -> Result<String, String> {
    #[repr(C)]
    #[derive(Default)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
    }
    let args = CloneArgs {
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    // SAFETY: `args` is a valid clone_args (version 0 size); without
    // CLONE_VM the child gets a copy of our memory and only calls _exit.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    child_or_refusal("clone3", pid)
}

/// Interprets a syscall that returns -1 on failure.
fn refusal(what: &str, rc: libc::c_long) -> Result<String, String> {
    if rc >= 0 {
        return Err(format!("{what} succeeded"));
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EPERM) | Some(libc::ENOSYS) => Ok(format!("{what} refused: {err}")),
        _ => Err(format!("{what} reached the kernel: {err}")),
    }
}

fn returned_fd(what: &str, fd: libc::c_int) -> Result<String, String> {
    if fd >= 0 {
        // SAFETY: we own the descriptor just returned.
        unsafe { libc::close(fd) };
    }
    refusal(what, fd as libc::c_long)
}

/// For fork-like calls: in a child, leave at once; in the parent, reap.
fn child_or_refusal(what: &str, pid: libc::c_long) -> Result<String, String> {
    if pid == 0 {
        // SAFETY: _exit is async-signal-safe and never returns.
        unsafe { libc::_exit(0) };
    }
    if pid > 0 {
        let mut status = 0;
        // SAFETY: reaping the child we just created.
        unsafe { libc::waitpid(pid as libc::pid_t, &mut status, 0) };
    }
    refusal(what, pid)
}
