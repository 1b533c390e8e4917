//! The snapshot checksum V8 computes when it creates a heap snapshot,
//! linked in place of V8's own.
//!
//! `SnapshotCreator::CreateBlob` checksums the blob three times (the
//! read-only part, the whole blob, then the whole blob again to verify).
//! The V8 build we link (no zlib) uses Fletcher-32 with a modulo on every
//! byte, about 5 cycles a byte: 41% of a small stateful run and some 40 ms
//! of a 10 MB capture (profiled with `perf`, see docs/performance.md).
//!
//! This file defines the same function, `v8::internal::Checksum(
//! base::Vector<const uint8_t>)`, computing the *same value* with the
//! modulo taken once per megabyte and the inner sums over 32-byte chunks,
//! which the compiler vectorises. The function sits alone in its own
//! object file of V8's static library (`snapshot-utils.o`); the linker
//! meets our definition first (this crate comes before V8 on the link
//! line) and so never pulls that object in. Were both ever linked, the
//! link would fail with a duplicate symbol, never silently pick one.
//! [`calls`] counts our calls so a test can prove V8 reached this code.
//!
//! Only on x86-64 Linux, the one target whose V8 object was checked (the
//! `Vector` is passed in two registers, pointer then length).

use std::sync::atomic::{AtomicU64, Ordering};

/// How many times V8 called [`v8_snapshot_checksum`].
static CALLS: AtomicU64 = AtomicU64::new(0);

/// Fletcher-32's modulus.
const MOD: u64 = 65_535;

/// Bytes summed per vectorised step.
const LANES: usize = 32;

/// Bytes between reductions: small enough that the u64 sums cannot
/// overflow (the second sum grows by at most `255 * n^2 / 2 + n * MOD`).
const BLOCK: usize = 1 << 20;

/// V8's `base::Vector<const uint8_t>`: a pointer and a length, passed by
/// value in two registers.
#[repr(C)]
pub struct ByteVector {
    /// First byte.
    start: *const u8,
    /// Number of bytes.
    length: usize,
}

/// Fletcher-32 over `data` exactly as V8 defines it (per byte:
/// `sum1 = (sum1 + b) % 65535; sum2 = (sum2 + sum1) % 65535`), returning
/// `sum2 << 16 | sum1`.
pub(crate) fn fletcher32(data: &[u8]) -> u32 {
    let (mut sum1, mut sum2) = (0u64, 0u64);
    for block in data.chunks(BLOCK) {
        let mut chunks = block.chunks_exact(LANES);
        for chunk in &mut chunks {
            // After bytes b_0..b_31: sum1 += Σ b_j and
            // sum2 += 32 * sum1 + Σ (32 - j) * b_j.
            let (mut plain, mut weighted) = (0u32, 0u32);
            for (j, &b) in chunk.iter().enumerate() {
                plain += u32::from(b);
                weighted += (LANES - j) as u32 * u32::from(b);
            }
            sum2 += LANES as u64 * sum1 + u64::from(weighted);
            sum1 += u64::from(plain);
        }
        for &b in chunks.remainder() {
            sum1 += u64::from(b);
            sum2 += sum1;
        }
        sum1 %= MOD;
        sum2 %= MOD;
    }
    ((sum2 << 16) | sum1) as u32
}

/// V8's `v8::internal::Checksum`, called by V8 while it creates a
/// snapshot.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[export_name = "_ZN2v88internal8ChecksumENS_4base6VectorIKhEE"]
pub extern "C" fn v8_snapshot_checksum(payload: ByteVector) -> u32 {
    CALLS.fetch_add(1, Ordering::Relaxed);
    if payload.start.is_null() || payload.length == 0 {
        return 0;
    }
    // SAFETY: V8 passes a live, readable byte range of this length.
    let data = unsafe { std::slice::from_raw_parts(payload.start, payload.length) };
    fletcher32(data)
}

/// How many checksums V8 asked of [`v8_snapshot_checksum`] so far.
#[cfg(test)]
pub(crate) fn calls() -> u64 {
    CALLS.load(Ordering::Relaxed)
}

/// Keeps the definition in the link even if nothing else in its codegen
/// unit is used; called once from `Engine::new`.
pub(crate) fn keep_linked() {
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    std::hint::black_box(v8_snapshot_checksum as extern "C" fn(ByteVector) -> u32);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// V8's definition, byte by byte.
    fn reference(data: &[u8]) -> u32 {
        let (mut sum1, mut sum2) = (0u32, 0u32);
        for &b in data {
            sum1 = (sum1 + u32::from(b)) % 65_535;
            sum2 = (sum2 + sum1) % 65_535;
        }
        (sum2 << 16) | sum1
    }

    #[test]
    fn matches_v8s_definition() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut bytes = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect()
        };
        for n in [
            0,
            1,
            2,
            31,
            32,
            33,
            1000,
            65_535,
            BLOCK - 1,
            BLOCK,
            BLOCK + 77,
        ] {
            let data = bytes(n);
            assert_eq!(fletcher32(&data), reference(&data), "random, {n} bytes");
            let ones = vec![0xffu8; n];
            assert_eq!(fletcher32(&ones), reference(&ones), "0xff, {n} bytes");
        }
        let big = vec![0xffu8; 3 * BLOCK + 5];
        assert_eq!(fletcher32(&big), reference(&big), "0xff, 3 MiB");
    }
}
