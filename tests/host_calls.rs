//! End-to-end tests of how host calls live and end.
//!
//! Waiting: a worker has no `poll`, so it blocks reading its socket after
//! asking the supervisor to wake it at the next timer or the deadline
//! (docs/sandbox.md). Timers still fire on time while a fetch is out, an
//! earlier timer replaces the wake-up already asked for, and the deadline
//! ends a run whose fetch never comes back.
//!
//! Ending: however a run ends (an uncaught error, the heap limit, the
//! deadline, a cancellation) the supervisor drops its calls, closing their
//! connections, and the worker serves the next run.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::stub::Stub;
use common::Server;
use serde_json::{json, Value};

/// Script text that waits (bounded) until the stub has received a `/hang`
/// request, so that the run ends with that connection open.
fn until_hang_arrived(stub: &Stub) -> String {
    format!(
        "for (let i = 0; i < 500 && (await (await fetch({:?})).text()) === '0'; i++) \
           await new Promise(r => setTimeout(r, 10));",
        stub.url("/hangs")
    )
}

/// Checks that the run's `/hang` connection was closed (within 5 s) and
/// that the worker serves the next run.
fn hung_up_and_serving(stub: &Stub, server: &Server) {
    assert!(
        stub.wait_hang_closed(1, Duration::from_secs(5)),
        "the connection outlived the run"
    );
    let doc = run(server, "return 'next'", 5_000);
    assert_eq!(doc["result"], "next", "{doc}");
}

fn server(stub: &Stub) -> Server {
    let grant = format!("127.0.0.1:{}", stub.port);
    Server::start(&["--workers", "1", "--allow-net", &grant])
}

/// Runs `body` (an async function body) and returns the report.
fn run(server: &Server, body: &str, timeout_ms: u64) -> Value {
    let (code, doc) = server.exec(json!({
        "code": format!("(async () => {{ {body} }})()"),
        "timeout_ms": timeout_ms,
    }));
    assert_eq!(code, 200, "{doc}");
    doc
}

#[test]
fn a_timer_fires_on_time_while_a_fetch_is_out_and_aborts_it() {
    let stub = Stub::start();
    let server = server(&stub);
    let doc = run(
        &server,
        &format!(
            "const c = new AbortController(); const t0 = performance.now(); \
             setTimeout(() => c.abort(), 200); \
             try {{ await fetch({:?}, {{signal: c.signal}}); return 'no' }} \
             catch (e) {{ return [e.name, performance.now() - t0] }}",
            stub.url("/hang")
        ),
        20_000,
    );
    assert_eq!(doc["result"][0], "AbortError", "{doc}");
    let waited = doc["result"][1].as_f64().unwrap_or(f64::NAN);
    assert!(
        (199.0..5000.0).contains(&waited),
        "aborted after {waited} ms"
    );
    assert!(
        stub.wait_hang_closed(1, Duration::from_secs(5)),
        "the aborted connection stayed open"
    );
}

#[test]
fn an_earlier_timer_replaces_the_wake_up_already_asked_for() {
    // While `/hang` is out the worker first waits for the far timer (it
    // asks to be woken in 15 s); the fast fetch's reply then sets a 50 ms
    // timer, which must fire after about 50 ms, not when the far one is due.
    let stub = Stub::start();
    let server = server(&stub);
    let doc = run(
        &server,
        &format!(
            "const c = new AbortController(); \
             const hang = fetch({hang:?}, {{signal: c.signal}}).catch(e => e.name); \
             const far = setTimeout(() => {{}}, 15000); \
             await new Promise(r => setTimeout(r, 20)); \
             const text = await (await fetch({fast:?})).text(); \
             const t1 = performance.now(); \
             await new Promise(r => setTimeout(r, 50)); \
             const waited = performance.now() - t1; \
             c.abort(); clearTimeout(far); \
             return [text, await hang, waited]",
            hang = stub.url("/hang"),
            fast = stub.url("/hello"),
        ),
        20_000,
    );
    assert_eq!(doc["status"], "ok", "{doc}");
    assert_eq!(doc["result"][0], "hello", "{doc}");
    assert_eq!(doc["result"][1], "AbortError", "{doc}");
    let waited = doc["result"][2].as_f64().unwrap_or(f64::NAN);
    assert!(
        (49.0..5000.0).contains(&waited),
        "the 50 ms timer took {waited} ms"
    );
}

#[test]
fn the_deadline_ends_a_run_waiting_on_a_fetch_and_the_worker_serves_on() {
    let stub = Stub::start();
    let server = server(&stub);
    let started = Instant::now();
    let doc = run(
        &server,
        &format!("await fetch({:?})", stub.url("/hang")),
        500,
    );
    let took = started.elapsed();
    assert_eq!(doc["status"], "timeout", "{doc}");
    // The worker's own deadline, not the supervisor's kill 2 s later.
    assert!(took < Duration::from_millis(2300), "{took:?}");
    let doc = run(&server, "return 'next'", 5_000);
    assert_eq!(doc["result"], "next", "{doc}");
    // A timed-out worker is retired on purpose (`retired`); one the
    // supervisor had to kill would show `timeout_kill`.
    let (_, status) = server.get_json("/api/status");
    let exits: Vec<&str> = status["workers"]
        .as_array()
        .map(|w| w.iter().filter_map(|w| w["last_exit"].as_str()).collect())
        .unwrap_or_default();
    assert!(!exits.contains(&"timeout_kill"), "{status}");
}

#[test]
fn a_run_that_throws_hangs_up_on_its_fetches() {
    let stub = Stub::start();
    let server = server(&stub);
    let doc = run(
        &server,
        &format!(
            "fetch({:?}); {} throw new Error('boom')",
            stub.url("/hang"),
            until_hang_arrived(&stub)
        ),
        20_000,
    );
    assert_eq!(doc["status"], "error", "{doc}");
    hung_up_and_serving(&stub, &server);
}

#[test]
fn a_run_that_hits_the_heap_limit_hangs_up_on_its_fetches() {
    let stub = Stub::start();
    let server = server(&stub);
    let (code, doc) = server.exec(json!({
        "code": format!(
            "(async () => {{ fetch({:?}); {} const keep = []; \
             for (;;) keep.push(new Array(1e5).fill({{}})) }})()",
            stub.url("/hang"),
            until_hang_arrived(&stub)
        ),
        "heap_mb": 16,
        "timeout_ms": 20_000,
    }));
    assert_eq!(code, 200, "{doc}");
    assert!(
        matches!(doc["status"].as_str(), Some("memory_limit" | "crashed")),
        "{doc}"
    );
    hung_up_and_serving(&stub, &server);
}

#[test]
fn a_server_that_never_answers_times_out_on_time_and_is_hung_up_on() {
    let stub = Stub::start();
    let server = server(&stub);
    let started = Instant::now();
    let (code, doc) = server.exec(json!({
        "code": format!("await fetch({:?})", stub.url("/hang")),
        "timeout_ms": 1000,
    }));
    assert_eq!(code, 200);
    assert_eq!(doc["status"], "timeout", "{doc}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    hung_up_and_serving(&stub, &server);
}

#[test]
fn a_run_cancelled_mid_fetch_hangs_up_and_frees_the_worker() {
    let stub = Stub::start();
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(common::binary())
        .args([
            "--workers",
            "1",
            "--allow-net",
            &format!("127.0.0.1:{}", stub.port),
        ])
        .arg("--directory-path")
        .arg(dir.path().join("heaps"))
        .arg("--session-db-path")
        .arg(dir.path().join("sessions"))
        .env("MCP_V8_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut send = |v: Value| writeln!(stdin, "{v}").unwrap();
    send(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}),
    );
    let _ = lines.next();
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    let call = |id: u64, code: String| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": "run_js", "arguments": {"code": code}}})
    };
    send(call(2, format!("await fetch({:?})", stub.url("/hang"))));
    let deadline = Instant::now() + Duration::from_secs(10);
    while stub.requests().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!stub.requests().is_empty(), "the fetch never started");
    send(
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 2}}),
    );
    assert!(
        stub.wait_hang_closed(1, Duration::from_secs(5)),
        "the connection stayed open"
    );
    send(call(3, "'after'".into()));
    let mut answered = false;
    for line in lines.by_ref().take(10) {
        let line = line.unwrap();
        if line.contains("\"id\":3") {
            assert!(line.contains("after"), "{line}");
            answered = true;
            break;
        }
    }
    assert!(answered, "the next call was not served");
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
}
