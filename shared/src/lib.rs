//! Wire protocol shared by the supervisor and its workers.
//!
//! This crate owns everything both sides of the Unix socket must agree on:
//! the closed [`Request`]/[`Response`] enums ([`protocol`]), errors that cross
//! the process boundary as data ([`error`]), and the frame codec
//! ([`frame`]: 4-byte big-endian length prefix + bincode 2 payload).
//! It has no async runtime and no V8, so both sides can depend on it.

pub mod error;
pub mod frame;
pub mod heap_file;
pub mod host;
pub mod protocol;

pub use error::{ExecError, JsException};
pub use frame::{decode, encode, read_frame, write_frame, FrameError, MAX_FRAME_BYTES};
pub use host::*;
pub use protocol::*;
