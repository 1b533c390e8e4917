//! The MCP tools: their arguments, JSON Schemas, descriptions and handlers.
//!
//! Each handler turns its arguments into an [`ExecJob`] (or a store call)
//! and hands it to the shared service. JavaScript failures come back as tool
//! results with `isError: true`; protocol misuse (bad arguments, limits
//! refused before running) is a JSON-RPC error; a busy or stopping server
//! is a tool error the model can read and retry on.

use rmcp::handler::server::tool::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::service::RequestContext;
use rmcp::{tool, tool_router, ErrorData, RoleServer};
use schemars::JsonSchema;
use serde::Deserialize;

use super::output::{tool_result, RunJsOutput};
use super::progress::ProgressTicker;
use super::McpServer;
use crate::exec::{ExecJob, ExecServiceError};
use crate::store::ErrorClass;
use crate::pool::PoolError;

/// Arguments of `run_js`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunJsArgs {
    /// JavaScript source. Runs as a script with top-level await; the value of
    /// the last expression is returned as `result`. Use console.log for
    /// intermediate output.
    pub code: String,
    /// Deadline in milliseconds (at least 1). Defaults to, and may not
    /// exceed, the server's execution timeout (see the server instructions).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub timeout_ms: Option<u64>,
}

const RUN_JS_DESCRIPTION: &str = "Run JavaScript in a fresh sandboxed V8 isolate and return \
what it printed and the value of its last expression. \
Supports modern JavaScript, top-level await, Promises and setTimeout/setInterval; console.* \
output is captured as `stdout`. There is no network, file system or module loading: put all \
data the script needs into `code`. \
Returns {status, result, stdout, output, output_truncated, error?, duration_ms, worker}; \
status is ok, error (with error.name, error.message, error.stack), timeout, memory_limit, \
crashed, sandbox_violation or cancelled, and anything but ok sets isError. \
Example: {\"code\": \"const xs = [3, 1, 2]; console.log(xs.length); xs.sort()\"} returns \
result [1, 2, 3] and stdout \"3\".";

#[tool_router(vis = "pub(super)")]
impl McpServer {
    #[tool(
        name = "run_js",
        title = "Run JavaScript",
        description = RUN_JS_DESCRIPTION,
        output_schema = schema_for_output::<RunJsOutput>(),
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn run_js(
        &self,
        params: Parameters<RunJsArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let RunJsArgs { code, timeout_ms } = params.0;
        let deadline_ms = timeout_ms.unwrap_or(self.config.execution_timeout.as_millis() as u64);
        let _ticker = context
            .meta
            .get_progress_token()
            .map(|token| ProgressTicker::start(context.peer.clone(), token, deadline_ms));
        let job = ExecJob {
            code,
            timeout_ms,
            // notifications/cancelled (or, statelessly, the client closing
            // the request) cancels this token, which kills the worker.
            cancel: context.ct.child_token(),
            ..ExecJob::default()
        };
        match self.exec.run(job).await {
            Ok(report) => Ok(tool_result(report)),
            Err(e) => refused(e),
        }
    }
}

/// Maps a job the service would not run to a JSON-RPC error (the caller's
/// fault) or a readable tool error (the server's state).
fn refused(error: ExecServiceError) -> Result<CallToolResult, ErrorData> {
    match error {
        ExecServiceError::InvalidRequest(_) | ExecServiceError::CodeTooLarge { .. } => {
            Err(ErrorData::invalid_params(error.to_string(), None))
        }
        ExecServiceError::Pool(PoolError::QueueFull { .. }) => {
            Ok(CallToolResult::error(vec![ContentBlock::text(format!(
                "the server is busy ({error}); retry in a second"
            ))]))
        }
        ExecServiceError::Pool(PoolError::ShuttingDown) => {
            Ok(CallToolResult::error(vec![ContentBlock::text(
                error.to_string(),
            )]))
        }
        ExecServiceError::Store(e) => match e.class() {
            ErrorClass::BadRequest | ErrorClass::NotFound => {
                Err(ErrorData::invalid_params(e.to_string(), None))
            }
            ErrorClass::Conflict | ErrorClass::TooLarge => {
                Ok(CallToolResult::error(vec![ContentBlock::text(e.to_string())]))
            }
            ErrorClass::Internal => {
                tracing::error!("MCP run_js: {e:?}");
                Err(ErrorData::internal_error(e.to_string(), None))
            }
        },
        ExecServiceError::Dropped => {
            tracing::error!("MCP run_js: {error}");
            Err(ErrorData::internal_error(
                "the execution was lost; try again",
                None,
            ))
        }
    }
}
