//! End-to-end tests of persistent heaps and named sessions: real binary,
//! real heap files and sled database in temp directories, restarts.

mod common;

use std::time::Duration;

use common::{client, post_exec, Server};
use serde_json::{json, Value};

fn in_session(server: &Server, session: &str, code: &str) -> Value {
    let (status, body) = server.exec(json!({ "code": code, "session": session }));
    assert_eq!(status, 200, "{code}: {body}");
    body
}

#[test]
fn globals_survive_across_calls_and_a_restart() {
    let mut server = Server::start(&[]);
    let first = in_session(
        &server,
        "s1",
        "var v = 1; let l = 2; const c = 3; function f() { return 4 } \
         class K { five() { return 5 } } const m = new Map([['six', 6]]); \
         const s = new Set([7]); const t = new Uint8Array([8]); 'stored'",
    );
    assert_eq!(first["status"], "ok", "{first}");
    assert_eq!(first["session"], "s1");
    let heap = first["heap"].as_str().unwrap().to_string();
    assert_eq!(heap.len(), 64, "{first}");
    let code = "[v, l, c, f(), new K().five(), m.get('six'), [...s][0], t[0]]";
    let second = in_session(&server, "s1", code);
    assert_eq!(
        second["result"],
        json!([1, 2, 3, 4, 5, 6, 7, 8]),
        "{second}"
    );
    assert_ne!(second["heap"], first["heap"]);
    // The second run took the heap the first one wrote from memory.
    let cache = &server.status()["heaps"]["cache"];
    assert_eq!(
        (cache["hits"].as_u64(), cache["misses"].as_u64()),
        (Some(1), Some(0)),
        "{cache}"
    );

    let data = server.data.clone();
    server.stop();
    let server = Server::start_in(&data, &[]);
    let third = in_session(&server, "s1", code);
    assert_eq!(
        third["result"],
        json!([1, 2, 3, 4, 5, 6, 7, 8]),
        "after restart: {third}"
    );
    // After a restart the heap came from its file, read and verified.
    let cache = &server.status()["heaps"]["cache"];
    assert_eq!(
        (cache["hits"].as_u64(), cache["misses"].as_u64()),
        (Some(0), Some(1)),
        "{cache}"
    );
    let console = in_session(
        &server,
        "s1",
        "console.log('still', c); setTimeout(() => console.log('timer'), 1)",
    );
    assert_eq!(
        console["stdout"], "still 3\ntimer",
        "console and timers re-attached: {console}"
    );
    let (status, meta) = server.get_json(&format!("/api/heaps/{heap}"));
    assert_eq!(status, 200, "{meta}");
    assert!(meta["size_bytes"].as_u64().unwrap() > 1000, "{meta}");
    assert!(
        meta["v8_version"].as_str().unwrap().starts_with("15."),
        "{meta}"
    );
}

#[test]
fn sessions_are_isolated_and_failed_runs_do_not_advance() {
    let server = Server::start(&[]);
    in_session(&server, "alpha", "var who = 'alpha'");
    in_session(&server, "beta", "var who = 'beta'");
    assert_eq!(in_session(&server, "alpha", "who")["result"], "alpha");
    assert_eq!(in_session(&server, "beta", "who")["result"], "beta");
    let none = in_session(&server, "gamma", "typeof who");
    assert_eq!(none["result"], "undefined");

    let good = in_session(&server, "alpha", "var n = 1; n");
    let failed = in_session(&server, "alpha", "n = 100; throw new Error('no')");
    assert_eq!(failed["status"], "error");
    assert_eq!(
        failed["heap"], good["heap"],
        "a failed run keeps the previous heap: {failed}"
    );
    let timed_out = server
        .exec(json!({"code": "n = 200; while(true){}", "session": "alpha", "timeout_ms": 200}))
        .1;
    assert_eq!(timed_out["status"], "timeout");
    let before = in_session(&server, "alpha", "n");
    assert_eq!(before["result"], 1);
    // A live Intl object in a global makes V8 abort the snapshot: the run
    // is `crashed` with a message saying why, and the session keeps its heap.
    let intl = in_session(
        &server,
        "alpha",
        "globalThis.nf = new Intl.NumberFormat('de-DE'); n = 300",
    );
    assert_eq!(intl["status"], "crashed", "{intl}");
    let message = intl["error"]["message"].as_str().unwrap();
    assert!(message.contains("Intl"), "{intl}");
    assert_eq!(intl["heap"], before["heap"], "{intl}");
    let local = in_session(
        &server,
        "alpha",
        "new Intl.NumberFormat('de-DE').format(n * 1000.5)",
    );
    assert_eq!(local["result"], "1.000,5", "{local}");

    let (status, doc) = server.get_json("/api/sessions/alpha");
    assert_eq!(status, 200, "{doc}");
    let history = doc["history"]["items"].as_array().unwrap();
    let statuses: Vec<&str> = history
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["ok", "ok", "ok", "error", "timeout", "ok", "killed", "ok"],
        "{doc}"
    );
    assert_eq!(history[3]["output_heap"], Value::Null);

    let (status, page) = server.get_json("/api/sessions?limit=2");
    assert_eq!(status, 200);
    assert_eq!(page["items"].as_array().unwrap().len(), 2, "{page}");
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = server.get_json(&format!("/api/sessions?limit=2&cursor={cursor}"));
    assert_eq!(rest["items"][0]["name"], "gamma", "{rest}");

    let (status, page) = server.get_json("/api/sessions/alpha?limit=2");
    assert_eq!(status, 200);
    assert_eq!(page["history"]["items"].as_array().unwrap().len(), 2);
    assert!(page["history"]["next_cursor"].is_string());

    let resp = client()
        .delete(server.url("/api/sessions/beta"))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(server.get_json("/api/sessions/beta").0, 404);
    assert_eq!(
        client()
            .delete(server.url("/api/sessions/beta"))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        404
    );
}

#[test]
fn heaps_by_hash_fork_without_forking_randomness() {
    let server = Server::start(&[]);
    let (status, base) = server.exec(json!({ "code": "var base = 10; base", "session": "r" }));
    assert_eq!(status, 200, "{base}");
    let hash = base["heap"].as_str().unwrap();
    let run = |code: &str| {
        let (status, body) = server.exec(json!({ "code": code, "heap": hash }));
        assert_eq!(status, 200, "{body}");
        body
    };
    let a = run("[base, Math.random(), Math.random()]");
    let b = run("[base, Math.random(), Math.random()]");
    assert_eq!(a["result"][0], 10);
    assert_ne!(
        a["result"], b["result"],
        "two resumes of one heap drew the same numbers"
    );
    assert!(a["heap"].is_string() && a["session"].is_null(), "{a}");
    let c = run("crypto.getRandomValues(new Uint32Array(2)).join()");
    let d = run("crypto.getRandomValues(new Uint32Array(2)).join()");
    if c["status"] == "ok" {
        assert_ne!(c["result"], d["result"]);
    }
}

#[test]
fn unknown_bad_and_conflicting_references_are_clear_errors() {
    let server = Server::start(&[]);
    let missing = "0".repeat(64);
    let (status, body) = server.exec(json!({ "code": "1", "heap": missing }));
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&missing),
        "{body}"
    );
    let (status, body) = server.exec(json!({ "code": "1", "heap": "xyz" }));
    assert_eq!(status, 400, "{body}");
    let (status, body) = server.exec(json!({ "code": "1", "heap": missing, "session": "a" }));
    assert_eq!(status, 400, "{body}");
    let (status, body) = server.exec(json!({ "code": "1", "session": "bad name/with slash" }));
    assert_eq!(status, 400, "{body}");
    assert_eq!(server.get_json("/api/sessions/nope").0, 404);
    assert_eq!(server.get_json(&format!("/api/heaps/{missing}")).0, 404);
    assert_eq!(server.get_json("/api/heaps/not-a-hash").0, 400);
}

#[test]
fn corrupt_and_foreign_heap_files_are_refused_and_the_server_keeps_serving() {
    let server = Server::start(&[]);
    let heap_of = |session: &str| {
        in_session(&server, session, "var x = 1")["heap"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let heaps_dir = server.data.join("heaps");

    let corrupt = heap_of("corrupt");
    let path = heaps_dir.join(&corrupt);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let (status, body) = server.exec(json!({ "code": "x", "session": "corrupt" }));
    assert_eq!(status, 500, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&corrupt),
        "{body}"
    );

    let truncated = heap_of("truncated");
    let path = heaps_dir.join(&truncated);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let (status, body) = server.exec(json!({ "code": "x", "heap": truncated }));
    assert_eq!(status, 500, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&truncated),
        "{body}"
    );

    let foreign = heap_of("foreign");
    let path = heaps_dir.join(&foreign);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let (status, body) = server.exec(json!({ "code": "x", "session": "foreign" }));
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&foreign),
        "{body}"
    );

    assert_eq!(in_session(&server, "healthy", "var y = 2; y")["result"], 2);
    let ready = client().get(server.url("/readyz")).send().unwrap();
    assert_eq!(ready.status().as_u16(), 200);
}

#[test]
fn twenty_concurrent_runs_on_one_session_apply_in_some_serial_order() {
    let server = Server::start(&[]);
    let code = "globalThis.counter = (globalThis.counter ?? 0) + 1; counter";
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let url = server.url("/api/exec");
            std::thread::spawn(move || {
                let body = json!({ "code": code, "session": "counter" });
                post_exec(&url, &body).1
            })
        })
        .collect();
    let mut seen: Vec<u64> = handles
        .into_iter()
        .map(|h| {
            let body = h.join().unwrap();
            assert_eq!(body["status"], "ok", "{body}");
            body["result"].as_u64().unwrap()
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (1..=20).collect::<Vec<u64>>());
    let (_, doc) = server.get_json("/api/sessions/counter?limit=100");
    assert_eq!(
        doc["history"]["items"].as_array().unwrap().len(),
        20,
        "{doc}"
    );
    assert_eq!(in_session(&server, "counter", "counter")["result"], 20);
}

#[test]
fn gc_removes_unreferenced_heaps_and_keeps_referenced_ones() {
    let mut server = Server::start(&[]);
    let kept = in_session(&server, "keep", "var k = 1")["heap"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, forked) = server.exec(json!({ "code": "k + 1", "heap": kept }));
    let orphan = forked["heap"].as_str().unwrap().to_string();
    let heaps_dir = server.data.join("heaps");
    assert!(heaps_dir.join(&orphan).exists());
    let data = server.data.clone();
    server.stop();
    std::thread::sleep(Duration::from_millis(1100));
    // The collector runs once at start-up; a 1 s retention makes the orphan old enough.
    let server = Server::start_in(&data, &["--heap-retention", "1s"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while heaps_dir.join(&orphan).exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !heaps_dir.join(&orphan).exists(),
        "unreferenced heap was not collected"
    );
    assert!(
        heaps_dir.join(&kept).exists(),
        "referenced heap was collected"
    );
    let (_, status) = server.get_json("/api/status");
    assert!(
        status["heaps"]["gc"]["total_removed"].as_u64().unwrap() >= 1,
        "{status}"
    );
    assert_eq!(in_session(&server, "keep", "k")["result"], 1);
}

#[test]
fn a_client_that_goes_away_cancels_its_session_run_and_the_next_run_follows() {
    let server = Server::start(&["--workers", "1"]);
    assert_eq!(in_session(&server, "away", "var k = 1; k")["result"], 1);
    // The client gives up on a run that would spin for 20 s.
    let impatient = reqwest::blocking::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let sent = impatient
        .post(server.url("/api/exec"))
        .json(&json!({ "code": "while (true) {}", "session": "away", "timeout_ms": 20000 }))
        .send();
    assert!(sent.is_err(), "the spinning run answered: {sent:?}");
    // Its run was cancelled and recorded: the next run of the session is
    // neither held for 20 s nor a conflict, and starts from run 1's heap.
    let started = std::time::Instant::now();
    let next = in_session(&server, "away", "k + 1");
    assert_eq!(next["result"], 2, "{next}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the next run waited {:?}",
        started.elapsed()
    );
    let (code, doc) = server.get_json("/api/sessions/away");
    assert_eq!(code, 200, "{doc}");
    let statuses: Vec<&str> = doc["history"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["ok", "killed", "ok"], "{doc}");
    let metrics = server.metrics();
    assert!(
        metrics.contains("mcp_v8_executions_total{status=\"cancelled\"} 1"),
        "{metrics}"
    );
}
