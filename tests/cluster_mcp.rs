//! MCP on a real three-node cluster: `run_js` with a session on one node
//! continues on another, and `list_sessions`, `get_session`, `get_heap` and
//! `delete_session` answer the same on every node (guarantee 1 of
//! docs/cluster.md, through `/mcp` instead of REST). Uses the stateless
//! 2026-07-28 revision over raw HTTP: one POST per call.

mod common;

use common::client;
use common::cluster::{leader_index, three_nodes, Node};
use serde_json::{json, Value};

/// Calls `tool` with `arguments` through `/mcp` on `node`; its structured
/// result and whether it is an error.
fn call(node: &Node, tool: &str, arguments: Value) -> (Value, bool) {
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "cluster-test", "version": "1"},
    });
    let response = client()
        .post(node.server.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .json(&json!({
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments, "_meta": meta},
        }))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().unwrap();
    let body: Value = match serde_json::from_str(&text) {
        Ok(body) => body,
        Err(_) => text
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .find(|d| d.contains("\"jsonrpc\""))
            .and_then(|d| serde_json::from_str(d.trim()).ok())
            .unwrap_or_else(|| panic!("no JSON-RPC answer: {text}")),
    };
    let result = &body["result"];
    (
        result["structuredContent"].clone(),
        result["isError"] == true,
    )
}

#[test]
fn mcp_on_any_node_runs_reads_and_deletes_any_session() {
    let nodes = three_nodes(&[]);
    let leader = leader_index(&nodes);
    let (a, b) = ((leader + 1) % 3, (leader + 2) % 3);
    let (first, error) = call(
        &nodes[a],
        "run_js",
        json!({"code": "var n = 20; n", "session": "m"}),
    );
    assert!(!error, "{first}");
    assert_eq!(first["result"], 20, "{first}");
    let (second, error) = call(
        &nodes[b],
        "run_js",
        json!({"code": "n += 22; n", "session": "m"}),
    );
    assert!(!error, "{second}");
    assert_eq!(second["result"], 42, "{second}");
    let heap = second["heap"].as_str().expect("a heap").to_string();
    for node in &nodes {
        let (listing, _) = call(node, "list_sessions", json!({}));
        let items = listing["items"].as_array().cloned().unwrap_or_default();
        assert!(
            items.iter().any(|s| s["name"] == "m"),
            "{}: {listing}",
            node.name
        );
        let (session, _) = call(node, "get_session", json!({"name": "m"}));
        assert_eq!(session["entries"], 2, "{}: {session}", node.name);
        let (meta, error) = call(node, "get_heap", json!({"hash": heap}));
        assert!(!error && meta["size_bytes"].as_u64().unwrap() > 0, "{meta}");
    }
    let (deleted, error) = call(&nodes[leader], "delete_session", json!({"name": "m"}));
    assert!(!error, "{deleted}");
    let (gone, error) = call(
        &nodes[a],
        "run_js",
        json!({"code": "typeof n", "session": "m"}),
    );
    assert!(!error, "{gone}");
    assert_eq!(
        gone["result"], "undefined",
        "a deleted session starts empty: {gone}"
    );
}
