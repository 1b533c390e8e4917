//! How failures become MCP answers.
//!
//! - JavaScript failures are tool results with `isError: true` (see
//!   `output`), built elsewhere.
//! - Bad arguments (wrong type, unknown field, a bad session name or heap
//!   hash, a `timeout_ms` or `code` over the server's limits) depend on the
//!   revision the client speaks: up to 2025-06-18 the spec lists invalid
//!   arguments as protocol errors, so they are a JSON-RPC `-32602`; from
//!   2025-11-25 on (SEP-1303) input validation errors are tool results with
//!   `isError: true`, so the model can read them and correct itself.
//! - Things the model can act on (unknown session or heap, a busy or
//!   stopping server, a heap from another V8 version) are tool errors.
//! - Internal failures (disk, database, a lost execution) are JSON-RPC
//!   internal errors with a short message; the detail goes to the log.
//! - Unknown tools and methods are JSON-RPC errors from the SDK itself.

use rmcp::model::{CallToolResult, ContentBlock, ProtocolVersion};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};

use crate::exec::ExecServiceError;
use crate::pool::PoolError;
use crate::store::{ErrorClass, StoreError};

/// What a tool handler returns.
pub type ToolAnswer = Result<CallToolResult, ErrorData>;

/// Whether the client's revision wants input validation errors as tool
/// results (2025-11-25 and later) rather than JSON-RPC errors.
pub fn input_errors_are_tool_results(version: Option<ProtocolVersion>) -> bool {
    version.is_some_and(|v| v.as_str() >= ProtocolVersion::V_2025_11_25.as_str())
}

/// A tool result with `isError: true` and this text.
pub fn tool_error(message: impl Into<String>) -> ToolAnswer {
    Ok(CallToolResult::error(vec![ContentBlock::text(
        message.into(),
    )]))
}

/// Reports bad arguments the way the client's revision expects.
pub fn bad_arguments(context: &RequestContext<RoleServer>, message: String) -> ToolAnswer {
    if input_errors_are_tool_results(context.protocol_version()) {
        tool_error(message)
    } else {
        Err(ErrorData::invalid_params(message, None))
    }
}

/// A job the execution service would not run.
pub fn refused(context: &RequestContext<RoleServer>, error: ExecServiceError) -> ToolAnswer {
    match error {
        ExecServiceError::InvalidRequest(_) | ExecServiceError::CodeTooLarge { .. } => {
            bad_arguments(context, error.to_string())
        }
        ExecServiceError::Pool(PoolError::QueueFull { .. } | PoolError::QueueBytesFull { .. }) => {
            tool_error(format!("the server is busy ({error}); retry in a second"))
        }
        ExecServiceError::Pool(PoolError::ShuttingDown) => tool_error(error.to_string()),
        ExecServiceError::Store(e) => store_failure(context, e),
        ExecServiceError::Dropped => internal("run_js", &error),
        // The cluster cannot take the job now (no leader, a node that
        // cannot be reached) or another node refused it: the model may
        // retry or correct itself; the server failing is internal.
        ExecServiceError::Cluster(e) if e.status >= 500 && e.status != 503 => {
            internal("the cluster", &e)
        }
        ExecServiceError::Cluster(e) => tool_error(format!("{} ({})", e.message, e.code)),
    }
}

/// A heap or session store error.
pub fn store_failure(context: &RequestContext<RoleServer>, error: StoreError) -> ToolAnswer {
    match error.class() {
        ErrorClass::BadRequest => bad_arguments(context, error.to_string()),
        ErrorClass::NotFound | ErrorClass::Conflict | ErrorClass::TooLarge => {
            tool_error(error.to_string())
        }
        ErrorClass::Internal => internal("the heap and session store", &error),
    }
}

/// Logs the detail; tells the client only what failed.
fn internal(what: &str, detail: &dyn std::fmt::Display) -> ToolAnswer {
    tracing::error!("MCP: {what} failed: {detail}");
    Err(ErrorData::internal_error(
        format!("{what} failed on the server; try again"),
        None,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_errors_follow_the_revision() {
        assert!(!input_errors_are_tool_results(Some(
            ProtocolVersion::V_2024_11_05
        )));
        assert!(!input_errors_are_tool_results(Some(
            ProtocolVersion::V_2025_06_18
        )));
        assert!(!input_errors_are_tool_results(None));
        assert!(input_errors_are_tool_results(Some(
            ProtocolVersion::V_2025_11_25
        )));
        assert!(input_errors_are_tool_results(Some(
            ProtocolVersion::V_2026_07_28
        )));
    }
}
