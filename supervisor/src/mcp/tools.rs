//! `run_js`: its arguments, JSON Schema, description and handler, plus the
//! argument helpers every tool uses.
//!
//! The handler turns its arguments into an [`ExecJob`] and hands it to
//! [`ExecService::run`](crate::exec::ExecService::run), the one execution
//! path shared with REST. How failures are answered is in `errors`.

use std::sync::Arc;

use rmcp::handler::server::common::{schema_for_empty_input, schema_for_input};
use rmcp::handler::server::tool::schema_for_output;
use rmcp::model::JsonObject;
use rmcp::service::RequestContext;
use rmcp::{tool, tool_router, RoleServer};
use schemars::JsonSchema;
use serde::Deserialize;

use super::errors::{bad_arguments, refused, ToolAnswer};
use super::output::{tool_result, RunJsOutput};
use super::progress::ProgressTicker;
use super::McpServer;
use crate::exec::ExecJob;
use mcp_v8_shared::Language;

/// Arguments of `run_js`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunJsArgs {
    /// JavaScript (or, with `language: "typescript"`, TypeScript) source.
    /// Runs as a script with top-level await; the value of the last
    /// expression is returned as `result`. Use console.log for intermediate
    /// output.
    pub code: String,
    /// Language of `code`: `javascript` (the default) or `typescript`.
    /// TypeScript types are stripped, never checked; enums and namespaces
    /// work, decorators do not; error positions are those of the
    /// TypeScript source.
    #[serde(default)]
    pub language: Option<ScriptLanguage>,
    /// Name of a session to run in (1 to 128 characters of A-Z a-z 0-9 . _
    /// : -; created on first use). Global variables, functions and objects
    /// from earlier successful runs of the session are still there, and a
    /// successful run saves the new state. Runs of one session take turns.
    #[serde(default)]
    pub session: Option<String>,
    /// Heap to start from: the 64-hex-digit `heap` hash an earlier session
    /// or heap run returned. The run gets that state and returns the hash of
    /// its own new heap, leaving the original untouched (branching). Give
    /// either `session` or `heap`, not both.
    #[serde(default)]
    pub heap: Option<String>,
    /// Deadline in milliseconds (at least 1). Defaults to, and may not
    /// exceed, the server's execution timeout (see the server instructions).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub timeout_ms: Option<u64>,
    /// Hosts `fetch` may reach in this run, as HOST[:PORT] (e.g.
    /// "api.example.com", "*.example.com:443"). Narrows the server's
    /// network policy; it can never allow more than the server does.
    #[serde(default)]
    pub allow_net: Option<Vec<String>>,
    /// ES modules the code may import by relative specifier, as path ->
    /// source, e.g. {"./util.js": "export const twice = x => 2 * x"}.
    #[serde(default)]
    pub modules: std::collections::HashMap<String, String>,
}

/// The `language` argument of `run_js`.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScriptLanguage {
    /// JavaScript, run as it is.
    Javascript,
    /// TypeScript: types stripped (not checked), then run as JavaScript.
    Typescript,
}

impl From<ScriptLanguage> for Language {
    fn from(language: ScriptLanguage) -> Language {
        match language {
            ScriptLanguage::Javascript => Language::JavaScript,
            ScriptLanguage::Typescript => Language::TypeScript,
        }
    }
}

const RUN_JS_DESCRIPTION: &str = "Run JavaScript in a sandboxed V8 isolate and return what it \
printed and the value of its last expression. \
Supports modern JavaScript, top-level await, Promises and setTimeout/setInterval; console.* \
output is captured as `stdout`. TypeScript runs too with `language: \"typescript\"` (types \
are stripped, not checked). There is no file system. `fetch` reaches only the hosts the \
server's network policy allows (ask with `allow_net` to narrow it further); other hosts fail \
with a TypeError. Code with static `import`/`export` runs as an ES module whose result is its \
default export; it may import the `modules` given with the call by relative specifier (\
\"./util.js\") and packages the server provides by name. \
Without `session` or `heap` every call starts from a fresh, empty global scope. With \
`session: \"name\"` globals persist between calls of that session (e.g. first call \
`var data = [1, 2, 3]`, later call `data.length`); with `heap` a call starts from a saved \
heap hash. \
Returns {status, result, stdout, output, output_truncated, error?, duration_ms, worker, \
heap?, session?}; status is ok, error (with error.name, error.message, error.stack), timeout, \
memory_limit, crashed, sandbox_violation or cancelled, and anything but ok sets isError. \
Example: {\"code\": \"const xs = [3, 1, 2]; console.log(xs.length); xs.sort()\"} returns \
result [1, 2, 3] and stdout \"3\".";

#[tool_router(vis = "pub(super)")]
impl McpServer {
    #[tool(
        name = "run_js",
        title = "Run JavaScript",
        description = RUN_JS_DESCRIPTION,
        input_schema = input_schema::<RunJsArgs>(),
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
        arguments: JsonObject,
        context: RequestContext<RoleServer>,
    ) -> ToolAnswer {
        let RunJsArgs {
            code,
            language,
            session,
            heap,
            timeout_ms,
            allow_net,
            modules,
        } = match parse_arguments(arguments) {
            Ok(args) => args,
            Err(why) => return bad_arguments(&context, why),
        };
        let deadline_ms = timeout_ms.unwrap_or(self.config.execution_timeout.as_millis() as u64);
        let _ticker = context
            .meta
            .get_progress_token()
            .map(|token| ProgressTicker::start(context.peer.clone(), token, deadline_ms));
        let job = ExecJob {
            code,
            language: language.map_or(Language::JavaScript, Language::from),
            timeout_ms,
            session,
            heap,
            allow_net,
            modules,
            // notifications/cancelled (or, statelessly, the client closing
            // the request) cancels this token, which kills the worker.
            cancel: context.ct.child_token(),
            ..ExecJob::default()
        };
        match self.exec.run(job).await {
            Ok(report) => Ok(tool_result(report)),
            Err(e) => refused(&context, e),
        }
    }
}

/// The input schema of `T`, or an empty object schema (logged) if `T`'s
/// schema is unusable; unit tests keep ours valid.
pub(super) fn input_schema<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    schema_for_input::<T>().unwrap_or_else(|e| {
        tracing::error!(
            "invalid input schema for {}: {e}",
            std::any::type_name::<T>()
        );
        schema_for_empty_input()
    })
}

/// Deserialises tool arguments; the error names the offending field.
pub(super) fn parse_arguments<T: serde::de::DeserializeOwned>(
    arguments: JsonObject,
) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::Object(arguments))
        .map_err(|e| format!("invalid arguments: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_js_schema_is_valid_and_strict() {
        let schema = serde_json::Value::Object(
            (*schema_for_input::<RunJsArgs>().expect("valid input schema")).clone(),
        );
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["required"], serde_json::json!(["code"]));
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["properties"]["timeout_ms"]["minimum"], 1);
        assert!(schema["properties"]["session"]["description"].is_string());
    }

    #[test]
    fn argument_errors_name_the_field() {
        let args = serde_json::json!({"code": "1", "bogus": 1});
        let err = parse_arguments::<RunJsArgs>(args.as_object().unwrap().clone()).unwrap_err();
        assert!(err.contains("bogus"), "{err}");
    }
}
