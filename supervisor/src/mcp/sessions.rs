//! The session and heap tools: `list_sessions`, `get_session`,
//! `delete_session`, `get_heap`. They read the same stores as the REST
//! routes `/api/sessions` and `/api/heaps`, with the same semantics, and
//! return the same JSON as structured content (and as text).

use rmcp::model::{CallToolResult, JsonObject};
use rmcp::service::RequestContext;
use rmcp::{tool, tool_router, RoleServer};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::errors::{bad_arguments, refused, store_failure, ToolAnswer};
use super::tools::{input_schema, parse_arguments};
use super::McpServer;

/// Items per page of a listing.
const PAGE_SIZE: usize = 100;

/// Arguments of `list_sessions`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListSessionsArgs {
    /// `next_cursor` of the previous page; omit for the first page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// Arguments of `get_session`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetSessionArgs {
    /// The session name.
    pub name: String,
    /// `next_cursor` of the previous history page; omit for the first.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// Arguments of `delete_session`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteSessionArgs {
    /// The session name.
    pub name: String,
}

/// Arguments of `get_heap`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetHeapArgs {
    /// The heap hash: 64 hex digits, as returned in `heap` by run_js.
    pub hash: String,
}

const LIST_SESSIONS: &str = "List the sessions run_js has created, 100 per page, by name. \
Each item is {name, entries (number of runs), latest_heap (hash the next run resumes from, \
null until a run succeeds), created_at, updated_at (Unix ms)}. Pass `next_cursor` back as \
`cursor` for the next page; null means this was the last.";

const GET_SESSION: &str = "Show one session: its summary (name, entries, latest_heap, \
created_at, updated_at) and its run history, oldest first, 100 runs per page. Each run is \
{index, input_heap, output_heap, code_sha256, started_at, duration_ms, status: ok | error | \
timeout | memory_limit | killed}; only ok runs advance the session.";

const DELETE_SESSION: &str = "Delete a session and its history (waits for a run of that \
session in progress to finish). Its heaps stay until unreferenced heaps are collected. The \
name can be used again afterwards for a fresh session.";

const GET_HEAP: &str = "Describe a saved heap (snapshot of a JavaScript global state) by its \
hash: {hash, size_bytes, payload_bytes, created_unix_secs, created, v8_version, \
format_version}. Use the hash as run_js `heap` to start a run from that state.";

#[tool_router(router = session_router, vis = "pub(super)")]
impl McpServer {
    #[tool(
        name = "list_sessions",
        title = "List sessions",
        description = LIST_SESSIONS,
        input_schema = input_schema::<ListSessionsArgs>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_sessions(
        &self,
        arguments: JsonObject,
        context: RequestContext<RoleServer>,
    ) -> ToolAnswer {
        let args: ListSessionsArgs = match parse_arguments(arguments) {
            Ok(args) => args,
            Err(why) => return bad_arguments(&context, why),
        };
        match self
            .exec
            .stores()
            .list_sessions(args.cursor, PAGE_SIZE)
            .await
        {
            Ok(page) => structured(&page),
            Err(e) => store_failure(&context, e),
        }
    }

    #[tool(
        name = "get_session",
        title = "Show a session",
        description = GET_SESSION,
        input_schema = input_schema::<GetSessionArgs>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_session(
        &self,
        arguments: JsonObject,
        context: RequestContext<RoleServer>,
    ) -> ToolAnswer {
        let args: GetSessionArgs = match parse_arguments(arguments) {
            Ok(args) => args,
            Err(why) => return bad_arguments(&context, why),
        };
        let doc = self
            .exec
            .stores()
            .session(&args.name, args.cursor, PAGE_SIZE)
            .await;
        match doc {
            Ok(doc) => structured(&doc),
            Err(e) => store_failure(&context, e),
        }
    }

    #[tool(
        name = "delete_session",
        title = "Delete a session",
        description = DELETE_SESSION,
        input_schema = input_schema::<DeleteSessionArgs>(),
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn delete_session(
        &self,
        arguments: JsonObject,
        context: RequestContext<RoleServer>,
    ) -> ToolAnswer {
        let args: DeleteSessionArgs = match parse_arguments(arguments) {
            Ok(args) => args,
            Err(why) => return bad_arguments(&context, why),
        };
        match self.exec.delete_session(&args.name).await {
            Ok(deleted) => structured(&deleted),
            Err(e) => refused(&context, e),
        }
    }

    #[tool(
        name = "get_heap",
        title = "Describe a heap",
        description = GET_HEAP,
        input_schema = input_schema::<GetHeapArgs>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_heap(
        &self,
        arguments: JsonObject,
        context: RequestContext<RoleServer>,
    ) -> ToolAnswer {
        let args: GetHeapArgs = match parse_arguments(arguments) {
            Ok(args) => args,
            Err(why) => return bad_arguments(&context, why),
        };
        let meta = self.exec.heap_meta(&args.hash).await;
        match meta {
            Ok(meta) => structured(&meta),
            Err(e) => refused(&context, e),
        }
    }
}

/// A successful tool result with `value` as structured content and text.
fn structured(value: &impl Serialize) -> ToolAnswer {
    match serde_json::to_value(value) {
        Ok(value) => Ok(CallToolResult::structured(value)),
        Err(e) => super::errors::tool_error(format!("cannot encode the answer: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::handler::server::common::schema_for_input;

    #[test]
    fn session_tool_schemas_are_valid() {
        assert!(schema_for_input::<ListSessionsArgs>().is_ok());
        assert!(schema_for_input::<GetSessionArgs>().is_ok());
        assert!(schema_for_input::<DeleteSessionArgs>().is_ok());
        assert!(schema_for_input::<GetHeapArgs>().is_ok());
    }
}
