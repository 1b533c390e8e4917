//! Text ops: UTF-8 encoding for `TextEncoder`, decoding for `TextDecoder`
//! (every WHATWG encoding, through `encoding_rs`), and the forgiving
//! base64 of `atob`/`btoa` (through `base64`).
//!
//! Streaming decode (`decode(..., {stream: true})`): the op decodes all
//! complete sequences and tells the glue how many trailing bytes to keep
//! for the next call. That split is exact for UTF-8, UTF-16LE/BE and the
//! single-byte encodings; the other legacy multi-byte encodings decode each
//! chunk on its own.

use base64::alphabet::STANDARD;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, UTF_8};
use v8::{FunctionCallbackArguments, Local, PinScope, ReturnValue, Value};

use super::args;

/// `utf8Length(s)`: bytes of `s` in UTF-8, lone surrogates as U+FFFD.
pub(super) fn utf8_length(
    scope: &mut PinScope,
    a: FunctionCallbackArguments,
    mut rv: ReturnValue<Value>,
) {
    let Some(s) = a.get(0).to_string(scope) else {
        return;
    };
    rv.set_double(s.utf8_length(scope) as f64);
}

/// `encodeInto(s, u8)`: writes as much of `s` as fits; returns
/// `[read (UTF-16 units), written (bytes)]`.
pub(super) fn encode_into(
    scope: &mut PinScope,
    a: FunctionCallbackArguments,
    mut rv: ReturnValue<Value>,
) {
    let Some(s) = args::string(scope, a.get(0)) else {
        return;
    };
    let Ok(dest) = Local::<v8::ArrayBufferView>::try_from(a.get(1)) else {
        return args::type_error(scope, "encodeInto needs a Uint8Array");
    };
    let room = dest.byte_length();
    let mut read = 0usize;
    let mut written = 0usize;
    for c in s.chars() {
        let n = c.len_utf8();
        if written + n > room {
            break;
        }
        written += n;
        read += c.len_utf16();
    }
    args::write_into(scope, dest, 0, &s.as_bytes()[..written]);
    let read = v8::Number::new(scope, read as f64).into();
    let written = v8::Number::new(scope, written as f64).into();
    rv.set(args::array(scope, &[read, written]));
}

/// `encodingName(label)`: the canonical lower-case name of an encoding
/// label, `undefined` for unknown labels and for `replacement`.
pub(super) fn encoding_name(
    scope: &mut PinScope,
    a: FunctionCallbackArguments,
    mut rv: ReturnValue<Value>,
) {
    let Some(label) = args::string(scope, a.get(0)) else {
        return;
    };
    match Encoding::for_label_no_replacement(label.as_bytes()) {
        Some(enc) => rv.set(args::js_str(scope, &enc.name().to_ascii_lowercase())),
        None => rv.set_undefined(),
    }
}

/// Trailing bytes of `bytes` that may begin a sequence the next chunk
/// completes.
fn incomplete_tail(enc: &'static Encoding, bytes: &[u8]) -> usize {
    let len = bytes.len();
    if enc == UTF_8 {
        let from = len.saturating_sub(3);
        for i in (from..len).rev() {
            let b = bytes[i];
            if b & 0xC0 == 0x80 {
                continue;
            }
            let need = match b {
                0xC2..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF4 => 4,
                _ => 1,
            };
            return if i + need > len { len - i } else { 0 };
        }
        0
    } else if enc == UTF_16LE || enc == UTF_16BE {
        let odd = len % 2;
        let even = len - odd;
        if even >= 2 {
            let (hi, lo) = (bytes[even - 2], bytes[even - 1]);
            let unit = if enc == UTF_16LE {
                u16::from_le_bytes([hi, lo])
            } else {
                u16::from_be_bytes([hi, lo])
            };
            if (0xD800..0xDC00).contains(&unit) {
                return odd + 2;
            }
        }
        odd
    } else {
        0
    }
}

/// `decode(name, bytes, fatal, stream)`: `[text, kept]`, or `undefined`
/// when `fatal` and the input is malformed. No BOM handling (the glue
/// strips a leading U+FEFF itself).
pub(super) fn decode(
    scope: &mut PinScope,
    a: FunctionCallbackArguments,
    mut rv: ReturnValue<Value>,
) {
    let Some(name) = args::string(scope, a.get(0)) else {
        return;
    };
    let Some(enc) = Encoding::for_label_no_replacement(name.as_bytes()) else {
        return args::range_error(scope, "unknown encoding");
    };
    let Some(bytes) = args::bytes(a.get(1)) else {
        return args::type_error(
            scope,
            "The provided value is not of type '(ArrayBuffer or ArrayBufferView)'",
        );
    };
    let fatal = a.get(2).is_true();
    let kept = if a.get(3).is_true() {
        incomplete_tail(enc, &bytes)
    } else {
        0
    };
    let input = &bytes[..bytes.len() - kept];
    let text = if fatal {
        match enc.decode_without_bom_handling_and_without_replacement(input) {
            Some(text) => text,
            None => return rv.set_undefined(),
        }
    } else {
        enc.decode_without_bom_handling(input).0
    };
    let text = args::js_str(scope, &text);
    let kept = v8::Number::new(scope, kept as f64).into();
    rv.set(args::array(scope, &[text, kept]));
}

/// Base64 with the standard alphabet, no padding required, trailing bits
/// ignored: the decoding half of WHATWG's forgiving-base64.
const FORGIVING: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

/// `atob(s)`: the decoded bytes as a Latin-1 string, `undefined` if `s` is
/// not valid forgiving-base64.
pub(super) fn atob(scope: &mut PinScope, a: FunctionCallbackArguments, mut rv: ReturnValue<Value>) {
    let Some(s) = args::string(scope, a.get(0)) else {
        return;
    };
    let mut data: Vec<u8> = s
        .bytes()
        .filter(|b| !matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r' | b' '))
        .collect();
    if data.len().is_multiple_of(4) {
        for _ in 0..2 {
            if data.last() == Some(&b'=') {
                data.pop();
            }
        }
    }
    if data.len() % 4 == 1 || !s.is_ascii() {
        return rv.set_undefined();
    }
    match FORGIVING.decode(&data) {
        Ok(bytes) => {
            match v8::String::new_from_one_byte(scope, &bytes, v8::NewStringType::Normal) {
                Some(s) => rv.set(s.into()),
                None => args::range_error(scope, "atob: result too long"),
            }
        }
        Err(_) => rv.set_undefined(),
    }
}

/// `btoa(s)`: base64 of the Latin-1 string `s`, `undefined` if it has a
/// character above U+00FF.
pub(super) fn btoa(scope: &mut PinScope, a: FunctionCallbackArguments, mut rv: ReturnValue<Value>) {
    let Some(s) = args::string(scope, a.get(0)) else {
        return;
    };
    let mut bytes = Vec::with_capacity(s.len());
    for c in s.chars() {
        match u8::try_from(u32::from(c)) {
            Ok(b) => bytes.push(b),
            Err(_) => return rv.set_undefined(),
        }
    }
    let out = base64::engine::general_purpose::STANDARD.encode(bytes);
    rv.set(args::js_str(scope, &out));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incomplete_tails() {
        let cases: [(&'static Encoding, &[u8], usize); 10] = [
            (UTF_8, b"abc", 0),
            (UTF_8, &[0x61, 0xe2, 0x82], 2),
            (UTF_8, &[0xe2, 0x82, 0xac], 0),
            (UTF_8, &[0xf0, 0x9f, 0x98], 3),
            (UTF_8, &[0xf0, 0x9f, 0x98, 0x80], 0),
            (UTF_8, &[0x80, 0x80, 0x80, 0x80], 0),
            (UTF_16LE, &[0x41, 0x00, 0x3d], 1),
            (UTF_16LE, &[0x3d, 0xd8], 2),
            (UTF_16BE, &[0xd8, 0x3d, 0xde], 3),
            (encoding_rs::WINDOWS_1252, &[0xe9], 0),
        ];
        for (enc, bytes, want) in cases {
            assert_eq!(
                incomplete_tail(enc, bytes),
                want,
                "{} {bytes:?}",
                enc.name()
            );
        }
    }
}
