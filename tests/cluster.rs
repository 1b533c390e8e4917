//! End-to-end tests of cluster mode as the user's guide runs it: real
//! `mcp-v8` processes on loopback (ports from the OS), a seed with
//! `--peers` and two nodes with `--join`; a fourth node added through a
//! follower's `/raft/join`; failover after kill -9 and SIGSTOP of the
//! leader; the flags refused at start. Membership rules and the cluster
//! secret are in `cluster_membership.rs`.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{
    agreed_leader, join, leader_index, three_nodes, voters_and_learners, wait_for_agreement, Node,
};
use common::{free_port, Server};
use serde_json::json;

#[test]
fn three_nodes_agree_take_a_fourth_and_survive_losing_the_leader() {
    let mut nodes = three_nodes(&[]);
    let refs: Vec<&Node> = nodes.iter().collect();
    let leader = wait_for_agreement(&refs, 3);
    let status = nodes[1].status().unwrap();
    // The guide's checks: one leader, every peer address, one leader id.
    assert_eq!(status["leader_id"], leader.as_str(), "{status}");
    let addrs = status["peer_addrs"].as_object().unwrap();
    for node in &nodes {
        assert_eq!(addrs[&node.name], node.addr().as_str(), "{status}");
    }
    let peers: Vec<&str> = status["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(peers.len(), 2, "{status}");
    assert!(!peers.contains(&nodes[1].addr().as_str()), "{status}");
    // Raft ids are strings: jq would round these 64-bit numbers.
    let raft_id = status["raft_id"].as_str().unwrap();
    assert!(raft_id.parse::<u64>().is_ok(), "{status}");
    assert!(status["leader_raft_id"].is_string(), "{status}");
    assert_eq!(status["is_learner"], false, "{status}");
    assert!(status["commit_index"].is_u64(), "{status}");
    assert!(status["log_length"].as_u64().unwrap() > 0, "{status}");

    // /api/status shows each node's view of the cluster.
    let api = nodes[1].server.status();
    assert_eq!(api["cluster"]["node_id"], "node2", "{api}");
    assert_eq!(api["cluster"]["leader"], leader.as_str(), "{api}");
    assert_eq!(api["cluster"]["members"], 3, "{api}");
    let metrics = nodes[leader_index(&nodes)].server.metrics();
    assert!(metrics.contains("mcp_v8_cluster_is_leader 1"), "{metrics}");
    assert!(metrics.contains("mcp_v8_cluster_term "), "{metrics}");

    // Any node's HTTP port serves executions.
    let (code, body) = nodes[1]
        .server
        .exec(json!({ "code": "console.log(\"cluster ok\")" }));
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["stdout"], "cluster ok");

    // A fourth node, running, added by hand through a follower.
    nodes.push(Node::start("node4", free_port(), &[]));
    let follower = (0..3)
        .find(|i| nodes[*i].status().unwrap()["role"] == "follower")
        .unwrap();
    let (code, joined) = join(
        &nodes[follower],
        json!({ "node_id": "node4", "addr": nodes[3].addr() }),
        None,
    );
    assert_eq!(code, 200, "{joined}");
    assert_eq!(joined["leader"], leader.as_str(), "{joined}");
    let refs: Vec<&Node> = nodes.iter().collect();
    assert_eq!(wait_for_agreement(&refs, 4), leader);
    let (voters, learners) = voters_and_learners(&nodes[0].status().unwrap());
    assert_eq!((voters.len(), learners.len()), (4, 0));

    // Bad joins are refused with a clear error.
    let (code, bad) = join(
        &nodes[0],
        json!({ "node_id": "node5", "addr": "no port" }),
        None,
    );
    assert_eq!(code, 400);
    assert_eq!(bad["error"]["code"], "invalid_request", "{bad}");

    // Losing the leader: the other three elect a new one.
    let index = leader_index(&nodes);
    nodes[index].kill9();
    let rest: Vec<&Node> = (0..4).filter(|i| *i != index).map(|i| &nodes[i]).collect();
    let new_leader = wait_for_agreement(&rest, 4);
    assert_ne!(new_leader, leader);
}

/// Polls the nodes until they agree on a leader other than `old`;
/// returns it and how long it took.
fn wait_new_leader(
    nodes: &[&Node],
    members: usize,
    old: &str,
    limit: Duration,
) -> (String, Duration) {
    let started = Instant::now();
    while started.elapsed() < limit {
        let statuses: Vec<_> = nodes.iter().map(|n| n.status()).collect();
        if let Some(leader) = agreed_leader(&statuses, members) {
            if leader != old {
                return (leader, started.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("no new leader within {limit:?}");
}

#[test]
fn a_new_leader_follows_kill_9_quickly_and_a_stopped_leader_steps_down() {
    let mut nodes = three_nodes(&[]);
    // kill -9 of the leader: the two others elect one within 1.5 s (the
    // bound holds with room on a loaded machine; the median is measured
    // by scripts/bench-failover).
    let index = leader_index(&nodes);
    let old = nodes[index].name.clone();
    nodes[index].kill9();
    let rest: Vec<&Node> = (0..3).filter(|i| *i != index).map(|i| &nodes[i]).collect();
    let (leader, took) = wait_new_leader(&rest, 3, &old, Duration::from_secs(10));
    assert!(
        took < Duration::from_millis(1500),
        "new leader after {took:?}"
    );

    // The killed node comes back on its directories without --join (its
    // Raft log has the membership) and follows the new leader.
    let data = nodes[index].server.data.clone();
    let port = nodes[index].cluster_port;
    let back = Node::start_in(&data, &old, port, &[]);
    let dead = std::mem::replace(&mut nodes[index], back);
    let refs: Vec<&Node> = nodes.iter().collect();
    assert_eq!(wait_for_agreement(&refs, 3), leader);
    drop(dead);

    // SIGSTOP of the leader: the others elect a new one; after SIGCONT the
    // old leader steps down and follows the current leader. (Which node
    // that is may change again on a loaded machine: the one elected while
    // the old leader was stopped can lose a later election, as happened
    // in CI once; what must hold is that the stopped leader does not lead
    // on after it resumes.)
    let index = leader_index(&nodes);
    let old = nodes[index].name.clone();
    nodes[index].signal(libc::SIGSTOP);
    let rest: Vec<&Node> = (0..3).filter(|i| *i != index).map(|i| &nodes[i]).collect();
    let _ = wait_new_leader(&rest, 3, &old, Duration::from_secs(10));
    nodes[index].signal(libc::SIGCONT);
    let refs: Vec<&Node> = nodes.iter().collect();
    let leader = wait_for_agreement(&refs, 3);
    assert_ne!(leader, old, "the stopped leader still leads after SIGCONT");
    let status = nodes[index].status().unwrap();
    assert_eq!(status["role"], "follower", "{status}");
    assert_eq!(status["leader"], leader.as_str(), "{status}");
}

#[test]
fn bad_cluster_flags_are_refused_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty-secret");
    std::fs::write(&empty, "\n").unwrap();
    let empty = empty.to_str().unwrap();
    let missing = dir.path().join("missing").to_str().unwrap().to_string();
    for (args, flag) in [
        (&["--peers", "node2@127.0.0.1:4002"][..], "--peers"),
        (&["--join", "127.0.0.1:4001"], "--join"),
        (
            &["--cluster-port", "4001", "--peers", "no-address"],
            "--peers",
        ),
        (&["--cluster-port", "4001", "--join", "nowhere"], "--join"),
        (
            &["--cluster-port", "4001", "--join", "127.0.0.1:4001"],
            "--join",
        ),
        (
            &["--http-port", "4001", "--cluster-port", "4001"],
            "--cluster-port",
        ),
        (
            &["--cluster-port", "4001", "--cluster-host", "0.0.0.0"],
            "--cluster-host",
        ),
        (
            &["--cluster-port", "4001", "--cluster-host", "192.0.2.1"],
            "--cluster-host",
        ),
        (
            &["--cluster-port", "4001", "--cluster-secret-file", empty],
            "--cluster-secret-file",
        ),
        (
            &["--cluster-port", "4001", "--cluster-secret-file", &missing],
            "--cluster-secret-file",
        ),
        (
            &["--cluster-port", "4001", "--raft-snapshot-logs", "0"],
            "--raft-snapshot-logs",
        ),
        (&["--raft-snapshot-logs", "10"], "--raft-snapshot-logs"),
        // Peers could not reach it: the port listens on loopback only.
        (
            &[
                "--cluster-port",
                "4001",
                "--advertise-addr",
                "10.0.0.5:4001",
            ],
            "--advertise-addr",
        ),
    ] {
        let out = std::process::Command::new(common::binary())
            .args(args)
            .env_remove("MCP_V8_CLUSTER_SECRET")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
    }
    // With a secret, a non-loopback --cluster-host is allowed (the server
    // then starts; it is stopped at once).
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "a-long-enough-cluster-secret\n").unwrap();
    let mut server = Server::start(&[
        "--cluster-secret-file",
        secret.to_str().unwrap(),
        "--cluster-port",
        &free_port().to_string(),
        "--cluster-host",
        "0.0.0.0",
        "--advertise-addr",
        "127.0.0.1:1",
        "--workers",
        "1",
    ]);
    server.stop();
}

/// A follower frozen for longer than the election timeout and then let go
/// must not unseat a leader the others still follow (no flapping when a
/// peer stalls).
#[test]
fn a_follower_that_stalls_does_not_unseat_the_leader() {
    let nodes = three_nodes(&[]);
    let leader = leader_index(&nodes);
    let term = nodes[leader].status().unwrap()["term"].clone();
    for round in 0..3 {
        let frozen = &nodes[(leader + 1 + round % 2) % 3];
        frozen.signal(libc::SIGSTOP);
        std::thread::sleep(Duration::from_millis(1_500));
        frozen.signal(libc::SIGCONT);
        // Long enough for the thawed node's election timer to fire.
        std::thread::sleep(Duration::from_millis(1_500));
        let refs: Vec<&Node> = nodes.iter().collect();
        let now = wait_for_agreement(&refs, 3);
        assert_eq!(now, nodes[leader].name, "round {round}: the leader changed");
        let status = nodes[leader].status().unwrap();
        assert_eq!(status["term"], term, "round {round}: {status}");
    }
}
