//! Raft RPCs to other nodes: JSON over HTTP to their cluster port.
//!
//! One shared `reqwest` client (connection pooling); each RPC carries the
//! deadline openraft passes in. A node that cannot be reached is reported
//! as `Unreachable` (openraft backs off), an answer that is not a Raft
//! answer as a network error, and a Raft error of the remote node as a
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
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::types::{ClusterNode, NodeId, TypeConfig};

/// Makes a connection object per peer; all share one HTTP client.
#[derive(Clone, Default)]
pub struct HttpNetwork {
    /// The shared client.
    client: reqwest::Client,
}

/// The way to one peer.
pub struct HttpPeer {
    /// The shared client.
    client: reqwest::Client,
    /// The peer's Raft id.
    target: NodeId,
    /// The peer's name and cluster address.
    node: ClusterNode,
}

impl RaftNetworkFactory<TypeConfig> for HttpNetwork {
    type Network = HttpPeer;

    async fn new_client(&mut self, target: NodeId, node: &ClusterNode) -> HttpPeer {
        HttpPeer {
            client: self.client.clone(),
            target,
            node: node.clone(),
        }
    }
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
        let url = format!("http://{}{path}", self.node.addr);
        let sent = self
            .client
            .post(&url)
            .timeout(option.hard_ttl())
            .json(body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) if e.is_connect() || e.is_timeout() => {
                return Err(RPCError::Unreachable(Unreachable::new(&e)))
            }
            Err(e) => return Err(RPCError::Network(NetworkError::new(&e))),
        };
        let answer: Result<Resp, E> = response
            .json()
            .await
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
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
