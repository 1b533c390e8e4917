//! The on-disk format of one heap file: a small fixed header plus the V8
//! snapshot payload.
//!
//! The supervisor writes and reads these files; the worker only ever sees the
//! payload, after [`parse_heap_file`] has checked the header. Layout, all
//! integers little-endian:
//!
//! | offset      | size | field                                        |
//! |-------------|------|----------------------------------------------|
//! | 0           | 8    | magic `b"MCPV8HP\0"`                          |
//! | 8           | 4    | format version, `u32` (= [`HEAP_FORMAT_VERSION`]) |
//! | 12          | 2    | `n`: length of the V8 version string, `u16`  |
//! | 14          | n    | V8 version, UTF-8 (e.g. `13.7.152.2`)        |
//! | 14+n        | 8    | payload length in bytes, `u64`               |
//! | 22+n        | 32   | SHA-256 of the payload                       |
//! | 54+n        | len  | payload (the V8 startup snapshot blob)       |
//!
//! The file ends exactly after the payload. Checks, in order: magic, format
//! version (a future layout is refused before anything else is read), a
//! complete header, V8 version, payload length, checksum. The checksum covers
//! the payload only, so it is also the content address of the heap.

use sha2::{Digest, Sha256};

/// First eight bytes of every heap file.
pub const HEAP_MAGIC: [u8; 8] = *b"MCPV8HP\0";

/// Version of the layout above; bump it when the layout changes.
pub const HEAP_FORMAT_VERSION: u32 = 1;

/// Header bytes before the V8 version string (magic, format, string length).
const PREFIX_LEN: usize = 8 + 4 + 2;
/// Header bytes after the V8 version string (payload length, checksum).
const SUFFIX_LEN: usize = 8 + 32;

/// Why a heap file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeapFileError {
    /// The file does not start with [`HEAP_MAGIC`]: not a heap file.
    #[error("not a heap file (bad magic bytes)")]
    BadMagic,
    /// Written with another layout of this format.
    #[error(
        "heap file format version {found} is not supported (this build reads version {expected})"
    )]
    UnsupportedFormat {
        /// Version in the file.
        found: u32,
        /// Version this build reads.
        expected: u32,
    },
    /// Written by another V8 version; its snapshot cannot be deserialised.
    #[error("heap was written by V8 {found}, this server runs V8 {expected}")]
    V8Mismatch {
        /// V8 version in the file.
        found: String,
        /// V8 version of this server's workers.
        expected: String,
    },
    /// The file is shorter than its header says.
    #[error("heap file is truncated: {found} bytes, header says {expected}")]
    Truncated {
        /// Total bytes the file should have (or at least have, while the
        /// header itself is incomplete).
        expected: u64,
        /// Bytes actually present.
        found: u64,
    },
    /// The file has bytes after the payload.
    #[error("heap file has {extra} unexpected bytes after the payload")]
    TrailingBytes {
        /// Number of bytes after the end of the payload.
        extra: u64,
    },
    /// The payload does not match the checksum in the header.
    #[error("heap payload checksum mismatch (header says {expected}, payload hashes to {found})")]
    ChecksumMismatch {
        /// Hex SHA-256 stored in the header.
        expected: String,
        /// Hex SHA-256 of the payload as read.
        found: String,
    },
}

impl HeapFileError {
    /// Whether the file is intact but was written by another format or V8
    /// version (as opposed to damaged).
    pub fn is_incompatible(&self) -> bool {
        matches!(
            self,
            HeapFileError::UnsupportedFormat { .. } | HeapFileError::V8Mismatch { .. }
        )
    }
}

/// The decoded header of a heap file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeapFileHeader {
    /// Format version of the layout.
    pub format_version: u32,
    /// V8 version that produced the payload.
    pub v8_version: String,
    /// Payload length in bytes.
    pub payload_len: u64,
    /// SHA-256 of the payload.
    pub payload_sha256: [u8; 32],
    /// Bytes taken by the header, i.e. the payload's offset in the file.
    pub header_len: usize,
}

/// SHA-256 of `payload`.
pub fn sha256(payload: &[u8]) -> [u8; 32] {
    Sha256::digest(payload).into()
}

/// Lower-case hex SHA-256 of `payload`: the file name of its heap file.
pub fn sha256_hex(payload: &[u8]) -> String {
    to_hex(&sha256(payload))
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// Header length for a given V8 version string.
pub fn header_len(v8_version: &str) -> usize {
    PREFIX_LEN + v8_version.len() + SUFFIX_LEN
}

/// Builds the header of a heap file whose payload is `payload_len` bytes
/// with SHA-256 `payload_sha256`; the payload follows it in the file.
///
/// # Panics
/// If `v8_version` is longer than 65535 bytes (V8 versions are ~12).
pub fn encode_heap_header(
    payload_len: u64,
    payload_sha256: &[u8; 32],
    v8_version: &str,
) -> Vec<u8> {
    let version_len = u16::try_from(v8_version.len()).expect("V8 version string too long");
    let mut out = Vec::with_capacity(header_len(v8_version));
    out.extend_from_slice(&HEAP_MAGIC);
    out.extend_from_slice(&HEAP_FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&version_len.to_le_bytes());
    out.extend_from_slice(v8_version.as_bytes());
    out.extend_from_slice(&payload_len.to_le_bytes());
    out.extend_from_slice(payload_sha256);
    out
}

/// Builds a complete heap file: header followed by `payload`.
///
/// # Panics
/// If `v8_version` is longer than 65535 bytes (V8 versions are ~12).
pub fn encode_heap_file(payload: &[u8], v8_version: &str) -> Vec<u8> {
    let mut out = encode_heap_header(payload.len() as u64, &sha256(payload), v8_version);
    out.extend_from_slice(payload);
    out
}

/// Decodes the header only; `bytes` may stop right after it. Checks magic,
/// format version and header completeness, but not the V8 version, the
/// payload length or the checksum.
pub fn parse_heap_header(bytes: &[u8]) -> Result<HeapFileHeader, HeapFileError> {
    let found = bytes.len() as u64;
    if bytes.len() < HEAP_MAGIC.len() {
        // A prefix of the magic is a truncated heap file; anything else is not
        // a heap file at all.
        return if HEAP_MAGIC.starts_with(bytes) && !bytes.is_empty() {
            Err(HeapFileError::Truncated {
                expected: PREFIX_LEN as u64,
                found,
            })
        } else {
            Err(HeapFileError::BadMagic)
        };
    }
    if bytes[..8] != HEAP_MAGIC {
        return Err(HeapFileError::BadMagic);
    }
    if bytes.len() < 12 {
        return Err(HeapFileError::Truncated {
            expected: PREFIX_LEN as u64,
            found,
        });
    }
    let format_version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if format_version != HEAP_FORMAT_VERSION {
        return Err(HeapFileError::UnsupportedFormat {
            found: format_version,
            expected: HEAP_FORMAT_VERSION,
        });
    }
    if bytes.len() < PREFIX_LEN {
        return Err(HeapFileError::Truncated {
            expected: PREFIX_LEN as u64,
            found,
        });
    }
    let version_len = usize::from(u16::from_le_bytes(
        bytes[12..14].try_into().expect("2 bytes"),
    ));
    let header_len = PREFIX_LEN + version_len + SUFFIX_LEN;
    if bytes.len() < header_len {
        return Err(HeapFileError::Truncated {
            expected: header_len as u64,
            found,
        });
    }
    let version_end = PREFIX_LEN + version_len;
    let v8_version = String::from_utf8_lossy(&bytes[PREFIX_LEN..version_end]).into_owned();
    let payload_len = u64::from_le_bytes(
        bytes[version_end..version_end + 8]
            .try_into()
            .expect("8 bytes"),
    );
    let payload_sha256: [u8; 32] = bytes[version_end + 8..header_len]
        .try_into()
        .expect("32 bytes");
    Ok(HeapFileHeader {
        format_version,
        v8_version,
        payload_len,
        payload_sha256,
        header_len,
    })
}

/// Checks a complete heap file and returns its payload.
///
/// Refuses, in this order: a wrong magic, another format version, an
/// incomplete header, another V8 version than `expected_v8_version`, a file
/// shorter or longer than the header says, and a payload whose SHA-256 does
/// not match.
pub fn parse_heap_file<'a>(
    bytes: &'a [u8],
    expected_v8_version: &str,
) -> Result<&'a [u8], HeapFileError> {
    let header = parse_heap_header(bytes)?;
    if header.v8_version != expected_v8_version {
        return Err(HeapFileError::V8Mismatch {
            found: header.v8_version,
            expected: expected_v8_version.to_owned(),
        });
    }
    let expected_total = (header.header_len as u64).saturating_add(header.payload_len);
    let found_total = bytes.len() as u64;
    if found_total < expected_total {
        return Err(HeapFileError::Truncated {
            expected: expected_total,
            found: found_total,
        });
    }
    if found_total > expected_total {
        return Err(HeapFileError::TrailingBytes {
            extra: found_total - expected_total,
        });
    }
    let payload = &bytes[header.header_len..];
    let actual = sha256(payload);
    if actual != header.payload_sha256 {
        return Err(HeapFileError::ChecksumMismatch {
            expected: to_hex(&header.payload_sha256),
            found: to_hex(&actual),
        });
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V8: &str = "13.7.152.2";

    fn sample() -> Vec<u8> {
        encode_heap_file(b"snapshot bytes", V8)
    }

    #[test]
    fn round_trip() {
        let file = sample();
        assert_eq!(parse_heap_file(&file, V8).unwrap(), b"snapshot bytes");
        let header = parse_heap_header(&file).unwrap();
        assert_eq!(header.format_version, HEAP_FORMAT_VERSION);
        assert_eq!(header.v8_version, V8);
        assert_eq!(header.payload_len, 14);
        assert_eq!(header.header_len, header_len(V8));
        assert_eq!(
            to_hex(&header.payload_sha256),
            sha256_hex(b"snapshot bytes")
        );
    }

    #[test]
    fn empty_payload_round_trips() {
        let file = encode_heap_file(b"", V8);
        assert_eq!(parse_heap_file(&file, V8).unwrap(), b"");
    }

    #[test]
    fn hex_matches_known_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn bad_magic() {
        let mut file = sample();
        file[0] = b'X';
        assert_eq!(parse_heap_file(&file, V8), Err(HeapFileError::BadMagic));
        assert_eq!(parse_heap_file(b"", V8), Err(HeapFileError::BadMagic));
        assert_eq!(parse_heap_file(b"hello", V8), Err(HeapFileError::BadMagic));
    }

    #[test]
    fn unsupported_format() {
        let mut file = sample();
        file[8..12].copy_from_slice(&7u32.to_le_bytes());
        assert_eq!(
            parse_heap_file(&file, V8),
            Err(HeapFileError::UnsupportedFormat {
                found: 7,
                expected: HEAP_FORMAT_VERSION
            })
        );
        assert!(parse_heap_file(&file, V8).unwrap_err().is_incompatible());
    }

    #[test]
    fn v8_mismatch() {
        let file = encode_heap_file(b"x", "12.0.1.0");
        let err = parse_heap_file(&file, V8).unwrap_err();
        assert_eq!(
            err,
            HeapFileError::V8Mismatch {
                found: "12.0.1.0".into(),
                expected: V8.into()
            }
        );
        assert!(err.is_incompatible());
        assert!(err.to_string().contains("12.0.1.0"));
    }

    #[test]
    fn truncated_at_every_length() {
        let file = sample();
        for len in 1..file.len() {
            let err = parse_heap_file(&file[..len], V8).unwrap_err();
            assert!(
                matches!(err, HeapFileError::Truncated { found, .. } if found == len as u64),
                "length {len}: {err:?}"
            );
            assert!(!err.is_incompatible());
        }
    }

    #[test]
    fn truncated_payload_reports_expected_length() {
        let file = sample();
        let cut = &file[..file.len() - 4];
        assert_eq!(
            parse_heap_file(cut, V8),
            Err(HeapFileError::Truncated {
                expected: file.len() as u64,
                found: cut.len() as u64
            })
        );
    }

    #[test]
    fn trailing_bytes() {
        let mut file = sample();
        file.extend_from_slice(b"junk");
        assert_eq!(
            parse_heap_file(&file, V8),
            Err(HeapFileError::TrailingBytes { extra: 4 })
        );
    }

    #[test]
    fn checksum_mismatch() {
        let mut file = sample();
        let last = file.len() - 1;
        file[last] ^= 0xff;
        let err = parse_heap_file(&file, V8).unwrap_err();
        assert!(
            matches!(err, HeapFileError::ChecksumMismatch { .. }),
            "{err:?}"
        );
        // A flipped bit in the stored checksum is caught the same way.
        let mut file = sample();
        file[header_len(V8) - 1] ^= 1;
        assert!(matches!(
            parse_heap_file(&file, V8),
            Err(HeapFileError::ChecksumMismatch { .. })
        ));
    }

    #[test]
    fn header_parses_without_payload() {
        let file = sample();
        let header = parse_heap_header(&file[..header_len(V8)]).unwrap();
        assert_eq!(header.payload_len, 14);
    }
}
