//! The supervisor's side of host calls: the outside world, by policy.
//!
//! A worker cannot open a file or a socket; it asks (`HostCall`), and this
//! module decides and does the IO. [`HostServices`] is shared by the whole
//! server (configuration, the HTTP client, the module cache, metrics);
//! [`RunHost`] is one execution's view of it: its narrowed network
//! policy, its in-request modules, its counters and the log of its
//! fetches for the report. The pool slot running the execution hands
//! every call to [`RunHost::handle`] and drops the unfinished ones when
//! the execution ends, which closes their connections.
//!
//! Files: `args` (flags), `policy` (grants and the SSRF rules), `fetch`
//! (performing a request), `pinned` (clients pinned to checked addresses,
//! reused), `modules` (resolving and loading ES modules).

pub mod args;
mod fetch;
mod modules;
mod pinned;
pub mod policy;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use mcp_v8_shared::{HostAnswer, HostCallKind, HostError, HostErrorKind, HostReply};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use args::{HostConfig, NetArgs};
use policy::{Layer, NetPolicy};

use crate::metrics::Metrics;

/// One fetch as the execution's report lists it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct FetchRecord {
    /// Request method.
    pub method: String,
    /// The URL asked for, without query or fragment.
    pub url: String,
    /// Status of the final response; absent when there was none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Response body bytes.
    pub bytes: u64,
    /// Wall time, in milliseconds.
    pub ms: f64,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Most module resolutions one execution may ask for (a big package such
/// as lodash-es needs a few thousand).
const MAX_MODULE_CALLS: u32 = 50_000;

/// Most module resolutions that may fail in one execution.
const MAX_FAILED_IMPORTS: u32 = 1_000;

/// Most fetch records kept per execution (later ones are counted only).
const MAX_FETCH_RECORDS: usize = 1000;

/// Everything host calls share across executions.
pub struct HostServices {
    /// The checked flags.
    config: HostConfig,
    /// The server's policy.
    policy: NetPolicy,
    /// Client for IP-literal URLs (no DNS, so nothing to pin).
    client: reqwest::Client,
    /// Clients pinned to a host name's checked addresses, reused (with
    /// their connection pools) while the name resolves to the same set.
    pinned: pinned::PinnedClients,
    /// Module resolution and the source cache.
    modules: modules::ModuleLoader,
    /// Counters.
    metrics: Arc<Metrics>,
}

/// Why the host services could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct HostSetupError(#[from] reqwest::Error);

impl HostServices {
    /// Services for `config`.
    pub fn new(config: HostConfig, metrics: Arc<Metrics>) -> Result<Self, HostSetupError> {
        let policy = NetPolicy::new(
            Layer::new(config.allow_net.clone()),
            config.allow_private_net,
        );
        let client = fetch::client_builder().build()?;
        let modules = modules::ModuleLoader::new(config.modules_dir.clone());
        Ok(HostServices {
            config,
            policy,
            client,
            pinned: pinned::PinnedClients::default(),
            modules,
            metrics,
        })
    }

    /// Parses a run's `allow_net` into a narrowing layer.
    pub fn run_layer(list: &[String]) -> Result<Layer, String> {
        policy::parse_list(list).map(Layer::new)
    }
}

/// One execution's host calls.
pub struct RunHost {
    /// Shared services.
    services: Arc<HostServices>,
    /// The execution id (for logs).
    exec_id: u64,
    /// The policy for this run (the server's, maybe narrowed).
    policy: NetPolicy,
    /// `modules` of the request: normalised path -> source.
    request_modules: HashMap<String, String>,
    /// The execution's deadline, set when a worker starts it.
    deadline: OnceLock<Instant>,
    /// Fetches started.
    fetches: AtomicU32,
    /// Module loads asked for.
    module_calls: AtomicU32,
    /// Module loads that failed.
    module_failures: AtomicU32,
    /// What the report lists.
    log: Mutex<Vec<FetchRecord>>,
}

impl RunHost {
    /// The host calls of execution `exec_id`.
    pub fn new(
        services: Arc<HostServices>,
        exec_id: u64,
        narrow: Option<Layer>,
        request_modules: HashMap<String, String>,
    ) -> Result<RunHost, String> {
        let policy = match narrow {
            Some(layer) => services.policy.narrowed(layer),
            None => services.policy.clone(),
        };
        let request_modules = modules::normalise_request_modules(request_modules)?;
        Ok(RunHost {
            services,
            exec_id,
            policy,
            request_modules,
            deadline: OnceLock::new(),
            fetches: AtomicU32::new(0),
            module_calls: AtomicU32::new(0),
            module_failures: AtomicU32::new(0),
            log: Mutex::new(Vec::new()),
        })
    }

    /// Starts the clock: the worker got the job, with `timeout`.
    pub fn started(&self, timeout: Duration) {
        let _ = self.deadline.set(Instant::now() + timeout);
    }

    fn deadline(&self) -> Instant {
        *self
            .deadline
            .get_or_init(|| Instant::now() + Duration::from_secs(3600))
    }

    /// The fetches made so far, for the report.
    pub fn fetch_log(&self) -> Vec<FetchRecord> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn record(&self, record: FetchRecord) {
        if let Ok(mut log) = self.log.lock() {
            if log.len() < MAX_FETCH_RECORDS {
                log.push(record);
            }
        }
    }

    /// Answers one call (`Abort`, and a `Wake` replacing another, are
    /// handled by the caller).
    pub async fn handle(self: Arc<Self>, call_id: u32, kind: HostCallKind) -> Option<HostReply> {
        let result = match kind {
            HostCallKind::Fetch(request) => {
                let result = fetch::fetch(&self, request).await;
                self.services
                    .metrics
                    .host_call("fetch", result_label(&result));
                result.map(HostAnswer::Fetch)
            }
            HostCallKind::Module(request) => {
                let result = if self.module_failures.load(Ordering::Relaxed) >= MAX_FAILED_IMPORTS {
                    Err(host_error(
                        HostErrorKind::Limit,
                        format!("at most {MAX_FAILED_IMPORTS} failed module imports per execution"),
                    ))
                } else if self.module_calls.fetch_add(1, Ordering::Relaxed) >= MAX_MODULE_CALLS {
                    Err(host_error(
                        HostErrorKind::Limit,
                        format!("at most {MAX_MODULE_CALLS} module imports per execution"),
                    ))
                } else {
                    self.services
                        .modules
                        .load(&request, &self.request_modules)
                        .await
                };
                if result.is_err() {
                    self.module_failures.fetch_add(1, Ordering::Relaxed);
                }
                self.services
                    .metrics
                    .host_call("module", result_label(&result));
                result.map(HostAnswer::Module)
            }
            HostCallKind::Wake { after_us } => {
                // Any length is safe: the job's end drops the call.
                tokio::time::sleep(Duration::from_micros(after_us)).await;
                Ok(HostAnswer::Woken)
            }
            HostCallKind::Abort => return None,
        };
        Some(HostReply {
            exec_id: self.exec_id,
            call_id,
            result,
        })
    }
}

/// The metrics label of a call's result.
fn result_label<T>(result: &Result<T, HostError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(e) => match e.kind {
            HostErrorKind::Denied => "denied",
            HostErrorKind::Limit => "limit",
            HostErrorKind::Network => "network",
            HostErrorKind::Timeout => "timeout",
            HostErrorKind::NotFound => "not_found",
            HostErrorKind::Invalid => "invalid",
        },
    }
}

/// A [`HostError`] of `kind`.
fn host_error(kind: HostErrorKind, message: impl Into<String>) -> HostError {
    HostError {
        kind,
        message: message.into(),
    }
}

/// Counts one more fetch; false past the limit.
fn take_fetch(run: &RunHost) -> bool {
    run.fetches.fetch_add(1, Ordering::Relaxed) < run.services.config.fetch_max_requests
}
