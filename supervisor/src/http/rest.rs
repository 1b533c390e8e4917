//! `POST /api/exec`: run JavaScript or TypeScript, given as JSON or as a
//! raw script body.

use axum::body::{to_bytes, Body};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;

use super::error::AppError;
use super::AppState;
use crate::exec::{ExecJob, ExecReport};
use mcp_v8_shared::Language;

/// The JSON body of `POST /api/exec`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExecBody {
    /// Source text.
    code: String,
    /// `javascript` (default) or `typescript`.
    language: Option<String>,
    /// Deadline in milliseconds.
    timeout_ms: Option<u64>,
    /// JS heap limit in MiB.
    heap_mb: Option<u32>,
    /// Session to resume and advance.
    session: Option<String>,
    /// Heap hash to start from.
    heap: Option<String>,
    /// Hosts this run may fetch from (narrows `--allow-net`).
    allow_net: Option<Vec<String>>,
    /// In-request ES modules: relative path -> source.
    #[serde(default)]
    modules: std::collections::HashMap<String, String>,
}

/// How the body is to be read, from its content type.
enum BodyKind {
    Json,
    Script(Language),
}

fn body_kind(headers: &HeaderMap) -> Result<BodyKind, AppError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => Ok(BodyKind::Json),
        "text/javascript" | "application/javascript" | "text/plain" => {
            Ok(BodyKind::Script(Language::JavaScript))
        }
        "application/typescript" | "text/typescript" | "application/x-typescript" => {
            Ok(BodyKind::Script(Language::TypeScript))
        }
        "" => Err(unsupported("no content type")),
        other => Err(unsupported(other)),
    }
}

fn unsupported(what: &str) -> AppError {
    AppError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        format!(
            "{what}: send application/json {{\"code\": ...}} or the script itself as \
             text/javascript, text/plain or (TypeScript) application/typescript"
        ),
    )
}

/// `POST /api/exec`.
pub async fn post_exec(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ExecReport>, AppError> {
    let kind = body_kind(&headers)?;
    let max_code = state.config.max_code_bytes;
    // JSON escaping can grow a script up to six times (\uXXXX).
    let limit = (max_code as usize)
        .saturating_mul(6)
        .saturating_add(64 * 1024);
    let bytes = to_bytes(body, limit).await.map_err(|_| {
        AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request body too large; code may be at most {max_code} bytes"),
        )
    })?;
    let job = match kind {
        BodyKind::Json => {
            let body: ExecBody = serde_json::from_slice(&bytes).map_err(json_error)?;
            ExecJob {
                code: body.code,
                language: language(body.language.as_deref())?,
                timeout_ms: body.timeout_ms,
                heap_mb: body.heap_mb,
                session: body.session,
                heap: body.heap,
                allow_net: body.allow_net,
                modules: body.modules,
                ..ExecJob::default()
            }
        }
        BodyKind::Script(language) => {
            let code = String::from_utf8(bytes.to_vec()).map_err(|_| {
                AppError::bad_request("invalid_encoding", "the script body is not valid UTF-8")
            })?;
            ExecJob {
                code,
                language,
                ..ExecJob::default()
            }
        }
    };
    Ok(Json(state.exec.run(job).await?))
}

/// The `language` field: absent means JavaScript; an unknown name is 400.
fn language(name: Option<&str>) -> Result<Language, AppError> {
    let Some(name) = name else {
        return Ok(Language::JavaScript);
    };
    Language::parse(name).ok_or_else(|| {
        AppError::bad_request(
            "invalid_language",
            format!("unknown language {name:?}: use \"javascript\" (default) or \"typescript\""),
        )
    })
}

/// Maps a serde_json error to 400 (syntax) or 422 (wrong shape).
fn json_error(e: serde_json::Error) -> AppError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data => AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            e.to_string(),
        ),
        Category::Syntax | Category::Eof | Category::Io => {
            AppError::bad_request("malformed_json", format!("malformed JSON: {e}"))
        }
    }
}
