//! [`HeapHash`]: the content address of a heap, the SHA-256 of its payload.

use std::fmt;
use std::str::FromStr;

use mcp_v8_shared::heap_file;
use serde::{Deserialize, Serialize};

use super::HeapError;

/// SHA-256 of a heap payload; shown and parsed as 64 lower-case hex chars.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HeapHash([u8; 32]);

impl HeapHash {
    /// Parses 64 lower-case hex characters.
    pub fn parse(input: &str) -> Result<Self, HeapError> {
        let invalid = |reason| HeapError::InvalidHash {
            input: input.chars().take(80).collect(),
            reason,
        };
        if input.len() != 64 {
            return Err(invalid("expected 64 hex characters"));
        }
        if !input
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(invalid("expected lower-case hex characters [0-9a-f]"));
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(input, &mut bytes).map_err(|_| invalid("not hex"))?;
        Ok(HeapHash(bytes))
    }

    /// The hash of `payload`.
    pub fn of_payload(payload: &[u8]) -> Self {
        HeapHash(heap_file::sha256(payload))
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for HeapHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for HeapHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HeapHash({self})")
    }
}

impl FromStr for HeapHash {
    type Err = HeapError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HeapHash::parse(s)
    }
}

impl TryFrom<String> for HeapHash {
    type Error = HeapError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        HeapHash::parse(&s)
    }
}

impl From<HeapHash> for String {
    fn from(hash: HeapHash) -> String {
        hash.to_string()
    }
}
