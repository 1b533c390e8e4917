//! End-to-end tests of the membership rules and the cluster port's guard,
//! on real `mcp-v8` processes on loopback: a join never makes an
//! unreachable node a voter; concurrent joins both land; a duplicate
//! `--node-id`, a wiped node or another cluster is refused with 409; a
//! member can be removed; and with a cluster secret, a request without it
//! is refused with 401 and changes nothing.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{
    join, leader_index, three_nodes, voters_and_learners, wait_for_agreement, Node, SETTLE,
};
use common::{client, free_port};
use serde_json::{json, Value};

/// Waits until `node`'s status satisfies `ok` (bounded); returns it.
fn wait_status(node: &Node, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + SETTLE;
    let mut last = None;
    while Instant::now() < deadline {
        last = node.status();
        if last.as_ref().is_some_and(&ok) {
            return last.unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{}: not {what} within {SETTLE:?}: {last:?}", node.name);
}

#[test]
fn a_learner_whose_node_starts_later_becomes_a_voter() {
    let nodes = three_nodes(&[]);
    let leader = leader_index(&nodes);
    // The guide's step 7 before node4 runs: 504, a learner.
    let port = free_port();
    let (code, body) = join(
        &nodes[(leader + 1) % 3],
        json!({ "node_id": "node4", "addr": format!("127.0.0.1:{port}") }),
        None,
    );
    assert_eq!(code, 504, "{body}");
    // Then node4 starts, with neither --join nor --peers: it catches up
    // and the leader makes it a voter by itself.
    let node4 = Node::start("node4", port, &[]);
    let status = wait_status(&nodes[leader], "node4 a voter", |s| {
        voters_and_learners(s).0.contains(&"node4".to_string())
    });
    assert_eq!(status["learners"], json!([]), "{status}");
    let all: Vec<&Node> = nodes.iter().chain([&node4]).collect();
    wait_for_agreement(&all, 4);
    // It takes part: a session written through it is on the leader.
    let (code, body) = common::post_exec(
        &node4.server.url("/api/exec"),
        &json!({ "code": "var n = 7; n", "session": "late" }),
    );
    assert_eq!(code, 200, "{body}");
    let (code, body) = common::post_exec(
        &nodes[leader].server.url("/api/exec"),
        &json!({ "code": "n * 6", "session": "late" }),
    );
    assert_eq!((code, &body["result"]), (200, &json!(42)), "{body}");
}

#[test]
fn joins_never_add_phantom_voters_and_members_can_leave() {
    let mut nodes = three_nodes(&[]);
    let leader = leader_index(&nodes);

    // The guide's step 7 before node4 runs: a learner, not a voter, and a
    // 504 after the bounded wait.
    let ghost_port = free_port();
    let started = Instant::now();
    let (code, body) = join(
        &nodes[(leader + 1) % 3],
        json!({ "node_id": "node4", "addr": format!("127.0.0.1:{ghost_port}") }),
        None,
    );
    assert_eq!(code, 504, "{body}");
    assert_eq!(body["error"]["code"], "join_timeout", "{body}");
    assert!(started.elapsed() < Duration::from_secs(20));
    let status = nodes[leader].status().unwrap();
    let (voters, learners) = voters_and_learners(&status);
    assert_eq!(voters.len(), 3, "{status}");
    assert_eq!(learners, vec!["node4".to_string()], "{status}");
    assert_eq!(status["learners"], json!(["node4"]), "{status}");

    // Two real nodes joining at once both end up voters.
    let mut newcomers = vec![
        Node::start("node5", free_port(), &[]),
        Node::start("node6", free_port(), &[]),
    ];
    let via = &nodes[leader];
    let answers: Vec<(u16, Value)> = std::thread::scope(|s| {
        let joins: Vec<_> = newcomers
            .iter()
            .map(|n| {
                let body = json!({ "node_id": n.name, "addr": n.addr() });
                s.spawn(move || join(via, body, None))
            })
            .collect();
        joins.into_iter().map(|j| j.join().unwrap()).collect()
    });
    for (code, body) in &answers {
        assert_eq!(*code, 200, "{body}");
    }
    let status = wait_status(&nodes[leader], "five voters", |s| {
        voters_and_learners(s).0.len() == 5
    });
    let (voters, _) = voters_and_learners(&status);
    for name in ["node5", "node6"] {
        assert!(voters.contains(&name.to_string()), "{status}");
    }

    // Remove the learner and one voter, through a follower.
    let follower = (leader + 1) % 3;
    for name in ["node4", "node6"] {
        let url = nodes[follower].cluster_url(&format!("/raft/members/{name}"));
        let response = client().delete(url).send().unwrap();
        assert_eq!(response.status().as_u16(), 200, "{name}");
    }
    let url = nodes[follower].cluster_url("/raft/members/nobody");
    let response = client().delete(url).send().unwrap();
    assert_eq!(response.status().as_u16(), 404);
    newcomers.truncate(1);
    let all: Vec<&Node> = nodes.iter().chain(&newcomers).collect();
    let leader_name = wait_for_agreement(&all, 4);

    // With 4 voters (node1-3, node5), losing one real node leaves a quorum:
    // a membership change still commits.
    let victim = (0..3).find(|i| nodes[*i].name != leader_name).unwrap();
    nodes[victim].kill9();
    let alive: Vec<usize> = (0..3).filter(|i| *i != victim).collect();
    let url = nodes[alive[0]].cluster_url("/raft/members/node5");
    let response = client().delete(url).send().unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

#[test]
fn duplicate_names_wiped_nodes_and_other_clusters_are_refused() {
    let mut nodes = three_nodes(&[]);
    let leader = leader_index(&nodes);
    let follower = (leader + 1) % 3;
    let before = nodes[leader].status().unwrap()["members"].clone();

    // A second node calling itself node2, at another address.
    let (code, body) = join(
        &nodes[follower],
        json!({ "node_id": "node2", "addr": format!("127.0.0.1:{}", free_port()) }),
        None,
    );
    assert_eq!(code, 409, "{body}");
    assert_eq!(body["error"]["code"], "node_id_in_use", "{body}");
    // node2 wiped (a new database, so a new incarnation), at its address.
    let (code, body) = join(
        &nodes[follower],
        json!({ "node_id": "node2", "addr": nodes[1].addr(), "incarnation": "00ff" }),
        None,
    );
    assert_eq!(code, 409, "{body}");
    assert_eq!(body["error"]["code"], "incarnation_mismatch", "{body}");
    assert_eq!(nodes[leader].status().unwrap()["members"], before);

    // A real wiped node3 on node3's port: the leader's RPCs name node3's
    // old incarnation, so the wiped node refuses them and never speaks
    // for node3; its own --join is refused too.
    let port = nodes[2].cluster_port;
    nodes[2].kill9();
    let contact = vec!["--join".to_string(), nodes[0].addr()];
    let wiped = Node::start("node3", port, &contact);
    std::thread::sleep(Duration::from_secs(2));
    let status = wiped.status().unwrap();
    assert_eq!(status["members"], json!([]), "{status}");
    assert_eq!(status["leader"], Value::Null, "{status}");
    assert_eq!(nodes[leader].status().unwrap()["members"], before);
    let url = wiped.cluster_url("/raft/append");
    let response = client()
        .post(url)
        .header("x-mcp-v8-incarnation", "0123456789abcdef0123456789abcdef")
        .body(vec![0u8; 4])
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 409);
    let body: Value = response.json().unwrap();
    assert_eq!(body["error"]["code"], "incarnation_mismatch", "{body}");

    // A node of another cluster (another cluster id) is refused.
    let url = nodes[follower].cluster_url("/raft/join");
    let response = client()
        .post(url)
        .header("x-mcp-v8-cluster-id", "ffffffffffffffffffffffffffffffff")
        .json(&json!({ "node_id": "node9", "addr": "127.0.0.1:9" }))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 409);
    let body: Value = response.json().unwrap();
    assert_eq!(body["error"]["code"], "cluster_mismatch", "{body}");
    assert_eq!(nodes[leader].status().unwrap()["members"], before);
}

#[test]
fn with_a_cluster_secret_only_holders_of_it_change_anything() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, "correct horse battery staple\n").unwrap();
    let extra = vec![
        "--cluster-secret-file".to_string(),
        secret_file.to_str().unwrap().to_string(),
    ];
    let nodes = three_nodes(&extra);
    let leader = leader_index(&nodes);
    let before = nodes[leader].status().unwrap()["members"].clone();
    let newcomer = json!({ "node_id": "node4", "addr": "127.0.0.1:9" });
    for secret in [None, Some("wrong"), Some("correct horse battery stapl")] {
        let (code, body) = join(&nodes[leader], newcomer.clone(), secret);
        assert_eq!(code, 401, "{secret:?}: {body}");
        assert_eq!(body["error"]["code"], "unauthorized", "{body}");
    }
    for path in ["/raft/append", "/raft/vote", "/raft/snapshot"] {
        let response = client()
            .post(nodes[leader].cluster_url(path))
            .body(vec![0u8; 16])
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 401, "{path}");
    }
    let url = nodes[leader].cluster_url("/raft/members/node3");
    let response = client().delete(url).send().unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(nodes[leader].status().unwrap()["members"], before);
    // With it, each route has its own body limit: 3 MiB is a (bad) append
    // but too much for a vote; 20 KiB is too much for a join.
    let secret = "correct horse battery staple";
    for (path, bytes, expected) in [
        ("/raft/append", 3 << 20, 400),
        ("/raft/snapshot", 3 << 20, 400),
        ("/raft/snapshot", 17 << 20, 413),
        ("/raft/vote", 3 << 20, 413),
        ("/raft/join", 20 << 10, 413),
    ] {
        let response = client()
            .post(nodes[leader].cluster_url(path))
            .bearer_auth(secret)
            .header("content-type", "application/json")
            .body(vec![b' '; bytes])
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), expected, "{path} {bytes}");
    }
    assert_eq!(nodes[leader].status().unwrap()["members"], before);
    // A bad body is answered 400: the guard let it through.
    let (code, _) = join(
        &nodes[leader],
        json!({ "node_id": "", "addr": "x" }),
        Some("correct horse battery staple"),
    );
    assert_eq!(code, 400);
}
