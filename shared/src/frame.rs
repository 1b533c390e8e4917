//! Frame codec: a 4-byte big-endian length, then a bincode 2 payload.
//!
//! This is the only module that knows the encoding, so changing it (for
//! example to postcard) touches one file. The length is checked against a
//! maximum before any payload buffer is allocated. The supervisor reads
//! frames with tokio-util's `LengthDelimitedCodec` (same layout) and calls
//! [`decode`]/[`encode`]; the worker uses the blocking [`read_frame`] and
//! [`write_frame`].

use std::io::{self, Read, Write};

use serde::{de::DeserializeOwned, Serialize};

/// Hard upper bound on any frame, whatever the configuration says (1 GiB).
pub const MAX_FRAME_BYTES: u64 = 1 << 30;

/// Failure to read or write a frame.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer closed the socket at a frame boundary.
    #[error("peer closed the connection")]
    Closed,
    /// A frame announced or produced a length over the limit.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: u64, max: u64 },
    /// The payload is not a valid message.
    #[error("malformed frame: {0}")]
    Decode(#[from] bincode::error::DecodeError),
    /// The message could not be encoded.
    #[error("cannot encode frame: {0}")]
    Encode(#[from] bincode::error::EncodeError),
    /// Socket error.
    #[error("socket error: {0}")]
    Io(#[from] io::Error),
}

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encodes a message payload (without the length prefix).
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    Ok(bincode::serde::encode_to_vec(msg, config())?)
}

/// Decodes a message payload (without the length prefix). Trailing bytes are
/// an error: a frame holds exactly one message.
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, FrameError> {
    let (msg, used) = bincode::serde::decode_from_slice(payload, config())?;
    if used != payload.len() {
        return Err(FrameError::Decode(
            bincode::error::DecodeError::OtherString(format!(
                "{} trailing bytes after message",
                payload.len() - used
            )),
        ));
    }
    Ok(msg)
}

/// Writes one length-prefixed frame, encoded straight after a reserved
/// prefix so the payload is never copied.
pub fn write_frame<T: Serialize>(w: &mut impl Write, msg: &T, max: u64) -> Result<(), FrameError> {
    let mut buf = vec![0u8; 4];
    bincode::serde::encode_into_std_write(msg, &mut buf, config())?;
    let len = (buf.len() - 4) as u64;
    let max = max.min(MAX_FRAME_BYTES);
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    buf[..4].copy_from_slice(&(len as u32).to_be_bytes());
    w.write_all(&buf)?;
    w.flush()?;
    Ok(())
}

/// Reads one length-prefixed frame, refusing lengths over `max` before
/// allocating.
pub fn read_frame<T: DeserializeOwned>(r: &mut impl Read, max: u64) -> Result<T, FrameError> {
    let mut prefix = [0u8; 4];
    match r.read_exact(&mut prefix) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(e.into()),
    }
    let len = u64::from(u32::from_be_bytes(prefix));
    let max = max.min(MAX_FRAME_BYTES);
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    let mut payload = vec![0u8; len as usize];
    r.read_exact(&mut payload)?;
    decode(&payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::*;

    #[test]
    fn round_trip_through_a_byte_stream() {
        let req = Request::Exec(ExecRequest {
            id: 7,
            code: "1 + 1".into(),
            language: Language::JavaScript,
            timeout_ms: 1000,
            heap_mb: 64,
            max_output_bytes: 1 << 20,
            heap: Some(vec![1, 2, 3]),
            snapshot: true,
            max_snapshot_bytes: 1 << 20,
        });
        let mut buf = Vec::new();
        write_frame(&mut buf, &req, 1 << 20).unwrap();
        let back: Request = read_frame(&mut buf.as_slice(), 1 << 20).unwrap();
        match back {
            Request::Exec(e) => assert_eq!(e.code, "1 + 1"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn oversized_length_is_refused_before_allocating() {
        let mut buf = vec![0xff, 0xff, 0xff, 0xff];
        buf.extend_from_slice(&[0; 8]);
        let err = read_frame::<Request>(&mut buf.as_slice(), 1024).unwrap_err();
        assert!(matches!(
            err,
            FrameError::TooLarge {
                len: 0xffff_ffff,
                max: 1024
            }
        ));
    }

    #[test]
    fn oversized_message_is_refused_on_write() {
        let msg = Response::Fatal("x".repeat(100));
        let err = write_frame(&mut Vec::new(), &msg, 10).unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { max: 10, .. }));
    }

    #[test]
    fn eof_at_boundary_is_closed_and_garbage_is_decode_error() {
        assert!(matches!(
            read_frame::<Request>(&mut &[][..], 10),
            Err(FrameError::Closed)
        ));
        let garbage = [0, 0, 0, 2, 0xff, 0xff];
        assert!(matches!(
            read_frame::<Request>(&mut &garbage[..], 10),
            Err(FrameError::Decode(_))
        ));
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut payload = encode(&Request::Shutdown).unwrap();
        payload.push(0);
        assert!(decode::<Request>(&payload).is_err());
    }
}
