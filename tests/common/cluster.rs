//! Cluster helpers for the tests: real `mcp-v8` processes on loopback
//! ports from the OS, their `/raft/status`, bounded waits for agreement,
//! and signals (kill -9, stop, continue) to a node.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{client, free_port, Server};

/// How long the cluster may take to agree after a change.
pub const SETTLE: Duration = Duration::from_secs(30);

/// One node: its process and how to start it again.
pub struct Node {
    /// The running server (heaps, sessions and Raft data in its temp dir).
    pub server: Server,
    /// `--node-id`.
    pub name: String,
    /// `--cluster-port`.
    pub cluster_port: u16,
    /// The flags it was started with (beyond the harness's own).
    pub flags: Vec<String>,
}

/// The flags of a cluster node; `extra` are added at the end.
pub fn node_flags(name: &str, cluster_port: u16, extra: &[String]) -> Vec<String> {
    let mut flags: Vec<String> = vec![
        "--node-id".into(),
        name.into(),
        "--cluster-port".into(),
        cluster_port.to_string(),
        "--advertise-addr".into(),
        format!("127.0.0.1:{cluster_port}"),
        "--workers".into(),
        "1".into(),
    ];
    flags.extend_from_slice(extra);
    flags
}

impl Node {
    /// Starts `name` on `cluster_port` with fresh directories.
    pub fn start(name: &str, cluster_port: u16, extra: &[String]) -> Node {
        let flags = node_flags(name, cluster_port, extra);
        let refs: Vec<&str> = flags.iter().map(String::as_str).collect();
        Node {
            server: Server::start(&refs),
            name: name.into(),
            cluster_port,
            flags,
        }
    }

    /// Starts `name` again on the directories of `data` with `extra`.
    pub fn start_in(data: &Path, name: &str, cluster_port: u16, extra: &[String]) -> Node {
        let flags = node_flags(name, cluster_port, extra);
        let refs: Vec<&str> = flags.iter().map(String::as_str).collect();
        Node {
            server: Server::start_in(data, &refs),
            name: name.into(),
            cluster_port,
            flags,
        }
    }

    /// The node's cluster address.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.cluster_port)
    }

    /// URL of a path on the cluster port.
    pub fn cluster_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.cluster_port)
    }

    /// `GET /raft/status` (`None` if the node does not answer).
    pub fn status(&self) -> Option<Value> {
        raft_status(self.cluster_port)
    }

    /// Sends `signal` to the server process.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) with the pid of a child we started.
        unsafe {
            libc::kill(self.server.child.id() as i32, signal);
        }
    }

    /// kill -9, and waits until the process is gone.
    pub fn kill9(&mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.server.child.wait();
    }
}

/// `GET /raft/status` of a cluster port (`None` if it is down).
pub fn raft_status(cluster_port: u16) -> Option<Value> {
    let url = format!("http://127.0.0.1:{cluster_port}/raft/status");
    let response = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .ok()?
        .get(url)
        .send()
        .ok()?;
    response.json().ok()
}

/// Waits until every node named the same leader, exactly one says it is
/// the leader, and each knows `members` members; returns the leader's
/// name.
pub fn wait_for_agreement(nodes: &[&Node], members: usize) -> String {
    let deadline = Instant::now() + SETTLE;
    let mut last = Vec::new();
    while Instant::now() < deadline {
        last = nodes.iter().map(|n| n.status()).collect();
        if let Some(leader) = agreed_leader(&last, members) {
            return leader;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no agreement within {SETTLE:?}: {last:?}");
}

/// The leader all these status documents agree on, if they do.
pub fn agreed_leader(statuses: &[Option<Value>], members: usize) -> Option<String> {
    let leaders: Vec<Option<&str>> = statuses
        .iter()
        .map(|s| s.as_ref().and_then(|s| s["leader"].as_str()))
        .collect();
    let agreed = leaders[0].is_some() && leaders.iter().all(|l| *l == leaders[0]);
    let complete = statuses.iter().all(|s| {
        s.as_ref()
            .is_some_and(|s| s["members"].as_array().map(Vec::len) == Some(members))
    });
    let one_leader = statuses
        .iter()
        .filter(|s| s.as_ref().is_some_and(|s| s["role"] == "leader"))
        .count()
        == 1;
    (agreed && complete && one_leader).then(|| leaders[0].unwrap().to_string())
}

/// Starts the guide's three nodes: a seed with `--peers`, two with
/// `--join`; `extra` goes to every node. Returns them once they agree.
pub fn three_nodes(extra: &[String]) -> Vec<Node> {
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut seed_extra = vec![
        "--peers".to_string(),
        format!("node2@127.0.0.1:{},node3@127.0.0.1:{}", ports[1], ports[2]),
    ];
    seed_extra.extend_from_slice(extra);
    let mut nodes = vec![Node::start("node1", ports[0], &seed_extra)];
    for (i, name) in [(1, "node2"), (2, "node3")] {
        let mut join = vec!["--join".to_string(), format!("127.0.0.1:{}", ports[0])];
        join.extend_from_slice(extra);
        nodes.push(Node::start(name, ports[i], &join));
    }
    let refs: Vec<&Node> = nodes.iter().collect();
    wait_for_agreement(&refs, 3);
    // The joiners' own joins have bound their incarnations (tests that
    // forge a member's identity need the real one recorded first).
    let deadline = Instant::now() + SETTLE;
    while !nodes[0].status().is_some_and(|s| {
        s["members"]
            .as_array()
            .is_some_and(|m| m.iter().all(|m| m["incarnation"].is_string()))
    }) {
        assert!(Instant::now() < deadline, "incarnations not recorded");
        std::thread::sleep(Duration::from_millis(50));
    }
    nodes
}

/// The node that is the leader, by index.
pub fn leader_index(nodes: &[Node]) -> usize {
    nodes
        .iter()
        .position(|n| n.status().is_some_and(|s| s["role"] == "leader"))
        .expect("a leader")
}

/// `POST /raft/join` to a node: (status, answer).
pub fn join(via: &Node, body: Value, secret: Option<&str>) -> (u16, Value) {
    let mut request = client().post(via.cluster_url("/raft/join")).json(&body);
    if let Some(secret) = secret {
        request = request.bearer_auth(secret);
    }
    let response = request.send().unwrap();
    (
        response.status().as_u16(),
        response.json().unwrap_or(json!(null)),
    )
}

/// The names of the voters and of the learners in a status document.
pub fn voters_and_learners(status: &Value) -> (Vec<String>, Vec<String>) {
    let mut voters = Vec::new();
    let mut learners = Vec::new();
    for member in status["members"].as_array().unwrap() {
        let name = member["node_id"].as_str().unwrap().to_string();
        if member["voter"] == true {
            voters.push(name);
        } else {
            learners.push(name);
        }
    }
    (voters, learners)
}
