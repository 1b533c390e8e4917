//! The one execution path shared by REST and MCP.
//!
//! [`ExecService::run`] validates a job against the configured limits, hands
//! it to the worker pool, waits for the result and turns it into an
//! [`ExecReport`], recording metrics on the way.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use mcp_v8_shared::{ExecError, ExecRequest, JsValue};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::pool::{ExitClass, JobOutcome, PoolError, WorkerPool};

/// One execution as a client asked for it.
#[derive(Debug, Default)]
pub struct ExecJob {
    /// JavaScript source.
    pub code: String,
    /// Deadline in ms; the server's `--execution-timeout` when absent.
    pub timeout_ms: Option<u64>,
    /// JS heap limit in MiB; `--heap-memory-max` when absent.
    pub heap_mb: Option<u32>,
    /// Cancelling this token stops the execution (MCP cancellation).
    pub cancel: CancellationToken,
}

/// Final status of an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
pub struct OutputLine {
    /// `log`, `info`, `warn`, `error` or `debug`.
    pub level: &'static str,
    /// The formatted arguments.
    pub text: String,
}

/// Why an execution did not succeed, for the client.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorInfo {
    /// Error name (`TypeError`, `Timeout`, ...).
    pub name: String,
    /// Human-readable message.
    pub message: String,
    /// JavaScript stack, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
}

/// The answer to one execution, as REST and MCP return it.
#[derive(Debug, Clone, Serialize)]
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    /// Wall time as the server saw it, in milliseconds.
    pub duration_ms: f64,
    /// Slot of the worker that ran it.
    pub worker: usize,
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
    #[error("the worker pool dropped the execution")]
    Dropped,
}

/// Runs jobs on the pool; shared by every surface.
pub struct ExecService {
    /// Limits and defaults.
    config: Arc<Config>,
    /// Where jobs run.
    pool: WorkerPool,
    /// Counters and histograms.
    metrics: Arc<Metrics>,
    /// Source of execution ids.
    next_id: AtomicU64,
}

impl ExecService {
    /// A service over `pool`.
    pub fn new(config: Arc<Config>, pool: WorkerPool, metrics: Arc<Metrics>) -> Self {
        ExecService { config, pool, metrics, next_id: AtomicU64::new(1) }
    }

    /// The pool behind this service.
    pub fn pool(&self) -> &WorkerPool {
        &self.pool
    }

    /// Validates, runs and reports one job.
    pub async fn run(&self, job: ExecJob) -> Result<ExecReport, ExecServiceError> {
        let started = Instant::now();
        let request = self.request_for(&job)?;
        let timeout_ms = request.timeout_ms;
        let heap_mb = request.heap_mb;
        let pending = self.pool.submit(request, job.cancel.clone())?;
        let done = pending.await.map_err(|_| ExecServiceError::Dropped)?;
        let mut report = match done.outcome {
            JobOutcome::Completed(response) => {
                let output: Vec<OutputLine> = response
                    .output
                    .into_iter()
                    .map(|l| OutputLine { level: l.level.as_str(), text: l.text })
                    .collect();
                let (status, result, error) = match response.outcome {
                    Ok(value) => (ExecStatus::Ok, json_of(value), None),
                    Err(e) => {
                        let (status, error) = describe_error(e);
                        (status, serde_json::Value::Null, Some(error))
                    }
                };
                ExecReport {
                    status,
                    result,
                    stdout: join_stdout(&output),
                    output,
                    output_truncated: response.output_truncated,
                    error,
                    duration_ms: 0.0,
                    worker: done.worker,
                }
            }
            JobOutcome::Died(class) => died_report(class, done.worker, timeout_ms, heap_mb),
        };
        let elapsed = started.elapsed();
        report.duration_ms = elapsed.as_secs_f64() * 1000.0;
        self.metrics.execution(report.status.as_str(), elapsed.as_secs_f64());
        Ok(report)
    }

    /// Checks limits and builds the wire request.
    fn request_for(&self, job: &ExecJob) -> Result<ExecRequest, ExecServiceError> {
        let config = &self.config;
        let len = job.code.len() as u64;
        if len > config.max_code_bytes {
            return Err(ExecServiceError::CodeTooLarge { len, max: config.max_code_bytes });
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
            timeout_ms,
            heap_mb,
            max_output_bytes: config.max_output_bytes,
            heap: None,
            snapshot: false,
            max_snapshot_bytes: config.max_heap_bytes,
        })
    }
}



/// `stdout`: the console text joined by newlines.
fn join_stdout(output: &[OutputLine]) -> String {
    output.iter().map(|l| l.text.as_str()).collect::<Vec<_>>().join("\n")
}

/// The completion value as JSON.
fn json_of(value: JsValue) -> serde_json::Value {
    match value {
        JsValue::Undefined => serde_json::Value::Null,
        JsValue::Json(text) => {
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
        }
        JsValue::Text(text) => serde_json::Value::String(text),
    }
}

/// Status and client-facing error of a worker-reported failure.
fn describe_error(error: ExecError) -> (ExecStatus, ErrorInfo) {
    let message = error.to_string();
    match error {
        ExecError::Exception(e) => {
            (ExecStatus::Error, ErrorInfo { name: e.name, message: e.message, stack: e.stack })
        }
        ExecError::Timeout { .. } => (ExecStatus::Timeout, info("TimeoutError", message)),
        ExecError::MemoryLimit { .. } => (ExecStatus::MemoryLimit, info("MemoryLimitError", message)),
        ExecError::BadSnapshot(_) | ExecError::SnapshotTooLarge { .. } => {
            (ExecStatus::Error, info("HeapError", message))
        }
        ExecError::Protocol(_) => (ExecStatus::Crashed, info("InternalError", message)),
    }
}

fn info(name: &str, message: String) -> ErrorInfo {
    ErrorInfo { name: name.to_string(), message, stack: None }
}

/// The report for a job whose worker died.
fn died_report(class: ExitClass, worker: usize, timeout_ms: u64, heap_mb: u32) -> ExecReport {
    let (status, error) = match class {
        ExitClass::TimeoutKill => (
            ExecStatus::Timeout,
            info("TimeoutError", format!("execution timed out after {timeout_ms} ms; worker killed")),
        ),
        ExitClass::Cancelled => {
            (ExecStatus::Cancelled, info("CancelledError", "execution cancelled".into()))
        }
        ExitClass::SandboxViolation => (
            ExecStatus::SandboxViolation,
            info(
                "SandboxViolation",
                "the worker attempted a forbidden system call and was killed".into(),
            ),
        ),
        ExitClass::V8Fatal => (
            ExecStatus::Crashed,
            info(
                "WorkerCrashed",
                format!("the worker crashed (V8 fatal error; heap limit was {heap_mb} MiB)"),
            ),
        ),
        other => (
            ExecStatus::Crashed,
            info("WorkerCrashed", format!("the worker died ({})", other.as_str())),
        ),
    };
    ExecReport {
        status,
        result: serde_json::Value::Null,
        output: Vec::new(),
        stdout: String::new(),
        output_truncated: false,
        error: Some(error),
        duration_ms: 0.0,
        worker,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_results_parse_and_text_stays_text() {
        assert_eq!(json_of(JsValue::Json("{\"a\":1}".into())), serde_json::json!({"a": 1}));
        assert_eq!(json_of(JsValue::Text("[Function: f]".into())), "[Function: f]");
        assert_eq!(json_of(JsValue::Undefined), serde_json::Value::Null);
    }

    #[test]
    fn stdout_joins_lines() {
        let lines = vec![
            OutputLine { level: "log", text: "a".into() },
            OutputLine { level: "error", text: "b".into() },
        ];
        assert_eq!(join_stdout(&lines), "a\nb");
    }
}
