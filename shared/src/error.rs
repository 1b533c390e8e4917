//! Errors that cross the process boundary, carried as data.
//!
//! The worker never formats an error into a string for the supervisor to
//! parse: it sends one of these variants, and the supervisor decides how to
//! present it (HTTP status, JSON-RPC error, metrics label).

use serde::{Deserialize, Serialize};

/// A JavaScript exception or rejected promise, as seen by the script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsException {
    /// `error.name` (`TypeError`, ...), or `"Error"` style fallback; for a
    /// thrown non-Error value this is `"Uncaught"`.
    pub name: String,
    /// `error.message`, or the string form of a thrown non-Error value.
    pub message: String,
    /// `error.stack` when the thrown value had one.
    pub stack: Option<String>,
}

/// Why an execution did not complete normally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExecError {
    /// The script threw, or its completion promise rejected.
    Exception(JsException),
    /// The deadline passed; the watchdog terminated the isolate.
    Timeout {
        /// The deadline that was exceeded, in milliseconds.
        timeout_ms: u64,
    },
    /// The JS heap (or the ArrayBuffer allocator) hit its limit.
    MemoryLimit {
        /// The heap limit that was reached, in MiB.
        heap_mb: u32,
    },
    /// The heap snapshot given to the worker was refused by the worker.
    BadSnapshot(String),
    /// The snapshot produced by the run is larger than allowed.
    SnapshotTooLarge {
        /// Size of the produced snapshot in bytes.
        bytes: u64,
        /// The configured maximum in bytes.
        max_bytes: u64,
    },
    /// The completion value is larger than a response frame can carry.
    ResultTooLarge {
        /// Size of the serialised result in bytes.
        bytes: u64,
        /// Room left in the response frame in bytes.
        max_bytes: u64,
    },
    /// The request itself was not acceptable to the worker.
    Protocol(String),
}

impl std::fmt::Display for ExecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExecError::Exception(e) => write!(f, "{}: {}", e.name, e.message),
            ExecError::Timeout { timeout_ms } => {
                write!(f, "execution timed out after {timeout_ms} ms")
            }
            ExecError::MemoryLimit { heap_mb } => {
                write!(f, "execution exceeded the heap limit of {heap_mb} MiB")
            }
            ExecError::BadSnapshot(why) => write!(f, "heap snapshot refused: {why}"),
            ExecError::SnapshotTooLarge { bytes, max_bytes } => write!(
                f,
                "heap snapshot of {bytes} bytes exceeds the limit of {max_bytes} bytes"
            ),
            ExecError::ResultTooLarge { bytes, max_bytes } => write!(
                f,
                "the result is {bytes} bytes; at most {max_bytes} bytes can be returned"
            ),
            ExecError::Protocol(why) => write!(f, "protocol error: {why}"),
        }
    }
}

impl std::error::Error for ExecError {}
