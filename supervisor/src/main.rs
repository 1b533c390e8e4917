//! The `mcp-v8` binary: the supervisor, or a worker when re-executed with
//! the worker argument.
//!
//! Start-up: parse and validate flags (exit 2 on a bad value), set up
//! logging (always to stderr, so stdout stays free for MCP over stdio),
//! start the worker pool, wait for the first worker, then serve HTTP on
//! `--http-port` or MCP over stdio.

mod app_error;
mod cluster;
mod config;
mod exec;
mod host;
mod http;
mod mcp;
mod metrics;
mod pool;
mod raft;
mod store;

use std::ffi::OsStr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use mcp_v8_shared::{WorkerConfig, WEB_SNAPSHOT_ARG, WORKER_ARG};

use crate::config::{Args, Config};
use crate::exec::{ExecService, Stores};
use crate::metrics::Metrics;
use crate::pool::WorkerPool;
use crate::store::{spawn_heap_gc, HeapStore, SessionLocks, SessionStore, DEFAULT_GC_INTERVAL};
use tokio_util::sync::CancellationToken;

/// How long start-up waits for the first worker before giving up.
const FIRST_WORKER_TIMEOUT: Duration = Duration::from_secs(60);

/// Log filter when `MCP_V8_LOG` is not set: rmcp logs every request at
/// info, openraft every RPC; our own lines report cluster role changes.
const DEFAULT_LOG_FILTER: &str = "info,rmcp=warn,openraft=warn";

/// How long shutdown waits for workers to exit.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    // Worker mode first, while the process is still single-threaded.
    if std::env::args_os().nth(1).as_deref() == Some(OsStr::new(WORKER_ARG)) {
        mcp_v8_worker::run();
    }
    // The pool's one-off builder of the web globals' startup snapshot.
    if std::env::args_os().nth(1).as_deref() == Some(OsStr::new(WEB_SNAPSHOT_ARG)) {
        let args: Vec<String> = std::env::args().skip(2).collect();
        mcp_v8_worker::run_web_snapshot(&args);
    }
    let config = match Args::parse().into_config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("mcp-v8: {e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(config.log_json);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("mcp-v8: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(config));
    // Do not wait for blocking tasks: a read of stdin (MCP over stdio) only
    // ends when the client closes it, which may be never.
    runtime.shutdown_timeout(Duration::from_millis(500));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("mcp-v8: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MCP_V8_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn worker_config(config: &Config) -> WorkerConfig {
    WorkerConfig {
        sandbox: config.sandbox,
        sandbox_debug: config.sandbox_debug,
        default_heap_mb: config.heap_memory_max,
        max_array_buffer_bytes: u64::from(config.heap_memory_max) << 20,
        max_frame_bytes: config.max_frame_bytes(),
        // CPU backstop: generous, the watchdog and the supervisor act first.
        cpu_limit_secs: 3600,
        nice: config.worker_nice,
        web_globals: config.web_globals,
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let metrics = Arc::new(Metrics::new());
    tracing::info!(
        workers = config.workers,
        sandbox = ?config.sandbox,
        timeout = ?config.execution_timeout,
        heap_mb = config.heap_memory_max,
        "starting mcp-v8 {}",
        env!("CARGO_PKG_VERSION")
    );
    let stores = open_stores(&config)?;
    // One token for the whole process: cancelled on SIGINT/SIGTERM, it
    // drains HTTP, closes MCP streams and stops the heap GC.
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    let pool = WorkerPool::start(
        config.workers,
        config.max_queue,
        config.max_queue_bytes(),
        worker_config(&config),
        metrics.clone(),
        config.workers_memory_max_bytes(),
    );
    log_memory_cap(&pool);
    let started = Instant::now();
    pool.wait_first_ready(FIRST_WORKER_TIMEOUT)
        .await
        .map_err(|why| anyhow::anyhow!("workers cannot start: {why}"))?;
    log_sandbox(&pool);
    tracing::info!(elapsed = ?started.elapsed(), "first worker ready");
    let cluster = match &config.cluster {
        Some(cluster) => Some(start_cluster(cluster, &stores, &metrics, shutdown.clone()).await?),
        None => None,
    };
    // The GC starts after Raft (in cluster mode) has re-applied the log it
    // holds: before that, the session trees may lack the newest runs.
    let (_gc_task, heap_gc) = spawn_heap_gc(
        stores.heaps.clone(),
        stores.sessions.clone(),
        config.heap_retention,
        DEFAULT_GC_INTERVAL,
        shutdown.clone(),
    );
    let replica = match &cluster {
        Some(started) => {
            let replica = cluster::ClusterReplica::new(
                started.node.clone(),
                stores.clone(),
                metrics.clone(),
                config.execution_timeout,
            )
            .context("cannot open the replicated state")?;
            let replica = Arc::new(replica);
            replica.spawn_repair(shutdown.clone());
            Some(replica as Arc<dyn exec::Replica>)
        }
        None => None,
    };
    let host = Arc::new(
        host::HostServices::new(config.host.clone(), metrics.clone())
            .context("cannot set up fetch and modules")?,
    );
    let exec = Arc::new(ExecService::new(
        config.clone(),
        pool.clone(),
        stores,
        metrics.clone(),
        replica,
        host,
    ));
    let cluster = cluster.map(|started| started.serve(exec.clone(), &config, shutdown.clone()));

    let result = match config.http_port {
        Some(port) => {
            let state = http::AppState {
                config: config.clone(),
                exec,
                metrics,
                started,
                heap_gc,
                shutdown: shutdown.clone(),
                cluster: cluster.as_ref().map(|(node, _)| node.clone()),
            };
            serve_http(state, port).await
        }
        None => mcp::stdio::serve_stdio(config.clone(), exec, shutdown.clone())
            .await
            .map_err(Into::into),
    };
    shutdown.cancel();
    if let Some((node, server)) = cluster {
        let _ = server.await;
        node.stop().await;
    }
    pool.shutdown(SHUTDOWN_TIMEOUT).await;
    pool.cleanup_cgroup();
    result
}

/// Opens the heap directory and the session database (creating them).
fn open_stores(config: &Config) -> anyhow::Result<Stores> {
    let heaps =
        HeapStore::open(&config.directory_path, config.max_heap_bytes).with_context(|| {
            format!(
                "cannot use --directory-path {}",
                config.directory_path.display()
            )
        })?;
    let sessions = SessionStore::open(&config.session_db_path).with_context(|| {
        format!(
            "cannot open --session-db-path {}",
            config.session_db_path.display()
        )
    })?;
    tracing::info!(
        heaps = %config.directory_path.display(),
        sessions = %config.session_db_path.display(),
        "stores open"
    );
    Ok(Stores {
        heaps,
        sessions,
        locks: SessionLocks::new(),
        v8_version: Arc::from(mcp_v8_worker::isolate::v8_version()),
    })
}

/// Logs which sandbox layers the first ready worker has in force.
fn log_sandbox(pool: &WorkerPool) {
    let statuses = pool.statuses();
    let Some(report) = statuses.iter().find_map(|s| s.sandbox.as_ref()) else {
        return;
    };
    for layer in &report.layers {
        if layer.active {
            tracing::info!(layer = %layer.name, "sandbox layer active {}", layer.detail);
        } else {
            tracing::warn!(layer = %layer.name, "sandbox layer NOT active: {}", layer.detail);
        }
    }
}

/// Logs whether the cap on the workers' memory is in force, and if not why.
fn log_memory_cap(pool: &WorkerPool) {
    let cap = pool.cgroup_status();
    if cap.available {
        tracing::info!(
            version = ?cap.version,
            path = cap.path.as_deref().unwrap_or(""),
            max_bytes = ?cap.memory_max_bytes,
            "workers' memory cap active"
        );
    } else if cap.reason.as_deref() == Some("disabled") {
        tracing::info!("workers' memory cap disabled (--workers-memory-max 0)");
    } else {
        let reason = cap.reason.as_deref().unwrap_or("unknown");
        tracing::warn!("workers' memory cap NOT active: {reason}");
    }
}

async fn serve_http(state: http::AppState, port: u16) -> anyhow::Result<()> {
    let addr = std::net::SocketAddr::new(state.config.http_host, port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!("listening on http://{addr}");
    // Answers go out at once: without TCP_NODELAY, Nagle's algorithm holds
    // small responses on keep-alive connections for ~40 ms.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
    });
    let shutdown = state.shutdown.clone();
    axum::serve(listener, http::router(state))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .context("HTTP server failed")
}

/// A started Raft node whose cluster port is bound but not yet served.
struct StartedCluster {
    node: Arc<raft::node::ClusterNodeHandle>,
    listener: tokio::net::TcpListener,
}

impl StartedCluster {
    /// Serves the cluster port (Raft's routes and the session and heap
    /// routes) until `shutdown`; returns the node and the server task.
    fn serve(
        self,
        exec: Arc<ExecService>,
        config: &Config,
        shutdown: CancellationToken,
    ) -> (
        Arc<raft::node::ClusterNodeHandle>,
        tokio::task::JoinHandle<()>,
    ) {
        let router = raft::api::router(self.node.clone())
            .merge(cluster::router(
                exec,
                self.node.clone(),
                config.max_heap_bytes,
            ))
            .layer(raft::auth::auth_layer(self.node.auth_state()));
        let listener = axum::serve::ListenerExt::tap_io(self.listener, |tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!("cannot set TCP_NODELAY: {e}");
            }
        });
        let server = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "cluster server failed");
            }
        });
        (self.node, server)
    }
}

/// Binds the cluster port and starts this node's Raft over the session
/// database; [`StartedCluster::serve`] serves the port once the exec path
/// exists. Everything served on the cluster port sits behind
/// `raft::auth`'s layer.
async fn start_cluster(
    cluster: &config::ClusterConfig,
    stores: &Stores,
    metrics: &Metrics,
    shutdown: CancellationToken,
) -> anyhow::Result<StartedCluster> {
    let addr = cluster.listen;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on --cluster-port {addr}"))?;
    let settings = raft::node::ClusterSettings::from_config(cluster);
    let node = raft::node::ClusterNodeHandle::start(
        settings.clone(),
        stores.sessions.db(),
        metrics.cluster.clone(),
        shutdown.clone(),
    )
    .await
    .context("cannot start the cluster node")?;
    tracing::info!(
        node = %settings.me,
        peers = settings.peers.len(),
        join = ?settings.join,
        secret = settings.secret.is_some(),
        "cluster port listening on http://{addr}"
    );
    Ok(StartedCluster { node, listener })
}

/// Cancels `shutdown` on SIGINT or SIGTERM.
async fn cancel_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => {
            let _ = ctrl_c.await;
            shutdown.cancel();
            return;
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down: draining requests");
    shutdown.cancel();
}
