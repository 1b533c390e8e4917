//! End-to-end tests of the MCP surface against the real binary: the official
//! Rust SDK (`rmcp`) as client over Streamable HTTP (session revision with
//! `initialize`, and the stateless 2026-07-28 revision) and over stdio, plus
//! raw HTTP for protocol misuse and DNS-rebinding checks.

mod common;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Server;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResult, ClientConfig, ClientRequest, ErrorCode,
    ProgressNotificationParam, ProtocolVersion, ServerResult,
};
use rmcp::service::{NotificationContext, PeerRequestOptions, RunningService, ServiceError};
use rmcp::transport::{ConfigureCommandExt, StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientHandler, ClientLifecycleMode, ClientServiceExt, RoleClient};
use serde_json::{json, Value};

/// A client that records the progress notifications it receives and, for
/// the handshake, asks for a given revision.
#[derive(Clone)]
struct TestClient {
    progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
    version: ProtocolVersion,
}

impl TestClient {
    fn new(version: ProtocolVersion) -> Self {
        TestClient {
            progress: Arc::default(),
            version,
        }
    }
}

impl ClientHandler for TestClient {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::default().with_protocol_version(self.version.clone())
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress.lock().unwrap().push(params);
    }
}

type Client = RunningService<RoleClient, TestClient>;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// `initialize` with this revision (session revisions).
fn handshake(version: ProtocolVersion) -> (ClientLifecycleMode, ProtocolVersion) {
    (ClientLifecycleMode::Initialize, version)
}

/// No handshake: per-request metadata (the 2026-07-28 revision).
fn stateless() -> (ClientLifecycleMode, ProtocolVersion) {
    let version = ProtocolVersion::V_2026_07_28;
    (
        ClientLifecycleMode::Discover {
            preferred_versions: vec![version.clone()],
        },
        version,
    )
}

async fn http_client(
    server: &Server,
    (mode, version): (ClientLifecycleMode, ProtocolVersion),
) -> (Client, TestClient) {
    let handler = TestClient::new(version);
    let transport = StreamableHttpClientTransport::from_uri(server.url("/mcp"));
    let client = handler
        .clone()
        .serve_with_lifecycle(transport, mode)
        .await
        .expect("connect");
    (client, handler)
}

/// Starts `mcp-v8` without `--http-port` (MCP over stdio) as a child.
async fn stdio_client(data: &std::path::Path, extra: &[&str]) -> (Client, TestClient) {
    let command = tokio::process::Command::new(common::binary()).configure(|cmd| {
        cmd.arg("--directory-path")
            .arg(data.join("heaps"))
            .arg("--session-db-path")
            .arg(data.join("sessions"))
            .args(extra)
            .env("MCP_V8_LOG", "warn");
    });
    let (transport, _stderr) = TokioChildProcess::builder(command)
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn");
    let handler = TestClient::new(ProtocolVersion::V_2025_11_25);
    let client = handler
        .clone()
        .serve_with_lifecycle(transport, ClientLifecycleMode::Initialize)
        .await
        .expect("connect");
    (client, handler)
}

fn run_js_params(arguments: Value) -> CallToolRequestParams {
    CallToolRequestParams::new("run_js").with_arguments(arguments.as_object().unwrap().clone())
}

async fn run_js(client: &Client, arguments: Value) -> CallToolResult {
    client
        .call_tool(run_js_params(arguments))
        .await
        .expect("tools/call")
}

fn structured(result: &CallToolResult) -> &Value {
    result
        .structured_content
        .as_ref()
        .expect("structured content")
}

/// The text content must carry the same JSON as the structured content.
fn text_json(result: &CallToolResult) -> Value {
    let text = result.content[0].as_text().expect("text content");
    serde_json::from_str(&text.text).expect("text is JSON")
}

/// What every transport must do: list tools, run code, report JS errors.
async fn basic_conversation(client: &Client) {
    let tools = client.list_all_tools().await.unwrap();
    let run = tools
        .iter()
        .find(|t| t.name == "run_js")
        .expect("run_js listed");
    let schema = Value::Object((*run.input_schema).clone());
    assert_eq!(schema["properties"]["code"]["type"], "string", "{schema}");
    assert_eq!(schema["required"], json!(["code"]), "{schema}");
    assert!(run.output_schema.is_some());
    assert!(run.description.as_deref().unwrap().contains("console"));

    let ok = run_js(
        client,
        json!({"code": "console.log('hi'); [3, 1, 2].sort()"}),
    )
    .await;
    assert_eq!(ok.is_error, Some(false), "{ok:?}");
    assert_eq!(structured(&ok)["status"], "ok");
    assert_eq!(structured(&ok)["result"], json!([1, 2, 3]));
    assert_eq!(structured(&ok)["stdout"], "hi");
    assert_eq!(&text_json(&ok), structured(&ok));

    let thrown = run_js(client, json!({"code": "function f() { null.x }\nf()"})).await;
    assert_eq!(thrown.is_error, Some(true), "{thrown:?}");
    let error = &structured(&thrown)["error"];
    assert_eq!(structured(&thrown)["status"], "error");
    assert_eq!(error["name"], "TypeError");
    assert!(
        error["message"].as_str().unwrap().contains("null"),
        "{error}"
    );
    assert!(error["stack"].as_str().unwrap().contains("at f"), "{error}");

    let timed_out = run_js(
        client,
        json!({"code": "while (true) {}", "timeout_ms": 200}),
    )
    .await;
    assert_eq!(timed_out.is_error, Some(true));
    assert_eq!(structured(&timed_out)["status"], "timeout");
}

/// Bad arguments are JSON-RPC errors up to 2025-06-18 and tool results with
/// isError from 2025-11-25 on; unknown tools are always JSON-RPC errors.
async fn misuse_gets_clear_errors(client: &Client, arguments_are_protocol_errors: bool) {
    for (arguments, what) in [
        (json!({"code": 42}), "wrong type"),
        (json!({}), "missing code"),
        (json!({"code": "1", "bogus": true}), "unknown argument"),
        (json!({"code": "1", "timeout_ms": 0}), "timeout below 1"),
        (
            json!({"code": "1", "timeout_ms": 999_999_999}),
            "timeout above the server's",
        ),
    ] {
        let outcome = client.call_tool(run_js_params(arguments)).await;
        if arguments_are_protocol_errors {
            let err = outcome.expect_err(what);
            assert_eq!(
                error_code(&err),
                Some(ErrorCode::INVALID_PARAMS),
                "{what}: {err:?}"
            );
        } else {
            let result = outcome.expect(what);
            assert_eq!(result.is_error, Some(true), "{what}: {result:?}");
            let text = &result.content[0].as_text().expect("text").text;
            assert!(
                text.contains("invalid arguments") || text.contains("timeout_ms"),
                "{what}: {text}"
            );
        }
    }
    let err = client
        .call_tool(CallToolRequestParams::new("no_such_tool"))
        .await
        .expect_err("unknown tool");
    assert!(error_code(&err).is_some(), "{err:?}");
    // Still serving.
    let ok = run_js(client, json!({"code": "2 + 2"})).await;
    assert_eq!(structured(&ok)["result"], 4);
}

fn error_code(err: &ServiceError) -> Option<ErrorCode> {
    match err {
        ServiceError::McpError(data) => Some(data.code),
        _ => None,
    }
}

async fn call(client: &Client, tool: &'static str, arguments: Value) -> CallToolResult {
    let params =
        CallToolRequestParams::new(tool).with_arguments(arguments.as_object().unwrap().clone());
    client.call_tool(params).await.expect("tools/call")
}

/// Sessions keep globals; heaps branch; the session tools see and delete.
async fn sessions_and_heaps(client: &Client, name: &str) {
    let tools: Vec<_> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    for tool in [
        "run_js",
        "list_sessions",
        "get_session",
        "delete_session",
        "get_heap",
    ] {
        assert!(
            tools.iter().any(|t| t == tool),
            "{tool} missing from {tools:?}"
        );
    }
    let first = run_js(
        client,
        json!({"code": "var counter = 1; counter", "session": name}),
    )
    .await;
    assert_eq!(structured(&first)["session"], name, "{first:?}");
    let heap1 = structured(&first)["heap"]
        .as_str()
        .expect("heap hash")
        .to_string();
    let second = run_js(
        client,
        json!({"code": "counter += 1; counter", "session": name}),
    )
    .await;
    assert_eq!(structured(&second)["result"], 2, "{second:?}");
    let failed = run_js(
        client,
        json!({"code": "counter = 100; throw new Error('x')", "session": name}),
    )
    .await;
    assert_eq!(failed.is_error, Some(true));
    let third = run_js(client, json!({"code": "counter", "session": name})).await;
    assert_eq!(
        structured(&third)["result"],
        2,
        "a failed run must not advance the session"
    );

    let branch = run_js(client, json!({"code": "counter * 10", "heap": heap1})).await;
    assert_eq!(structured(&branch)["result"], 10, "{branch:?}");
    assert!(structured(&branch)["heap"].is_string());

    let listing = call(client, "list_sessions", json!({})).await;
    let items = structured(&listing)["items"].as_array().unwrap().clone();
    assert!(items.iter().any(|s| s["name"] == name), "{listing:?}");
    let session = call(client, "get_session", json!({"name": name})).await;
    assert_eq!(structured(&session)["entries"], 4, "{session:?}");
    assert_eq!(
        structured(&session)["history"]["items"][2]["status"],
        "error"
    );
    let heap = call(client, "get_heap", json!({"hash": heap1})).await;
    assert!(structured(&heap)["v8_version"].is_string(), "{heap:?}");
    assert!(structured(&heap)["size_bytes"].as_u64().unwrap() > 0);

    let deleted = call(client, "delete_session", json!({"name": name})).await;
    assert_eq!(structured(&deleted)["deleted"], name);
    let gone = call(client, "get_session", json!({"name": name})).await;
    assert_eq!(gone.is_error, Some(true), "{gone:?}");
    let unknown_heap = call(client, "get_heap", json!({"hash": "0".repeat(64)})).await;
    assert_eq!(unknown_heap.is_error, Some(true), "{unknown_heap:?}");
}

/// Cancels an endless run and checks the worker was freed: with one
/// worker, the next call can only complete if the loop was killed.
async fn cancel_frees_the_worker(client: &Client) {
    let request = ClientRequest::CallToolRequest(CallToolRequest::new(run_js_params(
        json!({"code": "while (true) {}"}),
    )));
    let handle = client
        .send_cancellable_request(request, PeerRequestOptions::no_options())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    handle.cancel(Some("test".into())).await.unwrap();
    let next = tokio::time::timeout(
        Duration::from_secs(15),
        run_js(client, json!({"code": "'after cancel'"})),
    )
    .await
    .expect("the worker was not freed by the cancellation");
    assert_eq!(structured(&next)["result"], "after cancel");
    assert!(started.elapsed() < Duration::from_secs(15));
}

/// A run longer than the progress interval reports progress.
async fn long_run_reports_progress(client: &Client, handler: &TestClient) {
    let result = run_js(
        client,
        json!({"code": "await new Promise(r => setTimeout(r, 1600)); 'slept'"}),
    )
    .await;
    assert_eq!(structured(&result)["result"], "slept", "{result:?}");
    let progress = handler.progress.lock().unwrap().clone();
    assert!(progress.len() >= 2, "progress: {progress:?}");
    assert!(
        progress.windows(2).all(|w| w[0].progress < w[1].progress),
        "{progress:?}"
    );
    assert!(progress[0].total.unwrap() >= 1600.0);
}

#[test]
fn http_session_revision_with_the_rust_sdk() {
    let server = Server::start(&["--workers", "1"]);
    runtime().block_on(async {
        let (client, handler) =
            http_client(&server, handshake(ProtocolVersion::V_2025_06_18)).await;
        let info = client.peer_info().expect("initialize result");
        assert_eq!(info.server_info.as_ref().unwrap().name, "mcp-v8");
        let instructions = info.instructions.as_deref().unwrap();
        assert!(instructions.contains("no network"), "{instructions}");
        assert!(instructions.contains("30000 ms"), "{instructions}");
        assert_eq!(info.protocol_version, ProtocolVersion::V_2025_06_18);
        basic_conversation(&client).await;
        misuse_gets_clear_errors(&client, true).await;
        sessions_and_heaps(&client, "http-session-revision").await;
        long_run_reports_progress(&client, &handler).await;
        cancel_frees_the_worker(&client).await;
        client.cancel().await.unwrap();
    });
}

#[test]
fn http_stateless_2026_revision_with_the_rust_sdk() {
    let server = Server::start(&["--workers", "1"]);
    runtime().block_on(async {
        let (client, handler) = http_client(&server, stateless()).await;
        basic_conversation(&client).await;
        misuse_gets_clear_errors(&client, false).await;
        sessions_and_heaps(&client, "stateless.2026").await;
        long_run_reports_progress(&client, &handler).await;
        cancel_frees_the_worker(&client).await;
        client.cancel().await.unwrap();
    });
}

#[test]
fn stdio_with_the_rust_sdk() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let (client, handler) = stdio_client(dir.path(), &["--workers", "1"]).await;
        assert_eq!(
            client
                .peer_info()
                .unwrap()
                .server_info
                .as_ref()
                .unwrap()
                .name,
            "mcp-v8"
        );
        basic_conversation(&client).await;
        misuse_gets_clear_errors(&client, false).await;
        sessions_and_heaps(&client, "stdio:1").await;
        long_run_reports_progress(&client, &handler).await;
        cancel_frees_the_worker(&client).await;
        client.cancel().await.unwrap();
    });
}

#[test]
fn stdio_ping_and_concurrent_calls() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let (client, _) = stdio_client(dir.path(), &["--workers", "2"]).await;
        let calls = (0..8).map(|i| run_js(&client, json!({"code": format!("{i} * 10")})));
        let results = futures::future::join_all(calls).await;
        for (i, result) in results.iter().enumerate() {
            assert_eq!(structured(result)["result"], json!(i * 10));
        }
        let pong = client
            .send_request(ClientRequest::PingRequest(Default::default()))
            .await;
        assert!(matches!(pong, Ok(ServerResult::EmptyResult(_))), "{pong:?}");
        client.cancel().await.unwrap();
    });
}

/// Tests over raw HTTP (tests/mcp/raw_http.rs).
mod mcp {
    mod raw_http;
}

/// Raw stdio: garbage lines, non-JSON-RPC JSON and a batch do not stop the
/// server; a well-formed conversation works afterwards.
#[test]
fn stdio_survives_malformed_lines() {
    use std::io::{BufRead, BufReader, Write};
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(common::binary())
        .args(["--workers", "1", "--directory-path"])
        .arg(dir.path().join("heaps"))
        .arg("--session-db-path")
        .arg(dir.path().join("sessions"))
        .env("MCP_V8_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let lines = [
        "this is not json".to_string(),
        r#"{"hello": "world"}"#.to_string(),
        r#"[{"jsonrpc":"2.0","id":9,"method":"ping"}]"#.to_string(),
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"}}})
        .to_string(),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string(),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
               "params": {"name": "run_js", "arguments": {"code": "'still here'"}}})
        .to_string(),
    ];
    for line in &lines {
        writeln!(stdin, "{line}").unwrap();
    }
    stdin.flush().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = sender.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    let answer = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = receiver
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no answer; saw {seen:?}"));
        let message: Value = serde_json::from_str(&line).expect("stdout carries JSON-RPC only");
        if message["id"] == 2 {
            break message;
        }
        seen.push(message);
    };
    assert_eq!(
        answer["result"]["structuredContent"]["result"], "still here",
        "{answer}"
    );
    assert!(
        seen.iter().any(|m| m["error"]["code"] == -32600),
        "{seen:?}"
    );
    drop(stdin);
    let _ = child.wait();
}
