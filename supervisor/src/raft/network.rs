//! Raft RPCs to other nodes: bincode bodies (`rpc_codec`) over HTTP to
//! their cluster port, each built by [`PeerClient`] (secret, cluster id,
//! the incarnation the target must have).
//!
//! One shared `reqwest` client (connection pooling); each RPC carries the
//! deadline openraft passes in. A node that cannot be reached, or that
//! refuses us (401 wrong secret, 409 another cluster or incarnation), is
//! reported as `Unreachable` (openraft backs off); an answer that is not a
//! Raft answer is a network error, and a Raft error of the remote node a
//! `RemoteError`. The server side is `api.rs`.

use std::error::Error;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use reqwest::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::peer::PeerClient;
use super::rpc_codec;
use super::types::{ClusterNode, NodeId, TypeConfig};

/// Makes a connection object per peer; all share one HTTP client.
#[derive(Clone)]
pub struct HttpNetwork {
    /// The shared client with this node's credentials.
    peers: PeerClient,
}

impl HttpNetwork {
    /// A network whose RPCs go out through `peers`.
    pub fn new(peers: PeerClient) -> Self {
        HttpNetwork { peers }
    }
}

/// The way to one peer.
pub struct HttpPeer {
    /// The shared client.
    peers: PeerClient,
    /// The peer's Raft id.
    target: NodeId,
    /// The peer's name, cluster address and incarnation.
    node: ClusterNode,
}

impl RaftNetworkFactory<TypeConfig> for HttpNetwork {
    type Network = HttpPeer;

    async fn new_client(&mut self, target: NodeId, node: &ClusterNode) -> HttpPeer {
        HttpPeer {
            peers: self.peers.clone(),
            target,
            node: node.clone(),
        }
    }
}

/// Why a peer's answer could not be used, as text for openraft's errors.
#[derive(Debug, thiserror::Error)]
enum PeerAnswerError {
    #[error("{node} refused the RPC with {status}: {text}")]
    Refused {
        node: String,
        status: reqwest::StatusCode,
        text: String,
    },
    #[error(transparent)]
    Codec(#[from] rpc_codec::RpcCodecError),
}

impl HttpPeer {
    /// POSTs `body` to `path` on the peer and decodes its Raft answer.
    async fn call<Req, Resp, E>(
        &self,
        path: &str,
        body: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<NodeId, ClusterNode, E>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: Error + DeserializeOwned,
    {
        let bytes = rpc_codec::encode(body)
            .map_err(|e| RPCError::Network(NetworkError::new(&PeerAnswerError::from(e))))?;
        let sent = self
            .peers
            .request(reqwest::Method::POST, &self.node, path)
            .timeout(option.hard_ttl())
            .header(CONTENT_TYPE, rpc_codec::CONTENT_TYPE)
            .body(bytes)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) if e.is_connect() || e.is_timeout() => {
                return Err(RPCError::Unreachable(Unreachable::new(&e)))
            }
            Err(e) => return Err(RPCError::Network(NetworkError::new(&e))),
        };
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            let refused = PeerAnswerError::Refused {
                node: self.node.to_string(),
                status,
                text,
            };
            tracing::debug!(error = %refused, "Raft RPC refused");
            return Err(RPCError::Unreachable(Unreachable::new(&refused)));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let answer: Result<Resp, E> = rpc_codec::decode(&body)
            .map_err(|e| RPCError::Network(NetworkError::new(&PeerAnswerError::from(e))))?;
        answer.map_err(|e| {
            RPCError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.node.clone(),
                e,
            ))
        })
    }
}

impl RaftNetwork<TypeConfig> for HttpPeer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, ClusterNode, RaftError<NodeId>>>
    {
        self.call("/raft/append", &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, ClusterNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.call("/raft/snapshot", &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, ClusterNode, RaftError<NodeId>>> {
        self.call("/raft/vote", &rpc, &option).await
    }
}
