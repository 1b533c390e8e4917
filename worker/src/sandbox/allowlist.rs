//! The seccomp allowlist of a sealed worker, as data.
//!
//! One entry per syscall: its name, its number, an optional rule on its
//! arguments, the verdict, and why the worker needs it. Everything not in
//! this table kills the process (`SIGSYS`). [`super::seccomp`] turns the
//! table into BPF; docs/sandbox.md shows it as a table and explains how to
//! add a syscall (run with `sandbox_debug`, read the kernel log, add the
//! entry here with a reason). Keep it minimal: every entry is kernel
//! attack surface that untrusted JavaScript can reach through V8.
//!
//! Found by running a sealed worker over a broad JS workload (GC, large
//! allocations, WebAssembly compile and run, Intl, regexps, OOM) with
//! `sandbox_debug` and under `strace -f`; see docs/sandbox.md.

/// A condition on the arguments; the syscall is allowed only if it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Args {
    /// Any arguments.
    Any,
    /// Argument `arg` (32-bit) equals one of `values`.
    OneOf { arg: u8, values: &'static [u64] },
    /// Argument `arg` (32-bit) differs from `value`.
    Not { arg: u8, value: u64 },
    /// Argument `arg` equals the worker's own pid (filled in when the
    /// filter is built; the worker never changes pid).
    OwnPid { arg: u8 },
    /// Argument `arg` is 0 (the caller) or the tid of one of the worker's
    /// threads (listed when the filter is built; none can be added later).
    OwnThread { arg: u8 },
}

/// What the filter does when the syscall (and its [`Args`]) match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Let the syscall run.
    Allow,
    /// Fail it with this errno without running it (for callers that cope
    /// with the failure, e.g. `ENOSYS` for `sched_getaffinity` of a tid).
    Errno(i32),
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// Syscall name as in `man 2`.
    pub name: &'static str,
    /// Syscall number on this architecture.
    pub nr: i64,
    /// Condition on the arguments.
    pub args: Args,
    /// What happens when it matches.
    pub verdict: Verdict,
    /// Why the worker needs it (shown in docs/sandbox.md).
    pub why: &'static str,
}

macro_rules! entry {
    ($name:ident, $args:expr, $verdict:expr, $why:expr) => {
        Entry {
            name: stringify!($name),
            nr: sys::$name,
            args: $args,
            verdict: $verdict,
            why: $why,
        }
    };
}

/// Syscall numbers of this architecture, by name (from `libc`).
#[allow(non_upper_case_globals)]
mod sys {
    pub const read: i64 = libc::SYS_read;
    pub const write: i64 = libc::SYS_write;
    pub const recvfrom: i64 = libc::SYS_recvfrom;
    pub const sendto: i64 = libc::SYS_sendto;
    pub const close: i64 = libc::SYS_close;
    pub const fcntl: i64 = libc::SYS_fcntl;
    pub const mmap: i64 = libc::SYS_mmap;
    pub const munmap: i64 = libc::SYS_munmap;
    pub const mprotect: i64 = libc::SYS_mprotect;
    pub const madvise: i64 = libc::SYS_madvise;
    pub const mremap: i64 = libc::SYS_mremap;
    pub const brk: i64 = libc::SYS_brk;
    pub const futex: i64 = libc::SYS_futex;
    pub const sched_yield: i64 = libc::SYS_sched_yield;
    pub const clock_gettime: i64 = libc::SYS_clock_gettime;
    pub const clock_nanosleep: i64 = libc::SYS_clock_nanosleep;
    pub const getpid: i64 = libc::SYS_getpid;
    pub const gettid: i64 = libc::SYS_gettid;
    pub const tgkill: i64 = libc::SYS_tgkill;
    pub const rt_sigaction: i64 = libc::SYS_rt_sigaction;
    pub const rt_sigprocmask: i64 = libc::SYS_rt_sigprocmask;
    pub const rt_sigreturn: i64 = libc::SYS_rt_sigreturn;
    pub const sigaltstack: i64 = libc::SYS_sigaltstack;
    pub const restart_syscall: i64 = libc::SYS_restart_syscall;
    pub const exit: i64 = libc::SYS_exit;
    pub const exit_group: i64 = libc::SYS_exit_group;
    pub const getrandom: i64 = libc::SYS_getrandom;
    pub const prctl: i64 = libc::SYS_prctl;
    pub const set_robust_list: i64 = libc::SYS_set_robust_list;
    pub const rseq: i64 = libc::SYS_rseq;
    pub const openat: i64 = libc::SYS_openat;
    pub const newfstatat: i64 = libc::SYS_newfstatat;
    pub const ioctl: i64 = libc::SYS_ioctl;
    pub const sched_getaffinity: i64 = libc::SYS_sched_getaffinity;
    pub const sched_getparam: i64 = libc::SYS_sched_getparam;
    pub const sched_getscheduler: i64 = libc::SYS_sched_getscheduler;
}

use Args::*;
use Verdict::*;

/// `prctl` options the worker may use.
const PRCTL_OPTIONS: &[u64] = &[libc::PR_SET_NAME as u64, libc::PR_SET_VMA as u64];

/// The table. At most one entry per syscall and verdict (a unit test
/// checks); an `Errno` entry's syscall is let through the allowlist filter
/// with any arguments, and the errno filter decides on its arguments.
pub static ENTRIES: &[Entry] = &[
    // --- IPC with the supervisor and stderr. The fd table is frozen once
    // sealed (no open, socket, dup, pipe, accept), so only the IPC socket,
    // stderr and /dev/null on 0/1 can be named; std's UnixStream reads with
    // recv(2) = recvfrom and writes with write(2).
    entry!(read, Any, Allow, "read frames from the IPC socket"),
    entry!(write, Any, Allow, "write frames to the IPC socket; stderr"),
    entry!(recvfrom, Any, Allow, "std UnixStream::read is recv(2)"),
    entry!(sendto, Any, Allow, "send(2) on the connected IPC socket"),
    entry!(
        close,
        Any,
        Allow,
        "dropping a descriptor (only the frozen set exists)"
    ),
    // std checks that an fd is still open before closing it (debug builds:
    // the IPC stream is dropped at shutdown). Only F_GETFD, which reads the
    // close-on-exec flag; F_DUPFD and friends would mint new fds.
    entry!(
        fcntl,
        OneOf {
            arg: 1,
            values: &[libc::F_GETFD as u64]
        },
        Allow,
        "std's fd check on drop"
    ),
    // --- Memory. V8 reserves cage/code ranges with mmap(PROT_NONE), commits
    // and protects pages for the heap and JIT code (W^X via mprotect),
    // returns memory with madvise(DONTNEED/FREE) and munmap; malloc uses brk,
    // mmap and mremap (realloc of large blocks).
    entry!(mmap, Any, Allow, "V8 heap/code reservations, malloc"),
    entry!(munmap, Any, Allow, "V8 releases pages, free()"),
    entry!(mprotect, Any, Allow, "V8 JIT W^X flips, guard pages"),
    entry!(madvise, Any, Allow, "V8 GC discards pages; malloc trims"),
    entry!(mremap, Any, Allow, "realloc of large blocks"),
    entry!(brk, Any, Allow, "malloc arena growth"),
    // --- Synchronisation between the isolate thread and the watchdog.
    entry!(futex, Any, Allow, "mutexes/condvars (watchdog, V8 locks)"),
    entry!(sched_yield, Any, Allow, "spin locks back off"),
    // glibc counts CPUs (affinity of pid 0 = ourselves) to size malloc
    // arenas when a second thread first allocates. Its pthread_getattr_np
    // asks for a thread's affinity by tid (std does so when a thread
    // starts, for its stack guard) and treats ENOSYS as "no such feature":
    // any pid but 0 gets ENOSYS and learns nothing.
    entry!(
        sched_getaffinity,
        OneOf {
            arg: 0,
            values: &[0]
        },
        Allow,
        "malloc arena limit (own CPUs)"
    ),
    entry!(
        sched_getaffinity,
        Not { arg: 0, value: 0 },
        Errno(libc::ENOSYS),
        "pthread_getattr_np copes with ENOSYS; no peeking at other pids"
    ),
    // V8, absl and glibc read a few files lazily, at moments no warm-up
    // can predict (absl reads /sys/.../tsc_freq_khz the first time a
    // contended mutex samples its cycle clock). Each of them copes with a
    // failed open, so openat fails with EPERM instead of killing the
    // worker: nothing is ever opened either way.
    entry!(
        openat,
        Any,
        Errno(libc::EPERM),
        "lazy reads of /proc and /sys fail; nothing is opened"
    ),
    // V8 prints a fatal error (a failed CHECK, e.g. an object a heap
    // snapshot cannot hold) with fprintf(stderr) before it traps; glibc's
    // first output on a stream asks fstat and isatty (ioctl TCGETS) how to
    // buffer it (seen with --sandbox-debug). Both fail instead of killing,
    // so the worker dies of V8's own trap and is reported as a V8 fatal
    // error, not as a sandbox violation. They reveal nothing.
    entry!(
        newfstatat,
        Any,
        Errno(libc::EPERM),
        "glibc stdio sizes a stream's buffer; nothing is learned"
    ),
    entry!(
        ioctl,
        Any,
        Errno(libc::EPERM),
        "isatty() for glibc stdio: never a terminal"
    ),
    // A contended absl::Mutex (V8's locks, e.g. the watchdog interrupting a
    // running isolate) reads the waiting thread's priority with
    // pthread_getschedparam, which asks the kernel once per thread.
    entry!(
        sched_getparam,
        OwnThread { arg: 0 },
        Allow,
        "absl::Mutex reads a waiter's priority"
    ),
    entry!(
        sched_getscheduler,
        OwnThread { arg: 0 },
        Allow,
        "absl::Mutex reads a waiter's policy"
    ),
    // --- Time. Most clock reads go through the vDSO; thread CPU clocks
    // (V8's ThreadTicks) and the watchdog's timed waits are real syscalls.
    entry!(
        clock_gettime,
        Any,
        Allow,
        "CPU-time clocks are not in the vDSO"
    ),
    entry!(
        clock_nanosleep,
        Any,
        Allow,
        "sleeping (timers, std::thread::sleep)"
    ),
    // --- Identity and signals. tgkill is allowed only towards our own
    // process: abort() on a V8 fatal error (OOM, CHECK) raises SIGABRT with
    // it, and the supervisor must see SIGABRT, not a seccomp SIGSYS.
    entry!(getpid, Any, Allow, "abort()/raise(); identifying ourselves"),
    entry!(gettid, Any, Allow, "abort()/raise(); V8 thread ids"),
    entry!(
        tgkill,
        OwnPid { arg: 0 },
        Allow,
        "raise()/abort() on this process only"
    ),
    entry!(
        rt_sigaction,
        Any,
        Allow,
        "V8/abort install and reset handlers"
    ),
    entry!(
        rt_sigprocmask,
        Any,
        Allow,
        "abort(), thread start blocks signals"
    ),
    entry!(
        rt_sigreturn,
        Any,
        Allow,
        "returning from any signal handler"
    ),
    entry!(
        sigaltstack,
        Any,
        Allow,
        "std's stack-overflow handler per thread"
    ),
    entry!(
        restart_syscall,
        Any,
        Allow,
        "kernel restarts an interrupted sleep"
    ),
    // --- Leaving.
    entry!(exit, Any, Allow, "a thread ends"),
    entry!(exit_group, Any, Allow, "the worker exits"),
    // --- Entropy: Math.random seeds, hash seeds, ASLR of V8's own ranges.
    entry!(
        getrandom,
        Any,
        Allow,
        "V8 and std random seeds, crypto.getRandomValues"
    ),
    // --- Thread names and names of anonymous mappings.
    entry!(
        prctl,
        OneOf {
            arg: 0,
            values: PRCTL_OPTIONS
        },
        Allow,
        "thread and VMA names"
    ),
    // --- No new threads, and so no new processes: V8 runs with a
    // single-threaded platform and starts no thread after initialisation,
    // and the watchdog is started before sealing. clone, clone3, fork and
    // vfork all kill; a kernel exploit loses the threads it would race
    // with. But a thread spawned just before sealing may run glibc's
    // start-up after it: it registers itself with these two.
    entry!(
        set_robust_list,
        Any,
        Allow,
        "start-up of a thread spawned just before sealing"
    ),
    entry!(
        rseq,
        Any,
        Allow,
        "start-up of a thread spawned just before sealing"
    ),
];
