//! One-time, process-wide V8 initialisation: flags, ICU data, entropy
//! source and the platform.
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
