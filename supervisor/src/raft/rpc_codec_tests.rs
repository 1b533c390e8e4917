//! Every openraft RPC type, and every answer and error, survives the
//! bincode codec of `rpc_codec` unchanged (bincode is not self-describing,
//! so serde attributes such as `untagged` or `skip_serializing_if` would
//! break it: these tests are the proof there are none on our path).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use openraft::error::{Fatal, InstallSnapshotError, RaftError, SnapshotMismatch};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{
    CommittedLeaderId, Entry, EntryPayload, LogId, Membership, SnapshotMeta, SnapshotSegmentId,
    StorageError, StorageIOError, StoredMembership, Vote,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::rpc_codec::{decode, encode};
use super::types::{ClusterCommand, ClusterNode, NodeId, TypeConfig};

/// Encodes, decodes, and compares the `Debug` text (openraft's messages
/// are not all `PartialEq`).
fn round_trip<T: Serialize + DeserializeOwned + Debug>(value: &T) -> T {
    let bytes = encode(value).expect("encodes");
    let back: T = decode(&bytes).expect("decodes");
    assert_eq!(format!("{value:?}"), format!("{back:?}"));
    // A frame holds one message: a cut body is refused, not misread.
    if bytes.len() > 1 {
        assert!(decode::<T>(&bytes[..bytes.len() - 1]).is_err());
    }
    back
}

/// [`round_trip`] for values whose copy is not needed.
fn check<T: Serialize + DeserializeOwned + Debug>(value: &T) {
    let _back: T = round_trip(value);
}

fn log_id(term: u64, index: u64) -> LogId<NodeId> {
    LogId::new(CommittedLeaderId::new(term, u64::MAX - 3), index)
}

fn members() -> BTreeMap<NodeId, ClusterNode> {
    let mut nodes = BTreeMap::new();
    // Raft ids above 2^53 are the rule (they are hashes).
    nodes.insert(u64::MAX - 3, ClusterNode::new("node1", "127.0.0.1:4001"));
    let mut bound = ClusterNode::new("node2", "[::1]:4002");
    bound.incarnation = "0123456789abcdef0123456789abcdef".into();
    nodes.insert(1 << 60, bound);
    nodes.insert(7, ClusterNode::new("learner", "10.0.0.3:4003"));
    nodes
}

fn membership() -> Membership<NodeId, ClusterNode> {
    let voters = BTreeSet::from([u64::MAX - 3, 1 << 60]);
    Membership::new(vec![voters.clone(), BTreeSet::from([1 << 60])], members())
}

fn vote() -> Vote<NodeId> {
    Vote::new_committed(5, u64::MAX - 3)
}

#[test]
fn append_entries_with_every_payload_kind_round_trips() {
    let rpc = AppendEntriesRequest::<TypeConfig> {
        vote: vote(),
        prev_log_id: Some(log_id(4, 9)),
        leader_commit: Some(log_id(4, 8)),
        entries: vec![
            Entry {
                log_id: log_id(5, 10),
                payload: EntryPayload::Blank,
            },
            Entry {
                log_id: log_id(5, 11),
                payload: EntryPayload::Normal(ClusterCommand::AppendRun {
                    session: "s\u{0}\u{ffff}".into(),
                    entry: crate::store::SessionEntry {
                        index: 3,
                        input_heap: Some(crate::store::HeapHash::of_payload(b"in")),
                        output_heap: Some(crate::store::HeapHash::of_payload(b"out")),
                        code_sha256: "c0de".into(),
                        started_at: 1,
                        duration_ms: 2,
                        status: crate::store::RunStatus::Ok,
                    },
                    run_id: "node1:1:2".into(),
                    now_ms: 7,
                    holders: vec!["node1".into(), "node2".into()],
                }),
            },
            Entry {
                log_id: log_id(5, 12),
                payload: EntryPayload::Normal(ClusterCommand::DeleteSession {
                    session: "s".into(),
                }),
            },
            Entry {
                log_id: log_id(5, 13),
                payload: EntryPayload::Membership(membership()),
            },
        ],
    };
    let back = round_trip(&rpc);
    assert_eq!(back.entries.len(), 4);
    round_trip(&AppendEntriesRequest::<TypeConfig> {
        vote: Vote::new(1, 2),
        prev_log_id: None,
        leader_commit: None,
        entries: vec![],
    });
}

#[test]
fn vote_and_its_answers_round_trip() {
    round_trip(&VoteRequest::new(vote(), Some(log_id(4, 9))));
    round_trip(&VoteRequest::<NodeId>::new(Vote::new(1, 1), None));
    type VoteResult = Result<VoteResponse<NodeId>, RaftError<NodeId>>;
    check::<VoteResult>(&Ok(VoteResponse::new(vote(), Some(log_id(5, 1)), true)));
    check::<VoteResult>(&Ok(VoteResponse::new(Vote::new(9, 3), None, false)));
    check::<VoteResult>(&Err(RaftError::Fatal(Fatal::Stopped)));
    check::<VoteResult>(&Err(RaftError::Fatal(Fatal::Panicked)));
}

#[test]
fn append_answers_and_errors_round_trip() {
    type AppendResult = Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>;
    for answer in [
        AppendEntriesResponse::Success,
        AppendEntriesResponse::PartialSuccess(Some(log_id(3, 3))),
        AppendEntriesResponse::PartialSuccess(None),
        AppendEntriesResponse::Conflict,
        AppendEntriesResponse::HigherVote(Vote::new(8, 1)),
    ] {
        check::<AppendResult>(&Ok(answer));
    }
    let io = StorageIOError::write_logs(&std::io::Error::other("disk full"));
    check::<AppendResult>(&Err(RaftError::Fatal(Fatal::StorageError(
        StorageError::IO { source: io },
    ))));
}

#[test]
fn install_snapshot_and_its_answers_round_trip() {
    let meta = SnapshotMeta {
        last_log_id: Some(log_id(5, 100)),
        last_membership: StoredMembership::new(Some(log_id(5, 13)), membership()),
        snapshot_id: "5-100-1".into(),
    };
    let chunk: Vec<u8> = (0..=255u8).cycle().take(3 << 20).collect();
    let back = round_trip(&InstallSnapshotRequest::<TypeConfig> {
        vote: vote(),
        meta: meta.clone(),
        offset: 8 << 20,
        data: chunk.clone(),
        done: false,
    });
    assert_eq!(back.data, chunk);
    // Bytes travel as bytes, not as a list of numbers.
    let bytes = encode(&back).unwrap();
    assert!(bytes.len() < chunk.len() + 4096, "{} bytes", bytes.len());

    type SnapshotResult =
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>;
    check::<SnapshotResult>(&Ok(InstallSnapshotResponse { vote: vote() }));
    let segment = |offset| SnapshotSegmentId {
        id: "5-100-1".into(),
        offset,
    };
    check::<SnapshotResult>(&Err(RaftError::APIError(
        InstallSnapshotError::SnapshotMismatch(SnapshotMismatch {
            expect: segment(0),
            got: segment(8 << 20),
        }),
    )));
    check::<SnapshotResult>(&Err(RaftError::Fatal(Fatal::Stopped)));
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    for body in [
        &b""[..],
        b"\xff\xff\xff\xff\xff\xff\xff\xff\xff",
        b"{\"vote\":1}",
    ] {
        assert!(decode::<AppendEntriesRequest<TypeConfig>>(body).is_err());
        assert!(decode::<InstallSnapshotRequest<TypeConfig>>(body).is_err());
    }
}

#[test]
fn a_length_beyond_the_body_is_refused_without_allocating_it() {
    let rpc = InstallSnapshotRequest::<TypeConfig> {
        vote: vote(),
        meta: SnapshotMeta::default(),
        offset: 0,
        data: vec![1, 2, 3],
        done: true,
    };
    let bytes = encode(&rpc).unwrap();
    // The data's length (varint 3) sits right before the 3 data bytes;
    // claim 2^62 bytes instead.
    let at = bytes.len() - 5;
    assert_eq!(bytes[at], 3);
    let mut forged = bytes[..at].to_vec();
    forged.push(0xfd);
    forged.extend_from_slice(&(1u64 << 62).to_le_bytes());
    forged.extend_from_slice(&bytes[at + 1..]);
    assert!(decode::<InstallSnapshotRequest<TypeConfig>>(&forged).is_err());
}
