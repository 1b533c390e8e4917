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
    CallToolRequest, CallToolRequestParams, CallToolResult, ClientRequest, ErrorCode,
    ProgressNotificationParam, ProtocolVersion, ServerResult,
};
use rmcp::service::{NotificationContext, PeerRequestOptions, RunningService, ServiceError};
use rmcp::transport::{ConfigureCommandExt, StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientHandler, ClientLifecycleMode, ClientServiceExt, RoleClient};
use serde_json::{json, Value};

/// A client that records the progress notifications it receives.
#[derive(Clone, Default)]
struct TestClient {
    progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
}

impl ClientHandler for TestClient {
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
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap()
}

fn legacy() -> ClientLifecycleMode {
    ClientLifecycleMode::Initialize
}

fn stateless() -> ClientLifecycleMode {
    ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] }
}

async fn http_client(server: &Server, mode: ClientLifecycleMode) -> (Client, TestClient) {
    let handler = TestClient::default();
    let transport = StreamableHttpClientTransport::from_uri(server.url("/mcp"));
    let client = handler.clone().serve_with_lifecycle(transport, mode).await.expect("connect");
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
    let (transport, _stderr) =
        TokioChildProcess::builder(command).stderr(Stdio::inherit()).spawn().expect("spawn");
    let handler = TestClient::default();
    let client = handler.clone().serve_with_lifecycle(transport, legacy()).await.expect("connect");
    (client, handler)
}

fn run_js_params(arguments: Value) -> CallToolRequestParams {
    CallToolRequestParams::new("run_js").with_arguments(arguments.as_object().unwrap().clone())
}

async fn run_js(client: &Client, arguments: Value) -> CallToolResult {
    client.call_tool(run_js_params(arguments)).await.expect("tools/call")
}

fn structured(result: &CallToolResult) -> &Value {
    result.structured_content.as_ref().expect("structured content")
}

/// The text content must carry the same JSON as the structured content.
fn text_json(result: &CallToolResult) -> Value {
    let text = result.content[0].as_text().expect("text content");
    serde_json::from_str(&text.text).expect("text is JSON")
}

/// What every transport must do: list tools, run code, report JS errors.
async fn basic_conversation(client: &Client) {
    let tools = client.list_all_tools().await.unwrap();
    let run = tools.iter().find(|t| t.name == "run_js").expect("run_js listed");
    let schema = Value::Object((*run.input_schema).clone());
    assert_eq!(schema["properties"]["code"]["type"], "string", "{schema}");
    assert_eq!(schema["required"], json!(["code"]), "{schema}");
    assert!(run.output_schema.is_some());
    assert!(run.description.as_deref().unwrap().contains("console"));

    let ok = run_js(client, json!({"code": "console.log('hi'); [3, 1, 2].sort()"})).await;
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
    assert!(error["message"].as_str().unwrap().contains("null"), "{error}");
    assert!(error["stack"].as_str().unwrap().contains("at f"), "{error}");

    let timed_out = run_js(client, json!({"code": "while (true) {}", "timeout_ms": 200})).await;
    assert_eq!(timed_out.is_error, Some(true));
    assert_eq!(structured(&timed_out)["status"], "timeout");
}

/// Bad arguments and unknown tools are JSON-RPC errors, not tool results.
async fn misuse_is_a_protocol_error(client: &Client) {
    for (arguments, what) in [
        (json!({"code": 42}), "wrong type"),
        (json!({}), "missing code"),
        (json!({"code": "1", "bogus": true}), "unknown argument"),
        (json!({"code": "1", "timeout_ms": 0}), "timeout below 1"),
        (json!({"code": "1", "timeout_ms": 999_999_999}), "timeout above the server's"),
    ] {
        let err = client.call_tool(run_js_params(arguments)).await.unwrap_err();
        assert_eq!(error_code(&err), Some(ErrorCode::INVALID_PARAMS), "{what}: {err:?}");
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

/// Cancels an endless run and checks the worker was freed: with one
/// worker, the next call can only complete if the loop was killed.
async fn cancel_frees_the_worker(client: &Client) {
    let request = ClientRequest::CallToolRequest(CallToolRequest::new(run_js_params(
        json!({"code": "while (true) {}"}),
    )));
    let handle =
        client.send_cancellable_request(request, PeerRequestOptions::no_options()).await.unwrap();
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
    assert!(progress.windows(2).all(|w| w[0].progress < w[1].progress), "{progress:?}");
    assert!(progress[0].total.unwrap() >= 1600.0);
}

#[test]
fn http_session_revision_with_the_rust_sdk() {
    let server = Server::start(&["--workers", "1"]);
    runtime().block_on(async {
        let (client, handler) = http_client(&server, legacy()).await;
        let info = client.peer_info().expect("initialize result");
        assert_eq!(info.server_info.as_ref().unwrap().name, "mcp-v8");
        let instructions = info.instructions.as_deref().unwrap();
        assert!(instructions.contains("no network"), "{instructions}");
        assert!(instructions.contains("30000 ms"), "{instructions}");
        basic_conversation(&client).await;
        misuse_is_a_protocol_error(&client).await;
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
        misuse_is_a_protocol_error(&client).await;
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
        assert_eq!(client.peer_info().unwrap().server_info.as_ref().unwrap().name, "mcp-v8");
        basic_conversation(&client).await;
        misuse_is_a_protocol_error(&client).await;
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
        let pong = client.send_request(ClientRequest::PingRequest(Default::default())).await;
        assert!(matches!(pong, Ok(ServerResult::EmptyResult(_))), "{pong:?}");
        client.cancel().await.unwrap();
    });
}

#[path = "mcp/raw_http.rs"]
mod raw_http;
