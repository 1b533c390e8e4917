//! What the engine must do *before* [`super::seal`], because V8, ICU and
//! glibc read files lazily, on first use, and `open` kills a sealed worker.
//!
//! Found by running a sealed worker over the workload in
//! `worker/tests/sandbox.rs` under `strace -f -k` (see docs/sandbox.md):
//!
//! 1. Entropy: register [`super::fill_random`] with
//!    `v8::V8::set_entropy_source` before `v8::V8::initialize()`. Otherwise
//!    every new context opens `/dev/urandom`.
//! 2. Stack bounds: V8 caches the JS thread's stack limits in a
//!    thread-local on the first garbage collection
//!    (`Heap::CollectGarbage` -> `Isolate::IsOnCentralStack` ->
//!    `pthread_getattr_np`, which reads `/proc/self/maps` for the main
//!    thread). Run one GC on the thread that will run JS, e.g.
//!    `isolate.low_memory_notification()` on the warm isolate.
//! 3. Time zone: ICU detects the host time zone once per process
//!    (`TimeZone::detectHostTimeZone` -> `tzset` -> `/etc/localtime`) and
//!    glibc caches it. Run [`WARM_UP_SCRIPT`] in a context.
//! 4. CPU count: the first contended `absl::Mutex` (V8's mutexes; any
//!    condition-variable wait, e.g. `Atomics.wait`, or the watchdog racing
//!    the isolate) calls `absl::NumCPUs()` -> `sysconf` -> `get_nprocs`,
//!    which reads `/sys/devices/system/cpu/online`, once per process.
//!    [`WARM_UP_SCRIPT`] waits on a condition variable for 1 ms.
//!
//! Threads are a non-issue: glibc only reads `/proc/self/maps` for the
//! main thread; threads made later inherit the filter (clone with
//! `CLONE_THREAD` is allowed).

/// JavaScript that makes ICU, absl and glibc load what they load lazily
/// (host time zone, calendar, number and collation data of the default
/// locale, the CPU count). Its value is irrelevant.
pub const WARM_UP_SCRIPT: &str = "\
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1) + \
    new Date(0).toString() + new Date(0).toLocaleString() + \
    new Intl.DateTimeFormat().resolvedOptions().timeZone + \
    new Intl.NumberFormat().format(1.5) + ['b', 'a'].sort(new Intl.Collator().compare)";
