//! End-to-end test of cluster mode, as the user's guide runs it: three real
//! `mcp-v8` processes on loopback (ports from the OS), a seed node with
//! `--peers` and two nodes with `--join`; then a fourth node added through
//! `POST /raft/join` on a follower, and the leader killed.

mod common;

use std::time::{Duration, Instant};

use common::{client, free_port, Server};
use serde_json::{json, Value};

/// How long the cluster may take to agree after a change.
const SETTLE: Duration = Duration::from_secs(30);

/// `GET /raft/status` of a node's cluster port (`None` if it is down).
fn raft_status(cluster_port: u16) -> Option<Value> {
    let url = format!("http://127.0.0.1:{cluster_port}/raft/status");
    let response = client().get(url).send().ok()?;
    response.json().ok()
}

/// Waits until every node in `ports` names the same leader and knows
/// `members` members; returns the leader's name.
fn wait_for_agreement(ports: &[u16], members: usize) -> String {
    let deadline = Instant::now() + SETTLE;
    let mut last = Vec::new();
    while Instant::now() < deadline {
        last = ports.iter().map(|p| raft_status(*p)).collect();
        let leaders: Vec<Option<&str>> = last
            .iter()
            .map(|s| s.as_ref().and_then(|s| s["leader"].as_str()))
            .collect();
        let agreed = leaders[0].is_some() && leaders.iter().all(|l| *l == leaders[0]);
        let complete = last.iter().all(|s| {
            s.as_ref()
                .is_some_and(|s| s["members"].as_array().map(Vec::len) == Some(members))
        });
        let one_leader = last
            .iter()
            .filter(|s| s.as_ref().is_some_and(|s| s["role"] == "leader"))
            .count()
            == 1;
        if agreed && complete && one_leader {
            return leaders[0].unwrap().to_string();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no agreement within {SETTLE:?}: {last:?}");
}

fn node_flags(name: &str, cluster_port: u16) -> Vec<String> {
    vec![
        "--node-id".into(),
        name.into(),
        "--cluster-port".into(),
        cluster_port.to_string(),
        "--advertise-addr".into(),
        format!("127.0.0.1:{cluster_port}"),
        "--workers".into(),
        "1".into(),
    ]
}

fn start(flags: &[String]) -> Server {
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    Server::start(&flags)
}

#[test]
fn three_nodes_agree_take_a_fourth_and_survive_losing_the_leader() {
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    let mut seed = node_flags("node1", ports[0]);
    seed.push("--peers".into());
    seed.push(format!(
        "node2@127.0.0.1:{},node3@127.0.0.1:{}",
        ports[1], ports[2]
    ));
    let mut nodes = vec![start(&seed)];
    for (i, name) in [(1, "node2"), (2, "node3")] {
        let mut flags = node_flags(name, ports[i]);
        flags.push("--join".into());
        flags.push(format!("127.0.0.1:{}", ports[0]));
        nodes.push(start(&flags));
    }
    let leader = wait_for_agreement(&ports[..3], 3);
    let status = raft_status(ports[1]).unwrap();
    let names: Vec<&str> = status["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["node_id"].as_str().unwrap())
        .collect();
    for name in ["node1", "node2", "node3"] {
        assert!(names.contains(&name), "{status}");
    }

    // /api/status shows each node's view of the cluster.
    let api = nodes[1].status();
    assert_eq!(api["cluster"]["node_id"], "node2", "{api}");
    assert_eq!(api["cluster"]["leader"], leader.as_str(), "{api}");
    assert_eq!(api["cluster"]["members"], 3, "{api}");

    // Any node's HTTP port serves executions.
    let (code, body) = nodes[1].exec(json!({ "code": "console.log(\"cluster ok\")" }));
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["stdout"], "cluster ok");

    // A fourth node, added by hand through a follower.
    nodes.push(start(&node_flags("node4", ports[3])));
    let follower = (0..3)
        .find(|i| raft_status(ports[*i]).unwrap()["role"] == "follower")
        .unwrap();
    let url = format!("http://127.0.0.1:{}/raft/join", ports[follower]);
    let response = client()
        .post(url)
        .json(&json!({ "node_id": "node4", "addr": format!("127.0.0.1:{}", ports[3]) }))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let joined: Value = response.json().unwrap();
    assert_eq!(joined["leader"], leader.as_str(), "{joined}");
    assert_eq!(wait_for_agreement(&ports, 4), leader);

    // Bad joins are refused with a clear error.
    let url = format!("http://127.0.0.1:{}/raft/join", ports[0]);
    let bad = client()
        .post(url)
        .json(&json!({ "node_id": "node5", "addr": "no port" }))
        .send()
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let bad: Value = bad.json().unwrap();
    assert_eq!(bad["error"]["code"], "invalid_request", "{bad}");

    // Losing the leader: the other three elect a new one.
    let index = ["node1", "node2", "node3", "node4"]
        .iter()
        .position(|n| *n == leader)
        .unwrap();
    nodes[index].stop();
    let rest: Vec<u16> = (0..4).filter(|i| *i != index).map(|i| ports[i]).collect();
    let new_leader = wait_for_agreement(&rest, 4);
    assert_ne!(new_leader, leader);
}

#[test]
fn bad_cluster_flags_are_refused_with_exit_code_2() {
    for args in [
        &["--peers", "node2@127.0.0.1:4002"][..],
        &["--join", "127.0.0.1:4001"],
        &["--cluster-port", "4001", "--peers", "no-address"],
        &["--cluster-port", "4001", "--join", "nowhere"],
        &["--cluster-port", "4001", "--join", "127.0.0.1:4001"],
        &["--http-port", "4001", "--cluster-port", "4001"],
    ] {
        let out = std::process::Command::new(common::binary())
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--"), "{args:?}: {stderr}");
    }
}
