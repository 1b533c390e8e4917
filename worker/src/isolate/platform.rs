//! One-time, process-wide V8 initialisation: malloc tuning, flags, ICU
//! data, entropy source and the platform.
//!
//! V8 can be initialised only once per process, so [`init`] is guarded by a
//! `OnceLock` and returns the same platform handle on every call.
//!
//! The platform is V8's *single-threaded* default platform together with the
//! `--single-threaded` flag: V8 starts no background threads at all (no
//! concurrent GC markers, no compiler threads), so the worker is one thread
//! plus our watchdog. That keeps the seccomp story simple (no thread is ever
//! created after the sandbox is sealed) and idle memory low. GC and
//! compilation happen on the isolate's thread instead, which costs some
//! latency on allocation-heavy scripts but nothing on small ones.

use std::sync::OnceLock;

use v8::{Platform, SharedRef};

/// The platform, created once; kept so that the event loop can pump its
/// foreground task queue.
static PLATFORM: OnceLock<SharedRef<Platform>> = OnceLock::new();

/// malloc blocks at least this big get their own mapping (glibc's
/// default starts at 128 KiB and adapts up to 32 MiB).
const MMAP_THRESHOLD: i32 = 32 << 20;

/// Free memory at the top of the malloc heap beyond this goes back to the
/// kernel on `free` (glibc's default: 128 KiB).
const TRIM_THRESHOLD: i32 = 64 << 20;

/// Keeps big, short-lived malloc blocks in the heap for reuse. Serialising
/// a heap snapshot grows buffers of the blob's size by doubling; with
/// glibc's defaults each such buffer is a fresh mapping, zero-filled page
/// by page by the kernel and unmapped again, which cost a third of a
/// 10 MB capture (22 ms instead of 36 ms with these settings, measured
/// with `heap_floor`). Memory a big run leaves behind is bounded by
/// `TRIM_THRESHOLD`, is returned by the engine's `malloc_trim` after big
/// isolates, and counts towards the pool's RSS retirement rule.
fn tune_malloc() {
    // SAFETY: mallopt only changes allocator parameters; no allocation is
    // in flight on another thread (V8 is not initialised yet).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}

/// Called by V8 just before it aborts the process on a fatal error (OOM
/// that could not be averted, failed CHECK, corrupt snapshot). stderr is
/// captured by the supervisor.
fn on_fatal_error(file: &str, line: i32, message: &str) {
    eprintln!("mcp-v8 worker: V8 fatal error at {file}:{line}: {message}");
}

/// The V8 flags the worker runs with, given the per-worker cap on
/// ArrayBuffer memory (WebAssembly memories do not go through the
/// ArrayBuffer allocator, so their size is capped with a flag instead).
pub(crate) fn v8_flags(max_array_buffer_bytes: u64) -> String {
    let wasm_pages = (max_array_buffer_bytes / 65_536).clamp(1, 65_536);
    format!("--single-threaded --wasm-max-mem-pages={wasm_pages}")
}

/// Initialises V8 once for this process and returns its platform.
pub(crate) fn init(max_array_buffer_bytes: u64) -> &'static SharedRef<Platform> {
    PLATFORM.get_or_init(|| {
        tune_malloc();
        v8::V8::set_flags_from_string(&v8_flags(max_array_buffer_bytes));
        // V8 seeds its random number generators (Math.random, hash seeds)
        // from this; without it, every new context opens /dev/urandom,
        // which the sealed sandbox forbids.
        v8::V8::set_entropy_source(crate::sandbox::fill_random);
        // The ICU data must be in place before V8 initialises, or the first
        // Intl call spends minutes enumerating locales.
        if let Err(e) = v8::icu::set_common_data_78(deno_core_icudata::ICU_DATA) {
            eprintln!("mcp-v8 worker: ICU data refused (error {e}); Intl will be slow");
        }
        let platform = v8::new_single_threaded_default_platform(false).make_shared();
        v8::V8::initialize_platform(platform.clone());
        v8::V8::initialize();
        v8::V8::set_fatal_error_handler(on_fatal_error);
        platform
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasm_pages_follow_the_array_buffer_cap() {
        assert!(v8_flags(256 << 20).contains("--wasm-max-mem-pages=4096"));
        assert!(v8_flags(0).contains("--wasm-max-mem-pages=1"));
        assert!(v8_flags(u64::MAX).contains("--wasm-max-mem-pages=65536"));
    }
}
