//! The Raft type configuration: who the members are, what the log carries
//! and what applying an entry answers.
//!
//! The log carries the domain commands of sessions and heaps (which run
//! advanced which session, which node holds which heap). Heap bytes never
//! enter it; they move between nodes on a separate path, verified by their
//! hash.

use std::fmt;
use std::io::Cursor;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::{HeapHash, SessionEntry};

/// Raft's id of a node: derived from its `--node-id` name by
/// [`node_id_of`], so every node computes the same id for a name.
pub type NodeId = u64;

/// A member of the cluster, as the other members reach it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterNode {
    /// The node's `--node-id`.
    pub name: String,
    /// Its cluster address (`--advertise-addr`), `host:port`.
    pub addr: String,
    /// The random id its database was created with (`raft::meta`); empty
    /// for a founder named by `--peers` until it first joins. Every RPC to
    /// the node carries it, and the node refuses one that names another
    /// incarnation, so a wiped node never answers for its old self.
    #[serde(default)]
    pub incarnation: String,
}

impl ClusterNode {
    /// A member not bound to an incarnation yet.
    pub fn new(name: impl Into<String>, addr: impl Into<String>) -> Self {
        ClusterNode {
            name: name.into(),
            addr: addr.into(),
            incarnation: String::new(),
        }
    }
}

impl fmt::Display for ClusterNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.addr)
    }
}

/// A change to the replicated state: the domain commands of sessions and
/// heaps. Applying one never fails for a business reason: a conflict or a
/// bad entry is a [`ClusterReply`], so every replica applies the same log to
/// the same state. Times are stamped by the proposer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClusterCommand {
    /// Appends a run to a session if the session's head is still the run's
    /// `entry.input_heap` (compare-and-set), and records its output heap
    /// with the nodes that hold it durably.
    AppendRun {
        /// The session's name.
        session: String,
        /// The run (its `index` is assigned when applied).
        entry: SessionEntry,
        /// Unique id of the run: the same run proposed twice applies once.
        run_id: String,
        /// When the run was recorded, Unix milliseconds (proposer's clock).
        now_ms: u64,
        /// Names of the nodes whose disk holds the output heap (fsynced).
        holders: Vec<String>,
    },
    /// Deletes a session and its history.
    DeleteSession {
        /// The session's name.
        session: String,
    },
    /// Records a heap of a run without a session and who holds it.
    RecordHeap {
        /// The heap.
        hash: HeapHash,
        /// Names of the nodes whose disk holds it (fsynced).
        holders: Vec<String>,
        /// When it was recorded, Unix milliseconds (proposer's clock).
        now_ms: u64,
    },
}

/// What applying a command answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClusterReply {
    /// Applied; nothing to report (blank and membership entries, heaps).
    #[default]
    Done,
    /// The run was appended at this index of its session's history.
    Appended {
        /// Its index.
        index: u64,
    },
    /// The session's head is not the run's input heap: refused.
    Conflict {
        /// What the session is at, for the client.
        message: String,
    },
    /// The session was deleted (`existed`) or was not there.
    Deleted {
        /// Whether it existed.
        existed: bool,
    },
    /// The command breaks a rule (bad name, bad entry); nothing changed.
    Refused {
        /// Why.
        message: String,
    },
}

/// Who holds a heap, as the replicated state records it (tree `heaps`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeapRecord {
    /// Names of the nodes that stored it durably before it was recorded.
    pub holders: Vec<String>,
    /// When it was first recorded, Unix milliseconds.
    pub recorded_at: u64,
}

openraft::declare_raft_types!(
    /// The cluster's Raft types.
    pub TypeConfig:
        D = ClusterCommand,
        R = ClusterReply,
        NodeId = NodeId,
        Node = ClusterNode,
        SnapshotData = Cursor<Vec<u8>>,
);

/// The Raft id of the node named `name`: the first 8 bytes of the name's
/// SHA-256, big-endian. Names are unique in a cluster; a collision of two
/// names is refused when the second one joins.
pub fn node_id_of(name: &str) -> NodeId {
    let digest = Sha256::digest(name.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_are_stable_and_distinct() {
        assert_eq!(node_id_of("node1"), node_id_of("node1"));
        assert_ne!(node_id_of("node1"), node_id_of("node2"));
        // Fixed by the definition, so all versions agree on it.
        let digest = Sha256::digest(b"node1");
        assert_eq!(node_id_of("node1").to_be_bytes(), digest[..8]);
    }
}
