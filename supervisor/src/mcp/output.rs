//! The result of `run_js`: the [`ExecReport`] of `POST /api/exec` itself
//! (its JSON Schema derives from the same type), so REST and MCP cannot
//! drift.

use rmcp::model::{CallToolResult, ContentBlock};

use crate::exec::{ExecReport, ExecStatus};

/// What `run_js` returns (also as JSON text in the content).
pub type RunJsOutput = ExecReport;

/// The tool result: structured content plus the same JSON as text, and
/// `isError` unless the run completed.
pub fn tool_result(report: ExecReport) -> CallToolResult {
    let ok = report.status == ExecStatus::Ok;
    let value = match serde_json::to_value(&report) {
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
                level: "warn".into(),
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
            fetches: Vec::new(),
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
