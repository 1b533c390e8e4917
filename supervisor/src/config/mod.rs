//! Command-line flags and the validated configuration derived from them.
//!
//! Config flows one way: clap parses [`Args`] (every flag also reads an
//! `MCP_V8_*` environment variable), [`Args::into_config`] checks every value
//! and produces a plain [`Config`], and the rest of the supervisor only ever
//! sees `Config`. Invalid values are refused at start with one line and exit
//! code 2 (clap's convention for usage errors).

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use mcp_v8_shared::SandboxMode;

use crate::host::{HostConfig, NetArgs};

pub mod cluster;
use cluster::{cluster_config, ClusterFlags};
pub use cluster::{valid_addr, valid_name, ClusterConfig};

/// Sandbox policy as spelled on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SandboxFlag {
    /// No sandbox layers (benchmarks and debugging only).
    Off,
    /// Every layer the kernel allows; missing layers are reported.
    BestEffort,
    /// Refuse to start without seccomp.
    Strict,
}

impl From<SandboxFlag> for SandboxMode {
    fn from(flag: SandboxFlag) -> Self {
        match flag {
            SandboxFlag::Off => SandboxMode::Off,
            SandboxFlag::BestEffort => SandboxMode::BestEffort,
            SandboxFlag::Strict => SandboxMode::Strict,
        }
    }
}

/// mcp-v8: runs untrusted JavaScript for AI agents (MCP) and HTTP clients in
/// sandboxed V8 worker processes.
#[derive(Debug, Parser)]
#[command(name = "mcp-v8", version, about, long_about = None)]
pub struct Args {
    /// Serve MCP (Streamable HTTP at /mcp) and the REST API on this port.
    /// Without it, MCP is served over stdio.
    #[arg(long, env = "MCP_V8_HTTP_PORT")]
    pub http_port: Option<u16>,

    /// Address to bind the HTTP port to.
    #[arg(long, env = "MCP_V8_HTTP_HOST", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub http_host: IpAddr,

    /// Directory where heap snapshots are stored.
    #[arg(
        long,
        env = "MCP_V8_DIRECTORY_PATH",
        default_value = "mcp-v8-data/heaps"
    )]
    pub directory_path: PathBuf,

    /// Path of the session database (sled).
    #[arg(
        long,
        env = "MCP_V8_SESSION_DB_PATH",
        default_value = "mcp-v8-data/sessions"
    )]
    pub session_db_path: PathBuf,

    /// Number of worker processes (default: number of CPUs).
    #[arg(long, env = "MCP_V8_WORKERS")]
    pub workers: Option<usize>,

    /// Executions that may wait for a worker before new ones get 503.
    #[arg(long, env = "MCP_V8_MAX_QUEUE", default_value_t = 256)]
    pub max_queue: usize,

    /// Default and maximum deadline of one execution (e.g. 30s, 500ms, 2m).
    #[arg(long, env = "MCP_V8_EXECUTION_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub execution_timeout: Duration,

    /// Default and maximum JS heap of one execution, in MiB.
    #[arg(long, env = "MCP_V8_HEAP_MEMORY_MAX", default_value_t = 64)]
    pub heap_memory_max: u32,

    /// Cap on the memory of all worker processes together, in MiB (cgroup;
    /// default: workers x (2 x heap-memory-max + 128); 0 disables the cap).
    #[arg(long, env = "MCP_V8_WORKERS_MEMORY_MAX")]
    pub workers_memory_max: Option<u64>,

    /// Nice value of the workers, 0-19. The default, 19, keeps the
    /// supervisor (HTTP, health checks, the pool) ahead of JavaScript for
    /// the CPU; 0 gives workers the same share as every other process.
    #[arg(long, env = "MCP_V8_WORKER_NICE", default_value_t = 19)]
    pub worker_nice: i32,

    /// Whether scripts get the web platform globals (docs/javascript.md).
    /// Hidden: `false` exists for the benchmarks' A/B baseline.
    #[arg(long, env = "MCP_V8_WEB_GLOBALS", default_value_t = true, action = clap::ArgAction::Set, hide = true)]
    pub web_globals: bool,

    /// Port of the Raft server (cluster mode); absent: a single node.
    #[arg(long, env = "MCP_V8_CLUSTER_PORT")]
    pub cluster_port: Option<u16>,

    /// Address to bind the cluster port to. Anything but loopback needs a
    /// cluster secret.
    #[arg(long, env = "MCP_V8_CLUSTER_HOST", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub cluster_host: IpAddr,

    /// File holding the cluster port's shared secret (every node the same);
    /// wins over MCP_V8_CLUSTER_SECRET, which holds the secret itself.
    #[arg(long, env = "MCP_V8_CLUSTER_SECRET_FILE")]
    pub cluster_secret_file: Option<PathBuf>,

    /// Take a Raft snapshot every this many log entries, and keep this many
    /// entries behind the snapshot when the log is purged. A member further
    /// behind catches up from the snapshot.
    #[arg(long, env = "MCP_V8_RAFT_SNAPSHOT_LOGS", default_value_t = cluster::DEFAULT_SNAPSHOT_LOGS)]
    pub raft_snapshot_logs: u64,

    /// Cluster address other nodes reach this one at (host:port; default:
    /// --cluster-host and --cluster-port).
    #[arg(long, env = "MCP_V8_ADVERTISE_ADDR")]
    pub advertise_addr: Option<String>,

    /// The other founding members, as name@host:port,... (given on the
    /// node that forms the cluster).
    #[arg(long, env = "MCP_V8_PEERS", value_delimiter = ',')]
    pub peers: Vec<String>,

    /// A member's cluster address (host:port) to ask for admission.
    #[arg(long, env = "MCP_V8_JOIN")]
    pub join: Option<String>,

    /// Largest accepted source code, in bytes.
    #[arg(long, env = "MCP_V8_MAX_CODE_BYTES", default_value_t = 1 << 20)]
    pub max_code_bytes: u64,

    /// Console output kept per execution, in bytes; the rest is cut and flagged.
    #[arg(long, env = "MCP_V8_MAX_OUTPUT_BYTES", default_value_t = 1 << 20)]
    pub max_output_bytes: u64,

    /// Largest heap snapshot one execution may produce, in bytes.
    #[arg(long, env = "MCP_V8_MAX_HEAP_BYTES", default_value_t = 256 << 20)]
    pub max_heap_bytes: u64,

    /// Unreferenced heap files older than this are garbage-collected (e.g. 7d).
    #[arg(long, env = "MCP_V8_HEAP_RETENTION", default_value = "7d", value_parser = parse_duration)]
    pub heap_retention: Duration,

    /// Worker sandbox policy.
    #[arg(long, env = "MCP_V8_SANDBOX", value_enum, default_value_t = SandboxFlag::BestEffort)]
    pub sandbox: SandboxFlag,

    /// Log seccomp violations instead of killing the worker (to find missing
    /// syscalls; never in production).
    #[arg(long, env = "MCP_V8_SANDBOX_DEBUG")]
    pub sandbox_debug: bool,

    /// Extra Host header values accepted by /mcp besides localhost (DNS
    /// rebinding protection), comma-separated.
    #[arg(long, env = "MCP_V8_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,

    /// Log as JSON lines instead of text.
    #[arg(long, env = "MCP_V8_LOG_JSON")]
    pub log_json: bool,

    /// This node's name in status output (default: the host name).
    #[arg(long, env = "MCP_V8_NODE_ID")]
    pub node_id: Option<String>,

    /// The outside world: fetch policy and limits, modules.
    #[command(flatten)]
    pub net: NetArgs,
}

/// Accepts `30s`, `500ms`, `2m`, `7d` or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(text).map_err(|e| format!("{e} (examples: 30s, 500ms, 2m)"))
}

/// The validated configuration the supervisor runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// HTTP port; `None` means MCP over stdio.
    pub http_port: Option<u16>,
    /// Address the HTTP port binds to.
    pub http_host: IpAddr,
    /// Heap snapshot directory.
    pub directory_path: PathBuf,
    /// Session database path.
    pub session_db_path: PathBuf,
    /// Number of worker processes.
    pub workers: usize,
    /// Bound of the pending-execution queue.
    pub max_queue: usize,
    /// Default and maximum deadline of one execution.
    pub execution_timeout: Duration,
    /// Default and maximum JS heap of one execution, in MiB.
    pub heap_memory_max: u32,
    /// Cap on the memory of all workers together, in MiB; 0: no cap.
    pub workers_memory_max: u64,
    /// Nice value of the workers.
    pub worker_nice: i32,
    /// Whether workers install the web platform globals.
    pub web_globals: bool,
    /// Largest accepted source code, in bytes.
    pub max_code_bytes: u64,
    /// Console output kept per execution, in bytes.
    pub max_output_bytes: u64,
    /// Largest heap snapshot, in bytes.
    pub max_heap_bytes: u64,
    /// Age after which unreferenced heaps are collected.
    pub heap_retention: Duration,
    /// Worker sandbox policy.
    pub sandbox: SandboxMode,
    /// Log seccomp violations instead of killing.
    pub sandbox_debug: bool,
    /// Extra accepted Host values for /mcp.
    pub allowed_hosts: Vec<String>,
    /// Log as JSON lines.
    pub log_json: bool,
    /// This node's name.
    pub node_id: String,
    /// Cluster mode: the Raft port and how this node takes part.
    pub cluster: Option<ClusterConfig>,
    /// Fetch policy, limits and modules.
    pub host: HostConfig,
}

/// A flag value that parses but makes no sense.
#[derive(Debug, thiserror::Error)]
#[error("invalid value for --{flag}: {why}")]
pub struct ConfigError {
    /// The flag's long name.
    pub flag: &'static str,
    /// What is wrong with it.
    pub why: String,
}

fn bad(flag: &'static str, why: impl Into<String>) -> ConfigError {
    ConfigError {
        flag,
        why: why.into(),
    }
}

impl Args {
    /// Checks every value and produces the runtime configuration.
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers = self.workers.unwrap_or(cpus);
        if !(1..=1024).contains(&workers) {
            return Err(bad(
                "workers",
                format!("{workers} is not between 1 and 1024"),
            ));
        }
        if self.max_queue > 1_000_000 {
            return Err(bad("max-queue", "must be at most 1000000"));
        }
        let timeout = self.execution_timeout;
        if timeout < Duration::from_millis(10) || timeout > Duration::from_secs(24 * 3600) {
            return Err(bad("execution-timeout", "must be between 10ms and 24h"));
        }
        if !(8..=16 * 1024).contains(&self.heap_memory_max) {
            return Err(bad("heap-memory-max", "must be between 8 and 16384 MiB"));
        }
        let per_worker = 2 * u64::from(self.heap_memory_max) + 128;
        let workers_memory_max = self
            .workers_memory_max
            .unwrap_or(workers as u64 * per_worker);
        if workers_memory_max != 0 && !(32..=1 << 24).contains(&workers_memory_max) {
            return Err(bad(
                "workers-memory-max",
                "must be 0 (no cap) or between 32 MiB and 16 TiB",
            ));
        }
        if !(0..=19).contains(&self.worker_nice) {
            return Err(bad(
                "worker-nice",
                "must be between 0 and 19 (lowering it needs privileges)",
            ));
        }
        if !(1..=64 << 20).contains(&self.max_code_bytes) {
            return Err(bad("max-code-bytes", "must be between 1 byte and 64 MiB"));
        }
        if !(1..=256 << 20).contains(&self.max_output_bytes) {
            return Err(bad(
                "max-output-bytes",
                "must be between 1 byte and 256 MiB",
            ));
        }
        if !(1 << 20..=768 << 20).contains(&self.max_heap_bytes) {
            return Err(bad("max-heap-bytes", "must be between 1 MiB and 768 MiB"));
        }
        let node_id = match self.node_id {
            Some(id) if id.trim().is_empty() => return Err(bad("node-id", "must not be empty")),
            Some(id) => id,
            None => nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| "mcp-v8".to_string()),
        };
        let cluster = cluster_config(
            &node_id,
            self.http_port,
            ClusterFlags {
                port: self.cluster_port,
                host: self.cluster_host,
                advertise_addr: self.advertise_addr,
                peers: self.peers,
                join: self.join,
                secret_file: self.cluster_secret_file,
                secret_env: std::env::var("MCP_V8_CLUSTER_SECRET").ok(),
                snapshot_logs: self.raft_snapshot_logs,
            },
        )?;
        if self.http_port == Some(0) {
            return Err(bad("http-port", "0 is not a port clients can reach"));
        }
        let max_frame = frame_bytes(
            self.max_heap_bytes,
            self.max_code_bytes,
            self.max_output_bytes,
        );
        if max_frame > mcp_v8_shared::MAX_FRAME_BYTES {
            return Err(bad(
                "max-heap-bytes",
                format!(
                    "with --max-code-bytes and --max-output-bytes needs frames of {} MiB \
                     (heap + 2 x code + 2 x output + 1 MiB); at most {} MiB fit",
                    max_frame >> 20,
                    mcp_v8_shared::MAX_FRAME_BYTES >> 20
                ),
            ));
        }
        let host = self
            .net
            .into_config(max_frame)
            .map_err(|e| bad(e.flag, e.why))?;
        Ok(Config {
            host,
            http_port: self.http_port,
            http_host: self.http_host,
            directory_path: self.directory_path,
            session_db_path: self.session_db_path,
            workers,
            max_queue: self.max_queue,
            execution_timeout: timeout,
            heap_memory_max: self.heap_memory_max,
            workers_memory_max,
            worker_nice: self.worker_nice,
            web_globals: self.web_globals,
            max_code_bytes: self.max_code_bytes,
            max_output_bytes: self.max_output_bytes,
            max_heap_bytes: self.max_heap_bytes,
            heap_retention: self.heap_retention,
            sandbox: self.sandbox.into(),
            sandbox_debug: self.sandbox_debug,
            allowed_hosts: self.allowed_hosts,
            log_json: self.log_json,
            cluster,
            node_id,
        })
    }
}

impl Config {
    /// Cap on the memory of all workers together, in bytes; 0: no cap.
    pub fn workers_memory_max_bytes(&self) -> u64 {
        self.workers_memory_max << 20
    }

    /// Bytes of code and heap payloads queued and running jobs may hold
    /// together: a quarter of the workers' cap when there is one, else
    /// 1 GiB, and never less than two of the largest jobs.
    pub fn max_queue_bytes(&self) -> u64 {
        let largest = self.max_heap_bytes + self.max_code_bytes;
        let share = match self.workers_memory_max_bytes() {
            0 => 1 << 30,
            cap => cap / 4,
        };
        share.max(2 * largest)
    }

    /// Largest frame on a worker socket: a snapshot plus code plus output.
    pub fn max_frame_bytes(&self) -> u64 {
        frame_bytes(
            self.max_heap_bytes,
            self.max_code_bytes,
            self.max_output_bytes,
        )
    }
}

/// Largest frame on a worker socket: a snapshot plus code plus output
/// (a fetched body, at most 768 MiB + 1 MiB, fits too).
fn frame_bytes(max_heap: u64, max_code: u64, max_output: u64) -> u64 {
    max_heap + 2 * max_code + 2 * max_output + (1 << 20)
}

#[cfg(test)]
mod tests;
