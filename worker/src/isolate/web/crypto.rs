//! Crypto ops: random bytes from the kernel (`getrandom(2)`, allowed by
//! the seccomp filter, no file descriptor), UUID v4, SHA digests (`sha1`,
//! `sha2`) and HMAC (`hmac`) for `crypto.subtle`.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use v8::{FunctionCallbackArguments, Local, PinScope, ReturnValue, Value};

use super::args;

/// `randomFill(view)`: fills the view with random bytes (the glue checks
/// the type and the 65,536-byte quota).
pub(super) fn random_fill(
    scope: &mut PinScope,
    a: FunctionCallbackArguments,
    _rv: ReturnValue<Value>,
) {
    let Ok(view) = Local::<v8::ArrayBufferView>::try_from(a.get(0)) else {
        return args::type_error(scope, "getRandomValues needs an integer typed array");
    };
    let mut bytes = vec![0u8; view.byte_length()];
    if !crate::sandbox::fill_random(&mut bytes) {
        return args::type_error(scope, "no randomness available");
    }
    args::write_into(scope, view, 0, &bytes);
}

/// `uuid()`: a random (version 4) UUID in its lower-case text form.
pub(super) fn uuid(
    scope: &mut PinScope,
    _a: FunctionCallbackArguments,
    mut rv: ReturnValue<Value>,
) {
    let mut b = [0u8; 16];
    if !crate::sandbox::fill_random(&mut b) {
        return args::type_error(scope, "no randomness available");
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = hex::encode(b);
    let text = format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    );
    rv.set(args::js_str(scope, &text));
}

/// Digest of `data` with the named algorithm (`SHA-1`, `SHA-256`,
/// `SHA-384`, `SHA-512`), `None` for other names.
fn digest_of(alg: &str, data: &[u8]) -> Option<Vec<u8>> {
    Some(match alg {
        "SHA-1" => Sha1::digest(data).to_vec(),
        "SHA-256" => Sha256::digest(data).to_vec(),
        "SHA-384" => Sha384::digest(data).to_vec(),
        "SHA-512" => Sha512::digest(data).to_vec(),
        _ => return None,
    })
}

/// HMAC of `data` under `key` with the named hash.
fn hmac_of(alg: &str, key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    macro_rules! mac {
        ($h:ty) => {{
            let mut mac = Hmac::<$h>::new_from_slice(key).ok()?;
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }};
    }
    Some(match alg {
        "SHA-1" => mac!(Sha1),
        "SHA-256" => mac!(Sha256),
        "SHA-384" => mac!(Sha384),
        "SHA-512" => mac!(Sha512),
        _ => return None,
    })
}

/// `digest(alg, bytes)`: an ArrayBuffer, or `undefined` for an unknown
/// algorithm name (the glue normalises names).
pub(super) fn digest(
    scope: &mut PinScope,
    a: FunctionCallbackArguments,
    mut rv: ReturnValue<Value>,
) {
    let Some(alg) = args::string(scope, a.get(0)) else {
        return;
    };
    let Some(data) = args::bytes(a.get(1)) else {
        return args::type_error(scope, "digest needs a BufferSource");
    };
    match digest_of(&alg, &data) {
        Some(out) => rv.set(args::array_buffer(scope, out)),
        None => rv.set_undefined(),
    }
}

/// `hmac(alg, key, data)`: the MAC as an ArrayBuffer.
pub(super) fn hmac(scope: &mut PinScope, a: FunctionCallbackArguments, mut rv: ReturnValue<Value>) {
    let Some(alg) = args::string(scope, a.get(0)) else {
        return;
    };
    let (Some(key), Some(data)) = (args::bytes(a.get(1)), args::bytes(a.get(2))) else {
        return args::type_error(scope, "hmac needs BufferSources");
    };
    match hmac_of(&alg, &key, &data) {
        Some(out) => rv.set(args::array_buffer(scope, out)),
        None => rv.set_undefined(),
    }
}

/// `hmacVerify(alg, key, data, signature)`: whether the signature matches,
/// compared in constant time.
pub(super) fn hmac_verify(
    scope: &mut PinScope,
    a: FunctionCallbackArguments,
    mut rv: ReturnValue<Value>,
) {
    let Some(alg) = args::string(scope, a.get(0)) else {
        return;
    };
    let (Some(key), Some(data), Some(sig)) = (
        args::bytes(a.get(1)),
        args::bytes(a.get(2)),
        args::bytes(a.get(3)),
    ) else {
        return args::type_error(scope, "verify needs BufferSources");
    };
    macro_rules! verify {
        ($h:ty) => {
            match Hmac::<$h>::new_from_slice(&key) {
                Ok(mut mac) => {
                    mac.update(&data);
                    mac.verify_slice(&sig).is_ok()
                }
                Err(_) => false,
            }
        };
    }
    let ok = match alg.as_str() {
        "SHA-1" => verify!(Sha1),
        "SHA-256" => verify!(Sha256),
        "SHA-384" => verify!(Sha384),
        "SHA-512" => verify!(Sha512),
        _ => false,
    };
    rv.set_bool(ok);
}
