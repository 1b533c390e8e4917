//! Session and heap routes: `GET /api/sessions`, `GET|DELETE
//! /api/sessions/{name}`, `GET /api/heaps/{hash}`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;

use super::error::AppError;
use super::AppState;
use crate::exec::{Deleted, SessionDoc};
use crate::store::{HeapMeta, Page, SessionSummary};

/// `?cursor=...&limit=...` of a listing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Items per page (default 100, at most 1000).
    limit: Option<usize>,
    /// In cluster mode, read only after this node has applied every write
    /// committed before the request (a linearizable read); reads are local
    /// otherwise.
    consistent: Option<bool>,
}

const DEFAULT_PAGE: usize = 100;

/// The cursor and limit of a listing's query string (400 if it does not
/// parse; the limit defaults to 100).
async fn page_of(
    state: &AppState,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<(Option<String>, usize), AppError> {
    let Query(page) = query.map_err(|e| AppError::bad_request("invalid_query", e.body_text()))?;
    state
        .exec
        .read_barrier(page.consistent.unwrap_or(false))
        .await?;
    Ok((page.cursor, page.limit.unwrap_or(DEFAULT_PAGE)))
}

/// `GET /api/sessions`.
pub async fn list_sessions(
    State(state): State<AppState>,
    page: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<Page<SessionSummary>>, AppError> {
    let (cursor, limit) = page_of(&state, page).await?;
    Ok(Json(
        state.exec.stores().list_sessions(cursor, limit).await?,
    ))
}

/// `GET /api/sessions/{name}`: summary and a page of history, oldest first.
pub async fn get_session(
    State(state): State<AppState>,
    Path(name): Path<String>,
    page: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<SessionDoc>, AppError> {
    let (cursor, limit) = page_of(&state, page).await?;
    Ok(Json(
        state.exec.stores().session(&name, cursor, limit).await?,
    ))
}

/// `DELETE /api/sessions/{name}`: waits for the session's running
/// execution (if any), then deletes its history. Heap files stay until the
/// garbage collector finds them unreferenced.
pub async fn delete_session(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Deleted>, AppError> {
    Ok(Json(state.exec.delete_session(&name).await?))
}

/// `GET /api/heaps/{hash}`: size, creation time, V8 and format version.
pub async fn get_heap(
    State(state): State<AppState>,
    Path(hash): Path<String>,
) -> Result<Json<HeapMeta>, AppError> {
    Ok(Json(state.exec.heap_meta(&hash).await?))
}
