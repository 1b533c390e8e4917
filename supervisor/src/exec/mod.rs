//! The one execution path shared by REST and MCP.
//!
//! [`ExecService::run`] validates a job against the configured limits, hands
//! it to the worker pool, waits for the result and turns it into an
//! [`ExecReport`], recording metrics on the way.
//!
//! Stateless jobs (no `heap`, no `session`) take the fast path: a pre-warmed
//! isolate, no snapshot, nothing written. A job with `heap` starts from that
//! verified heap and returns the hash of the new one. A job with `session`
//! takes the session's turn (one run per session at a time, different
//! sessions in parallel), starts from its latest heap, and on success
//! stores the new heap *before* appending the history entry that makes it
//! the latest; a failed run is recorded but does not advance the session.

mod replica;
mod report;
mod session;
mod stores;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use mcp_v8_shared::{ExecRequest, Language};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

pub use replica::{ClusterRefusal, Owner, Replica};
pub use stores::{Deleted, SessionDoc, Stores};

use crate::config::Config;
use crate::host::{FetchRecord, HostServices, RunHost};
use crate::metrics::Metrics;
use crate::pool::{JobOutcome, PoolError, WorkerPool};
use crate::store::{RunStatus, StoreError};

/// One execution as a client asked for it. Serialisable, so a node can
/// forward it to the node that owns its session.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExecJob {
    /// Source text.
    pub code: String,
    /// What `code` is written in (JavaScript unless asked otherwise).
    pub language: Language,
    /// Deadline in ms; the server's `--execution-timeout` when absent.
    pub timeout_ms: Option<u64>,
    /// JS heap limit in MiB; `--heap-memory-max` when absent.
    pub heap_mb: Option<u32>,
    /// Named session to resume and advance.
    pub session: Option<String>,
    /// Heap (SHA-256 hex) to start from, without a session.
    pub heap: Option<String>,
    /// Cancelling this token stops the execution (MCP cancellation, a
    /// client that went away).
    #[serde(skip)]
    pub cancel: CancellationToken,
    /// Hosts this run may fetch from, narrowing the server's `--allow-net`.
    pub allow_net: Option<Vec<String>>,
    /// In-request ES modules: relative path -> source.
    pub modules: HashMap<String, String>,
}

/// Final status of an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExecStatus {
    /// Completed; `result` holds the completion value.
    Ok,
    /// The script threw or its promise rejected; see `error`.
    Error,
    /// The deadline passed.
    Timeout,
    /// The heap or ArrayBuffer limit was hit.
    MemoryLimit,
    /// The worker process died.
    Crashed,
    /// The worker tried a forbidden syscall and was killed.
    SandboxViolation,
    /// The caller cancelled the execution.
    Cancelled,
}

impl ExecStatus {
    /// The JSON / metrics name.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecStatus::Ok => "ok",
            ExecStatus::Error => "error",
            ExecStatus::Timeout => "timeout",
            ExecStatus::MemoryLimit => "memory_limit",
            ExecStatus::Crashed => "crashed",
            ExecStatus::SandboxViolation => "sandbox_violation",
            ExecStatus::Cancelled => "cancelled",
        }
    }
}

/// One console line in a report.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct OutputLine {
    /// `log`, `info`, `warn`, `error` or `debug`.
    pub level: Cow<'static, str>,
    /// The formatted arguments.
    pub text: String,
}

/// Why an execution did not succeed, for the client.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ErrorInfo {
    /// Error name (`TypeError`, `Timeout`, ...).
    pub name: String,
    /// Human-readable message.
    pub message: String,
    /// JavaScript stack, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
}

/// The answer to one execution, as REST and MCP return it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ExecReport {
    /// Final status.
    pub status: ExecStatus,
    /// Completion value: JSON when serialisable, else its string form.
    pub result: serde_json::Value,
    /// Console calls in order.
    pub output: Vec<OutputLine>,
    /// Console text joined by newlines.
    pub stdout: String,
    /// Whether console output was cut at `--max-output-bytes`.
    pub output_truncated: bool,
    /// Set unless `status` is `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    /// Wall time as the server saw it, in milliseconds.
    pub duration_ms: f64,
    /// Slot of the worker that ran it.
    pub worker: usize,
    /// Hash of the heap after the run (stateful runs): the new heap on
    /// success, the unchanged input heap otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heap: Option<String>,
    /// The session the run belonged to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The fetches the run made, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fetches: Vec<FetchRecord>,
}

/// Why a job was refused before or instead of running.
#[derive(Debug, thiserror::Error)]
pub enum ExecServiceError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("code is {len} bytes; the limit is {max} bytes")]
    CodeTooLarge { len: u64, max: u64 },
    #[error(transparent)]
    Pool(#[from] PoolError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the worker pool dropped the execution")]
    Dropped,
    #[error(transparent)]
    Cluster(ClusterRefusal),
}

/// Runs jobs on the pool; shared by every surface.
pub struct ExecService {
    /// Limits and defaults.
    config: Arc<Config>,
    /// Where jobs run.
    pool: WorkerPool,
    /// Heap files and sessions.
    stores: Stores,
    /// Counters and histograms.
    metrics: Arc<Metrics>,
    /// Source of execution ids.
    next_id: AtomicU64,
    /// In cluster mode, how sessions and heaps are replicated.
    replica: Option<Arc<dyn Replica>>,
    /// Fetch and module services.
    host: Arc<HostServices>,
}

impl ExecService {
    /// A service over `pool` and `stores`; with `replica` in cluster mode.
    pub fn new(
        config: Arc<Config>,
        pool: WorkerPool,
        stores: Stores,
        metrics: Arc<Metrics>,
        replica: Option<Arc<dyn Replica>>,
        host: Arc<HostServices>,
    ) -> Self {
        ExecService {
            config,
            pool,
            stores,
            metrics,
            next_id: AtomicU64::new(1),
            replica,
            host,
        }
    }

    /// The pool behind this service.
    pub fn pool(&self) -> &WorkerPool {
        &self.pool
    }

    /// The heap and session stores behind this service.
    pub fn stores(&self) -> &Stores {
        &self.stores
    }

    /// The cluster replica, in cluster mode.
    pub fn replica(&self) -> Option<&Arc<dyn Replica>> {
        self.replica.as_ref()
    }

    /// Validates, runs and reports one job. A session job runs on the node
    /// that owns the session's turn (in cluster mode, possibly another
    /// node). If the caller goes away, the run is cancelled; a session run
    /// still records its outcome before the session's next run may start.
    pub async fn run(self: &Arc<Self>, job: ExecJob) -> Result<ExecReport, ExecServiceError> {
        self.run_job(job, true).await
    }

    /// Like [`run`](Self::run) for a job another node forwarded here: never
    /// forwards it again (refuses with `not_leader` instead).
    pub async fn run_forwarded(
        self: &Arc<Self>,
        job: ExecJob,
    ) -> Result<ExecReport, ExecServiceError> {
        self.run_job(job, false).await
    }

    async fn run_job(
        self: &Arc<Self>,
        job: ExecJob,
        may_forward: bool,
    ) -> Result<ExecReport, ExecServiceError> {
        let started = Instant::now();
        // Dropped with this future: a client that went away cancels its run.
        let _cancel_on_drop = job.cancel.clone().drop_guard();
        let report = match (&job.session, &job.heap) {
            (Some(_), Some(_)) => {
                return Err(ExecServiceError::InvalidRequest(
                    "give either `session` or `heap`, not both".into(),
                ))
            }
            (None, None) => {
                let request = self.request_for(&job)?;
                self.dispatch(request, &job).await?.0
            }
            (None, Some(_)) => self.heap_run(job).await?,
            (Some(_), None) => {
                if may_forward {
                    if let Some(report) = self.forward_if_elsewhere(&job).await? {
                        return Ok(report);
                    }
                }
                let request = self.request_for(&job)?;
                // The run and its record go on without the caller: the
                // session's lock is held until the outcome is recorded, and
                // the outcome is counted even if nobody waits for it.
                let this = self.clone();
                let task = tokio::spawn(async move {
                    let report = this.clone().session_run(job, request, started).await?;
                    Ok::<_, ExecServiceError>(this.finished(report, started))
                });
                return task.await.map_err(|_| ExecServiceError::Dropped)?;
            }
        };
        Ok(self.finished(report, started))
    }

    /// Stamps a report's duration and counts it.
    fn finished(&self, mut report: ExecReport, started: Instant) -> ExecReport {
        let elapsed = started.elapsed();
        report.duration_ms = elapsed.as_secs_f64() * 1000.0;
        self.metrics
            .execution(report.status.as_str(), elapsed.as_secs_f64());
        report
    }

    /// Hands a request to the pool and waits; returns the report and the
    /// snapshot bytes of a successful stateful run.
    async fn dispatch(
        &self,
        request: ExecRequest,
        job: &ExecJob,
    ) -> Result<(ExecReport, Option<Vec<u8>>), ExecServiceError> {
        let host = self.run_host(job, request.id)?;
        let (timeout_ms, heap_mb, snapshot) =
            (request.timeout_ms, request.heap_mb, request.snapshot);
        let pending = self
            .pool
            .submit(request, job.cancel.clone(), host.clone())?;
        let done = pending.await.map_err(|_| ExecServiceError::Dropped)?;
        let (mut report, heap) = match done.outcome {
            JobOutcome::Completed(mut response) => {
                let heap = response.heap.take().filter(|_| response.outcome.is_ok());
                (report::answered(response, done.worker), heap)
            }
            JobOutcome::Died(class) => (
                report::died_report(class, done.worker, timeout_ms, heap_mb, snapshot),
                None,
            ),
        };
        report.fetches = host.fetch_log();
        Ok((report, heap))
    }

    /// The run's host-call context: its narrowed policy and modules.
    fn run_host(&self, job: &ExecJob, id: u64) -> Result<Arc<RunHost>, ExecServiceError> {
        let narrow = match &job.allow_net {
            None => None,
            Some(list) => Some(
                HostServices::run_layer(list)
                    .map_err(|e| ExecServiceError::InvalidRequest(format!("allow_net: {e}")))?,
            ),
        };
        let total: usize = job.modules.values().map(String::len).sum();
        if total as u64 > self.config.max_code_bytes {
            return Err(ExecServiceError::CodeTooLarge {
                len: total as u64,
                max: self.config.max_code_bytes,
            });
        }
        RunHost::new(self.host.clone(), id, narrow, job.modules.clone())
            .map(Arc::new)
            .map_err(ExecServiceError::InvalidRequest)
    }

    /// Checks limits and builds the wire request.
    fn request_for(&self, job: &ExecJob) -> Result<ExecRequest, ExecServiceError> {
        let config = &self.config;
        let len = job.code.len() as u64;
        if len > config.max_code_bytes {
            return Err(ExecServiceError::CodeTooLarge {
                len,
                max: config.max_code_bytes,
            });
        }
        let max_ms = config.execution_timeout.as_millis() as u64;
        let timeout_ms = job.timeout_ms.unwrap_or(max_ms);
        if timeout_ms == 0 || timeout_ms > max_ms {
            return Err(ExecServiceError::InvalidRequest(format!(
                "timeout_ms must be between 1 and {max_ms} (the server's --execution-timeout)"
            )));
        }
        let heap_mb = job.heap_mb.unwrap_or(config.heap_memory_max);
        if !(8..=config.heap_memory_max).contains(&heap_mb) {
            return Err(ExecServiceError::InvalidRequest(format!(
                "heap_mb must be between 8 and {} (the server's --heap-memory-max)",
                config.heap_memory_max
            )));
        }
        Ok(ExecRequest {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            code: job.code.clone(),
            language: job.language,
            timeout_ms,
            heap_mb,
            max_output_bytes: config.max_output_bytes,
            heap: None,
            snapshot: false,
            max_snapshot_bytes: config.max_heap_bytes,
        })
    }
}
