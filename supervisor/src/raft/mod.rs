//! Raft for the cluster, on openraft 0.9: the type configuration and the
//! sled-backed log store and state machine, checked by openraft's storage
//! conformance suite.
//!
//! Not wired into the server yet: the network, the `/raft/*` routes on
//! `--cluster-port`, membership (`--peers`, `--join`) and the metadata the
//! cluster replicates come with the cluster work. Heap bytes never enter
//! the log; see `types`.

// The server does not use the cluster yet; the conformance tests do.
#![allow(dead_code)]
// openraft's traits fix the error type (`StorageError`, 224 bytes); the
// helpers that feed them return it as it is.
#![allow(clippy::result_large_err)]

pub mod log_store;
pub mod state_machine;
pub mod types;

#[cfg(test)]
mod tests;
