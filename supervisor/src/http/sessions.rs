//! Session and heap routes: `GET /api/sessions`, `GET|DELETE
//! /api/sessions/{name}`, `GET /api/heaps/{hash}`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::error::AppError;
use super::AppState;
use crate::store::{
    HeapHash, HeapMeta, Page, SessionEntry, SessionName, SessionSummary, StoreError,
};

/// `?cursor=...&limit=...` of a listing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Items per page (default 100, at most 1000).
    limit: Option<usize>,
}

const DEFAULT_PAGE: usize = 100;

fn bad_query(e: QueryRejection) -> AppError {
    AppError::bad_request("invalid_query", e.body_text())
}

/// One session with a page of its history.
#[derive(Serialize)]
pub struct SessionDoc {
    #[serde(flatten)]
    summary: SessionSummary,
    history: Page<SessionEntry>,
}

/// `GET /api/sessions`.
pub async fn list_sessions(
    State(state): State<AppState>,
    page: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<Page<SessionSummary>>, AppError> {
    let stores = state.exec.stores();
    let Query(page) = page.map_err(bad_query)?;
    let limit = page.limit.unwrap_or(DEFAULT_PAGE);
    let listing = stores
        .blocking(move |s| Ok(s.sessions.list(page.cursor.as_deref(), limit)?))
        .await?;
    Ok(Json(listing))
}

/// `GET /api/sessions/{name}`: summary and a page of history, oldest first.
pub async fn get_session(
    State(state): State<AppState>,
    Path(name): Path<String>,
    page: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<SessionDoc>, AppError> {
    let name = SessionName::parse(&name).map_err(StoreError::from)?;
    let Query(page) = page.map_err(bad_query)?;
    let limit = page.limit.unwrap_or(DEFAULT_PAGE);
    let doc = state
        .exec
        .stores()
        .blocking(move |s| {
            let summary = s.sessions.summary(name.as_str())?.ok_or_else(|| {
                crate::store::SessionError::NotFound {
                    name: name.as_str().into(),
                }
            })?;
            let history = s
                .sessions
                .history(name.as_str(), page.cursor.as_deref(), limit)?;
            Ok(SessionDoc { summary, history })
        })
        .await?;
    Ok(Json(doc))
}

/// What `DELETE /api/sessions/{name}` answers.
#[derive(Serialize)]
pub struct Deleted {
    deleted: String,
}

/// `DELETE /api/sessions/{name}`: waits for the session's running
/// execution (if any), then deletes its history. Heap files stay until the
/// garbage collector finds them unreferenced.
pub async fn delete_session(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Deleted>, AppError> {
    let name = SessionName::parse(&name).map_err(StoreError::from)?;
    let stores = state.exec.stores();
    let _turn = stores.locks.lock(name.as_str()).await;
    let target = name.clone();
    let existed = stores
        .blocking(move |s| Ok(s.sessions.delete(target.as_str())?))
        .await?;
    if !existed {
        return Err(AppError::not_found(format!(
            "no session named '{}'",
            name.as_str()
        )));
    }
    Ok(Json(Deleted {
        deleted: name.as_str().to_string(),
    }))
}

/// `GET /api/heaps/{hash}`: size, creation time, V8 and format version.
pub async fn get_heap(
    State(state): State<AppState>,
    Path(hash): Path<String>,
) -> Result<Json<HeapMeta>, AppError> {
    let hash = HeapHash::parse(&hash).map_err(StoreError::from)?;
    let meta = state
        .exec
        .stores()
        .blocking(move |s| Ok(s.heaps.metadata(&hash)?))
        .await?;
    Ok(Json(meta))
}
