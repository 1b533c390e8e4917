//! `/mcp` over raw HTTP: what a client without an SDK sees. Protocol misuse
//! gets a clear error and the server keeps serving; Host and Origin are
//! checked against DNS rebinding; the session revision has its session
//! header, SSE stream and DELETE; the 2026-07-28 revision has none.

use reqwest::blocking::{Client, Response};
use serde_json::{json, Value};

use crate::common::Server;

const ACCEPT: &str = "application/json, text/event-stream";

fn client() -> Client {
    Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap()
}

/// `_meta` of a self-contained 2026-07-28 request.
fn meta_2026() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "raw-test", "version": "1"},
    })
}

/// POSTs a 2026-07-28 request with its standard headers.
fn post_2026(server: &Server, method: &str, mut params: Value) -> Response {
    params["_meta"] = meta_2026();
    let mut request = client()
        .post(server.url("/mcp"))
        .header("accept", ACCEPT)
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(name) = params.get("name").and_then(Value::as_str) {
        request = request.header("mcp-name", name);
    }
    request
        .json(&json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params}))
        .send()
        .unwrap()
}

fn post_raw(server: &Server, body: impl Into<reqwest::blocking::Body>) -> Response {
    client()
        .post(server.url("/mcp"))
        .header("accept", ACCEPT)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .unwrap()
}

/// The JSON-RPC body of a reply, whether sent as JSON or as one SSE event.
fn json_rpc_body(response: Response) -> Value {
    let is_sse = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap().starts_with("text/event-stream"));
    let text = response.text().unwrap();
    if !is_sse {
        return serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    }
    text.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(str::trim)
        .find(|data| data.contains("\"jsonrpc\""))
        .map(|data| serde_json::from_str(data).unwrap())
        .unwrap_or_else(|| panic!("no JSON-RPC message in SSE: {text}"))
}

fn assert_still_serving(server: &Server) {
    let response = post_2026(
        server,
        "tools/call",
        json!({"name": "run_js", "arguments": {"code": "20 + 22"}}),
    );
    assert_eq!(response.status(), 200);
    let body = json_rpc_body(response);
    assert_eq!(body["result"]["structuredContent"]["result"], 42, "{body}");
}

#[test]
fn stateless_2026_needs_no_handshake_and_no_session() {
    let server = Server::start(&["--workers", "1"]);
    let response = post_2026(&server, "tools/list", json!({}));
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("mcp-session-id").is_none());
    let body = json_rpc_body(response);
    let names: Vec<&str> = body["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"run_js"), "{body}");

    let response = post_2026(
        &server,
        "tools/call",
        json!({"name": "run_js", "arguments": {"code": "throw new RangeError('nope')"}}),
    );
    assert_eq!(response.status(), 200);
    let body = json_rpc_body(response);
    let result = &body["result"];
    assert_eq!(result["isError"], true, "{body}");
    assert_eq!(result["structuredContent"]["error"]["name"], "RangeError");
    assert_eq!(result["structuredContent"]["error"]["message"], "nope");
    assert!(result["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("RangeError"));
}

#[test]
fn malformed_requests_get_clear_errors_and_the_server_keeps_serving() {
    let server = Server::start(&["--workers", "1", "--max-code-bytes", "1000"]);

    // Not JSON: parse error.
    let response = post_raw(&server, "{\"jsonrpc\": \"2.0\", ");
    assert_eq!(response.status(), 400);
    assert_eq!(json_rpc_body(response)["error"]["code"], -32700);

    // A batch: refused.
    let batch = json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}, {"jsonrpc": "2.0", "id": 2, "method": "ping"}]);
    let response = post_raw(&server, batch.to_string());
    assert_eq!(response.status(), 400);
    let body = json_rpc_body(response);
    assert_eq!(body["error"]["code"], -32600);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("batch"),
        "{body}"
    );

    // JSON, but not JSON-RPC.
    let response = post_raw(&server, r#"{"hello": "world"}"#);
    assert_eq!(response.status(), 400);
    assert_eq!(json_rpc_body(response)["error"]["code"], -32600);

    // Oversized.
    let response = post_raw(&server, format!(r#"{{"pad": "{}"}}"#, "x".repeat(200_000)));
    assert_eq!(response.status(), 413);

    // Unknown method.
    let body = json_rpc_body(post_2026(&server, "no/such/method", json!({})));
    assert_eq!(body["error"]["code"], -32601, "{body}");

    // 2026-07-28: bad arguments are tool results the model can read
    // (SEP-1303); an unknown tool is a JSON-RPC error.
    let body = json_rpc_body(post_2026(
        &server,
        "tools/call",
        json!({"name": "run_js", "arguments": {"code": ["x"]}}),
    ));
    assert_eq!(body["result"]["isError"], true, "{body}");
    assert!(
        body["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("invalid type"),
        "{body}"
    );
    let body = json_rpc_body(post_2026(
        &server,
        "tools/call",
        json!({"name": "nope", "arguments": {}}),
    ));
    assert!(body["error"]["code"].is_i64(), "{body}");

    // Code over --max-code-bytes (but under the body limit).
    let code = format!("'{}'", "y".repeat(2000));
    let body = json_rpc_body(post_2026(
        &server,
        "tools/call",
        json!({"name": "run_js", "arguments": {"code": code}}),
    ));
    assert_eq!(body["result"]["isError"], true, "{body}");
    assert!(
        body["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("1000 bytes"),
        "{body}"
    );

    // Missing Accept: 406.
    let response = client()
        .post(server.url("/mcp"))
        .header("content-type", "application/json")
        .body(json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string())
        .send()
        .unwrap();
    assert_eq!(response.status(), 406);

    assert_still_serving(&server);
}

#[test]
fn host_and_origin_are_checked_against_dns_rebinding() {
    let server = Server::start(&["--workers", "1"]);
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string();
    let send = |host: Option<&str>, origin: Option<&str>| {
        let mut request = client()
            .post(server.url("/mcp"))
            .header("accept", ACCEPT)
            .header("content-type", "application/json")
            .body(ping.clone());
        if let Some(host) = host {
            request = request.header("host", host);
        }
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send().unwrap().status().as_u16()
    };
    assert_eq!(send(Some("evil.example"), None), 403);
    assert_eq!(send(Some("evil.example:80"), None), 403);
    assert_eq!(send(None, Some("http://evil.example")), 403);
    assert_ne!(send(None, Some("http://localhost:5173")), 403);
    assert_ne!(send(Some(&format!("localhost:{}", server.port)), None), 403);
    // REST is not affected by the MCP host check.
    let rest = client()
        .get(server.url("/healthz"))
        .header("host", "evil.example")
        .send()
        .unwrap();
    assert_eq!(rest.status(), 200);

    let open = Server::start(&[
        "--workers",
        "1",
        "--allowed-hosts",
        "mcp.example,other.example",
    ]);
    let status = client()
        .post(open.url("/mcp"))
        .header("accept", ACCEPT)
        .header("content-type", "application/json")
        .header("host", "mcp.example")
        .header("origin", "https://mcp.example")
        .body(ping.clone())
        .send()
        .unwrap()
        .status();
    assert_ne!(status, 403);
}

#[test]
fn session_revision_has_session_header_sse_stream_and_delete() {
    let server = Server::start(&["--workers", "1"]);
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}},
    });
    let response = post_raw(&server, initialize.to_string());
    assert_eq!(response.status(), 200);
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_string();
    let body = json_rpc_body(response);
    assert_eq!(body["result"]["protocolVersion"], "2025-06-18");
    assert!(body["result"]["instructions"]
        .as_str()
        .unwrap()
        .contains("run_js"));

    let with_session = |method: reqwest::Method| {
        client()
            .request(method, server.url("/mcp"))
            .header("accept", ACCEPT)
            .header("content-type", "application/json")
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", "2025-06-18")
    };
    let accepted = with_session(reqwest::Method::POST)
        .body(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string())
        .send()
        .unwrap();
    assert_eq!(accepted.status(), 202);
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "run_js", "arguments": {"code": "'in session'"}}});
    let body = json_rpc_body(
        with_session(reqwest::Method::POST)
            .body(call.to_string())
            .send()
            .unwrap(),
    );
    assert_eq!(
        body["result"]["structuredContent"]["result"], "in session",
        "{body}"
    );

    // 2025-06-18: bad arguments are a JSON-RPC invalid-params error.
    let bad = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "run_js", "arguments": {"code": 1}}});
    let body = json_rpc_body(
        with_session(reqwest::Method::POST)
            .body(bad.to_string())
            .send()
            .unwrap(),
    );
    assert_eq!(body["error"]["code"], -32602, "{body}");

    // The GET stream opens (we only read its headers).
    let stream = with_session(reqwest::Method::GET)
        .header("accept", "text/event-stream")
        .send()
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(stream.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    drop(stream);

    // A request without the session header is refused.
    let orphan = post_raw(&server, call.to_string());
    assert!(orphan.status().is_client_error(), "{}", orphan.status());

    let deleted = with_session(reqwest::Method::DELETE).send().unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.status());
    let gone = with_session(reqwest::Method::POST)
        .body(call.to_string())
        .send()
        .unwrap();
    assert_eq!(gone.status(), 404);
}
