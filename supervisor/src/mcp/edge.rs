//! JSON-RPC errors for POST bodies that never become an MCP message.
//!
//! `rmcp` answers a body it cannot deserialise with `415 Unsupported Media
//! Type` and plain text. That is confusing for a client that did send
//! `application/json`, so this middleware, in front of the SDK, answers
//! with a JSON-RPC error object (`id: null`) and a 4xx status instead:
//!
//! - not JSON at all: 400, `-32700` parse error;
//! - a JSON array (a batch; no revision we serve accepts them): 400,
//!   `-32600` invalid request;
//! - JSON but not a JSON-RPC message (the SDK's 415): 400, `-32600`;
//! - over the size limit: 413, `-32600`.
//!
//! Everything else passes through untouched; message handling, including
//! errors for unknown methods and bad params, stays with the SDK.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::IgnoredAny;
use serde_json::json;

/// JSON-RPC "Parse error".
const PARSE_ERROR: i64 = -32700;
/// JSON-RPC "Invalid Request".
const INVALID_REQUEST: i64 = -32600;

/// Largest error text from the SDK that is passed on to the client.
const MAX_SDK_MESSAGE: usize = 2048;

/// What a POST body looks like before the SDK sees it.
#[derive(Debug, PartialEq)]
enum BodyShape {
    /// One JSON value that is not an array: the SDK decides the rest.
    Single,
    /// A JSON array.
    Batch,
    /// Not JSON; the parser's complaint.
    Invalid(String),
}

fn body_shape(bytes: &[u8]) -> BodyShape {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    match serde_json::from_slice::<IgnoredAny>(bytes) {
        Err(e) => BodyShape::Invalid(e.to_string()),
        Ok(_) if first == Some(&b'[') => BodyShape::Batch,
        Ok(_) => BodyShape::Single,
    }
}

/// A JSON-RPC error response without an id.
fn json_rpc_error(status: StatusCode, code: i64, message: impl Into<String>) -> Response {
    let body = json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": code, "message": message.into() },
    });
    (status, Json(body)).into_response()
}

fn is_json(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// The middleware; `limit` is the largest accepted body in bytes.
pub async fn json_rpc_edge(State(limit): State<usize>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST || !is_json(&request) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, limit).await else {
        return json_rpc_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            INVALID_REQUEST,
            format!("request body larger than {limit} bytes"),
        );
    };
    match body_shape(&bytes) {
        BodyShape::Single => {}
        BodyShape::Batch => {
            return json_rpc_error(
                StatusCode::BAD_REQUEST,
                INVALID_REQUEST,
                "JSON-RPC batches are not supported: send one message per request",
            )
        }
        BodyShape::Invalid(why) => {
            return json_rpc_error(
                StatusCode::BAD_REQUEST,
                PARSE_ERROR,
                format!("parse error: {why}"),
            )
        }
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    if response.status() != StatusCode::UNSUPPORTED_MEDIA_TYPE {
        return response;
    }
    // The body was JSON but not a JSON-RPC message the SDK understands.
    let detail = match to_bytes(response.into_body(), MAX_SDK_MESSAGE).await {
        Ok(text) => String::from_utf8_lossy(&text).into_owned(),
        Err(_) => String::new(),
    };
    json_rpc_error(
        StatusCode::BAD_REQUEST,
        INVALID_REQUEST,
        format!("not a valid JSON-RPC 2.0 message ({})", detail.trim()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_classified() {
        assert_eq!(body_shape(br#"{"jsonrpc":"2.0"}"#), BodyShape::Single);
        assert_eq!(body_shape(b"  [1, 2]"), BodyShape::Batch);
        assert_eq!(body_shape(b"[]"), BodyShape::Batch);
        assert!(matches!(body_shape(b"{not json"), BodyShape::Invalid(_)));
        assert!(matches!(body_shape(b""), BodyShape::Invalid(_)));
        assert!(matches!(body_shape(b"[1,"), BodyShape::Invalid(_)));
    }
}
