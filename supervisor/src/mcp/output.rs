//! The result shape of `run_js`: the same fields as `POST /api/exec`, with a
//! JSON Schema so MCP clients (and models) know what comes back.
//!
//! [`RunJsOutput`] mirrors [`ExecReport`] field for field; a unit test
//! checks that both serialise identically, so REST and MCP cannot drift.

use rmcp::model::{CallToolResult, ContentBlock};
use schemars::JsonSchema;
use serde::Serialize;

use crate::exec::{ExecReport, ExecStatus};

/// How a run ended.
#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Completed; `result` holds the value of the last expression.
    Ok,
    /// The script threw or its promise rejected; see `error`.
    Error,
    /// The deadline passed.
    Timeout,
    /// The heap or ArrayBuffer limit was hit.
    MemoryLimit,
    /// The worker process died.
    Crashed,
    /// The script tried something the sandbox forbids and was killed.
    SandboxViolation,
    /// The client cancelled the run.
    Cancelled,
}

impl From<ExecStatus> for RunStatus {
    fn from(status: ExecStatus) -> Self {
        match status {
            ExecStatus::Ok => RunStatus::Ok,
            ExecStatus::Error => RunStatus::Error,
            ExecStatus::Timeout => RunStatus::Timeout,
            ExecStatus::MemoryLimit => RunStatus::MemoryLimit,
            ExecStatus::Crashed => RunStatus::Crashed,
            ExecStatus::SandboxViolation => RunStatus::SandboxViolation,
            ExecStatus::Cancelled => RunStatus::Cancelled,
        }
    }
}

/// One console call.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ConsoleLine {
    /// `log`, `info`, `warn`, `error` or `debug`.
    pub level: String,
    /// The formatted arguments.
    pub text: String,
}

/// Why a run did not succeed.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RunError {
    /// Error name (`TypeError`, `SyntaxError`, `TimeoutError`, ...).
    pub name: String,
    /// Human-readable message.
    pub message: String,
    /// JavaScript stack trace, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
}

/// What `run_js` returns (also as JSON text in the content).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RunJsOutput {
    /// How the run ended; anything but `ok` comes with `isError: true`.
    pub status: RunStatus,
    /// Value of the last expression (awaited if a Promise): JSON when
    /// serialisable, else its string form; `null` for undefined or on error.
    pub result: serde_json::Value,
    /// Console calls in order.
    pub output: Vec<ConsoleLine>,
    /// Console text joined by newlines.
    pub stdout: String,
    /// Whether console output was cut at the server's output limit.
    pub output_truncated: bool,
    /// Set unless `status` is `ok`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<RunError>,
    /// Wall time as the server saw it, in milliseconds.
    pub duration_ms: f64,
    /// Slot of the worker that ran it.
    pub worker: usize,
    /// Heap hash after a `session` or `heap` run: the new heap on success,
    /// the unchanged input heap otherwise. Pass it as `heap` to branch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heap: Option<String>,
    /// The session the run belonged to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

impl From<ExecReport> for RunJsOutput {
    fn from(report: ExecReport) -> Self {
        RunJsOutput {
            status: report.status.into(),
            result: report.result,
            output: report
                .output
                .into_iter()
                .map(|line| ConsoleLine {
                    level: line.level.to_string(),
                    text: line.text,
                })
                .collect(),
            stdout: report.stdout,
            output_truncated: report.output_truncated,
            error: report.error.map(|e| RunError {
                name: e.name,
                message: e.message,
                stack: e.stack,
            }),
            duration_ms: report.duration_ms,
            worker: report.worker,
            heap: report.heap,
            session: report.session,
        }
    }
}

/// The tool result: structured content plus the same JSON as text, and
/// `isError` unless the run completed.
pub fn tool_result(report: ExecReport) -> CallToolResult {
    let ok = report.status == ExecStatus::Ok;
    let output = RunJsOutput::from(report);
    let value = match serde_json::to_value(&output) {
        Ok(value) => value,
        // Cannot happen for these types (no maps with non-string keys); stay
        // useful anyway rather than panic.
        Err(e) => {
            return CallToolResult::error(vec![ContentBlock::text(format!(
                "internal error: cannot encode the result: {e}"
            ))])
        }
    };
    if ok {
        CallToolResult::structured(value)
    } else {
        CallToolResult::structured_error(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::{ErrorInfo, OutputLine};

    fn report(status: ExecStatus) -> ExecReport {
        ExecReport {
            status,
            result: serde_json::json!({"a": [1, 2]}),
            output: vec![OutputLine {
                level: "warn",
                text: "w".into(),
            }],
            stdout: "w".into(),
            output_truncated: false,
            error: (status != ExecStatus::Ok).then(|| ErrorInfo {
                name: "TypeError".into(),
                message: "x is not a function".into(),
                stack: Some("TypeError: x is not a function\n    at <anon>:1:1".into()),
            }),
            duration_ms: 1.5,
            worker: 3,
            heap: (status == ExecStatus::Ok).then(|| "ab".repeat(32)),
            session: Some("s1".into()),
        }
    }

    #[test]
    fn output_serialises_exactly_like_the_rest_report() {
        for status in [ExecStatus::Ok, ExecStatus::Error, ExecStatus::Timeout] {
            let rest = serde_json::to_value(report(status)).unwrap();
            let mcp = serde_json::to_value(RunJsOutput::from(report(status))).unwrap();
            assert_eq!(rest, mcp);
        }
    }

    #[test]
    fn failures_are_tool_errors_with_structured_content() {
        let ok = tool_result(report(ExecStatus::Ok));
        assert_eq!(ok.is_error, Some(false));
        let failed = tool_result(report(ExecStatus::Error));
        assert_eq!(failed.is_error, Some(true));
        let structured = failed.structured_content.unwrap();
        assert_eq!(structured["error"]["name"], "TypeError");
        assert!(structured["error"]["stack"]
            .as_str()
            .unwrap()
            .contains("<anon>"));
    }
}
