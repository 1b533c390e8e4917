//! Turning a worker's answer (or its death) into an [`ExecReport`].

use mcp_v8_shared::{ExecError, ExecResponse, JsValue};

use super::{ErrorInfo, ExecReport, ExecStatus, OutputLine};
use crate::pool::ExitClass;

/// The report for a worker's answer.
pub(super) fn answered(response: ExecResponse, worker: usize) -> ExecReport {
    let output: Vec<OutputLine> = response
        .output
        .into_iter()
        .map(|l| OutputLine {
            level: l.level.as_str().into(),
            text: l.text,
        })
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
        worker,
        heap: None,
        session: None,
        fetches: Vec::new(),
    }
}

/// `stdout`: the console text joined by newlines.
fn join_stdout(output: &[OutputLine]) -> String {
    output
        .iter()
        .map(|l| l.text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
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
        ExecError::Exception(e) => (
            ExecStatus::Error,
            ErrorInfo {
                name: e.name,
                message: e.message,
                stack: e.stack,
            },
        ),
        ExecError::Timeout { .. } => (ExecStatus::Timeout, info("TimeoutError", message)),
        ExecError::MemoryLimit { .. } => {
            (ExecStatus::MemoryLimit, info("MemoryLimitError", message))
        }
        ExecError::BadSnapshot(_) | ExecError::SnapshotTooLarge { .. } => {
            (ExecStatus::Error, info("HeapError", message))
        }
        ExecError::ResultTooLarge { .. } => (ExecStatus::Error, info("ResultTooLarge", message)),
        ExecError::Protocol(_) => (ExecStatus::Crashed, info("InternalError", message)),
    }
}

fn info(name: &str, message: String) -> ErrorInfo {
    ErrorInfo {
        name: name.to_string(),
        message,
        stack: None,
    }
}

/// Said of a V8 abort in a run that was to end in a heap snapshot: the
/// known way to cause one from JavaScript.
const SNAPSHOT_ABORT_HINT: &str =
    "; a known cause in runs that save a heap: V8 aborts when the snapshot meets an object it \
     cannot save, such as a live Intl object (new Intl.NumberFormat(), Intl.Collator, ...) kept in a global \
     or a closure: create those inside functions when needed. Nothing was saved; a session keeps \
     its previous heap";

/// The report for a job whose worker died; `snapshot` tells whether the
/// run was to end in a heap snapshot.
pub(super) fn died_report(
    class: ExitClass,
    worker: usize,
    timeout_ms: u64,
    heap_mb: u32,
    snapshot: bool,
) -> ExecReport {
    let (status, error) = match class {
        ExitClass::TimeoutKill => (
            ExecStatus::Timeout,
            info(
                "TimeoutError",
                format!("execution timed out after {timeout_ms} ms; worker killed"),
            ),
        ),
        ExitClass::Cancelled => (
            ExecStatus::Cancelled,
            info("CancelledError", "execution cancelled".into()),
        ),
        ExitClass::SandboxViolation => (
            ExecStatus::SandboxViolation,
            info(
                "SandboxViolation",
                "the worker attempted a forbidden system call and was killed".into(),
            ),
        ),
        ExitClass::MemoryCap => (
            ExecStatus::MemoryLimit,
            info(
                "MemoryLimitError",
                "the worker exceeded the workers' memory cap (--workers-memory-max) and was killed"
                    .into(),
            ),
        ),
        ExitClass::V8Fatal => (
            ExecStatus::Crashed,
            info(
                "WorkerCrashed",
                format!(
                    "the worker crashed (V8 fatal error; heap limit was {heap_mb} MiB){}",
                    if snapshot { SNAPSHOT_ABORT_HINT } else { "" }
                ),
            ),
        ),
        other => (
            ExecStatus::Crashed,
            info(
                "WorkerCrashed",
                format!("the worker died ({})", other.as_str()),
            ),
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
        heap: None,
        session: None,
        fetches: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_results_parse_and_text_stays_text() {
        assert_eq!(
            json_of(JsValue::Json("{\"a\":1}".into())),
            serde_json::json!({"a": 1})
        );
        assert_eq!(
            json_of(JsValue::Text("[Function: f]".into())),
            "[Function: f]"
        );
        assert_eq!(json_of(JsValue::Undefined), serde_json::Value::Null);
    }

    #[test]
    fn stdout_joins_lines() {
        let lines = vec![
            OutputLine {
                level: "log".into(),
                text: "a".into(),
            },
            OutputLine {
                level: "error".into(),
                text: "b".into(),
            },
        ];
        assert_eq!(join_stdout(&lines), "a\nb");
    }
}
