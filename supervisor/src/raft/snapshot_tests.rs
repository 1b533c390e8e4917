//! Snapshot transfer between real Raft nodes of this crate, in one process
//! but over real loopback HTTP (the cluster port's router and auth layer,
//! bincode RPCs): ~5 MB of state (over the 2 MB JSON body limit of old), a forced
//! snapshot and purge on the leader, then a node that was down and a new
//! node both catch up from the snapshot, sent in chunks of 1 MiB.
//!
//! State is written as session runs (`ClusterCommand::AppendRun`, one
//! session per record, its 4 KB value standing in the entry's code hash
//! field) through [`write_state`]; only that helper and [`TestNode::get`]
//! know how.

use std::sync::Arc;
use std::time::Duration;

use openraft::ServerState;
use tokio_util::sync::CancellationToken;

use super::api;
use super::auth::{auth_layer, ClusterSecret};
use super::node::{ClusterNodeHandle, ClusterSettings, RaftTiming};
use super::state_machine::StateMachine;
use super::types::{ClusterCommand, ClusterNode};
use crate::metrics::ClusterMetrics;

/// Records written, and the size of each value.
const RECORDS: usize = 1_250;
const VALUE_BYTES: usize = 4_096;
/// Bytes of one snapshot chunk in this test (the nodes' default is 8 MiB).
const CHUNK_BYTES: u64 = 1 << 20;

/// A node running in this process.
struct TestNode {
    node: Arc<ClusterNodeHandle>,
    db: sled::Db,
    stop: CancellationToken,
    server: tokio::task::JoinHandle<()>,
}

fn secret() -> Option<ClusterSecret> {
    ClusterSecret::new("snapshot-test-secret")
}

/// Starts a node named `name` on `listener` over the database at `path`.
async fn start(
    name: &str,
    listener: tokio::net::TcpListener,
    path: &std::path::Path,
    peers: Vec<ClusterNode>,
) -> TestNode {
    let addr = listener.local_addr().unwrap().to_string();
    // sled releases its lock asynchronously after the last handle drops.
    let mut db = sled::open(path);
    for _ in 0..100 {
        if db.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        db = sled::open(path);
    }
    let db = db.expect("sled opens");
    let stop = CancellationToken::new();
    let settings = ClusterSettings {
        me: ClusterNode::new(name, addr),
        peers,
        join: None,
        secret: secret(),
        // Three nodes share this test's two runtime threads, and sled's
        // flushes block them: slower timers than a real node's keep one
        // leader while megabytes move (timing is not under test here).
        timing: RaftTiming {
            heartbeat_ms: 250,
            election_min_ms: 1_500,
            election_max_ms: 3_000,
        },
        snapshot_logs: crate::config::cluster::DEFAULT_SNAPSHOT_LOGS,
        // Small chunks, so that the ~5 MB snapshot travels in several.
        snapshot_chunk_bytes: CHUNK_BYTES,
    };
    let node = ClusterNodeHandle::start(settings, &db, ClusterMetrics::default(), stop.clone())
        .await
        .expect("node starts");
    let router = api::router(node.clone()).layer(auth_layer(node.auth_state()));
    let shutdown = stop.clone();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
    });
    TestNode {
        node,
        db,
        stop,
        server,
    }
}

impl TestNode {
    async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.server.await;
        self.node.stop().await;
        drop(self.node);
        drop(self.db);
    }

    /// The value of `key` in this node's state machine.
    fn get(&self, key: &str) -> Option<String> {
        let _ = StateMachine::open(&self.db).unwrap();
        let name = crate::store::SessionName::parse(key).unwrap();
        let history = self.db.open_tree("history").unwrap();
        let entry = history
            .get(crate::store::sessions::history_key(&name, 0))
            .unwrap()?;
        let entry: crate::store::SessionEntry = serde_json::from_slice(&entry).unwrap();
        Some(entry.code_sha256)
    }

    async fn wait_applied(&self, index: u64, why: &str) {
        self.node
            .raft
            .wait(Some(Duration::from_secs(60)))
            .applied_index_at_least(Some(index), why)
            .await
            .unwrap_or_else(|e| panic!("{}: {why}: {e}", self.node.me.name));
    }
}

async fn listener() -> tokio::net::TcpListener {
    tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()
}

fn value(i: usize) -> String {
    let c = char::from(b'a' + (i % 26) as u8);
    std::iter::repeat_n(c, VALUE_BYTES).collect()
}

/// The node that leads now (bounded wait).
async fn leader<'a>(nodes: &[&'a TestNode]) -> &'a TestNode {
    for _ in 0..600 {
        if let Some(n) = nodes.iter().find(|n| n.node.is_leader()) {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no leader within 30 s");
}

/// Writes records `range` through the leader, many at a time (again
/// through the new leader if leadership moves); returns the last log
/// index written.
async fn write_state(nodes: &[&TestNode], range: std::ops::Range<usize>) -> u64 {
    let mut last = 0;
    let keys: Vec<usize> = range.collect();
    for batch in keys.chunks(100) {
        let mut attempts = 0;
        loop {
            let leader = leader(nodes).await;
            let writes = batch.iter().map(|i| {
                leader.node.raft.client_write(ClusterCommand::AppendRun {
                    session: format!("record-{i:05}"),
                    entry: crate::store::SessionEntry {
                        index: 0,
                        input_heap: None,
                        output_heap: None,
                        code_sha256: value(*i),
                        started_at: 0,
                        duration_ms: 0,
                        status: crate::store::RunStatus::Error,
                    },
                    run_id: format!("run-{i}"),
                    now_ms: 1,
                    holders: Vec::new(),
                })
            });
            let results = futures::future::join_all(writes).await;
            if results.iter().all(Result::is_ok) {
                for written in results.into_iter().flatten() {
                    last = last.max(written.log_id.index);
                }
                break;
            }
            attempts += 1;
            assert!(
                attempts < 10,
                "writes keep failing: {:?}",
                results.into_iter().find(Result::is_err)
            );
        }
    }
    last
}

/// Bound on the whole scenario.
const LIMIT: Duration = Duration::from_secs(240);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_and_a_new_node_catch_up_from_a_large_snapshot() {
    tokio::time::timeout(LIMIT, snapshot_scenario())
        .await
        .expect("the scenario finishes in time (see the phases on stderr)");
}

/// Notes how long the scenario has run, for a failure's diagnosis.
fn phase(started: std::time::Instant, what: &str) {
    eprintln!("{:>8.1?} {what}", started.elapsed());
}

async fn snapshot_scenario() {
    let started = std::time::Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let listeners = [listener().await, listener().await, listener().await];
    let addrs: Vec<String> = listeners
        .iter()
        .map(|l| l.local_addr().unwrap().to_string())
        .collect();
    let peers = vec![
        ClusterNode::new("n2", addrs[1].clone()),
        ClusterNode::new("n3", addrs[2].clone()),
    ];
    let [l1, l2, l3] = listeners;
    let n1 = start("n1", l1, &dir.path().join("n1"), peers).await;
    let n2 = start("n2", l2, &dir.path().join("n2"), vec![]).await;
    let n3 = start("n3", l3, &dir.path().join("n3"), vec![]).await;
    n1.node
        .raft
        .wait(Some(Duration::from_secs(30)))
        .state(ServerState::Leader, "n1 leads")
        .await
        .expect("n1 becomes the leader");

    // Most of the state while n3 is up, the rest while it is down.
    phase(started, "writing the first half");
    let half = write_state(&[&n1, &n2, &n3], 0..RECORDS / 2).await;
    n3.wait_applied(half, "first half").await;
    n3.shutdown().await;
    phase(started, "n3 down; writing the second half");
    let last = write_state(&[&n1, &n2], RECORDS / 2..RECORDS).await;

    // Snapshot and purge the logs of both live nodes: n3 cannot catch up
    // from a log, whichever of them leads.
    phase(started, "snapshot and purge");
    let mut snapshot = None;
    for lead in [&n1, &n2] {
        lead.node.raft.trigger().snapshot().await.unwrap();
        let taken = lead
            .node
            .raft
            .wait(Some(Duration::from_secs(60)))
            .metrics(|m| m.snapshot.is_some_and(|s| s.index >= last), "snapshot")
            .await
            .unwrap()
            .snapshot
            .unwrap();
        lead.node
            .raft
            .trigger()
            .purge_log(taken.index)
            .await
            .unwrap();
        lead.node
            .raft
            .wait(Some(Duration::from_secs(30)))
            .metrics(
                |m| m.purged.is_some_and(|p| p.index >= taken.index),
                "purged",
            )
            .await
            .unwrap();
        snapshot = Some(taken);
    }
    let snapshot = snapshot.unwrap();
    let bytes = snapshot_bytes(&n1).await;
    assert!(
        bytes > 4 * CHUNK_BYTES as usize,
        "the snapshot ({bytes} bytes) must need several chunks of {CHUNK_BYTES}"
    );

    phase(started, "restarting n3, starting n4");
    // n3 comes back on its database; n4 is new. Both get the snapshot.
    let n3 = start(
        "n3",
        listener_on(&addrs[2]).await,
        &dir.path().join("n3"),
        vec![],
    )
    .await;
    let n4_listener = listener().await;
    let n4_addr = n4_listener.local_addr().unwrap().to_string();
    let n4 = start("n4", n4_listener, &dir.path().join("n4"), vec![]).await;
    let mut n4_member = ClusterNode::new("n4", n4_addr);
    n4_member.incarnation = n4.node.me.incarnation.clone();
    // As n4's own --join would: ask again while it is still catching up.
    phase(started, "n4 joining");
    let mut attempts = 0;
    let joined = loop {
        let lead = leader(&[&n1, &n2, &n3]).await;
        match lead.node.add_member(n4_member.clone()).await {
            Ok(joined) => break joined,
            Err(e) if attempts < 5 => eprintln!("n4 not joined yet: {e}"),
            Err(e) => panic!("n4 cannot join: {e}"),
        }
        attempts += 1;
    };
    assert_eq!(joined.members.len(), 4);
    phase(started, "checking every node's records");
    for node in [&n2, &n3, &n4] {
        node.wait_applied(last, "all records").await;
        for i in [0, RECORDS / 2 - 1, RECORDS / 2, RECORDS - 1] {
            let key = format!("record-{i:05}");
            assert_eq!(node.get(&key), Some(value(i)), "{key}");
        }
    }
    for node in [&n3, &n4] {
        let metrics = node.node.raft.metrics().borrow().clone();
        assert!(
            metrics.snapshot.is_some_and(|s| s.index >= snapshot.index),
            "{}: {:?}",
            node.node.me.name,
            metrics.snapshot
        );
    }
    phase(started, "stopping");
    for node in [n1, n2, n3, n4] {
        node.shutdown().await;
    }
}

/// Size of the current snapshot of `node`'s state machine.
async fn snapshot_bytes(node: &TestNode) -> usize {
    use openraft::storage::RaftStateMachine as _;
    let mut sm = StateMachine::open(&node.db).unwrap();
    let snapshot = sm
        .get_current_snapshot()
        .await
        .unwrap()
        .expect("a snapshot");
    snapshot.snapshot.get_ref().len()
}

/// A listener on an address used before (retried while the OS frees it).
async fn listener_on(addr: &str) -> tokio::net::TcpListener {
    for _ in 0..100 {
        if let Ok(l) = tokio::net::TcpListener::bind(addr).await {
            return l;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("cannot listen on {addr} again");
}
