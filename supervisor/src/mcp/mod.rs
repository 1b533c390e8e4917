//! The MCP server: the execution engine exposed through the Model Context
//! Protocol with the official Rust SDK (`rmcp`).
//!
//! One handler type, [`McpServer`], serves every transport and protocol
//! revision: Streamable HTTP at `/mcp` ([`http`]) and stdio ([`stdio`]);
//! the stateless 2026-07-28 revision (per-request protocol metadata, no
//! handshake) and the session revisions 2024-11-05 to 2025-11-25
//! (`initialize`, `Mcp-Session-Id`). `rmcp` does all JSON-RPC framing,
//! version negotiation and session bookkeeping; this module only adds the
//! tools (`run_js` in [`tools`], the session and heap tools in
//! [`sessions`]), the result shape ([`output`]), how failures are answered
//! ([`errors`]), progress reporting ([`progress`]), JSON-RPC errors for
//! unparsable HTTP bodies ([`edge`]) and the server instructions.
//!
//! Every tool call goes through [`ExecService::run`], the one execution path
//! shared with REST.

mod edge;
mod errors;
pub mod http;
mod output;
mod progress;
mod sessions;
pub mod stdio;
mod tools;

use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
use rmcp::{tool_handler, ServerHandler};

use crate::config::Config;
use crate::exec::ExecService;

/// Why the MCP surface could not be served.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// The stdio transport failed before the handshake completed.
    #[error("MCP over stdio could not start: {0}")]
    StdioStart(String),
    /// The stdio service ended with an error.
    #[error("MCP over stdio failed: {0}")]
    StdioRun(#[from] tokio::task::JoinError),
}

/// The MCP handler: stateless apart from shared handles, so the HTTP
/// transport can build one per session or per request cheaply.
#[derive(Clone)]
pub struct McpServer {
    /// The execution path shared with REST.
    exec: Arc<ExecService>,
    /// Limits, quoted in the instructions and tool descriptions.
    config: Arc<Config>,
    /// The tools, built by `#[tool_router]` in [`tools`] and [`sessions`].
    tool_router: ToolRouter<McpServer>,
}

impl McpServer {
    /// A handler over the shared execution service.
    pub fn new(config: Arc<Config>, exec: Arc<ExecService>) -> Self {
        McpServer {
            exec,
            config,
            tool_router: Self::tool_router() + Self::session_router(),
        }
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("mcp-v8", env!("CARGO_PKG_VERSION"))
                    .with_title("mcp-v8: sandboxed JavaScript")
                    .with_description(env!("CARGO_PKG_DESCRIPTION")),
            )
            .with_instructions(instructions(&self.config))
    }
}

/// What a model needs to know to use the runtime unaided.
fn instructions(config: &Config) -> String {
    format!(
        "mcp-v8 runs JavaScript in a sandboxed V8 isolate and returns what it printed and \
         the value it produced. Use the run_js tool.\n\
         \n\
         What a script gets:\n\
         - Modern JavaScript (what current Chrome runs) with the standard built-ins: JSON, \
         Math, Date, RegExp, Map/Set, typed arrays, BigInt, Intl.\n\
         - console.log/info/warn/error/debug: captured in order and returned as `stdout` \
         (objects printed the way Node prints them).\n\
         - The value of the last expression is returned as `result` (as JSON when it can be \
         serialised, else its string form). If it is a Promise it is awaited. Top-level \
         `await` works.\n\
         - Promises, async/await, setTimeout/setInterval and clearTimeout/clearInterval; the \
         run ends when the script and every pending timer are done.\n\
         \n\
         - {network}\n\
         - ES modules: code with static import/export runs as a module and its `default` \
         export is the result; `modules` passed with the call ({{\"./util.js\": \"export \
         ...\"}}) are importable by relative specifier; {packages}\n\
         \n\
         What a script does not get: no sockets, no file system, no require(), no process or \
         environment access, no Node or browser APIs beyond the above. Compute with what you \
         pass in the code.\n\
         \n\
         State: without `session` or `heap` every run starts from an empty global scope. \
         Pass `session: \"some-name\"` to keep globals (var/let/const/function at top \
         level, globalThis properties) between runs; a successful run saves the new state \
         and returns its `heap` hash, a failed run leaves the session as it was. Pass `heap` \
         (a hash from an earlier run) to start from that state without a session. \
         list_sessions, get_session, delete_session and get_heap inspect and manage them.\n\
         \n\
         Limits per run: {timeout} ms wall time at most (pass a smaller `timeout_ms` for \
         quick checks), {heap} MiB of JS heap, {code} bytes of source, {output} bytes of \
         console output (the rest is cut and `output_truncated` is set).\n\
         \n\
         Results: `status` is ok, error (the script threw: see error.name, error.message, \
         error.stack), timeout, memory_limit, crashed, sandbox_violation or cancelled. \
         Anything but ok is returned with isError set; fix the code and call again.",
        timeout = config.execution_timeout.as_millis(),
        heap = config.heap_memory_max,
        code = config.max_code_bytes,
        output = config.max_output_bytes,
        network = network_line(config),
        packages = if config.host.modules_dir.is_some() {
            "bare specifiers (\"zod\") import the packages the server installed."
        } else {
            "no packages are installed on this server."
        },
    )
}

/// The instructions' line about `fetch`.
fn network_line(config: &Config) -> String {
    if config.host.allow_net.is_empty() {
        "fetch exists but the server allows no hosts: no network.".to_string()
    } else {
        format!(
            "fetch (Request, Response, Headers) reaches only the hosts the server allows \
             ({} granted); `allow_net` on a call narrows it further. Other hosts fail with a \
             TypeError.",
            config.host.allow_net.len()
        )
    }
}
