//! This node's cluster identity, kept in the sled tree `cluster_meta` (not
//! in the Raft state machine): its `incarnation`, a random id made the
//! first time the database is opened, and the `cluster_id` of the cluster
//! it belongs to, once known.
//!
//! The cluster id is made by the first leader that has none, learned by
//! every other member from a join answer or from the header of the first
//! cluster RPC it receives, and never changes afterwards. Both ids are 32
//! hex digits from the OS's random source.

use std::sync::RwLock;

/// Key of the incarnation in `cluster_meta`.
const INCARNATION: &[u8] = b"incarnation";
/// Key of the cluster id in `cluster_meta`.
const CLUSTER_ID: &[u8] = b"cluster_id";

/// Why the identity cannot be read or stored.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("cannot use the cluster_meta tree: {0}")]
    Db(#[from] sled::Error),
    #[error("the OS random source failed: {0}")]
    Random(String),
    #[error("this node belongs to cluster {ours}, not {theirs}")]
    OtherCluster { ours: String, theirs: String },
}

/// This node's incarnation and cluster id.
pub struct ClusterMeta {
    /// The `cluster_meta` tree.
    tree: sled::Tree,
    /// Made on the first open, fixed afterwards.
    incarnation: String,
    /// The cluster this node belongs to, once known.
    cluster_id: RwLock<Option<String>>,
}

/// 16 random bytes as 32 hex digits.
pub fn random_id() -> Result<String, MetaError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| MetaError::Random(e.to_string()))?;
    Ok(hex::encode(bytes))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl ClusterMeta {
    /// Opens the tree of `db`, making the incarnation on the first open.
    pub fn open(db: &sled::Db) -> Result<Self, MetaError> {
        let tree = db.open_tree("cluster_meta")?;
        let incarnation = match tree.get(INCARNATION)? {
            Some(bytes) => text(&bytes),
            None => {
                let fresh = random_id()?;
                tree.insert(INCARNATION, fresh.as_bytes())?;
                tree.flush()?;
                fresh
            }
        };
        let cluster_id = tree.get(CLUSTER_ID)?.map(|b| text(&b));
        Ok(ClusterMeta {
            tree,
            incarnation,
            cluster_id: RwLock::new(cluster_id),
        })
    }

    /// This node's incarnation.
    pub fn incarnation(&self) -> &str {
        &self.incarnation
    }

    /// The cluster id, once known.
    pub fn cluster_id(&self) -> Option<String> {
        self.cluster_id
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Records `id` as this node's cluster id if it has none; refuses
    /// another id than the one it has. Flushed before it answers.
    pub fn adopt(&self, id: &str) -> Result<(), MetaError> {
        let mut current = self.cluster_id.write().unwrap_or_else(|e| e.into_inner());
        match current.as_deref() {
            Some(ours) if ours == id => Ok(()),
            Some(ours) => Err(MetaError::OtherCluster {
                ours: ours.to_string(),
                theirs: id.to_string(),
            }),
            None => {
                self.tree.insert(CLUSTER_ID, id.as_bytes())?;
                self.tree.flush()?;
                tracing::info!(cluster_id = id, "cluster id recorded");
                *current = Some(id.to_string());
                Ok(())
            }
        }
    }

    /// The cluster id, making and recording one if there is none yet (the
    /// first leader of a cluster calls this).
    pub fn ensure_cluster_id(&self) -> Result<String, MetaError> {
        if let Some(id) = self.cluster_id() {
            return Ok(id);
        }
        let fresh = random_id()?;
        match self.adopt(&fresh) {
            Ok(()) => Ok(fresh),
            // Learned from a peer meanwhile: that one stands.
            Err(MetaError::OtherCluster { ours, .. }) => Ok(ours),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incarnation_survives_reopening_and_cluster_id_is_adopted_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let first = {
            let db = sled::open(&path).unwrap();
            let meta = ClusterMeta::open(&db).unwrap();
            assert_eq!(meta.incarnation().len(), 32);
            assert_eq!(meta.cluster_id(), None);
            meta.adopt("abc").unwrap();
            meta.adopt("abc").unwrap();
            assert!(matches!(
                meta.adopt("other"),
                Err(MetaError::OtherCluster { .. })
            ));
            meta.incarnation().to_string()
        };
        let db = crate::store::open_retrying(|| sled::open(&path));
        let meta = ClusterMeta::open(&db).unwrap();
        assert_eq!(meta.incarnation(), first);
        assert_eq!(meta.cluster_id().as_deref(), Some("abc"));
        assert_eq!(meta.ensure_cluster_id().unwrap(), "abc");

        let wiped = tempfile::tempdir().unwrap();
        let db = sled::open(wiped.path().join("db")).unwrap();
        let fresh = ClusterMeta::open(&db).unwrap();
        assert_ne!(fresh.incarnation(), first);
        let made = fresh.ensure_cluster_id().unwrap();
        assert_eq!(made.len(), 32);
        assert_eq!(fresh.cluster_id(), Some(made));
    }
}
