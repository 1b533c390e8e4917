//! An entropy source that works inside the sealed worker.
//!
//! Without one, V8 seeds every new `RandomNumberGenerator` (one per
//! context: `Math.random`, hash seeds, address-space layout) by opening
//! `/dev/urandom`, and `open` is forbidden after sealing: the first context
//! created after `seal` would kill the worker. The isolate module must
//! therefore register [`fill_random`] with `v8::V8::set_entropy_source`
//! before `v8::V8::initialize()`. It uses `getrandom(2)`, which the
//! allowlist permits and which needs no file descriptor.

/// Fills `buf` from the kernel's CSPRNG; `false` if that is impossible.
pub fn fill_random(buf: &mut [u8]) -> bool {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: `rest` is valid writable memory of `rest.len()` bytes.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n > 0 {
            filled += n as usize;
        } else if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        } else {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    #[test]
    fn fills_the_whole_buffer() {
        let mut a = [0u8; 64];
        let mut b = [0u8; 64];
        assert!(super::fill_random(&mut a) && super::fill_random(&mut b));
        assert_ne!(a, b);
    }
}
