//! End-to-end tests of `fetch` by policy against the real binary: the
//! servers it calls are stubs on 127.0.0.1 started by the test.

mod common;

use std::time::{Duration, Instant};

use common::stub::Stub;
use common::Server;
use serde_json::{json, Value};

/// Runs `body` (an async function body) and returns the report.
fn run(server: &Server, body: &str) -> Value {
    run_with(server, body, json!({}))
}

/// Like [`run`] with extra request fields.
fn run_with(server: &Server, body: &str, extra: Value) -> Value {
    let mut request = json!({ "code": format!("(async () => {{ {body} }})()") });
    if let (Some(r), Some(e)) = (request.as_object_mut(), extra.as_object()) {
        r.extend(e.clone());
    }
    let (code, doc) = server.exec(request);
    assert_eq!(code, 200, "{doc}");
    doc
}

fn error_message(doc: &Value) -> String {
    assert_eq!(doc["status"], "error", "{doc}");
    doc["error"]["message"].as_str().unwrap_or("").to_string()
}

fn grant(stub: &Stub) -> String {
    format!("127.0.0.1:{}", stub.port)
}

#[test]
fn denied_by_default_with_a_type_error_naming_the_policy() {
    let stub = Stub::start();
    let server = Server::start(&["--workers", "1"]);
    let doc = run(
        &server,
        &format!("return await fetch({:?})", stub.url("/hello")),
    );
    assert_eq!(doc["error"]["name"], "TypeError", "{doc}");
    assert!(error_message(&doc).contains("--allow-net"), "{doc}");
    assert!(stub.requests().is_empty(), "the stub was reached");
    assert_eq!(doc["fetches"][0]["method"], "GET", "{doc}");
    assert!(doc["fetches"][0]["error"].is_string(), "{doc}");
}

/// `fetch(url)` starts its host call before the Request class loads
/// (`fetchUrl`); `fetch(url, {})` takes the full path through `new
/// Request`. Both must give the same outcome for every input, valid or not,
/// and send the same request.
#[test]
fn a_plain_url_fetch_and_the_full_path_agree() {
    let stub = Stub::start();
    let server = Server::start(&["--workers", "1", "--allow-net", &grant(&stub)]);
    let base = stub.url("");
    let inputs = json!([
        format!("{base}/hello"),
        format!("{base}/hello?q=1#frag"),
        format!("HTTP://127.0.0.1:{}/json", stub.port),
        format!("{base}/p\u{e9}th/\u{1F600}"),
        format!("http://user:pw@127.0.0.1:{}/hello", stub.port),
        format!("http://:pw@127.0.0.1:{}/hello", stub.port),
        format!("http://user@127.0.0.1:{}/hello", stub.port),
        "relative/path",
        "data:,hello",
        "ftp://127.0.0.1/x",
        "http://127.0.0.1:9/denied",
        "",
    ]);
    let doc = run(
        &server,
        &format!(
            "const outcome = async (p) => {{ try {{ const r = await p; \
               return [r.status, r.url, r.redirected, r.type, await r.text()].join(' ') }} \
               catch (e) {{ return `${{e.name}}: ${{e.message}}` }} }}; \
             const out = []; \
             for (const u of {inputs}) out.push([await outcome(fetch(u)), await outcome(fetch(u, {{}}))]); \
             const d = Object.getOwnPropertyDescriptor(globalThis, 'fetch'); \
             out.push([fetch.name, fetch.length, d.writable, d.enumerable, d.configurable].join()); \
             out.push(await outcome(fetch(`{base}/hello\\ud800`))); \
             return out"
        ),
    );
    assert_eq!(doc["status"], "ok", "{doc}");
    let rows = doc["result"].as_array().expect("rows");
    for row in &rows[..rows.len() - 2] {
        assert_eq!(
            row[0], row[1],
            "fetch(url) and fetch(url, {{}}) differ: {doc}"
        );
    }
    let first = |i: usize| rows[i][0].as_str().unwrap_or("").to_string();
    assert_eq!(first(0), format!("200 {base}/hello false basic hello"));
    assert_eq!(
        first(1),
        format!("200 {base}/hello?q=1#frag false basic hello")
    );
    assert!(first(2).starts_with(&format!("200 {base}/json ")), "{doc}");
    assert!(first(3).starts_with("404 "), "{doc}");
    assert!(first(4).contains("includes credentials"), "{doc}");
    assert!(first(5).contains("includes credentials"), "{doc}");
    assert!(first(6).contains("includes credentials"), "{doc}");
    assert!(first(7).starts_with("TypeError: Failed to construct 'Request': Invalid URL"));
    assert!(
        first(8).contains("the data: scheme is not supported"),
        "{doc}"
    );
    assert!(
        first(9).contains("the ftp: scheme is not supported"),
        "{doc}"
    );
    assert!(
        first(10).contains("not allowed by the network policy"),
        "{doc}"
    );
    assert!(first(11).starts_with("TypeError: Failed to construct 'Request': Invalid URL"));
    assert_eq!(rows[rows.len() - 2], "fetch,1,true,false,true");
    // A lone surrogate becomes U+FFFD (%EF%BF%BD), as `new Request` does.
    assert!(
        rows[rows.len() - 1]
            .as_str()
            .unwrap_or("")
            .starts_with("404 "),
        "{doc}"
    );
    let seen: Vec<(String, String)> = stub
        .requests()
        .into_iter()
        .map(|s| (s.method, s.path))
        .collect();
    let mut want = Vec::new();
    for path in ["/hello", "/hello?q=1", "/json", "/p%C3%A9th/%F0%9F%98%80"] {
        // Once by each path.
        want.push(("GET".to_string(), path.to_string()));
        want.push(("GET".to_string(), path.to_string()));
    }
    want.push(("GET".to_string(), "/hello%EF%BF%BD".to_string()));
    assert_eq!(seen, want, "{doc}");
}

#[test]
fn an_ip_literal_grant_allows_that_port_only() {
    let stub = Stub::start();
    let other = Stub::start();
    let server = Server::start(&["--workers", "1", "--allow-net", &grant(&stub)]);
    let doc = run(
        &server,
        &format!(
            "const r = await fetch({:?}); \
             const j = await fetch({:?}); \
             let set; try {{ r.headers.set('x-a', '1'); set = 'set' }} catch (e) {{ set = e.message }} \
             return [r.status, r.ok, await r.text(), r.headers.get('content-length'), \
                     r.headers.has('Content-Length'), [...r.headers].some(([n]) => n === 'content-length'), \
                     set, (await j.json()).a, j.url]",
            stub.url("/hello?token=secret"),
            stub.url("/json")
        ),
    );
    assert_eq!(doc["status"], "ok", "{doc}");
    // The response's headers come from the network as they are, immutable.
    assert_eq!(
        doc["result"],
        json!([
            200,
            true,
            "hello",
            "5",
            true,
            true,
            "Headers are immutable",
            1,
            stub.url("/json")
        ])
    );
    let fetches = doc["fetches"].as_array().unwrap();
    assert_eq!(fetches.len(), 2, "{doc}");
    assert_eq!(
        fetches[0]["url"],
        stub.url("/hello"),
        "the query is left out"
    );
    assert_eq!(fetches[0]["status"], 200);
    assert_eq!(fetches[0]["bytes"], 5);
    assert!(fetches[0]["ms"].is_number());

    let doc = run(
        &server,
        &format!("return await fetch({:?})", other.url("/hello")),
    );
    assert!(error_message(&doc).contains("not allowed"), "{doc}");
    assert!(other.requests().is_empty());
    let metrics = server.metrics();
    assert!(
        metrics.contains("mcp_v8_host_calls_total{kind=\"fetch\",result=\"ok\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("result=\"denied\""), "{metrics}");
}

#[test]
fn a_localhost_grant_is_refused_without_allow_private_net() {
    let stub = Stub::start();
    let localhost = format!("localhost:{}", stub.port);
    let url = format!("http://localhost:{}/hello", stub.port);
    let server = Server::start(&["--workers", "1", "--allow-net", &localhost]);
    let doc = run(&server, &format!("return await fetch({url:?})"));
    let message = error_message(&doc);
    assert!(message.contains("internal address"), "{message}");
    assert!(message.contains("--allow-private-net"), "{message}");
    assert!(stub.requests().is_empty());
    drop(server);

    let server = Server::start(&[
        "--workers",
        "1",
        "--allow-net",
        &localhost,
        "--allow-private-net",
    ]);
    let doc = run(
        &server,
        &format!("return await (await fetch({url:?})).text()"),
    );
    assert_eq!(doc["result"], "hello", "{doc}");
}

#[test]
fn redirects_are_checked_hop_by_hop() {
    let stub = Stub::start();
    let denied = Stub::start();
    let server = Server::start(&["--workers", "1", "--allow-net", &grant(&stub)]);
    let to_denied = stub.url(&format!("/redirect?to={}", denied.url("/hello")));
    let doc = run(&server, &format!("return await fetch({to_denied:?})"));
    assert!(error_message(&doc).contains("not allowed"), "{doc}");
    assert!(denied.requests().is_empty(), "the denied host was reached");

    let to_allowed = stub.url(&format!("/redirect?to={}", stub.url("/hello")));
    let doc = run(
        &server,
        &format!(
            "const r = await fetch({to_allowed:?}); \
             const m = await fetch({to_allowed:?}, {{redirect: 'manual'}}); \
             let e = null; \
             try {{ await fetch({to_allowed:?}, {{redirect: 'error'}}) }} catch (x) {{ e = x.name }} \
             return [r.status, r.redirected, r.url, await r.text(), \
                     m.status, m.headers.get('location'), e]"
        ),
    );
    assert_eq!(
        doc["result"],
        json!([
            200,
            true,
            stub.url("/hello"),
            "hello",
            302,
            stub.url("/hello"),
            "TypeError"
        ]),
        "{doc}"
    );

    // A POST answered by 303 is re-sent as a GET without its body.
    let see_other = stub.url(&format!("/see-other?to={}", stub.url("/echo")));
    let doc = run(
        &server,
        &format!("const r = await fetch({see_other:?}, {{method: 'POST', body: 'data'}}); return await r.text()"),
    );
    assert_eq!(doc["result"], "", "{doc}");
    let seen = stub.requests();
    assert_eq!(seen.last().unwrap().method, "GET");

    // At most five redirects are followed: a chain of five reaches the
    // end, a chain of six is a network error saying so.
    let chain = |hops: usize| {
        (0..hops).fold(stub.url("/hello"), |to, _| {
            stub.url(&format!("/redirect?to={to}"))
        })
    };
    let doc = run(
        &server,
        &format!("return await (await fetch({:?})).text()", chain(5)),
    );
    assert_eq!(doc["result"], "hello", "{doc}");
    let doc = run(&server, &format!("return await fetch({:?})", chain(6)));
    assert!(
        error_message(&doc).contains("more than 5 redirects"),
        "{doc}"
    );
}

#[test]
fn the_policy_flags_are_also_environment_variables() {
    let stub = Stub::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "from-a-file\n").unwrap();
    let header = format!("127.0.0.1=x-api-key:@{}", file.display());
    let server = Server::start_with_env(
        &["--workers", "1"],
        &[
            ("MCP_V8_ALLOW_NET", &grant(&stub)),
            ("MCP_V8_FETCH_MAX_REQUESTS", "2"),
            ("MCP_V8_FETCH_MAX_RESPONSE_BYTES", "100"),
            ("MCP_V8_FETCH_HEADER", &header),
        ],
    );
    let doc = run(
        &server,
        &format!(
            "const out = [(await fetch({hello:?})).status]; \
             try {{ await fetch({big:?}) }} catch (e) {{ out.push(e.message) }} \
             try {{ await fetch({hello:?}) }} catch (e) {{ out.push(e.message) }} \
             return out",
            hello = stub.url("/hello"),
            big = stub.url("/big?n=500"),
        ),
    );
    let out = &doc["result"];
    assert_eq!(out[0], 200, "{doc}");
    assert!(
        out[1]
            .as_str()
            .is_some_and(|m| m.contains("--fetch-max-response-bytes")),
        "{doc}"
    );
    assert!(
        out[2]
            .as_str()
            .is_some_and(|m| m.contains("--fetch-max-requests")),
        "{doc}"
    );
    let seen = stub.requests();
    assert_eq!(
        seen[0].headers.get("x-api-key").map(String::as_str),
        Some("from-a-file")
    );
}

#[test]
fn too_many_requests_and_too_large_bodies_are_refused() {
    let stub = Stub::start();
    let server = Server::start(&[
        "--workers",
        "1",
        "--allow-net",
        &grant(&stub),
        "--fetch-max-requests",
        "3",
        "--fetch-max-response-bytes",
        "1000",
        "--fetch-max-request-bytes",
        "100",
    ]);
    let hello = stub.url("/hello");
    let doc = run(
        &server,
        &format!(
            "const out = []; \
             for (let i = 0; i < 4; i++) {{ \
               try {{ out.push((await fetch({hello:?})).status) }} catch (e) {{ out.push(e.message) }} \
             }} return out"
        ),
    );
    let out = doc["result"].as_array().unwrap();
    assert_eq!(&out[..3], &[json!(200), json!(200), json!(200)], "{doc}");
    assert!(
        out[3].as_str().unwrap().contains("--fetch-max-requests"),
        "{doc}"
    );

    let doc = run(
        &server,
        &format!("return await fetch({:?})", stub.url("/big?n=5000")),
    );
    assert!(
        error_message(&doc).contains("--fetch-max-response-bytes"),
        "{doc}"
    );
    let doc = run(
        &server,
        &format!(
            "return (await (await fetch({:?})).text()).length",
            stub.url("/big?n=1000")
        ),
    );
    assert_eq!(doc["result"], 1000, "{doc}");

    let doc = run(
        &server,
        &format!(
            "return await fetch({:?}, {{method: 'POST', body: 'x'.repeat(101)}})",
            stub.url("/echo")
        ),
    );
    assert!(
        error_message(&doc).contains("--fetch-max-request-bytes"),
        "{doc}"
    );
}

#[test]
fn fetch_header_reaches_the_server_and_never_the_script() {
    let stub = Stub::start();
    let secret = "s3cr3t-value-42";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{secret}\n")).unwrap();
    let header = format!("127.0.0.1=x-api-key:@{}", file.display());
    let server = Server::start(&[
        "--workers",
        "1",
        "--allow-net",
        &grant(&stub),
        "--fetch-header",
        &header,
    ]);
    let doc = run(
        &server,
        &format!(
            "const req = new Request({:?}, {{headers: {{'x-api-key': 'from-script'}}}}); \
             const mine = [...req.headers].join(';'); \
             const r = await fetch(req); \
             const seen = await r.json(); \
             return [mine, JSON.stringify([...r.headers]), Object.keys(globalThis).join()]",
            stub.url("/headers")
        ),
    );
    assert_eq!(doc["status"], "ok", "{doc}");
    assert!(
        !doc.to_string().contains(secret),
        "the secret reached the script: {doc}"
    );
    let seen = stub.requests();
    assert_eq!(
        seen[0].headers.get("x-api-key").map(String::as_str),
        Some(secret)
    );
    // Another host gets nothing.
    let other = Stub::start();
    let server2 = Server::start(&[
        "--workers",
        "1",
        "--allow-net",
        &grant(&other),
        "--fetch-header",
        "example.com=x-api-key:v",
    ]);
    run(
        &server2,
        &format!("await fetch({:?}); return 1", other.url("/hello")),
    );
    assert!(!other.requests()[0].headers.contains_key("x-api-key"));
}

#[test]
fn a_run_allow_net_narrows_and_cannot_widen() {
    let stub = Stub::start();
    let other = Stub::start();
    let server = Server::start(&["--workers", "1", "--allow-net", &grant(&stub)]);
    let code = format!("return (await fetch({:?})).status", stub.url("/hello"));
    let doc = run_with(&server, &code, json!({"allow_net": [grant(&stub)]}));
    assert_eq!(doc["result"], 200, "{doc}");
    let doc = run_with(&server, &code, json!({"allow_net": ["example.com"]}));
    assert!(error_message(&doc).contains("allow_net"), "{doc}");
    let widen = format!("return (await fetch({:?})).status", other.url("/hello"));
    let doc = run_with(&server, &widen, json!({"allow_net": [grant(&other)]}));
    assert!(error_message(&doc).contains("not allowed"), "{doc}");
    assert!(other.requests().is_empty());
    let (code, doc) = server.exec(json!({"code": "1", "allow_net": ["bad host name"]}));
    assert_eq!(code, 400, "{doc}");
}

#[test]
fn a_flood_of_fetches_gets_a_clear_error_and_others_are_served() {
    let stub = Stub::start();
    let server = Server::start(&["--workers", "2", "--allow-net", &grant(&stub)]);
    let flood = std::thread::scope(|s| {
        let flood = s.spawn(|| {
            run(
                &server,
                &format!(
                    "const ps = []; for (let i = 0; i < 10000; i++) ps.push(fetch({:?}).then(r => r.status, e => e.message)); \
                     const out = await Promise.all(ps); \
                     return [out.filter(x => x === 200).length, out.find(x => typeof x === 'string')]",
                    stub.url("/hello")
                ),
            )
        });
        std::thread::sleep(Duration::from_millis(100));
        let started = Instant::now();
        let doc = run(&server, "return 'other'");
        assert_eq!(doc["result"], "other", "{doc}");
        assert!(started.elapsed() < Duration::from_secs(5));
        flood.join().unwrap()
    });
    let result = &flood["result"];
    assert!(result[0].as_u64().is_some_and(|n| n <= 50), "{flood}");
    assert!(
        result[1].as_str().is_some_and(|m| m.contains("in flight")),
        "{flood}"
    );
}

#[test]
fn each_fetch_is_logged_without_header_values_or_bodies() {
    let stub = Stub::start();
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("stderr.log");
    let secret = "log-secret-7";
    let header = format!("127.0.0.1=x-api-key:{secret}");
    let server = Server::start_logging(
        dir.path(),
        &[
            "--workers",
            "1",
            "--allow-net",
            &grant(&stub),
            "--fetch-header",
            &header,
        ],
        &[("MCP_V8_LOG", "info"), ("NO_COLOR", "1")],
        Some(std::fs::File::create(&log_path).unwrap()),
    );
    let doc = run(
        &server,
        &format!(
            "return await (await fetch({:?}, {{method: 'POST', body: 'body-text-9'}})).text()",
            stub.url("/echo")
        ),
    );
    assert_eq!(doc["result"], "body-text-9", "{doc}");
    // The line is written before the answer goes out; stderr is a file.
    let deadline = Instant::now() + Duration::from_secs(5);
    let log = loop {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if log.contains("method=POST") || Instant::now() > deadline {
            break log;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let line = log
        .lines()
        .find(|l| l.contains(" fetch ") && l.contains("method=POST"))
        .unwrap_or_else(|| panic!("no fetch line in:\n{log}"));
    for field in [
        "execution=",
        "host=127.0.0.1",
        "status=200",
        "bytes=11",
        "ms=",
    ] {
        assert!(line.contains(field), "{field} missing: {line}");
    }
    assert!(
        !log.contains(secret),
        "a header value reached the log:\n{log}"
    );
    assert!(
        !log.contains("body-text-9"),
        "a body reached the log:\n{log}"
    );
}
