//! Heaps and Raft snapshots across a real three-node cluster on loopback:
//! a heap left on one voter after its other holder was removed is copied
//! to another voter by the leader's replication pass; and, with the log
//! purged behind frequent snapshots, a restarted node and a new node catch
//! up from a Raft snapshot and fetch heaps lazily.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::cluster::{leader_index, three_nodes, wait_for_agreement, Node, SETTLE};
use common::{client, post_exec};
use serde_json::{json, Value};

fn get(url: &str) -> (u16, Value) {
    let response = client().get(url).send().unwrap();
    (
        response.status().as_u16(),
        response.json().unwrap_or(json!(null)),
    )
}

/// Runs `code` in `session` on `node`; panics unless it is a 200.
fn run(node: &Node, session: &str, code: &str) -> Value {
    let (status, body) = post_exec(
        &node.server.url("/api/exec"),
        &json!({ "code": code, "session": session }),
    );
    assert_eq!(status, 200, "{body}");
    body
}

/// The output heaps of a session's history, read on `node`.
fn session_heaps(node: &Node, session: &str) -> Vec<String> {
    let (status, doc) = get(&node
        .server
        .url(&format!("/api/sessions/{session}?consistent=true")));
    assert_eq!(status, 200, "{doc}");
    doc["history"]["items"]
        .as_array()
        .expect("a history")
        .iter()
        .filter_map(|e| e["output_heap"].as_str().map(String::from))
        .collect()
}

/// Polls `check` every 100 ms until it returns `Some` (bounded).
fn wait_for<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn heap_dir(node: &Node) -> PathBuf {
    node.server.data.join("heaps")
}

#[test]
fn a_heap_left_on_one_voter_is_copied_to_another() {
    let nodes = three_nodes(&[]);
    let leader = leader_index(&nodes);
    let (f, g) = ((leader + 1) % 3, (leader + 2) % 3);
    // With F frozen, every new heap's second copy is G's: the recorded
    // holders are the leader and G.
    nodes[f].signal(libc::SIGSTOP);
    run(&nodes[leader], "r", "var counter = 0; counter");
    for _ in 0..3 {
        run(&nodes[leader], "r", "++counter");
    }
    nodes[f].signal(libc::SIGCONT);
    let heaps = session_heaps(&nodes[leader], "r");
    assert_eq!(heaps.len(), 4);
    // The copies sent to F in the background arrive once it runs again;
    // then F loses them, so only a repair can bring them back.
    wait_for("F's background copies", SETTLE, || {
        heaps
            .iter()
            .all(|h| heap_dir(&nodes[f]).join(h).is_file())
            .then_some(())
    });
    for h in &heaps {
        std::fs::remove_file(heap_dir(&nodes[f]).join(h)).unwrap();
    }
    let (_, status) = get(&nodes[leader].server.url("/api/status"));
    assert_eq!(
        status["cluster"]["replication"]["under_replicated_heaps"],
        json!(0),
        "every heap is on two voters before G leaves: {status}"
    );

    // G leaves the voters: the session's heaps are on the leader alone.
    let url = nodes[leader].cluster_url(&format!("/raft/members/{}", nodes[g].name));
    let response = client().delete(url).send().unwrap();
    let code = response.status().as_u16();
    assert_eq!(code, 200, "{}", response.text().unwrap_or_default());
    let replication = wait_for("the leader's repair", SETTLE, || {
        let (_, status) = get(&nodes[leader].server.url("/api/status"));
        let replication = status["cluster"]["replication"].clone();
        let repaired = replication["heap_repairs"].as_u64().unwrap_or(0);
        (repaired >= heaps.len() as u64 && replication["under_replicated_heaps"] == 0)
            .then_some(replication)
    });
    assert_eq!(
        replication["last_replication_pass"]["failed"], 0,
        "{replication}"
    );
    assert!(
        replication["commit_mean_ms"]
            .as_f64()
            .is_some_and(|ms| ms > 0.0),
        "{replication}"
    );
    for h in &heaps {
        assert!(heap_dir(&nodes[f]).join(h).is_file(), "{h} copied to F");
    }
    let metrics = nodes[leader].server.metrics();
    assert!(
        metrics.contains("mcp_v8_cluster_under_replicated_heaps 0"),
        "{metrics}"
    );
    // The session goes on from its last heap on the two remaining voters.
    let body = run(&nodes[f], "r", "++counter");
    assert_eq!(body["result"], json!(4), "{body}");
}

#[test]
fn nodes_catch_up_from_a_snapshot_after_the_log_was_purged() {
    let every = "10".to_string();
    let mut nodes = three_nodes(&["--raft-snapshot-logs".into(), every.clone()]);
    let leader = leader_index(&nodes);
    let down = (leader + 1) % 3;
    let data = nodes[down].server.data.clone();
    let (name, port) = (nodes[down].name.clone(), nodes[down].cluster_port);
    // `kill9` reaps the process; keep the temp dir alive for the restart.
    nodes[down].kill9();

    run(&nodes[leader], "s", "var counter = 0; counter");
    for _ in 0..40 {
        run(&nodes[leader], "s", "++counter");
    }
    let status = nodes[leader].status().unwrap();
    let purged = status["purged_index"].as_u64().expect("the log was purged");
    assert!(
        status["snapshot_index"].as_u64().unwrap() >= purged,
        "{status}"
    );

    // The killed node restarts on its directories, without --join, and
    // needs entries the leader no longer has.
    let restarted = Node::start_in(
        &data,
        &name,
        port,
        &["--raft-snapshot-logs".into(), every.clone()],
    );
    let newcomer = Node::start(
        "node4",
        common::free_port(),
        &[
            "--join".into(),
            nodes[leader].addr(),
            "--raft-snapshot-logs".into(),
            every,
        ],
    );
    let others: Vec<&Node> = (0..3)
        .filter(|i| *i != down)
        .map(|i| &nodes[i])
        .chain([&restarted, &newcomer])
        .collect();
    wait_for_agreement(&others, 4);
    let target = nodes[leader].status().unwrap()["last_log_index"]
        .as_u64()
        .unwrap();
    for node in [&restarted, &newcomer] {
        let status = wait_for("catch-up", SETTLE, || {
            let status = node.status()?;
            (status["last_applied"].as_u64()? >= target).then_some(status)
        });
        assert!(
            status["snapshot_index"]
                .as_u64()
                .is_some_and(|i| i >= purged),
            "{} installed a snapshot: {status}",
            node.name
        );
        // Its local copy of the state has the whole session.
        let (code, doc) = get(&node.server.url("/api/sessions/s"));
        assert_eq!((code, &doc["entries"]), (200, &json!(41)), "{doc}");
        // Heap bytes were not in the snapshot: the head is fetched lazily.
        let head = doc["latest_heap"].as_str().unwrap().to_string();
        assert!(
            !heap_dir(node).join(&head).is_file(),
            "{} has no heap yet",
            node.name
        );
        let (code, meta) = get(&node.server.url(&format!("/api/heaps/{head}")));
        assert_eq!(code, 200, "{meta}");
        assert!(heap_dir(node).join(&head).is_file());
    }
    // And the session goes on through either of them.
    let body = run(&newcomer, "s", "++counter");
    assert_eq!(body["result"], json!(41), "{body}");
    let body = run(&restarted, "s", "++counter");
    assert_eq!(body["result"], json!(42), "{body}");
}

/// The heap GC of every node follows the replicated state: on a follower
/// that never ran either session, the heaps of a session deleted through
/// the cluster are removed, and those of a live session are kept.
#[test]
fn every_nodes_gc_follows_the_replicated_sessions() {
    let retention = ["--heap-retention".to_string(), "1s".to_string()];
    let mut nodes = three_nodes(&retention);
    let leader = leader_index(&nodes);
    let f = (leader + 1) % 3;
    run(&nodes[leader], "keep", "var kept = [1]; kept.length");
    run(&nodes[leader], "keep", "kept.push(2); kept.length");
    run(
        &nodes[leader],
        "gone",
        "var lost = 'x'.repeat(10); lost.length",
    );
    run(&nodes[leader], "gone", "lost += 'y'; lost.length");
    let keep = session_heaps(&nodes[leader], "keep");
    let gone = session_heaps(&nodes[leader], "gone");
    assert!(keep.iter().all(|h| !gone.contains(h)));
    wait_for("F's copies", SETTLE, || {
        keep.iter()
            .chain(&gone)
            .all(|h| heap_dir(&nodes[f]).join(h).is_file())
            .then_some(())
    });
    let recorded = |node: &Node| {
        let (_, status) = get(&node.server.url("/api/status"));
        status["cluster"]["replication"]["heaps_recorded"].as_u64()
    };
    let before = recorded(&nodes[f]).expect("heaps_recorded");
    // Deleted through F; F's own copy of the state says so.
    let response = client()
        .delete(nodes[f].server.url("/api/sessions/gone"))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    wait_for("the delete on F", SETTLE, || {
        (get(&nodes[f].server.url("/api/sessions/gone")).0 == 404).then_some(())
    });
    // The deleted session's heap records are gone from the state too.
    assert_eq!(recorded(&nodes[f]), Some(before - gone.len() as u64));
    // Older than the retention, then F restarts: its first GC pass runs.
    std::thread::sleep(Duration::from_millis(1_200));
    let data = nodes[f].server.data.clone();
    let (name, port) = (nodes[f].name.clone(), nodes[f].cluster_port);
    nodes[f].server.stop();
    let back = Node::start_in(&data, &name, port, &retention);
    let gc = wait_for("F's GC pass", SETTLE, || {
        let (_, status) = get(&back.server.url("/api/status"));
        let gc = status["heaps"]["gc"].clone();
        (gc["runs"].as_u64()? >= 1).then_some(gc)
    });
    assert_eq!(gc["last_error"], Value::Null, "{gc}");
    for h in &gone {
        assert!(
            !heap_dir(&back).join(h).is_file(),
            "{h} of a deleted session removed: {gc}"
        );
    }
    for h in &keep {
        assert!(
            heap_dir(&back).join(h).is_file(),
            "{h} of a live session kept: {gc}"
        );
    }
    // And the live session goes on through F.
    let body = run(&back, "keep", "kept.push(3); kept.join()");
    assert_eq!(body["result"], json!("1,2,3"), "{body}");
}
