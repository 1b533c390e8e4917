//! Memory limits of one isolate: the JS heap limit with its near-heap-limit
//! callback, and a counting ArrayBuffer allocator.
//!
//! * Heap: the isolate is created with `heap_limits(0, heap_mb MiB)`. When
//!   V8 is about to run out, [`near_heap_limit`] records the fact, asks the
//!   isolate to terminate and grants extra room so that V8 can unwind the
//!   stack instead of aborting the process. The run then reports
//!   `MemoryLimit`. The grant is generous (about 1 GiB) because the
//!   allocation that triggered the callback must still succeed: a single
//!   object (a flattened string) can be hundreds of MiB, and if it does not
//!   fit V8 aborts the whole worker.
//! * ArrayBuffers: backing stores live outside the JS heap, so they get
//!   their own cap. [`counting_allocator`] refuses allocations beyond the
//!   per-isolate budget; V8 turns the refusal into a `RangeError`.

use std::cell::Cell;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// Shared between an isolate and its near-heap-limit callback. Boxed and
/// owned by the isolate's holder, which drops it only after the isolate.
pub(crate) struct HeapGuard {
    /// Set once V8 reported that the heap limit was reached.
    pub(crate) hit: AtomicBool,
    /// How many times the callback granted more room.
    pub(crate) calls: AtomicU64,
    /// Terminates the isolate; set right after the isolate is created.
    pub(crate) handle: OnceLock<v8::IsolateHandle>,
    /// The isolate, to read its heap statistics from the callback.
    pub(crate) isolate: Cell<v8::UnsafeRawIsolatePtr>,
    /// The isolate's ArrayBuffer budget, to recognise callbacks caused by
    /// a refused ArrayBuffer rather than by a full heap.
    pub(crate) budget: Arc<AllocBudget>,
}

impl HeapGuard {
    /// A guard with nothing recorded yet.
    pub(crate) fn new(budget: Arc<AllocBudget>) -> Box<HeapGuard> {
        Box::new(HeapGuard {
            hit: AtomicBool::new(false),
            calls: AtomicU64::new(0),
            handle: OnceLock::new(),
            isolate: Cell::new(v8::UnsafeRawIsolatePtr::null()),
            budget,
        })
    }

    /// Whether the heap limit was reached during the run.
    pub(crate) fn was_hit(&self) -> bool {
        self.hit.load(Ordering::SeqCst)
    }
}

/// Extra room granted per callback invocation: enough for V8 to finish the
/// allocation that triggered the callback (the largest single objects, a
/// flattened string or a big array, are about 1 GiB) and then unwind.
pub(crate) fn grant(current_limit: usize, calls: u64) -> usize {
    let step: usize = (1 << 30) + (64 << 20);
    let factor = usize::try_from(calls.max(1)).unwrap_or(usize::MAX);
    current_limit.saturating_add(step.saturating_mul(factor))
}

/// A refused ArrayBuffer makes V8 run a last-resort GC, which calls the
/// near-heap-limit callback although the heap is nearly empty. Such a call
/// is recognised by a refusal in the last few milliseconds together with a
/// heap less than half full; the refusal then stays a catchable RangeError.
fn caused_by_refused_buffer(guard: &HeapGuard, current_limit: usize) -> bool {
    if !guard.budget.refused_recently() {
        return false;
    }
    let mut ptr = guard.isolate.get();
    if ptr.is_null() {
        return false;
    }
    // SAFETY: the pointer is the live isolate this callback belongs to
    // (set right after creation; the guard is dropped after the isolate),
    // and V8 calls us on that isolate's thread; reading heap statistics
    // from a near-heap-limit callback is allowed.
    let isolate = unsafe { v8::Isolate::ref_from_raw_isolate_ptr_mut(&mut ptr) };
    let used = isolate.get_heap_statistics().used_heap_size();
    used < current_limit / 2
}

/// V8's near-heap-limit callback; `data` points at the isolate's
/// [`HeapGuard`].
pub(crate) unsafe extern "C" fn near_heap_limit(
    data: *mut c_void,
    current_heap_limit: usize,
    _initial_heap_limit: usize,
) -> usize {
    // SAFETY: `data` is the address of the boxed HeapGuard registered with
    // this isolate; the box outlives the isolate (see create::Holder).
    let guard = unsafe { &*(data as *const HeapGuard) };
    if caused_by_refused_buffer(guard, current_heap_limit) {
        return current_heap_limit;
    }
    guard.hit.store(true, Ordering::SeqCst);
    let calls = guard.calls.fetch_add(1, Ordering::SeqCst) + 1;
    if let Some(handle) = guard.handle.get() {
        handle.terminate_execution();
    }
    grant(current_heap_limit, calls)
}

/// Byte budget of one isolate's ArrayBuffer backing stores.
pub(crate) struct AllocBudget {
    /// Bytes currently handed out.
    used: AtomicU64,
    /// Most bytes that may be handed out at once.
    limit: u64,
    /// When the last allocation was refused (see [`now_ms`]), 0 if never.
    refused_at_ms: AtomicU64,
}

impl AllocBudget {
    /// Tries to reserve `len` bytes; false when over budget.
    fn reserve(&self, len: usize) -> bool {
        let len = len as u64;
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let Some(next) = used.checked_add(len) else {
                return false;
            };
            if next > self.limit {
                return false;
            }
            match self
                .used
                .compare_exchange_weak(used, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => used = now,
            }
        }
    }

    /// Whether an allocation was refused in the last few milliseconds.
    fn refused_recently(&self) -> bool {
        let at = self.refused_at_ms.load(Ordering::Relaxed);
        at != 0 && now_ms().saturating_sub(at) <= 10
    }

    /// Returns `len` bytes to the budget.
    fn release(&self, len: usize) {
        self.used.fetch_sub(len as u64, Ordering::Relaxed);
    }

    /// Bytes currently in use.
    #[cfg(test)]
    pub(crate) fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Bytes that may still be allocated.
    pub(crate) fn room(&self) -> u64 {
        self.limit.saturating_sub(self.used.load(Ordering::Relaxed))
    }
}

/// Shared allocation path of both allocate entry points.
fn allocate_with(budget: &AllocBudget, len: usize, zeroed: bool) -> *mut c_void {
    if !budget.reserve(len) {
        budget
            .refused_at_ms
            .store(now_ms().max(1), Ordering::Relaxed);
        return std::ptr::null_mut();
    }
    // malloc(0) may return NULL, which V8 would read as failure.
    let size = len.max(1);
    // SAFETY: plain libc allocation; the result is checked below.
    let ptr = unsafe {
        if zeroed {
            libc::calloc(1, size)
        } else {
            libc::malloc(size)
        }
    };
    if ptr.is_null() {
        budget.release(len);
    }
    ptr
}

unsafe extern "C" fn ab_allocate(budget: &AllocBudget, len: usize) -> *mut c_void {
    allocate_with(budget, len, true)
}

unsafe extern "C" fn ab_allocate_uninitialized(budget: &AllocBudget, len: usize) -> *mut c_void {
    allocate_with(budget, len, false)
}

unsafe extern "C" fn ab_free(budget: &AllocBudget, data: *mut c_void, len: usize) {
    if data.is_null() {
        return;
    }
    // SAFETY: V8 hands back a pointer that ab_allocate* returned, once.
    unsafe { libc::free(data) };
    budget.release(len);
}

unsafe extern "C" fn ab_drop(budget: *const AllocBudget) {
    // SAFETY: `budget` came from Arc::into_raw in counting_allocator; V8
    // calls drop exactly once, when the allocator is destroyed.
    drop(unsafe { Arc::from_raw(budget) });
}

/// The vtable V8 calls for every ArrayBuffer backing store.
static VTABLE: v8::RustAllocatorVtable<AllocBudget> = v8::RustAllocatorVtable {
    allocate: ab_allocate,
    allocate_uninitialized: ab_allocate_uninitialized,
    free: ab_free,
    drop: ab_drop,
};

/// Milliseconds on a monotonic clock (CLOCK_MONOTONIC via Instant).
fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX) + 1
}

/// A new allocator refusing to hold more than `limit` bytes at once, and
/// its budget (for the heap guard).
pub(crate) fn counting_allocator(limit: u64) -> (v8::UniqueRef<v8::Allocator>, Arc<AllocBudget>) {
    let budget = Arc::new(AllocBudget {
        used: AtomicU64::new(0),
        limit,
        refused_at_ms: AtomicU64::new(0),
    });
    let raw = Arc::into_raw(budget.clone());
    // SAFETY: `raw` is a valid AllocBudget kept alive by the Arc reference
    // that ab_drop releases; VTABLE matches the handle type.
    let allocator = unsafe { v8::new_rust_allocator(raw, &VTABLE) };
    (allocator, budget)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_refuses_beyond_limit() {
        let budget = AllocBudget {
            used: AtomicU64::new(0),
            limit: 100,
            refused_at_ms: AtomicU64::new(0),
        };
        let a = allocate_with(&budget, 60, true);
        assert!(!a.is_null());
        assert!(allocate_with(&budget, 60, false).is_null());
        assert!(budget.refused_recently());
        // SAFETY: `a` was allocated above with len 60.
        unsafe { ab_free(&budget, a, 60) };
        assert_eq!(budget.used(), 0);
        let b = allocate_with(&budget, 100, false);
        assert!(!b.is_null());
        // SAFETY: `b` was allocated above with len 100.
        unsafe { ab_free(&budget, b, 100) };
        assert!(allocate_with(&budget, usize::MAX, true).is_null());
    }

    #[test]
    fn grant_grows() {
        let mb = 1 << 20;
        assert!(grant(64 * mb, 1) >= 64 * mb + 1024 * mb);
        assert!(grant(64 * mb, 2) > grant(64 * mb, 1));
        assert!(grant(usize::MAX - 1, 3) == usize::MAX);
    }
}
