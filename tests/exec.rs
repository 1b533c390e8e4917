//! End-to-end tests of `POST /api/exec`, status, health and metrics against
//! the real binary, real worker processes and real sockets.

mod common;

use std::time::Duration;

use common::{client, post_exec, Server};
use serde_json::{json, Value};

fn exec_ok(server: &Server, code: &str) -> Value {
    let (status, body) = server.exec(json!({ "code": code }));
    assert_eq!(status, 200, "{code}: {body}");
    body
}

#[test]
fn seed_request_prints_cluster_ok() {
    let server = Server::start(&[]);
    let body = exec_ok(&server, "console.log(\"cluster ok\")");
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(body["stdout"], "cluster ok");
    assert_eq!(
        body["output"],
        json!([{ "level": "log", "text": "cluster ok" }])
    );
    assert!(body["duration_ms"].as_f64().unwrap() >= 0.0);
    assert!(body["worker"].is_u64());
}

#[test]
fn javascript_semantics_table() {
    let server = Server::start(&[]);
    // (code, expected status, expected result, expected stdout)
    let cases: &[(&str, &str, Value, &str)] = &[
        ("1 + 2", "ok", json!(3), ""),
        ("'a' + 'b'", "ok", json!("ab"), ""),
        ("({a: 1, b: [1, 2], c: {d: null}})", "ok", json!({"a": 1, "b": [1, 2], "c": {"d": null}}), ""),
        ("undefined", "ok", Value::Null, ""),
        ("let x = 5; x * 2", "ok", json!(10), ""),
        ("Promise.resolve(42)", "ok", json!(42), ""),
        ("(async () => { await null; return 'later'; })()", "ok", json!("later"), ""),
        ("const v = await Promise.resolve(41); v + 1", "ok", json!(42), ""),
        ("await new Promise(r => setTimeout(() => r(7), 20))", "ok", json!(7), ""),
        ("(function named() {})", "ok", json!("[Function: named]"), ""),
        ("10n ** 20n", "ok", json!("100000000000000000000n"), ""),
        (
            "console.log('a'); console.info('b'); console.warn('c'); console.error('d'); console.debug('e')",
            "ok", Value::Null, "a\nb\nc\nd\ne",
        ),
        ("console.log('x', 1, true, null, undefined)", "ok", Value::Null, "x 1 true null undefined"),
        ("console.log({ a: 1, b: 'two' })", "ok", Value::Null, "{ a: 1, b: 'two' }"),
        ("console.log([1, [2, 3]])", "ok", Value::Null, "[ 1, [ 2, 3 ] ]"),
        (
            "setTimeout(() => console.log('second'), 30); setTimeout(() => console.log('first'), 5); 'sync'",
            "ok", json!("sync"), "first\nsecond",
        ),
        (
            "const t = setTimeout(() => console.log('never'), 5); clearTimeout(t); 'cleared'",
            "ok", json!("cleared"), "",
        ),
        (
            "let n = 0; await new Promise(r => { const i = setInterval(() => { n++; if (n === 3) { clearInterval(i); r(); } }, 1); }); n",
            "ok", json!(3), "",
        ),
        ("Promise.resolve().then(() => console.log('micro')); console.log('sync')", "ok", Value::Null, "sync\nmicro"),
        ("new Intl.NumberFormat('de-DE').format(1234.5)", "ok", json!("1.234,5"), ""),
    ];
    for (code, status, result, stdout) in cases {
        let body = exec_ok(&server, code);
        assert_eq!(body["status"], *status, "{code}: {body}");
        assert_eq!(body["result"], *result, "{code}: {body}");
        assert_eq!(body["stdout"], *stdout, "{code}: {body}");
    }
    let levels = exec_ok(
        &server,
        "console.info(1); console.warn(2); console.error(3); console.debug(4)",
    );
    let levels: Vec<&str> = levels["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["level"].as_str().unwrap())
        .collect();
    assert_eq!(levels, ["info", "warn", "error", "debug"]);
}

#[test]
fn errors_are_reported_with_name_message_and_stack() {
    let server = Server::start(&[]);
    let cases: &[(&str, &str, &str)] = &[
        ("throw new TypeError('boom')", "TypeError", "boom"),
        (
            "null.x",
            "TypeError",
            "Cannot read properties of null (reading 'x')",
        ),
        ("Promise.reject(new RangeError('no'))", "RangeError", "no"),
        (
            "await Promise.reject(new Error('awaited'))",
            "Error",
            "awaited",
        ),
        (
            "setTimeout(() => { throw new Error('in timer') }, 1)",
            "Error",
            "in timer",
        ),
    ];
    for (code, name, message) in cases {
        let body = exec_ok(&server, code);
        assert_eq!(body["status"], "error", "{code}: {body}");
        assert_eq!(body["error"]["name"], *name, "{code}: {body}");
        assert_eq!(body["error"]["message"], *message, "{code}: {body}");
    }
    let body = exec_ok(
        &server,
        "function deep() { throw new Error('here') } deep()",
    );
    assert!(
        body["error"]["stack"].as_str().unwrap().contains("deep"),
        "{body}"
    );
    let body = exec_ok(&server, "throw 42");
    assert_eq!(body["status"], "error");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("42"),
        "{body}"
    );
    let body = exec_ok(
        &server,
        "console.log('before'); throw new Error('after output')",
    );
    assert_eq!(
        body["stdout"], "before",
        "output before an error is kept: {body}"
    );
    let body = exec_ok(&server, "this is not javascript");
    assert_eq!(body["error"]["name"], "SyntaxError", "{body}");
}

#[test]
fn infinite_loop_times_out_and_the_next_request_is_served() {
    let server = Server::start(&["--workers", "1"]);
    let (status, body) = server.exec(json!({ "code": "while (true) {}", "timeout_ms": 300 }));
    assert_eq!(status, 200);
    assert_eq!(body["status"], "timeout", "{body}");
    let (_, body) =
        server.exec(json!({ "code": "for(;;){ Promise.resolve() }", "timeout_ms": 200 }));
    assert_eq!(body["status"], "timeout", "{body}");
    let (_, body) = server.exec(json!({ "code": "setInterval(() => {}, 1)", "timeout_ms": 200 }));
    assert_eq!(body["status"], "timeout", "{body}");
    assert_eq!(exec_ok(&server, "'alive'")["result"], "alive");
}

#[test]
fn allocation_bomb_hits_the_memory_limit_and_the_server_lives() {
    let server = Server::start(&["--workers", "1", "--heap-memory-max", "32"]);
    let bomb = "const a = []; while (true) a.push(new Array(100000).fill(1.5))";
    let (status, body) = server.exec(json!({ "code": bomb, "timeout_ms": 20000 }));
    assert_eq!(status, 200);
    assert_eq!(body["status"], "memory_limit", "{body}");
    assert_eq!(exec_ok(&server, "'still here'")["result"], "still here");
}

#[test]
fn huge_output_is_cut_and_flagged() {
    let server = Server::start(&["--max-output-bytes", "1000"]);
    let body = exec_ok(
        &server,
        "for (let i = 0; i < 10000; i++) console.log('line ' + i)",
    );
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(body["output_truncated"], true);
    assert!(
        body["stdout"].as_str().unwrap().len() <= 1000 + 200,
        "{}",
        body["stdout"]
    );
}

#[test]
fn worker_killed_mid_run_reports_crashed_and_the_pool_recovers() {
    let server = Server::start(&["--workers", "1"]);
    let url = server.url("/api/exec");
    let runner = std::thread::spawn(move || {
        let body = json!({ "code": "while (true) {}", "timeout_ms": 20000 });
        post_exec(&url, &body).1
    });
    let pid = wait_for_busy_worker(&server);
    // SAFETY: kill(2) on the worker pid the server reported.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
    let body = runner.join().unwrap();
    assert_eq!(body["status"], "crashed", "{body}");
    server.wait_ready(Duration::from_secs(30));
    assert_eq!(exec_ok(&server, "6 * 7")["result"], 42);
    let status = server.status();
    assert_eq!(status["workers"][0]["restarts"], 1, "{status}");
    assert_eq!(status["workers"][0]["last_exit"], "signal", "{status}");
}

/// Polls `/api/status` until a worker is busy; returns its pid.
fn wait_for_busy_worker(server: &Server) -> u64 {
    for _ in 0..500 {
        let status = server.status();
        for worker in status["workers"].as_array().unwrap() {
            if worker["state"] == "busy" {
                return worker["pid"].as_u64().unwrap();
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("no worker became busy");
}

#[test]
fn fifty_concurrent_requests_are_all_answered() {
    let server = Server::start(&[]);
    let handles: Vec<_> = (0..50)
        .map(|i| {
            let url = server.url("/api/exec");
            std::thread::spawn(move || {
                let body = json!({ "code": format!("console.log('req {i}'); {i} * 2") });
                post_exec(&url, &body).1
            })
        })
        .collect();
    for (i, handle) in handles.into_iter().enumerate() {
        let body = handle.join().unwrap();
        assert_eq!(body["status"], "ok", "{body}");
        assert_eq!(body["result"], json!(i * 2));
        assert_eq!(body["stdout"], format!("req {i}"));
    }
}

#[test]
fn bad_input_gets_clear_4xx_errors() {
    let server = Server::start(&["--max-code-bytes", "100"]);
    let http = client();
    let post = |content_type: &str, body: &str| {
        let resp = http
            .post(server.url("/api/exec"))
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        let body: Value = resp.json().unwrap_or(Value::Null);
        (status, body)
    };
    let cases: &[(&str, &str, u16, &str)] = &[
        ("application/json", "{not json", 400, "malformed_json"),
        ("application/json", "{}", 422, "invalid_request"),
        ("application/json", r#"{"code": 5}"#, 422, "invalid_request"),
        (
            "application/json",
            r#"{"code": "1", "bogus": true}"#,
            422,
            "invalid_request",
        ),
        (
            "application/json",
            r#"{"code": "1", "timeout_ms": 0}"#,
            400,
            "invalid_request",
        ),
        (
            "application/json",
            r#"{"code": "1", "timeout_ms": 99999999}"#,
            400,
            "invalid_request",
        ),
        (
            "application/json",
            r#"{"code": "1", "heap_mb": 100000}"#,
            400,
            "invalid_request",
        ),
        (
            "application/x-www-form-urlencoded",
            "code=1",
            415,
            "unsupported_media_type",
        ),
        ("image/png", "1", 415, "unsupported_media_type"),
    ];
    for (content_type, body, status, code) in cases {
        let (got, reply) = post(content_type, body);
        assert_eq!(got, *status, "{content_type} {body}: {reply}");
        assert_eq!(
            reply["error"]["code"], *code,
            "{content_type} {body}: {reply}"
        );
        assert!(!reply["error"]["message"].as_str().unwrap().is_empty());
    }
    let long = format!(r#"{{"code": "{}"}}"#, "1;".repeat(100));
    let (got, reply) = post("application/json", &long);
    assert_eq!(got, 413, "{reply}");
    assert_eq!(reply["error"]["code"], "code_too_large");
    let (got, reply) = post("text/javascript", "console.log('raw'); 1 + 1");
    assert_eq!(got, 200, "{reply}");
    assert_eq!(reply["stdout"], "raw");
    assert_eq!(reply["result"], 2);
    let (got, reply) = post("text/plain; charset=utf-8", "'plain'");
    assert_eq!((got, reply["result"].clone()), (200, json!("plain")));
    let resp = http.get(server.url("/no/such/route")).send().unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    // After all of that, the server still serves.
    assert_eq!(exec_ok(&server, "'fine'")["result"], "fine");
}

#[test]
fn full_queue_answers_503_with_retry_after() {
    let server = Server::start(&["--workers", "1", "--max-queue", "1"]);
    let url = server.url("/api/exec");
    let running = std::thread::spawn(move || {
        let body = json!({ "code": "const end = Date.now() + 1500; while (Date.now() < end) {}" });
        post_exec(&url, &body).0
    });
    wait_for_busy_worker(&server);
    // Five at once while the only worker is busy: one fits in the queue,
    // the rest must be refused at once.
    let probes: Vec<_> = (0..5)
        .map(|_| {
            let url = server.url("/api/exec");
            std::thread::spawn(move || {
                let resp = client()
                    .post(url)
                    .json(&json!({"code": "1"}))
                    .send()
                    .unwrap();
                let retry_after = resp.headers().get("retry-after").is_some();
                let status = resp.status().as_u16();
                (status, retry_after, resp.json::<Value>().unwrap())
            })
        })
        .collect();
    let results: Vec<_> = probes.into_iter().map(|p| p.join().unwrap()).collect();
    let refused: Vec<_> = results.iter().filter(|r| r.0 == 503).collect();
    assert!(refused.len() >= 3, "{results:?}");
    for (_, retry_after, body) in &refused {
        assert!(retry_after, "503 without Retry-After");
        assert_eq!(body["error"]["code"], "queue_full");
    }
    assert!(
        results.iter().all(|r| r.0 == 503 || r.0 == 200),
        "{results:?}"
    );
    assert_eq!(running.join().unwrap(), 200);
}

#[test]
fn status_health_and_metrics_describe_the_pool() {
    let server = Server::start(&["--workers", "2"]);
    exec_ok(&server, "1");
    exec_ok(&server, "throw new Error('x')");
    let http = client();
    assert_eq!(
        http.get(server.url("/healthz"))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        http.get(server.url("/readyz"))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    let status = server.wait_all_idle();
    assert_eq!(status["pool"]["size"], 2, "{status}");
    assert!(status["node_id"].is_string());
    assert!(
        status["v8_version"].as_str().unwrap().starts_with("15."),
        "{status}"
    );
    assert!(status["uptime_secs"].is_u64());
    assert!(status["cluster"].is_null(), "single node: {status}");
    assert!(status["sandbox"]["level"].is_string());
    let workers = status["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 2);
    let served: u64 = workers
        .iter()
        .map(|w| w["executions"].as_u64().unwrap())
        .sum();
    assert_eq!(served, 2, "{status}");
    for worker in workers {
        assert!(worker["pid"].is_u64(), "{worker}");
        assert!(worker["rss_bytes"].as_u64().unwrap() > 1 << 20, "{worker}");
        assert!(worker["restarts"].is_u64());
        // Workers run at the default --worker-nice 19 (field 19 of stat).
        let pid = worker["pid"].as_u64().unwrap();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        let nice = after_name.split(' ').nth(16).unwrap();
        assert_eq!(nice, "19", "{stat}");
    }
    let metrics = server.metrics();
    assert!(
        metrics.contains(r#"mcp_v8_executions_total{status="ok"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"mcp_v8_executions_total{status="error"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("mcp_v8_execution_duration_seconds_bucket"),
        "{metrics}"
    );
    assert!(metrics.contains("mcp_v8_queue_depth"), "{metrics}");
}

#[test]
fn invalid_flags_are_refused_with_exit_code_2() {
    for args in [
        &["--workers", "0"][..],
        &["--execution-timeout", "soon"],
        &["--worker-nice", "20"],
        &["--no-such-flag"],
    ] {
        let out = std::process::Command::new(common::binary())
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.trim().is_empty(), "{args:?}");
    }
}
