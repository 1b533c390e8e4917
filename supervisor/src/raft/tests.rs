//! openraft's storage conformance suite against the sled stores, each run
//! on a fresh database in a temp directory; and a reopen check.

use openraft::testing::{StoreBuilder, Suite};
use openraft::StorageError;

use super::log_store::LogStore;
use super::state_machine::StateMachine;
use super::types::{NodeId, TypeConfig};

/// Builds both stores over one fresh sled database.
struct SledStores;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for SledStores {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError<NodeId>> {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = sled::open(dir.path().join("raft")).expect("sled opens");
        let log = LogStore::open(&db).expect("log trees");
        let sm = StateMachine::open(&db).expect("state trees");
        Ok((dir, log, sm))
    }
}

#[test]
fn sled_stores_pass_openraft_conformance_suite() {
    Suite::test_all(SledStores).expect("conformance suite");
}

#[test]
fn log_vote_and_state_survive_reopening_the_database() {
    use openraft::storage::{RaftLogReader, RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
    use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, Vote};

    use super::types::{ClusterCommand, ClusterReply};
    use crate::store::{HeapHash, RunStatus, SessionEntry, SessionStore};

    fn heap(n: u64) -> HeapHash {
        HeapHash::of_payload(&n.to_be_bytes())
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raft");
    let leader = CommittedLeaderId::new(1, 7);
    let entries: Vec<Entry<TypeConfig>> = (1..=3)
        .map(|i| Entry {
            log_id: LogId::new(leader, i),
            payload: EntryPayload::Normal(ClusterCommand::AppendRun {
                session: "s".into(),
                entry: SessionEntry {
                    index: 0,
                    input_heap: (i > 1).then(|| heap(i - 1)),
                    output_heap: Some(heap(i)),
                    code_sha256: String::new(),
                    started_at: 0,
                    duration_ms: 1,
                    status: RunStatus::Ok,
                },
                run_id: format!("run-{i}"),
                now_ms: 1000 + i,
                holders: vec!["node1".into()],
            }),
        })
        .collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let db = sled::open(&path).unwrap();
        let mut log = LogStore::open(&db).unwrap();
        let mut sm = StateMachine::open(&db).unwrap();
        log.save_vote(&Vote::new_committed(1, 7)).await.unwrap();
        log.blocking_append(entries.clone()).await.unwrap();
        let replies = sm.apply(entries.clone()).await.unwrap();
        let indexes: Vec<ClusterReply> = (0..3)
            .map(|index| ClusterReply::Appended { index })
            .collect();
        assert_eq!(replies, indexes);
        // The same run proposed again (a retried commit) applies once.
        let mut again = entries[2].clone();
        again.log_id = LogId::new(leader, 4);
        let replies = sm.apply([again]).await.unwrap();
        assert_eq!(replies, vec![ClusterReply::Appended { index: 2 }]);
        // A run from a stale head is a conflict reply, not an error.
        let mut stale = entries[1].clone();
        stale.log_id = LogId::new(leader, 5);
        if let EntryPayload::Normal(ClusterCommand::AppendRun { run_id, .. }) = &mut stale.payload {
            *run_id = "another".into();
        }
        let replies = sm.apply([stale]).await.unwrap();
        assert!(
            matches!(replies[0], ClusterReply::Conflict { .. }),
            "{replies:?}"
        );
    });
    runtime.block_on(async {
        let db = crate::store::open_retrying(|| sled::open(&path));
        let mut log = LogStore::open(&db).unwrap();
        let mut sm = StateMachine::open(&db).unwrap();
        assert_eq!(
            log.read_vote().await.unwrap(),
            Some(Vote::new_committed(1, 7))
        );
        let back = log.try_get_log_entries(1..=3).await.unwrap();
        assert_eq!(back.len(), 3);
        assert_eq!(back[2].log_id, LogId::new(leader, 3));
        let (applied, _) = sm.applied_state().await.unwrap();
        assert_eq!(applied, Some(LogId::new(leader, 5)));
        // The session store reads the replicated trees.
        drop((log, sm));
        drop(db);
        let sessions = SessionStore::open(&path).unwrap();
        let summary = sessions.summary("s").unwrap().unwrap();
        assert_eq!(summary.entries, 3);
        assert_eq!(summary.latest_heap, Some(heap(3)));
        assert_eq!(summary.updated_at, 1003);
    });
}
