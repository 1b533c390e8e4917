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

/// Fills `buf` from the kernel's CSPRNG with getrandom(2).
///
/// V8 seeds its per-isolate random number generators (Math.random, hash
/// seeds, ASLR hints) from this. Without it V8 falls back to opening
/// `/dev/urandom`, which the sandbox forbids.
fn entropy_source(buf: &mut [u8]) -> bool {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: `rest` is a valid, writable buffer of `rest.len()` bytes.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return false;
        }
        filled += n as usize;
    }
    true
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
        v8::V8::set_flags_from_string(&v8_flags(max_array_buffer_bytes));
        v8::V8::set_entropy_source(entropy_source);
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
    fn entropy_fills_buffer() {
        let mut a = [0u8; 64];
        let mut b = [0u8; 64];
        assert!(entropy_source(&mut a));
        assert!(entropy_source(&mut b));
        assert_ne!(a, b);
    }

    #[test]
    fn wasm_pages_follow_the_array_buffer_cap() {
        assert!(v8_flags(256 << 20).contains("--wasm-max-mem-pages=4096"));
        assert!(v8_flags(0).contains("--wasm-max-mem-pages=1"));
        assert!(v8_flags(u64::MAX).contains("--wasm-max-mem-pages=65536"));
    }
}
