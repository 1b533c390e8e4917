//! The Raft snapshot of the replicated state: every record of the
//! `sessions`, `history` and `heaps` trees, as raw key/value bytes, bincode
//! encoded (the codec of `mcp_v8_shared`). Heap bytes are never part of it:
//! a node that installs a snapshot fetches the heaps it needs lazily.
//!
//! Installing replaces the three trees' content and sets `last_applied`
//! and the membership in one sled transaction.

use openraft::storage::SnapshotMeta;
use openraft::StorageError;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use sled::Transactional;

use super::state_machine::{
    read_error, to_json, tx_error, write_error, Trees, LAST_APPLIED, MEMBERSHIP,
};
use super::types::{ClusterNode, NodeId};

/// One tree's records, in key order.
type Records = Vec<(ByteBuf, ByteBuf)>;

/// The replicated state at one log id.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Image {
    sessions: Records,
    history: Records,
    heaps: Records,
}

/// Encodes an image.
pub(super) fn encode(image: &Image) -> Result<Vec<u8>, StorageError<NodeId>> {
    mcp_v8_shared::encode(image).map_err(|e| read_error(&e))
}

/// Decodes an image received from the leader.
pub(super) fn decode(bytes: &[u8]) -> Result<Image, StorageError<NodeId>> {
    if bytes.is_empty() {
        return Ok(Image::default());
    }
    mcp_v8_shared::decode(bytes).map_err(|e| write_error(&e))
}

fn records(tree: &sled::Tree) -> Result<Records, StorageError<NodeId>> {
    tree.iter()
        .map(|item| {
            let (k, v) = item.map_err(|e| read_error(&e))?;
            Ok((ByteBuf::from(k.to_vec()), ByteBuf::from(v.to_vec())))
        })
        .collect()
}

/// Keys of `tree` that `keep` does not have (`keep` is in key order).
fn stale(tree: &sled::Tree, keep: &Records) -> Result<Vec<sled::IVec>, StorageError<NodeId>> {
    let mut out = Vec::new();
    for key in tree.iter().keys() {
        let key = key.map_err(|e| read_error(&e))?;
        if keep
            .binary_search_by(|(k, _)| k.as_slice().cmp(key.as_ref()))
            .is_err()
        {
            out.push(key);
        }
    }
    Ok(out)
}

impl Image {
    /// Reads the trees (the caller holds the state machine's lock).
    pub(super) fn read(trees: &Trees) -> Result<Self, StorageError<NodeId>> {
        Ok(Image {
            sessions: records(&trees.sessions)?,
            history: records(&trees.history)?,
            heaps: records(&trees.heaps)?,
        })
    }

    /// Replaces the trees' content with this image and records `meta`'s
    /// log id and membership (the caller holds the state machine's lock).
    pub(super) fn install(
        &self,
        trees: &Trees,
        state: &sled::Tree,
        meta: &SnapshotMeta<NodeId, ClusterNode>,
    ) -> Result<(), StorageError<NodeId>> {
        // Listed before the transaction, which must not iterate the trees
        // it holds.
        let stale = [
            stale(&trees.sessions, &self.sessions)?,
            stale(&trees.history, &self.history)?,
            stale(&trees.heaps, &self.heaps)?,
        ];
        (&trees.sessions, &trees.history, &trees.heaps, state)
            .transaction(|(sessions, history, heaps, state)| {
                let targets = [
                    (sessions, &self.sessions),
                    (history, &self.history),
                    (heaps, &self.heaps),
                ];
                for (i, (tree, records)) in targets.into_iter().enumerate() {
                    for key in &stale[i] {
                        tree.remove(key)?;
                    }
                    for (k, v) in records {
                        tree.insert(k.as_slice(), v.as_slice())?;
                    }
                }
                state.insert(LAST_APPLIED, to_json(&meta.last_log_id)?)?;
                state.insert(MEMBERSHIP, to_json(&meta.last_membership)?)?;
                Ok(())
            })
            .map_err(tx_error)
    }
}
