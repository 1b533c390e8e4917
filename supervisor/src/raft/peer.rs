//! The one way to call another node's cluster port: [`PeerClient`] builds
//! every outgoing request (Raft RPCs, joins, anything else on the cluster
//! port), so each carries the cluster secret, the cluster id and the
//! incarnation the receiver is expected to have (see `auth.rs`).

use std::sync::Arc;

use reqwest::header::AUTHORIZATION;

use super::auth::{ClusterSecret, CLUSTER_ID_HEADER, INCARNATION_HEADER};
use super::meta::ClusterMeta;
use super::types::ClusterNode;

/// A pooled HTTP client with this node's credentials; cheap to clone.
#[derive(Clone)]
pub struct PeerClient {
    /// The shared client (connection pooling).
    pub client: reqwest::Client,
    /// The cluster secret, if the node has one.
    secret: Option<ClusterSecret>,
    /// This node's cluster id (sent once known).
    meta: Arc<ClusterMeta>,
}

impl PeerClient {
    /// A client sending `secret` and `meta`'s cluster id.
    pub fn new(secret: Option<ClusterSecret>, meta: Arc<ClusterMeta>) -> Self {
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .build()
            .unwrap_or_default();
        PeerClient {
            client,
            secret,
            meta,
        }
    }

    /// A request to `path` on `node`, expecting it to be `node.incarnation`
    /// (when known).
    pub fn request(
        &self,
        method: reqwest::Method,
        node: &ClusterNode,
        path: &str,
    ) -> reqwest::RequestBuilder {
        self.request_on(&self.client, method, node, path)
    }

    /// [`PeerClient::request`] on another client (one with other defaults).
    pub fn request_on(
        &self,
        client: &reqwest::Client,
        method: reqwest::Method,
        node: &ClusterNode,
        path: &str,
    ) -> reqwest::RequestBuilder {
        let mut builder = self.addr_request(client, method, &node.addr, path);
        if !node.incarnation.is_empty() {
            builder = builder.header(INCARNATION_HEADER, &node.incarnation);
        }
        builder
    }

    /// A request to `path` on the cluster address `addr`, whoever answers
    /// there (a `--join` contact, a leader seen in the metrics).
    pub fn to_addr(
        &self,
        method: reqwest::Method,
        addr: &str,
        path: &str,
    ) -> reqwest::RequestBuilder {
        self.addr_request(&self.client, method, addr, path)
    }

    fn addr_request(
        &self,
        client: &reqwest::Client,
        method: reqwest::Method,
        addr: &str,
        path: &str,
    ) -> reqwest::RequestBuilder {
        let mut builder = client.request(method, format!("http://{addr}{path}"));
        if let Some(secret) = &self.secret {
            builder = builder.header(AUTHORIZATION, secret.bearer());
        }
        if let Some(id) = self.meta.cluster_id() {
            builder = builder.header(CLUSTER_ID_HEADER, id);
        }
        builder
    }
}
