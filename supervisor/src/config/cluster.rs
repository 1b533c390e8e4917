//! The cluster flags (`--cluster-port`, `--cluster-host`,
//! `--advertise-addr`, `--peers`, `--join`, `--cluster-secret-file`,
//! `MCP_V8_CLUSTER_SECRET` and `--raft-snapshot-logs`), checked into a
//! [`ClusterConfig`] of plain data (`raft::node::ClusterSettings` is made
//! from it: config knows nothing of Raft).
//!
//! The secret comes from `--cluster-secret-file` if given, else from
//! `MCP_V8_CLUSTER_SECRET`. Without one the cluster port must listen on
//! loopback: anyone who reaches it could change the membership.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use super::{bad, ConfigError};

/// `--raft-snapshot-logs` by default.
pub const DEFAULT_SNAPSHOT_LOGS: u64 = 5_000;

/// Cluster mode, from `--cluster-port` and its companions.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Where the Raft server listens (`--cluster-host`, `--cluster-port`).
    pub listen: SocketAddr,
    /// This node's name (`--node-id`).
    pub node_id: String,
    /// Where the other members reach it (`--advertise-addr`).
    pub advertise_addr: String,
    /// The other founding members, `(name, host:port)` (`--peers`).
    pub peers: Vec<(String, String)>,
    /// A member to ask for admission (`--join`).
    pub join: Option<String>,
    /// The cluster port's secret, trimmed and not empty.
    pub secret: Option<SecretText>,
    /// `--raft-snapshot-logs`.
    pub snapshot_logs: u64,
}

/// A secret's text; `Debug` does not show it.
#[derive(Clone)]
pub struct SecretText(pub String);

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretText(..)")
    }
}

/// Whether `name` can be a `--node-id` in cluster mode.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['@', ',', '/']) && name.trim() == name
}

/// Whether `addr` looks like `host:port` with a valid port.
pub fn valid_addr(addr: &str) -> bool {
    match addr.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0),
        None => false,
    }
}

/// The cluster flags as given.
pub(super) struct ClusterFlags {
    pub port: Option<u16>,
    pub host: IpAddr,
    pub advertise_addr: Option<String>,
    pub peers: Vec<String>,
    pub join: Option<String>,
    pub secret_file: Option<PathBuf>,
    /// `MCP_V8_CLUSTER_SECRET`.
    pub secret_env: Option<String>,
    /// `--raft-snapshot-logs`.
    pub snapshot_logs: u64,
}

/// Checks the cluster flags; `None` without `--cluster-port`.
pub(super) fn cluster_config(
    node_id: &str,
    http_port: Option<u16>,
    flags: ClusterFlags,
) -> Result<Option<ClusterConfig>, ConfigError> {
    let Some(port) = flags.port else {
        for (flag, given) in [
            ("advertise-addr", flags.advertise_addr.is_some()),
            ("peers", !flags.peers.is_empty()),
            ("join", flags.join.is_some()),
            ("cluster-secret-file", flags.secret_file.is_some()),
            (
                "raft-snapshot-logs",
                flags.snapshot_logs != DEFAULT_SNAPSHOT_LOGS,
            ),
        ] {
            if given {
                return Err(bad(flag, "needs --cluster-port (cluster mode)"));
            }
        }
        return Ok(None);
    };
    if port == 0 || Some(port) == http_port {
        return Err(bad(
            "cluster-port",
            "must be a port other than 0 and --http-port",
        ));
    }
    if !valid_name(node_id) {
        return Err(bad(
            "node-id",
            "must not contain '@', ',', '/' or surrounding spaces in cluster mode",
        ));
    }
    if flags.snapshot_logs == 0 {
        return Err(bad("raft-snapshot-logs", "must be at least 1"));
    }
    let secret = secret(flags.secret_file, flags.secret_env)?;
    if secret.is_none() && !flags.host.is_loopback() {
        return Err(bad(
            "cluster-host",
            format!(
                "{} is not loopback: give a cluster secret (--cluster-secret-file or \
                 MCP_V8_CLUSTER_SECRET)",
                flags.host
            ),
        ));
    }
    let addr = match flags.advertise_addr {
        Some(addr) if valid_addr(&addr) => addr,
        Some(addr) => return Err(bad("advertise-addr", format!("{addr:?} is not host:port"))),
        None if flags.host.is_unspecified() => {
            return Err(bad(
                "advertise-addr",
                "is needed when --cluster-host listens on every address",
            ))
        }
        None => SocketAddr::new(flags.host, port).to_string(),
    };
    if let Some(ip) = advertised_ip(&addr) {
        if flags.host.is_loopback() && !ip.is_loopback() {
            return Err(bad(
                "advertise-addr",
                format!(
                    "{addr} is not reachable: the cluster port listens on {} only; \
                     give --cluster-host {ip} (or 0.0.0.0) and a cluster secret",
                    flags.host
                ),
            ));
        }
    }
    let mut founders = Vec::new();
    for peer in flags
        .peers
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
    {
        match peer.split_once('@') {
            Some((name, peer_addr)) if valid_name(name) && valid_addr(peer_addr) => {
                if name == node_id {
                    return Err(bad("peers", format!("{peer:?} names this node itself")));
                }
                founders.push((name.to_string(), peer_addr.to_string()));
            }
            _ => return Err(bad("peers", format!("{peer:?} is not name@host:port"))),
        }
    }
    if let Some(contact) = &flags.join {
        if !valid_addr(contact) {
            return Err(bad("join", format!("{contact:?} is not host:port")));
        }
        if *contact == addr {
            return Err(bad("join", "names this node itself; give another member"));
        }
    }
    Ok(Some(ClusterConfig {
        listen: SocketAddr::new(flags.host, port),
        node_id: node_id.to_string(),
        advertise_addr: addr,
        peers: founders,
        join: flags.join,
        secret,
        snapshot_logs: flags.snapshot_logs,
    }))
}

/// The IP of an advertised `host:port` whose host is an IP literal
/// (`[v6]` in brackets); `None` for a name.
fn advertised_ip(addr: &str) -> Option<IpAddr> {
    let (host, _) = addr.rsplit_once(':')?;
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// The secret: the file's content if a file is given, else the variable's.
fn secret(file: Option<PathBuf>, env: Option<String>) -> Result<Option<SecretText>, ConfigError> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(&path).map_err(|e| {
            bad(
                "cluster-secret-file",
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        return secret_text(&text).map(Some).ok_or_else(|| {
            bad(
                "cluster-secret-file",
                format!("{} is empty", path.display()),
            )
        });
    }
    match env {
        Some(text) => secret_text(&text)
            .map(Some)
            .ok_or_else(|| bad("cluster-secret-file", "MCP_V8_CLUSTER_SECRET is empty")),
        None => Ok(None),
    }
}

/// A secret from its text: surrounding whitespace and the final newline
/// of a file are not part of it; `None` if nothing is left.
fn secret_text(text: &str) -> Option<SecretText> {
    let text = text.trim();
    (!text.is_empty()).then(|| SecretText(text.to_string()))
}
