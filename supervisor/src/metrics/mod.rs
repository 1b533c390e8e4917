//! Prometheus metrics, served as text at `GET /metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

mod raft;
pub use raft::{ClusterMetrics, PeerLabel};

/// Label for executions by final status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: &'static str,
}

/// Label for worker exits by class.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassLabel {
    class: &'static str,
}

/// Label for cluster traffic by kind (`run`, `delete`, `write`, `read`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

/// Label for heap transfers: `push` or `fetch`, `ok` or `failed`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransferLabel {
    direction: &'static str,
    outcome: &'static str,
}

/// Label for host calls by kind and result.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HostLabel {
    kind: &'static str,
    result: &'static str,
}

/// Every metric the supervisor exports.
pub struct Metrics {
    /// The registry that renders them.
    registry: Registry,
    /// `mcp_v8_executions_total{status}`.
    executions: Family<StatusLabel, Counter>,
    /// `mcp_v8_execution_duration_seconds`, end to end as the caller sees it.
    duration: Histogram,
    /// `mcp_v8_queue_depth`: executions waiting for a worker.
    pub queue_depth: Gauge,
    /// `mcp_v8_worker_restarts_total{class}`: worker exits by class.
    worker_exits: Family<ClassLabel, Counter>,
    /// `mcp_v8_cluster_forwarded_total{kind}`: requests sent to the leader.
    forwarded: Family<KindLabel, Counter>,
    /// `mcp_v8_cluster_commit_seconds`: proposing a write until it applied.
    commit: Histogram,
    /// `mcp_v8_cluster_heap_transfers_total{direction,outcome}`.
    heap_transfers: Family<TransferLabel, Counter>,
    /// `mcp_v8_cluster_heap_transfer_bytes_total{direction,outcome}`.
    heap_transfer_bytes: Family<TransferLabel, Counter>,
    /// `mcp_v8_cluster_under_replicated_heaps`: referenced heaps on fewer
    /// than two voters, as of the last replication pass.
    pub cluster_under_replicated: Gauge,
    /// `mcp_v8_cluster_*`: term, role, leader changes, replication lag.
    pub cluster: ClusterMetrics,
    /// `mcp_v8_host_calls_total{kind, result}`: fetches and module loads.
    host_calls: Family<HostLabel, Counter>,
    /// `mcp_v8_fetch_response_bytes_total`: body bytes fetched.
    fetch_bytes: Counter,
    /// `mcp_v8_fetch_duration_seconds`: one fetch, redirects included.
    fetch_duration: Histogram,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("mcp_v8");
        let executions = Family::<StatusLabel, Counter>::default();
        registry.register(
            "executions",
            "Executions by final status",
            executions.clone(),
        );
        let duration = Histogram::new(exponential_buckets(0.000_25, 2.0, 18));
        registry.register(
            "execution_duration_seconds",
            "End-to-end execution latency",
            duration.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "Executions waiting for a worker",
            queue_depth.clone(),
        );
        let worker_exits = Family::<ClassLabel, Counter>::default();
        registry.register(
            "worker_restarts",
            "Worker processes replaced, by how they ended",
            worker_exits.clone(),
        );
        let forwarded = Family::<KindLabel, Counter>::default();
        registry.register(
            "cluster_forwarded",
            "Requests this node forwarded to the cluster leader, by kind",
            forwarded.clone(),
        );
        let commit = Histogram::new(exponential_buckets(0.000_25, 2.0, 16));
        registry.register(
            "cluster_commit_seconds",
            "Time to commit a session or heap write through Raft",
            commit.clone(),
        );
        let heap_transfers = Family::<TransferLabel, Counter>::default();
        registry.register(
            "cluster_heap_transfers",
            "Heap copies pushed to or fetched from other nodes",
            heap_transfers.clone(),
        );
        let heap_transfer_bytes = Family::<TransferLabel, Counter>::default();
        registry.register(
            "cluster_heap_transfer_bytes",
            "Bytes of heap copies pushed to or fetched from other nodes",
            heap_transfer_bytes.clone(),
        );
        let cluster_under_replicated = Gauge::default();
        registry.register(
            "cluster_under_replicated_heaps",
            "Referenced heaps recorded on fewer than two voters (last replication pass)",
            cluster_under_replicated.clone(),
        );
        let cluster = ClusterMetrics::register(&mut registry);
        let host_calls = Family::<HostLabel, Counter>::default();
        registry.register(
            "host_calls",
            "Host calls (fetch, module) by result",
            host_calls.clone(),
        );
        let fetch_bytes = Counter::default();
        registry.register(
            "fetch_response_bytes",
            "Response body bytes returned by fetch",
            fetch_bytes.clone(),
        );
        let fetch_duration = Histogram::new(exponential_buckets(0.000_25, 2.0, 18));
        registry.register(
            "fetch_duration_seconds",
            "Latency of one fetch, redirects included",
            fetch_duration.clone(),
        );
        Metrics {
            registry,
            cluster,
            executions,
            duration,
            queue_depth,
            worker_exits,
            forwarded,
            commit,
            heap_transfers,
            heap_transfer_bytes,
            cluster_under_replicated,
            host_calls,
            fetch_bytes,
            fetch_duration,
        }
    }

    /// Records one finished execution.
    pub fn execution(&self, status: &'static str, seconds: f64) {
        self.executions.get_or_create(&StatusLabel { status }).inc();
        self.duration.observe(seconds);
    }

    /// Records one worker exit, by its class (`ExitClass::as_str`).
    pub fn worker_exit(&self, class: &'static str) {
        self.worker_exits.get_or_create(&ClassLabel { class }).inc();
    }

    /// Counts one request forwarded to the leader.
    pub fn forwarded(&self, kind: &'static str) {
        self.forwarded.get_or_create(&KindLabel { kind }).inc();
    }

    /// Records one Raft commit's latency.
    pub fn commit(&self, seconds: f64) {
        self.commit.observe(seconds);
    }

    /// Counts one heap transfer (`push`/`fetch`) of `bytes`.
    pub fn heap_transfer(&self, direction: &'static str, ok: bool, bytes: u64) {
        let label = TransferLabel {
            direction,
            outcome: if ok { "ok" } else { "failed" },
        };
        self.heap_transfers.get_or_create(&label).inc();
        self.heap_transfer_bytes.get_or_create(&label).inc_by(bytes);
    }

    /// Records one host call; `result` is `ok` or an error class.
    pub fn host_call(&self, kind: &'static str, result: &'static str) {
        self.host_calls
            .get_or_create(&HostLabel { kind, result })
            .inc();
    }

    /// Records one completed fetch.
    pub fn fetch(&self, bytes: u64, seconds: f64) {
        self.fetch_bytes.inc_by(bytes);
        self.fetch_duration.observe(seconds);
    }

    /// Renders the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
