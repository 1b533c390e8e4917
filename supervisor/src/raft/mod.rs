//! Raft for the cluster, on openraft 0.9 (`--cluster-port`).
//!
//! `types` (members, commands, node ids), `log_store` and `state_machine`
//! (sled, checked by openraft's storage conformance suite), `network`
//! (RPCs to peers over HTTP), `api` (the cluster port's routes), `node`
//! (start-up, forming or joining the cluster, adding members), `prevote`
//! (the election timer, with a pre-vote), `snapshot`
//! (the state machine's snapshot format). The state machine holds the
//! cluster's sessions and heap records; heap bytes never enter the log.
// openraft's traits fix the error type (`StorageError`, 224 bytes); the
// helpers that feed them return it as it is.
#![allow(clippy::result_large_err)]

pub mod api;
pub mod auth;
pub mod log_store;
pub mod membership;
pub mod meta;
pub mod network;
pub mod node;
pub mod observe;
pub mod peer;
pub mod prevote;
pub mod rpc_codec;
mod snapshot;
pub mod state_machine;
pub mod status;
pub mod types;

#[cfg(test)]
mod rpc_codec_tests;
#[cfg(test)]
mod snapshot_tests;
#[cfg(test)]
mod tests;
