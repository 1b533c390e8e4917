//! `GET /api/status`, `/healthz`, `/readyz` and `/metrics`.

use std::time::{Instant, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use mcp_v8_shared::{SandboxLayer, SandboxMode, WebGlobalsSource};
use serde::Serialize;

use super::AppState;
use crate::pool::{resident_bytes, CgroupStatus, WorkerState, WorkerStatus};
use crate::store::{GcStatus, HeapCacheStats};

/// The `/api/status` document.
#[derive(Serialize)]
struct StatusDoc {
    node_id: String,
    version: &'static str,
    v8_version: &'static str,
    uptime_secs: u64,
    sandbox: SandboxDoc,
    pool: PoolDoc,
    workers: Vec<WorkerDoc>,
    heaps: HeapsDoc,
    /// In cluster mode, this node's view of the cluster; else `null`.
    cluster: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct HeapsDoc {
    directory: String,
    sessions: usize,
    gc: GcStatus,
    cache: HeapCacheStats,
}

#[derive(Serialize)]
struct SandboxDoc {
    /// `off`, `best-effort` or `strict`, as configured.
    mode: &'static str,
    /// `full` (every layer active), `partial`, or `none`.
    level: &'static str,
    /// Layers of a live worker (all workers share one configuration).
    layers: Vec<SandboxLayer>,
    /// The cap on all workers' memory together (cgroup).
    memory_cap: CgroupStatus,
}

#[derive(Serialize)]
struct PoolDoc {
    size: usize,
    idle: usize,
    busy: usize,
    starting: usize,
    queue: usize,
    max_queue: usize,
}

#[derive(Serialize)]
struct WorkerDoc {
    id: usize,
    pid: Option<u32>,
    state: WorkerState,
    current_execution: Option<CurrentDoc>,
    executions: u64,
    restarts: u64,
    rss_bytes: Option<u64>,
    last_exit: Option<&'static str>,
    ready_since_unix: Option<u64>,
    /// Where the worker's web globals snapshot came from: `supervisor`
    /// (built once, shared), `worker` (built by the worker), `off`,
    /// `unavailable`; `null` before the worker is ready.
    web_globals: Option<&'static str>,
}

#[derive(Serialize)]
struct CurrentDoc {
    id: u64,
    running_ms: u64,
}

fn worker_doc(status: &WorkerStatus, now: Instant) -> WorkerDoc {
    WorkerDoc {
        id: status.id,
        pid: status.pid,
        state: status.state,
        current_execution: status.current.as_ref().map(|c| CurrentDoc {
            id: c.id,
            running_ms: now.duration_since(c.started).as_millis() as u64,
        }),
        executions: status.n_executions,
        restarts: status.n_restarts,
        rss_bytes: status.pid.and_then(resident_bytes),
        last_exit: status.last_exit.map(|c| c.as_str()),
        ready_since_unix: status
            .ready_since
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs()),
        web_globals: status.sandbox.as_ref().map(|r| match r.web_globals {
            WebGlobalsSource::Off => "off",
            WebGlobalsSource::Supervisor => "supervisor",
            WebGlobalsSource::Worker => "worker",
            WebGlobalsSource::Unavailable => "unavailable",
        }),
    }
}

fn sandbox_doc(
    mode: SandboxMode,
    statuses: &[WorkerStatus],
    memory_cap: CgroupStatus,
) -> SandboxDoc {
    let layers = statuses
        .iter()
        .find_map(|s| s.sandbox.as_ref())
        .map(|r| r.layers.clone())
        .unwrap_or_default();
    let active = layers.iter().filter(|l| l.active).count();
    let level = if mode == SandboxMode::Off || active == 0 {
        "none"
    } else if active == layers.len() {
        "full"
    } else {
        "partial"
    };
    let mode = match mode {
        SandboxMode::Off => "off",
        SandboxMode::BestEffort => "best-effort",
        SandboxMode::Strict => "strict",
    };
    SandboxDoc {
        mode,
        level,
        layers,
        memory_cap,
    }
}

/// `GET /api/status`.
pub async fn get_status(State(state): State<AppState>) -> impl IntoResponse {
    // Counting sessions and heap records walks sled: not on the runtime.
    let exec = state.exec.clone();
    let counted = tokio::task::spawn_blocking(move || {
        let sessions = exec.stores().sessions.session_count();
        let replication = exec.replica().map(|r| r.status());
        (sessions, replication)
    })
    .await;
    let (sessions, replication) = counted.unwrap_or((0, None));
    let cluster = state.cluster.as_ref().map(|node| {
        let mut doc = serde_json::to_value(node.summary()).unwrap_or_default();
        if let (Some(obj), Some(replication)) = (doc.as_object_mut(), replication) {
            obj.insert("replication".into(), replication);
        }
        doc
    });
    let pool = state.exec.pool();
    let statuses = pool.statuses();
    let now = Instant::now();
    let count = |want: WorkerState| statuses.iter().filter(|s| s.state == want).count();
    Json(StatusDoc {
        node_id: state.config.node_id.clone(),
        version: env!("CARGO_PKG_VERSION"),
        v8_version: mcp_v8_worker::isolate::v8_version(),
        uptime_secs: state.started.elapsed().as_secs(),
        sandbox: sandbox_doc(state.config.sandbox, &statuses, pool.cgroup_status()),
        pool: PoolDoc {
            size: statuses.len(),
            idle: count(WorkerState::Idle),
            busy: count(WorkerState::Busy),
            starting: count(WorkerState::Starting) + count(WorkerState::Backoff),
            queue: pool.queue_depth(),
            max_queue: pool.max_queue(),
        },
        workers: statuses.iter().map(|s| worker_doc(s, now)).collect(),
        heaps: HeapsDoc {
            directory: state.config.directory_path.display().to_string(),
            sessions,
            gc: state.heap_gc.snapshot(),
            cache: state.exec.stores().heaps.cache_stats(),
        },
        cluster,
    })
}

/// `GET /healthz`: the process is alive and serving HTTP.
pub async fn get_healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: at least one worker can take a job.
pub async fn get_readyz(State(state): State<AppState>) -> impl IntoResponse {
    let live = state.exec.pool().live_workers();
    if live > 0 {
        (StatusCode::OK, format!("ready: {live} workers\n"))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: no worker is up\n".to_string(),
        )
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn get_metrics(State(state): State<AppState>) -> impl IntoResponse {
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    (
        [(header::CONTENT_TYPE, content_type)],
        state.metrics.render(),
    )
}
