//! The Raft type configuration: who the members are, what the log carries
//! and what applying an entry answers.
//!
//! The log carries cluster *metadata* only (small key/value records such as
//! which node holds which heap). Heap bytes never enter it; they move
//! between nodes on a separate path, verified by their hash.

use std::fmt;
use std::io::Cursor;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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

/// A change to the replicated metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClusterCommand {
    /// Sets `key` to `value`.
    Put {
        /// The record's key.
        key: String,
        /// Its new value.
        value: String,
    },
    /// Removes `key` (nothing happens if it is absent).
    Delete {
        /// The record's key.
        key: String,
    },
}

/// What applying a command answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterReply {
    /// The value the key held before the command, if any.
    pub previous: Option<String>,
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
