//! The rules of a session write, as steps inside a sled transaction over
//! the `sessions` and `history` trees.
//!
//! Both backends apply exactly these functions: the single node's
//! [`SessionStore`](super::SessionStore) in a transaction of its own, and
//! the cluster's Raft state machine inside the transaction that also
//! records `last_applied`. So a session behaves the same on one node and in
//! a cluster, and the rules live in one place:
//!
//! - An append names the heap it started from (`input_heap`); unless that is
//!   the session's current `latest_heap` the append is a
//!   [`SessionError::Conflict`] (compare-and-set on the session head). A
//!   run that started from a heap on a session that no longer exists (it was
//!   deleted during the run) is a conflict too.
//! - Only an `Ok` entry moves `latest_heap`; indexes run `0..entries`.
//! - An append carrying a `run_id` equal to the session's last one is the
//!   same run proposed twice (a retried commit): it answers the index the
//!   first one got and changes nothing.
//! - Time comes from the caller (`now`), never from the clock, so every
//!   replica applying a command computes the same records.

use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::{HeapHash, RunStatus, SessionEntry, SessionError, SessionName, SessionSummary};

/// What a transaction step returns: the outer error aborts the whole
/// transaction (a damaged record, a storage failure), the inner one is a
/// business outcome (a conflict) the caller reports.
pub type Step<T, E> = Result<Result<T, SessionError>, ConflictableTransactionError<E>>;

/// Checks that an entry obeys the rules before it is written or proposed:
/// `Ok` carries an output heap, other statuses do not.
pub fn check_entry(name: &SessionName, entry: &SessionEntry) -> Result<(), SessionError> {
    let invalid = |reason| SessionError::InvalidEntry {
        name: name.to_string(),
        reason,
    };
    match (entry.status, entry.output_heap) {
        (RunStatus::Ok, None) => Err(invalid("status ok without an output heap")),
        (RunStatus::Ok, Some(_)) | (_, None) => Ok(()),
        (_, Some(_)) => Err(invalid("a failed run has no output heap")),
    }
}

/// Appends `entry` to session `name` (see the module rules); answers its
/// index.
pub fn append_in<E: From<SessionError>>(
    sessions: &TransactionalTree,
    history: &TransactionalTree,
    name: &SessionName,
    entry: &SessionEntry,
    run_id: Option<&str>,
    now: u64,
) -> Step<u64, E> {
    let abort = |e: SessionError| ConflictableTransactionError::Abort(E::from(e));
    let current: Option<SessionSummary> = match sessions.get(name.as_str())? {
        Some(v) => Some(decode(&v, || format!("sessions/{name}")).map_err(abort)?),
        None => None,
    };
    if let (Some(id), Some(summary)) = (run_id, &current) {
        if summary.last_run_id.as_deref() == Some(id) && summary.entries > 0 {
            return Ok(Ok(summary.entries - 1));
        }
    }
    let head = current.as_ref().and_then(|s| s.latest_heap);
    if head != entry.input_heap {
        return Ok(Err(SessionError::Conflict {
            name: name.to_string(),
            latest: show_heap(head),
            input: show_heap(entry.input_heap),
        }));
    }
    let mut summary = current.unwrap_or_else(|| SessionSummary {
        name: name.to_string(),
        entries: 0,
        latest_heap: None,
        created_at: now,
        updated_at: now,
        last_run_id: None,
    });
    let mut entry = entry.clone();
    entry.index = summary.entries;
    summary.entries += 1;
    summary.updated_at = now;
    summary.last_run_id = run_id.map(str::to_owned);
    if entry.status == RunStatus::Ok {
        summary.latest_heap = entry.output_heap;
    }
    history.insert(history_key(name, entry.index), encode(&entry))?;
    sessions.insert(name.as_str(), encode(&summary))?;
    Ok(Ok(entry.index))
}

/// Deletes session `name` and its history; answers whether it existed.
pub fn delete_in<E: From<SessionError>>(
    sessions: &TransactionalTree,
    history: &TransactionalTree,
    name: &SessionName,
) -> Result<Option<Vec<HeapHash>>, ConflictableTransactionError<E>> {
    let Some(value) = sessions.remove(name.as_str())? else {
        return Ok(None);
    };
    let summary: SessionSummary = decode(&value, || format!("sessions/{name}"))
        .map_err(|e| ConflictableTransactionError::Abort(E::from(e)))?;
    let mut outputs = Vec::new();
    for index in 0..summary.entries {
        if let Some(bytes) = history.remove(history_key(name, index))? {
            let entry: SessionEntry = decode(&bytes, || format!("history/{name}/{index}"))
                .map_err(|e| ConflictableTransactionError::Abort(E::from(e)))?;
            outputs.extend(entry.output_heap);
        }
    }
    Ok(Some(outputs))
}

/// Key of entry `index` of session `name`: name, `0x00`, big-endian index.
pub fn history_key(name: &SessionName, index: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(name.as_str().len() + 9);
    key.extend_from_slice(name.as_str().as_bytes());
    key.push(0);
    key.extend_from_slice(&index.to_be_bytes());
    key
}

fn show_heap(heap: Option<HeapHash>) -> String {
    heap.map_or_else(|| "none".to_owned(), |h| h.to_string())
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("session records always serialise")
}

/// Decodes a stored record; `key` names it in the error.
pub fn decode<T: DeserializeOwned>(
    bytes: &[u8],
    key: impl FnOnce() -> String,
) -> Result<T, SessionError> {
    serde_json::from_slice(bytes).map_err(|source| SessionError::Decode { key: key(), source })
}
