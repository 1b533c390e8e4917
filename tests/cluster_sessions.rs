//! Sessions and heaps across a real three-node cluster on loopback: any
//! node runs, reads, lists and deletes any session; a session survives
//! `kill -9` of the node that ran it; and a history check of concurrent
//! increments through random nodes while the leader is killed.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cluster::{raft_status, three_nodes, Node};
use common::{client, post_exec};
use serde_json::{json, Value};

/// How long the cluster may take to agree after a change.
const SETTLE: Duration = Duration::from_secs(30);

/// Three real processes; `None` where a node was killed.
struct Cluster {
    nodes: Vec<Option<Node>>,
}

impl Cluster {
    /// The guide's three nodes: a seed with `--peers`, two with `--join`.
    fn start() -> Cluster {
        let nodes = three_nodes(&[]).into_iter().map(Some).collect();
        let cluster = Cluster { nodes };
        cluster.wait_for_leader();
        cluster
    }

    fn live(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|i| self.nodes[*i].is_some())
            .collect()
    }

    fn node(&self, i: usize) -> &Node {
        self.nodes[i].as_ref().expect("node is up")
    }

    /// Waits until the live nodes agree on one leader; its index.
    fn wait_for_leader(&self) -> usize {
        let deadline = Instant::now() + SETTLE;
        let mut last = Vec::new();
        while Instant::now() < deadline {
            last = self
                .live()
                .into_iter()
                .map(|i| (i, raft_status(self.node(i).cluster_port)))
                .collect();
            let leaders: Vec<Option<String>> = last
                .iter()
                .map(|(_, s)| {
                    s.as_ref()
                        .and_then(|s| s["leader"].as_str().map(String::from))
                })
                .collect();
            let agreed = leaders[0].is_some() && leaders.iter().all(|l| *l == leaders[0]);
            let leader = last
                .iter()
                .find(|(_, s)| s.as_ref().is_some_and(|s| s["role"] == "leader"));
            if let (true, Some((i, _))) = (agreed, leader) {
                if Some(&self.node(*i).name) == leaders[0].as_ref() {
                    return *i;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no agreement within {SETTLE:?}: {last:?}");
    }

    fn url(&self, i: usize, path: &str) -> String {
        self.node(i).server.url(path)
    }

    /// A session run on node `i`.
    fn run(&self, i: usize, session: &str, code: &str) -> (u16, Value) {
        post_exec(
            &self.url(i, "/api/exec"),
            &json!({ "code": code, "session": session }),
        )
    }

    fn kill9(&mut self, i: usize) {
        self.nodes[i].take().expect("node is up").kill9();
    }
}

#[test]
fn any_node_runs_reads_lists_and_deletes_any_session() {
    let cluster = Cluster::start();
    let leader = cluster.wait_for_leader();
    let followers: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let (a, b) = (followers[0], followers[1]);

    // Written through one follower, continued on the other and the leader.
    let (code, body) = cluster.run(a, "s", "var n = 1; n");
    assert_eq!((code, body["status"].as_str()), (200, Some("ok")), "{body}");
    let (code, body) = cluster.run(b, "s", "n += 1; n");
    assert_eq!((code, &body["result"]), (200, &json!(2)), "{body}");
    let (code, body) = cluster.run(leader, "s", "n += 1; n");
    assert_eq!((code, &body["result"]), (200, &json!(3)), "{body}");
    let heap = body["heap"].as_str().unwrap().to_string();

    for i in 0..3 {
        // A linearizable read sees all three runs on every node.
        let (code, doc) = get(&cluster.url(i, "/api/sessions/s?consistent=true"));
        assert_eq!(code, 200, "{doc}");
        assert_eq!(doc["entries"], 3, "node {i}: {doc}");
        assert_eq!(doc["latest_heap"], heap.as_str(), "node {i}: {doc}");
        let (code, list) = get(&cluster.url(i, "/api/sessions?consistent=true"));
        assert_eq!(code, 200, "{list}");
        assert_eq!(list["items"][0]["name"], "s", "node {i}: {list}");
        // Every node can describe the heap (fetching it if it lacks it).
        let (code, meta) = get(&cluster.url(i, &format!("/api/heaps/{heap}")));
        assert_eq!(code, 200, "node {i}: {meta}");
        assert_eq!(meta["hash"], heap.as_str());
    }

    // Deleted through a follower: gone everywhere.
    let response = client()
        .delete(cluster.url(b, "/api/sessions/s"))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    for i in 0..3 {
        let (code, doc) = get(&cluster.url(i, "/api/sessions/s?consistent=true"));
        assert_eq!(code, 404, "node {i}: {doc}");
    }
    let (code, body) = cluster.run(a, "s", "typeof n");
    assert_eq!(
        (code, &body["result"]),
        (200, &json!("undefined")),
        "{body}"
    );
}

#[test]
fn a_session_survives_kill_9_of_the_node_that_ran_it() {
    let mut cluster = Cluster::start();
    let leader = cluster.wait_for_leader();
    // Session runs execute on the leader, whichever node receives them.
    let via = (leader + 1) % 3;
    let (code, body) = cluster.run(via, "keep", "var items = ['a']; items.length");
    assert_eq!((code, &body["result"]), (200, &json!(1)), "{body}");
    let (code, body) = cluster.run(leader, "keep", "items.push('b'); items.join()");
    assert_eq!((code, &body["result"]), (200, &json!("a,b")), "{body}");

    cluster.kill9(leader);
    let next = cluster.wait_for_leader();
    assert_ne!(next, leader);
    let survivor = cluster.live().into_iter().find(|i| *i != next).unwrap();
    let (code, body) = run_until_ok(&cluster, survivor, "keep", "items.push('c'); items.join()");
    assert_eq!((code, &body["result"]), (200, &json!("a,b,c")), "{body}");
    let (_, doc) = get(&cluster.url(next, "/api/sessions/keep?consistent=true"));
    assert_eq!(doc["entries"], 3, "{doc}");
}

#[test]
fn a_heap_missing_on_one_node_is_fetched_from_a_holder() {
    let cluster = Cluster::start();
    let leader = cluster.wait_for_leader();
    let (code, body) = cluster.run(leader, "h", "var big = 'x'.repeat(1000); big.length");
    assert_eq!(code, 200, "{body}");
    let heap = body["heap"].as_str().unwrap().to_string();
    // Lose every heap file of a follower (as if its disk was replaced).
    let follower = (leader + 1) % 3;
    let dir = cluster.node(follower).server.data.join("heaps");
    for entry in std::fs::read_dir(&dir).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let (code, meta) = get(&cluster.url(follower, &format!("/api/heaps/{heap}")));
    assert_eq!(code, 200, "{meta}");
    assert!(dir.join(&heap).is_file(), "the fetched heap is stored");
    // A heap run on that node starts from it.
    let (code, body) = post_exec(
        &cluster.url(follower, "/api/exec"),
        &json!({ "code": "big.length + 1", "heap": heap }),
    );
    assert_eq!((code, &body["result"]), (200, &json!(1001)), "{body}");
    // A heap no node has is 404 on every node, not an outage.
    let unknown = "0".repeat(64);
    let (code, doc) = get(&cluster.url(follower, &format!("/api/heaps/{unknown}")));
    assert_eq!(
        (code, &doc["error"]["code"]),
        (404, &json!("not_found")),
        "{doc}"
    );
    let metrics = cluster.node(follower).server.metrics();
    assert!(
        metrics.contains("mcp_v8_cluster_heap_transfers_total{direction=\"fetch\",outcome=\"ok\"}"),
        "{metrics}"
    );
}

/// Several clients increment one session's counter through random nodes
/// while the leader is killed with `kill -9`. Every acknowledged increment
/// must have seen a distinct state, and the final counter must include
/// every acknowledged one.
#[test]
fn history_check_of_increments_across_a_leader_kill() {
    let mut cluster = Cluster::start();
    let urls: Vec<String> = (0..3).map(|i| cluster.url(i, "/api/exec")).collect();
    let acked: Arc<Mutex<Vec<i64>>> = Arc::default();
    let refused: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop_at = Instant::now() + Duration::from_secs(12);
    let mut clients = Vec::new();
    for c in 0..4 {
        let (urls, acked, refused) = (urls.clone(), acked.clone(), refused.clone());
        clients.push(std::thread::spawn(move || {
            let http = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            let body = json!({
                "code": "globalThis.c = (globalThis.c ?? 0) + 1; c",
                "session": "counter",
            });
            let mut k = c;
            while Instant::now() < stop_at {
                k += 1;
                let url = &urls[k % urls.len()];
                match http.post(url).json(&body).send() {
                    Ok(r) => {
                        let code = r.status().as_u16();
                        let doc: Value = r.json().unwrap_or_default();
                        if code == 200 && doc["status"] == "ok" {
                            acked.lock().unwrap().push(doc["result"].as_i64().unwrap());
                        } else {
                            refused
                                .lock()
                                .unwrap()
                                .push(format!("{code} {}", doc["error"]));
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                    Err(e) => {
                        refused.lock().unwrap().push(e.to_string());
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_secs(3));
    let leader = cluster.wait_for_leader();
    let before_kill = acked.lock().unwrap().len();
    cluster.kill9(leader);
    for client in clients {
        client.join().unwrap();
    }
    let next = cluster.wait_for_leader();
    let acked = acked.lock().unwrap().clone();
    let after_kill = acked.len() - before_kill;
    assert!(before_kill > 0, "no increment acknowledged before the kill");
    assert!(after_kill > 0, "no increment acknowledged after the kill");

    let mut sorted = acked.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        acked.len(),
        "two acknowledged runs saw one state: {acked:?}"
    );
    let max = *sorted.last().unwrap();
    for i in cluster.live() {
        let (code, body) = run_until_ok(&cluster, i, "counter", "globalThis.c");
        assert_eq!(code, 200, "{body}");
        let value = body["result"].as_i64().unwrap();
        assert!(
            value >= max,
            "node {i} reads {value}, but {max} was acknowledged"
        );
        let (_, doc) = get(&cluster.url(next, "/api/sessions/counter?consistent=true"));
        let oks = history_oks(&cluster, next);
        assert!(
            oks as i64 >= max,
            "history has {oks} ok runs, {max} acknowledged: {doc}"
        );
    }
    let refused = refused.lock().unwrap();
    eprintln!(
        "history check: {} acknowledged ({before_kill} before the kill), {} refused: {:?}",
        acked.len(),
        refused.len(),
        refused.iter().take(5).collect::<Vec<_>>()
    );
}

/// Number of `ok` entries in session `counter`'s history, read on node `i`.
fn history_oks(cluster: &Cluster, i: usize) -> usize {
    let mut oks = 0;
    let mut cursor = String::new();
    loop {
        let path = format!("/api/sessions/counter?consistent=true&limit=1000{cursor}");
        let (code, doc) = get(&cluster.url(i, &path));
        assert_eq!(code, 200, "{doc}");
        let items = doc["history"]["items"].as_array().unwrap();
        oks += items.iter().filter(|e| e["status"] == "ok").count();
        match doc["history"]["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return oks,
        }
    }
}

/// A session run retried (bounded) while the cluster settles.
fn run_until_ok(cluster: &Cluster, i: usize, session: &str, code: &str) -> (u16, Value) {
    let deadline = Instant::now() + SETTLE;
    loop {
        let (status, body) = cluster.run(i, session, code);
        if status == 200 || Instant::now() > deadline {
            return (status, body);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn get(url: &str) -> (u16, Value) {
    let response = client().get(url).send().unwrap();
    (
        response.status().as_u16(),
        response.json().unwrap_or_default(),
    )
}

/// A frozen leader (`SIGSTOP`) acknowledges nothing; the others elect a new
/// one and keep the session going; after `SIGCONT` the old leader steps
/// down and serves the session's latest state.
#[test]
fn a_frozen_leader_acknowledges_nothing_and_steps_down_after_sigcont() {
    let cluster = Cluster::start();
    let leader = cluster.wait_for_leader();
    let (code, body) = cluster.run(leader, "frozen", "var v = 1; v");
    assert_eq!((code, &body["result"]), (200, &json!(1)), "{body}");
    cluster.node(leader).signal(libc::SIGSTOP);
    let others: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let frozen_url = cluster.url(leader, "/api/exec");
    let impatient = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let through_frozen = impatient
        .post(&frozen_url)
        .json(&json!({ "code": "v = 100; v", "session": "frozen" }))
        .send();
    assert!(
        through_frozen.is_err(),
        "a frozen node answered: {through_frozen:?}"
    );
    // The others elect a leader among themselves and take the writes.
    let deadline = Instant::now() + SETTLE;
    let new_leader = loop {
        let leaders: Vec<Option<String>> = others
            .iter()
            .map(|i| {
                raft_status(cluster.node(*i).cluster_port)
                    .and_then(|s| s["leader"].as_str().map(String::from))
            })
            .collect();
        if leaders[0].is_some()
            && leaders[0] == leaders[1]
            && leaders[0].as_deref() != Some(&cluster.node(leader).name)
        {
            break leaders[0].clone().unwrap();
        }
        assert!(Instant::now() < deadline, "no new leader: {leaders:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let (code, body) = run_until_ok(&cluster, others[0], "frozen", "v += 1; v");
    assert_eq!(code, 200, "{body}");
    let after_freeze = body["result"].as_i64().unwrap();
    assert!(after_freeze >= 2, "{body}");
    cluster.node(leader).signal(libc::SIGCONT);
    let deadline = Instant::now() + SETTLE;
    loop {
        let status = raft_status(cluster.node(leader).cluster_port);
        let converged = status.as_ref().is_some_and(|s| {
            s["role"] == "follower" && s["leader"].as_str() == Some(new_leader.as_str())
        });
        if converged {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "old leader did not step down: {status:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Through the old leader, the session goes on from the latest state.
    // The write sent while it was frozen was never acknowledged, and it
    // cannot have forked the session: it started from the head before the
    // freeze, which moved, so its compare-and-set fails if it ran at all.
    let (code, body) = run_until_ok(&cluster, leader, "frozen", "v");
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["result"].as_i64(), Some(after_freeze), "{body}");
    let (_, doc) = get(&cluster.url(leader, "/api/sessions/frozen?consistent=true"));
    assert_eq!(doc["latest_heap"], body["heap"], "{doc}");
}
