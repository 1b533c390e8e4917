//! How Raft RPCs travel: one bincode 2 message per HTTP body (the codec of
//! `mcp_v8_shared::frame`, without its length prefix: HTTP frames the
//! body), `content-type: application/octet-stream`; and the size limits
//! of the cluster port, which openraft's own limits are set to fit.
//!
//! This is the only module of the cluster that knows the RPC encoding. A
//! request body is openraft's request type; an answer body is openraft's
//! `Result<Response, RaftError>`.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The content type of RPC bodies.
pub const CONTENT_TYPE: &str = "application/octet-stream";

/// Largest `POST /raft/append` body.
pub const APPEND_BODY_LIMIT: usize = 64 << 20;
/// Largest `POST /raft/snapshot` body (one chunk and its metadata).
pub const SNAPSHOT_BODY_LIMIT: usize = 16 << 20;
/// Largest `POST /raft/join` or membership change body.
pub const JOIN_BODY_LIMIT: usize = 16 << 10;
/// Largest body of any other cluster route.
pub const DEFAULT_BODY_LIMIT: usize = 2 << 20;

/// openraft's `snapshot_max_chunk_size`: half the snapshot body limit,
/// leaving room for the request's metadata (the membership).
pub const SNAPSHOT_CHUNK_BYTES: u64 = (SNAPSHOT_BODY_LIMIT / 2) as u64;
/// openraft's `max_payload_entries`: with entries of cluster metadata
/// (well under 1 MiB each), a full batch fits [`APPEND_BODY_LIMIT`].
pub const MAX_PAYLOAD_ENTRIES: u64 = 64;

/// An RPC body that cannot be made or read.
#[derive(Debug, thiserror::Error)]
#[error("Raft RPC body: {0}")]
pub struct RpcCodecError(#[from] mcp_v8_shared::FrameError);

/// Encodes a request or an answer.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, RpcCodecError> {
    Ok(mcp_v8_shared::encode(msg)?)
}

/// Decodes a request or an answer (the whole body, nothing after it).
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, RpcCodecError> {
    Ok(mcp_v8_shared::decode(body)?)
}
