//! The cluster flags (`--cluster-port`, `--advertise-addr`, `--peers`,
//! `--join`), checked into a [`ClusterConfig`].

use std::net::IpAddr;

use super::{bad, ConfigError};
use crate::raft::api::valid_addr;
use crate::raft::node::ClusterSettings;
use crate::raft::types::ClusterNode;

/// Cluster mode, from `--cluster-port` and its companions.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Port of the Raft server.
    pub port: u16,
    /// This node, its founding peers, whom to join.
    pub settings: ClusterSettings,
}

/// Checks the cluster flags; `None` without `--cluster-port`.
pub(super) fn cluster_config(
    node_id: &str,
    http_host: IpAddr,
    http_port: Option<u16>,
    cluster_port: Option<u16>,
    advertise_addr: Option<String>,
    peers: Vec<String>,
    join: Option<String>,
) -> Result<Option<ClusterConfig>, ConfigError> {
    let Some(port) = cluster_port else {
        for (flag, given) in [
            ("advertise-addr", advertise_addr.is_some()),
            ("peers", !peers.is_empty()),
            ("join", join.is_some()),
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
    if node_id.contains('@') || node_id.contains(',') {
        return Err(bad(
            "node-id",
            "must not contain '@' or ',' in cluster mode",
        ));
    }
    let addr = match advertise_addr {
        Some(addr) if valid_addr(&addr) => addr,
        Some(addr) => return Err(bad("advertise-addr", format!("{addr:?} is not host:port"))),
        None if http_host.is_unspecified() => {
            return Err(bad(
                "advertise-addr",
                "is needed when --http-host listens on every address",
            ))
        }
        None => std::net::SocketAddr::new(http_host, port).to_string(),
    };
    let mut founders = Vec::new();
    for peer in peers.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        match peer.split_once('@') {
            Some((name, peer_addr)) if !name.is_empty() && valid_addr(peer_addr) => {
                if name == node_id {
                    return Err(bad("peers", format!("{peer:?} names this node itself")));
                }
                founders.push(ClusterNode {
                    name: name.to_string(),
                    addr: peer_addr.to_string(),
                });
            }
            _ => return Err(bad("peers", format!("{peer:?} is not name@host:port"))),
        }
    }
    if let Some(contact) = &join {
        if !valid_addr(contact) {
            return Err(bad("join", format!("{contact:?} is not host:port")));
        }
        if *contact == addr {
            return Err(bad("join", "names this node itself; give another member"));
        }
    }
    Ok(Some(ClusterConfig {
        port,
        settings: ClusterSettings {
            me: ClusterNode {
                name: node_id.to_string(),
                addr,
            },
            peers: founders,
            join,
        },
    }))
}
