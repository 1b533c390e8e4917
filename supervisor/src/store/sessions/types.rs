//! The records of the session database: names, history entries, summaries.

use serde::{Deserialize, Serialize};

use super::{HeapHash, SessionError, MAX_SESSION_NAME_LEN};

/// A validated session name: 1..=128 characters of `[A-Za-z0-9._:-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SessionName(String);

impl SessionName {
    /// Validates a session name.
    pub fn parse(name: &str) -> Result<Self, SessionError> {
        let invalid = |reason| SessionError::InvalidName {
            name: name.chars().take(140).collect(),
            reason,
        };
        if name.is_empty() {
            return Err(invalid("empty"));
        }
        if name.len() > MAX_SESSION_NAME_LEN {
            return Err(invalid("longer than 128 characters"));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
        {
            return Err(invalid("only letters, digits and . _ : - are allowed"));
        }
        Ok(SessionName(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SessionName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for SessionName {
    type Error = SessionError;
    fn try_from(name: String) -> Result<Self, Self::Error> {
        SessionName::parse(&name)
    }
}

impl From<SessionName> for String {
    fn from(name: SessionName) -> String {
        name.0
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Completed; its heap became the session's latest.
    Ok,
    /// The script threw or the run failed otherwise.
    Error,
    /// The deadline passed.
    Timeout,
    /// The heap or another resource limit was hit.
    MemoryLimit,
    /// The worker was killed or crashed.
    Killed,
}

/// One run of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionEntry {
    /// Position in the session's history, from 0; assigned by
    /// [`SessionStore::append`](super::SessionStore::append) (the value passed in is ignored).
    pub index: u64,
    /// Heap the run started from; `None` for a fresh isolate.
    pub input_heap: Option<HeapHash>,
    /// Heap the run produced; `Some` exactly when `status` is `Ok`.
    pub output_heap: Option<HeapHash>,
    /// Hex SHA-256 of the source code.
    pub code_sha256: String,
    /// Start of the run, Unix milliseconds.
    pub started_at: u64,
    /// Wall time of the run in milliseconds.
    pub duration_ms: u64,
    /// How the run ended.
    pub status: RunStatus,
}

/// One session, as listed by `GET /api/sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSummary {
    /// The session name.
    pub name: String,
    /// Number of history entries (also the next index).
    pub entries: u64,
    /// Heap the next run resumes from; `None` until a run succeeds.
    pub latest_heap: Option<HeapHash>,
    /// First append, Unix milliseconds.
    pub created_at: u64,
    /// Last append, Unix milliseconds.
    pub updated_at: u64,
    /// Id of the run that made the last append, when its proposer gave one
    /// (cluster mode): a commit retried after a failover is recognised and
    /// applied once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_id: Option<String>,
}
