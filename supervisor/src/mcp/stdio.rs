//! MCP over stdio: what the server speaks when no `--http-port` is given.
//!
//! Newline-delimited JSON-RPC on stdin/stdout, as MCP clients such as
//! Claude Desktop expect when they launch a server. stdout carries protocol
//! messages only: logs go to stderr (set up in `main`) and worker processes
//! get `/dev/null` as stdout. Lines longer than the code limit allows are
//! dropped by the transport with a log line, and the connection stays up.
//! The server runs until stdin closes or SIGINT/SIGTERM arrives.

use std::sync::Arc;

use rmcp::service::ServerInitializeError;
use rmcp::transport::async_rw::AsyncRwTransport;
use rmcp::{RoleServer, ServiceExt};
use tokio_util::sync::CancellationToken;

use super::{McpError, McpServer};
use crate::config::Config;
use crate::exec::ExecService;

/// Serves MCP on stdin/stdout until the client disconnects or `shutdown`
/// is cancelled.
pub async fn serve_stdio(
    config: Arc<Config>,
    exec: Arc<ExecService>,
    shutdown: CancellationToken,
) -> Result<(), McpError> {
    let max_line = (config.max_code_bytes as usize)
        .saturating_mul(6)
        .saturating_add(64 * 1024);
    let (read, write) = rmcp::transport::stdio_pipes();
    let transport =
        AsyncRwTransport::<RoleServer, _, _>::new(read, write).with_max_line_length(max_line);
    tracing::info!("serving MCP over stdio");
    let running = match McpServer::new(config, exec)
        .serve_with_ct(transport, shutdown)
        .await
    {
        Ok(running) => running,
        Err(ServerInitializeError::ConnectionClosed(_) | ServerInitializeError::Cancelled) => {
            tracing::info!("stdin closed before the client started a session");
            return Ok(());
        }
        Err(e) => return Err(McpError::StdioStart(e.to_string())),
    };
    let reason = running.waiting().await?;
    tracing::info!("MCP over stdio ended: {reason:?}");
    Ok(())
}
