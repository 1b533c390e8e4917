//! End-to-end tests of the cap on the workers' total memory
//! (`--workers-memory-max`, `sandbox.memory_cap` in `/api/status`).
//!
//! Where the machine lets the supervisor create cgroups, they check that
//! every worker really sits in the capped cgroup, that the kernel enforces
//! the cap, and that the cgroup is removed at shutdown. Elsewhere they
//! check that the status says so with a reason. Set
//! `MCP_V8_TEST_EXPECT_MEMORY_CAP=1` to make "unavailable" a failure.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::Server;
use serde_json::{json, Value};

/// The `memory_cap` object, checked for honesty; `None` when unavailable.
fn active_cap(doc: &Value) -> Option<Value> {
    let cap = doc["sandbox"]["memory_cap"].clone();
    assert!(cap["available"].is_boolean(), "{doc}");
    if cap["available"] == true {
        assert!(cap["version"] == "v1" || cap["version"] == "v2", "{cap}");
        assert!(cap["reason"].is_null(), "{cap}");
        return Some(cap);
    }
    let reason = cap["reason"].as_str().unwrap_or_default();
    assert!(
        !reason.trim().is_empty(),
        "unavailable without a reason: {cap}"
    );
    assert!(
        cap["path"].is_null() && cap["memory_max_bytes"].is_null(),
        "{cap}"
    );
    assert!(
        std::env::var_os("MCP_V8_TEST_EXPECT_MEMORY_CAP").is_none(),
        "memory cap expected but unavailable: {reason}"
    );
    eprintln!("memory cap unavailable here: {reason}");
    None
}

fn procs(dir: &Path) -> Vec<u64> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect()
}

#[test]
fn every_worker_is_in_the_capped_cgroup_and_it_is_removed_at_shutdown() {
    let mut server = Server::start(&["--workers", "2", "--workers-memory-max", "256"]);
    let doc = server.wait_all_idle();
    let Some(cap) = active_cap(&doc) else { return };
    eprintln!("memory cap active: {cap}");
    assert_eq!(cap["memory_max_bytes"], 256u64 << 20, "{cap}");
    assert!(cap["memory_current_bytes"].as_u64().unwrap() > 0, "{cap}");
    let dir = Path::new(cap["path"].as_str().unwrap()).to_path_buf();
    let inside = procs(&dir);
    let pids: Vec<u64> = doc["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(pids.len(), 2);
    for pid in &pids {
        assert!(
            inside.contains(pid),
            "worker {pid} not in {}: {inside:?}",
            dir.display()
        );
    }
    // The supervisor itself is outside the cap.
    assert!(
        !inside.contains(&u64::from(server.child.id())),
        "{inside:?}"
    );

    // A replaced worker goes into the cgroup too.
    let (code, body) = exec(&server, "1 + 1");
    assert_eq!(code, 200, "{body}");
    let killed = pids[0];
    // SAFETY: kill(2) on a worker pid of the server we started.
    unsafe { libc::kill(killed as i32, libc::SIGKILL) };
    let deadline = Instant::now() + Duration::from_secs(60);
    let doc = loop {
        let doc = server.wait_all_idle();
        let now: Vec<u64> = doc["workers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["pid"].as_u64().unwrap())
            .collect();
        if !now.contains(&killed) {
            break doc;
        }
        assert!(
            Instant::now() < deadline,
            "worker {killed} not replaced: {doc}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let inside = procs(&dir);
    for worker in doc["workers"].as_array().unwrap() {
        let pid = worker["pid"].as_u64().unwrap();
        assert!(
            inside.contains(&pid),
            "new worker {pid} not in {}: {inside:?}",
            dir.display()
        );
    }

    server.stop();
    assert!(
        !dir.exists(),
        "{} left behind after shutdown",
        dir.display()
    );
}

fn exec(server: &Server, code: &str) -> (u16, Value) {
    server.exec(json!({ "code": code, "timeout_ms": 30000 }))
}

#[test]
fn the_kernel_enforces_the_cap_and_the_pool_recovers() {
    // V8's own limit (1 GiB) is far above the cap (128 MiB): only the
    // cgroup can stop this worker.
    let server = Server::start(&[
        "--workers",
        "1",
        "--heap-memory-max",
        "1024",
        "--workers-memory-max",
        "128",
    ]);
    let doc = server.wait_all_idle();
    let Some(cap) = active_cap(&doc) else { return };
    assert_eq!(cap["memory_max_bytes"], 128u64 << 20, "{cap}");
    let bomb = "const kept = []; \
                for (let i = 0; i < 40; i++) { const b = new Uint8Array(8 << 20); b.fill(7); kept.push(b); } \
                kept.length";
    let (code, body) = exec(&server, bomb);
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body["status"], "memory_limit",
        "a kill by the cap is a memory limit: {body}"
    );
    let dir = Path::new(cap["path"].as_str().unwrap());
    let counters = ["memory.events", "memory.oom_control"]
        .iter()
        .find_map(|f| std::fs::read_to_string(dir.join(f)).ok())
        .unwrap();
    let oom_kills: u64 = counters
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse().ok())
        .unwrap();
    assert!(
        oom_kills >= 1,
        "the kernel did not OOM-kill in the cgroup: {counters}"
    );
    let doc = server.wait_all_idle();
    assert_eq!(doc["workers"][0]["last_exit"], "memory_cap", "{doc}");
    let (code, body) = exec(&server, "6 * 7");
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], "ok", "{body}");
}

#[test]
fn zero_disables_the_cap_and_says_so() {
    let server = Server::start(&["--workers", "1", "--workers-memory-max", "0"]);
    let doc = server.status();
    let cap = &doc["sandbox"]["memory_cap"];
    assert_eq!(cap["available"], false, "{doc}");
    assert_eq!(cap["reason"], "disabled", "{doc}");
    assert!(cap["version"].is_null() && cap["path"].is_null(), "{doc}");
}

#[test]
fn a_dead_supervisors_empty_v1_cgroup_is_removed_at_start() {
    let first = Server::start(&["--workers", "1", "--workers-memory-max", "128"]);
    let Some(cap) = active_cap(&first.status()) else {
        return;
    };
    if cap["version"] != "v1" {
        return;
    }
    let memcg = Path::new(cap["path"].as_str().unwrap())
        .parent()
        .unwrap()
        .to_path_buf();
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = gone.id();
    gone.wait().unwrap();
    let stale = memcg.join(format!("mcp-v8-workers-{dead_pid}"));
    std::fs::create_dir(&stale).unwrap();
    let second = Server::start(&["--workers", "1", "--workers-memory-max", "128"]);
    let cap2 = active_cap(&second.status()).unwrap();
    let stale_left = stale.exists();
    let _ = std::fs::remove_dir(&stale);
    assert!(!stale_left, "stale {} not removed", stale.display());
    // A live supervisor's cgroup is left alone.
    assert!(
        Path::new(cap["path"].as_str().unwrap()).exists(),
        "{cap} {cap2}"
    );
}
