//! HTTP clients pinned to a host name's checked addresses (the SSRF rule:
//! the connection goes to the address that was checked, with no second
//! lookup), kept so that fetches to a named host reuse their connections.

use std::net::SocketAddr;

use mcp_v8_shared::{HostError, HostErrorKind};

use super::fetch::client_builder;
use super::host_error;

/// Most pinned clients kept; past it the cache starts again empty.
const PINNED_MAX: usize = 64;

/// Clients that connect a host name only to the addresses that were
/// checked for it, by name and address set. A client is reused only for
/// the same set (a name that now resolves elsewhere gets a new client),
/// so connections to a named host are pooled like those to an IP literal.
#[derive(Default)]
pub struct PinnedClients {
    clients:
        std::sync::Mutex<std::collections::HashMap<(String, Vec<SocketAddr>), reqwest::Client>>,
}

impl PinnedClients {
    pub(super) fn get(
        &self,
        name: String,
        mut addrs: Vec<SocketAddr>,
    ) -> Result<reqwest::Client, HostError> {
        addrs.sort();
        addrs.dedup();
        let key = (name, addrs);
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let client = client_builder()
            .resolve_to_addrs(&key.0, &key.1)
            .build()
            .map_err(|e| host_error(HostErrorKind::Network, format!("HTTP client: {e}")))?;
        if clients.len() >= PINNED_MAX {
            clients.clear();
        }
        clients.insert(key, client.clone());
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(pinned: &PinnedClients) -> usize {
        pinned.clients.lock().unwrap().len()
    }

    #[test]
    fn a_client_is_reused_only_for_the_same_name_and_addresses() {
        let pinned = PinnedClients::default();
        let a: SocketAddr = "192.0.2.1:443".parse().unwrap();
        let b: SocketAddr = "192.0.2.2:443".parse().unwrap();
        pinned.get("api.example".into(), vec![a, b]).unwrap();
        pinned.get("api.example".into(), vec![b, a, a]).unwrap();
        assert_eq!(count(&pinned), 1, "same set, any order: one client");
        pinned.get("api.example".into(), vec![a]).unwrap();
        pinned.get("other.example".into(), vec![a]).unwrap();
        assert_eq!(count(&pinned), 3, "another set or name: another client");
        for i in 0..PINNED_MAX {
            pinned.get(format!("h{i}.example"), vec![a]).unwrap();
        }
        assert!(count(&pinned) <= PINNED_MAX, "bounded");
    }

    /// The client connects a name to the addresses it was given, never
    /// looking the name up: `.invalid` names resolve nowhere (RFC 6761), so
    /// an answer proves the connection went to the pinned address.
    #[tokio::test]
    async fn a_pinned_client_connects_without_a_lookup() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf).unwrap();
            conn.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\nconnection: close\r\n\r\npinned",
            )
            .unwrap();
        });
        let pinned = PinnedClients::default();
        let client = pinned.get("pinned.invalid".into(), vec![addr]).unwrap();
        let url = format!("http://pinned.invalid:{}/", addr.port());
        let response = client.get(url).send().await.unwrap();
        assert_eq!(response.text().await.unwrap(), "pinned");
        server.join().unwrap();
    }
}
