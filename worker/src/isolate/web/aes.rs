//! AES-GCM for `crypto.subtle.encrypt`/`decrypt` (the `aes-gcm` crate):
//! 128- and 256-bit keys, 96-bit IVs, 128-bit tags (the glue refuses
//! other parameters with `NotSupportedError` before calling in).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes128Gcm, Aes256Gcm, Nonce};
use v8::{FunctionCallbackArguments, PinScope, ReturnValue, Value};

use super::args;

/// Seals (`encrypt`) or opens `data`; `None` for a bad key or IV size, or
/// a ciphertext whose tag does not verify.
fn aes_gcm(encrypt: bool, key: &[u8], iv: &[u8], data: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    if iv.len() != 12 {
        return None;
    }
    let nonce = Nonce::from_slice(iv);
    let payload = Payload { msg: data, aad };
    macro_rules! run {
        ($cipher:ty) => {{
            let cipher = <$cipher>::new_from_slice(key).ok()?;
            if encrypt {
                cipher.encrypt(nonce, payload).ok()
            } else {
                cipher.decrypt(nonce, payload).ok()
            }
        }};
    }
    match key.len() {
        16 => run!(Aes128Gcm),
        32 => run!(Aes256Gcm),
        _ => None,
    }
}

/// `aesGcm(encrypt, key, iv, data, additionalData)`: the ciphertext with
/// its tag appended (or the plaintext) as an ArrayBuffer; `undefined` if
/// decryption fails (the glue throws `OperationError`).
pub(super) fn aes_gcm_op(
    scope: &mut PinScope,
    a: FunctionCallbackArguments,
    mut rv: ReturnValue<Value>,
) {
    let encrypt = a.get(0).is_true();
    let (Some(key), Some(iv), Some(data), Some(aad)) = (
        args::bytes(a.get(1)),
        args::bytes(a.get(2)),
        args::bytes(a.get(3)),
        args::bytes(a.get(4)),
    ) else {
        return args::type_error(scope, "AES-GCM needs BufferSources");
    };
    match aes_gcm(encrypt, &key, &iv, &data, &aad) {
        Some(out) => rv.set(args::array_buffer(scope, out)),
        None => rv.set_undefined(),
    }
}

#[cfg(test)]
mod tests {
    use super::aes_gcm;

    #[test]
    fn nist_vector_with_aad_seals_and_opens() {
        // NIST GCM test vector (128-bit key, 96-bit IV, AAD, 60-byte text).
        let key = hex::decode("feffe9928665731c6d6a8f9467308308").unwrap();
        let iv = hex::decode("cafebabefacedbaddecaf888").unwrap();
        let text = hex::decode(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
             1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        )
        .unwrap();
        let aad = hex::decode("feedfacedeadbeeffeedfacedeadbeefabaddad2").unwrap();
        let sealed = aes_gcm(true, &key, &iv, &text, &aad).unwrap();
        assert_eq!(
            hex::encode(&sealed),
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
             21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091\
             5bc94fbc3221a5db94fae95ae7121a47"
        );
        assert_eq!(aes_gcm(false, &key, &iv, &sealed, &aad).unwrap(), text);
        let mut tampered = sealed.clone();
        tampered[0] ^= 1;
        assert!(aes_gcm(false, &key, &iv, &tampered, &aad).is_none());
        assert!(aes_gcm(false, &key, &iv, &sealed, b"other aad").is_none());
        assert!(aes_gcm(true, &key[..15], &iv, &text, &aad).is_none());
        assert!(aes_gcm(true, &key, &iv[..8], &text, &aad).is_none());
    }
}
