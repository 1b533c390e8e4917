//! MCP over Streamable HTTP, mounted at `/mcp` on the HTTP port.
//!
//! `rmcp`'s `StreamableHttpService` does the transport: POST for JSON-RPC,
//! GET for the server-to-client SSE stream and DELETE to end a session in
//! the session revisions (2025-06-18, 2025-11-25: `initialize`, then
//! `Mcp-Session-Id`), and per-request, sessionless handling of the
//! 2026-07-28 revision. This file only configures it:
//!
//! - DNS rebinding: the `Host` header must name a loopback host or one given
//!   with `--allowed-hosts` (`*` turns the check off); a browser `Origin`, when
//!   present, must be a loopback origin or one of the allowed hosts.
//! - Request bodies are bounded like `/api/exec` (413 beyond); bodies that
//!   are not one JSON-RPC message get a JSON-RPC error (see `edge`).
//! - Stateless replies are plain JSON unless the handler streams progress.
//! - On SIGINT/SIGTERM every session and open stream is closed, so the HTTP
//!   server's graceful shutdown is not held up by idle SSE streams.

use std::sync::Arc;

use axum::Router;

use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use super::edge::json_rpc_edge;
use super::McpServer;
use crate::config::Config;
use crate::exec::ExecService;

/// The `/mcp` service, to mount with `Router::nest_service("/mcp", ...)`:
/// `rmcp`'s Streamable HTTP service behind [`json_rpc_edge`]. It closes its
/// streams when `shutdown` is cancelled.
pub fn streamable_http_service(
    config: Arc<Config>,
    exec: Arc<ExecService>,
    shutdown: CancellationToken,
) -> Router {
    let limit = max_body_bytes(&config);
    let transport_config = transport_config(&config, shutdown);
    let server = McpServer::new(config, exec);
    let service: StreamableHttpService<McpServer, LocalSessionManager> = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        transport_config,
    );
    Router::new()
        .fallback_service(service)
        .layer(axum::middleware::from_fn_with_state(limit, json_rpc_edge))
}

/// Largest JSON-RPC body: the code limit, JSON escaping (up to six bytes a
/// character) and room for the envelope, as `/api/exec` allows.
fn max_body_bytes(config: &Config) -> usize {
    (config.max_code_bytes as usize)
        .saturating_mul(6)
        .saturating_add(64 * 1024)
}

/// Host and Origin allow-lists plus limits.
fn transport_config(config: &Config, shutdown: CancellationToken) -> StreamableHttpServerConfig {
    let base = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(true)
        .with_json_response(true)
        .with_max_request_body_bytes(max_body_bytes(config))
        .with_cancellation_token(shutdown);
    if config.allowed_hosts.iter().any(|h| h.trim() == "*") {
        return base.disable_allowed_hosts().disable_allowed_origins();
    }
    let hosts = allowed_hosts(&config.allowed_hosts);
    let origins = allowed_origins(&hosts);
    base.with_allowed_hosts(hosts)
        .with_allowed_origins(origins)
        .enforce_origin_validation()
}

/// Loopback names plus the extra hosts from `--allowed-hosts`.
fn allowed_hosts(extra: &[String]) -> Vec<String> {
    let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"]
        .iter()
        .map(|h| h.to_string())
        .collect();
    for host in extra {
        let host = host.trim();
        if !host.is_empty() && !hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
            hosts.push(host.to_string());
        }
    }
    hosts
}

/// Browser origins on the allowed hosts, on any port (a host given with a
/// port allows only that port).
fn allowed_origins(hosts: &[String]) -> Vec<String> {
    let mut origins = Vec::new();
    for host in hosts {
        let bracketed = if host.contains(':')
            && !host.starts_with('[')
            && host.parse::<std::net::Ipv6Addr>().is_ok()
        {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let has_port = bracketed
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
            && !bracketed.ends_with(']');
        for scheme in ["http", "https"] {
            if has_port {
                origins.push(format!("{scheme}://{bracketed}"));
            } else {
                origins.push(format!("{scheme}://{bracketed}:*"));
            }
        }
    }
    origins
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_always_allowed_and_extras_are_added_once() {
        let hosts = allowed_hosts(&["mcp.example.com".into(), "LOCALHOST".into(), " ".into()]);
        assert_eq!(hosts, ["localhost", "127.0.0.1", "::1", "mcp.example.com"]);
    }

    #[test]
    fn origins_cover_both_schemes_and_bracket_ipv6() {
        let origins = allowed_origins(&["::1".into(), "example.com:8443".into()]);
        assert!(origins.contains(&"http://[::1]:*".to_string()));
        assert!(origins.contains(&"https://example.com:8443".to_string()));
        assert!(!origins.iter().any(|o| o.contains("example.com:8443:*")));
    }
}
