//! Every V8 call of the worker lives under this module.
//!
//! [`Engine`] runs each request in a fresh isolate that no earlier request
//! touched. To keep that cheap, [`Engine::prepare`] (called while idle,
//! after each response) drops the isolates of earlier runs and builds the
//! next one ahead of time, so a stateless request only compiles and runs.
//! Requests that need something else (another heap limit, a heap snapshot
//! to restore or to take) build their isolate on demand.
//!
//! Files: `platform` (one-time V8 init), `create` (isolate + context),
//! `origin` (script origins), `bindings` (native globals, external
//! references), `console`, `timers`,
//! `inspect`/`inspect_text` (Node-style value formatting), `run` (compile,
//! run, event loop, result), `tla` (top-level await), `limits` (heap and
//! ArrayBuffer limits), `watchdog` (deadline), `snapshot` (heap
//! snapshots), `checksum` (V8's snapshot checksum, replaced), `state`
//! (per-run state reached from callbacks), `eventloop` (timers, tasks,
//! host replies), `host` (host calls to the supervisor), `fetch` (the
//! native half of `fetch`, with `fetch.js`), `modules` (ES modules).

mod bindings;
mod checksum;
mod console;
mod create;
mod eventloop;
mod fetch;
mod host;
mod inspect;
mod inspect_text;
mod limits;
mod module_cache;
mod modules;
mod origin;
mod platform;
mod run;
mod snapshot;
mod state;
mod timers;
mod tla;
mod watchdog;
mod web;

#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use mcp_v8_shared::{
    ExecError, ExecRequest, ExecResponse, JsValue, WebGlobalsSource, WebSnapshot, WorkerConfig,
};

use create::{Holder, Kind};
use watchdog::Watchdog;

/// Isolates that used more than this trigger a `malloc_trim` when dropped.
const TRIM_AFTER_BYTES: usize = 32 << 20;

/// Room kept in a response frame for everything but the result text.
const FRAME_RESERVE: u64 = 64 * 1024;

/// `start + timeout_ms`, saturating far in the future instead of
/// overflowing `Instant` (which would panic).
fn deadline_after(start: Instant, timeout_ms: u64) -> Instant {
    let far = Duration::from_secs(365 * 24 * 3600);
    start
        .checked_add(Duration::from_millis(timeout_ms).min(far))
        .unwrap_or(start)
}

/// How often this process compiled the web glue: (with its code cache,
/// the cache rejected by V8, without a cache). For tests and benchmarks.
pub fn web_glue_compilations() -> (u64, u64, u64) {
    web::cache_stats()
}

/// Builds the web globals' startup snapshot and code cache for other
/// workers (the supervisor's `__web-snapshot` child), with V8 initialised
/// exactly as in a worker whose ArrayBuffer cap is `max_array_buffer_bytes`.
pub fn build_web_snapshot(max_array_buffer_bytes: u64) -> Result<WebSnapshot, String> {
    checksum::keep_linked();
    platform::init(max_array_buffer_bytes);
    web::build_snapshot()
}

/// The V8 version string.
pub fn v8_version() -> &'static str {
    v8::V8::get_version()
}

/// Runs executions, one fresh isolate each.
pub struct Engine {
    /// V8's platform, whose foreground tasks the event loop pumps.
    platform: &'static v8::SharedRef<v8::Platform>,
    /// Heap limit of the pre-warmed isolate, in MiB.
    default_heap_mb: u32,
    /// ArrayBuffer cap per isolate, in bytes.
    max_array_buffer_bytes: u64,
    /// Largest response frame; results that cannot fit are refused.
    max_frame_bytes: u64,
    /// The pre-warmed isolate for the next default request.
    ready: Option<Holder>,
    /// Isolates of finished runs, dropped newest first in `prepare`.
    retired: Vec<Holder>,
    /// The deadline watchdog (`None` only if its thread could not start).
    watchdog: Option<Watchdog>,
    /// The IPC fd host calls go over (`None`: no supervisor, e.g. tests).
    host_fd: Option<std::os::fd::RawFd>,
    /// The startup snapshot with the web globals (`None`: web globals off,
    /// or the snapshot could not be built).
    startup: Option<&'static [u8]>,
    /// Where `startup` came from.
    web_source: WebGlobalsSource,
    /// An isolate that is never used and lives as long as the engine (it
    /// must be the last field: isolates are dropped in reverse creation
    /// order, and this one is created first). V8 shares one read-only heap
    /// among the isolates of a process but frees it with the last of them;
    /// without this anchor every fresh isolate would deserialise the
    /// read-only heap again, about a third of the cost of building one.
    _anchor: v8::OwnedIsolate,
}

impl Engine {
    /// Initialises V8 (platform, ICU data, entropy) once per process and
    /// starts the watchdog thread; builds the web globals' startup snapshot
    /// here. Call before the sandbox is sealed.
    pub fn new(config: &WorkerConfig) -> Self {
        Self::with_web_snapshot(config, None)
    }

    /// Like [`Engine::new`], but takes the web globals' startup snapshot
    /// from `web` (the supervisor's) when it fits this V8, and builds one
    /// only when it does not.
    pub fn with_web_snapshot(config: &WorkerConfig, web: Option<WebSnapshot>) -> Self {
        checksum::keep_linked();
        let platform = platform::init(config.max_array_buffer_bytes);
        let (startup, web_source) = if config.web_globals {
            web::startup_blob(web)
        } else {
            (None, WebGlobalsSource::Off)
        };
        // The anchor comes from the same snapshot as every later isolate,
        // so that they share its read-only heap.
        let anchor = match startup {
            Some(blob) => v8::Isolate::new(
                v8::CreateParams::default()
                    .snapshot_blob(v8::StartupData::from(blob))
                    .external_references(bindings::external_references()),
            ),
            None => v8::Isolate::new(v8::CreateParams::default()),
        };
        let watchdog = match Watchdog::start() {
            Ok(w) => Some(w),
            Err(e) => {
                eprintln!("mcp-v8 worker: cannot start the watchdog thread: {e}");
                None
            }
        };
        let mut engine = Engine {
            platform,
            default_heap_mb: config.default_heap_mb.max(1),
            max_array_buffer_bytes: config.max_array_buffer_bytes,
            max_frame_bytes: config.max_frame_bytes,
            ready: None,
            retired: Vec::new(),
            watchdog,
            host_fd: None,
            startup,
            web_source,
            _anchor: anchor,
        };
        engine.warm_up();
        // Building the startup snapshot (two throw-away isolates) and the
        // warm-up leave freed malloc memory behind; hand it back so that an
        // idle worker stays small.
        // SAFETY: malloc_trim only returns free memory to the kernel.
        unsafe { libc::malloc_trim(0) };
        engine
    }

    /// Makes V8, ICU, absl and glibc load what they load lazily, while
    /// files may still be opened (see `sandbox::warmup`): runs
    /// `WARM_UP_SCRIPT` through the normal run path (watchdog included) in
    /// a throw-away isolate, then one GC on this thread, which is the
    /// thread that will run JavaScript.
    fn warm_up(&mut self) {
        let Some(watchdog) = self.watchdog.as_ref() else {
            return;
        };
        let mut holder = match create::build(
            Kind::Plain,
            self.default_heap_mb,
            self.max_array_buffer_bytes,
            self.startup,
        ) {
            Ok(holder) => holder,
            Err(e) => {
                eprintln!("mcp-v8 worker: warm-up isolate failed: {e}");
                return;
            }
        };
        let req = ExecRequest {
            id: 0,
            code: crate::sandbox::WARM_UP_SCRIPT.to_string(),
            language: mcp_v8_shared::Language::JavaScript,
            timeout_ms: 10_000,
            heap_mb: self.default_heap_mb,
            max_output_bytes: 0,
            heap: None,
            snapshot: false,
            max_snapshot_bytes: 0,
        };
        let deadline = deadline_after(Instant::now(), req.timeout_ms);
        let finished = run::run(
            &mut holder,
            &req,
            None,
            deadline,
            watchdog,
            self.platform,
            4096,
        );
        if let Err(e) = finished.outcome {
            eprintln!("mcp-v8 worker: warm-up script failed: {e}");
        }
        if let Some(isolate) = holder.isolate.as_mut() {
            isolate.low_memory_notification();
        }
    }

    /// Where this engine's web globals came from.
    pub fn web_globals_source(&self) -> WebGlobalsSource {
        self.web_source
    }

    /// Lets runs make host calls (fetch, modules) over `fd`, the IPC
    /// socket.
    ///
    /// # Safety
    /// `fd` must stay open for the engine's lifetime, and nothing else may
    /// use it while [`Engine::execute`] runs.
    pub unsafe fn set_host_fd(&mut self, fd: std::os::fd::RawFd) {
        self.host_fd = Some(fd);
    }

    /// Drops the isolates of earlier runs and builds the next isolate and
    /// context ahead of time, while idle.
    pub fn prepare(&mut self) {
        self.drop_retired();
        if self.ready.is_none() {
            match create::build(
                Kind::Plain,
                self.default_heap_mb,
                self.max_array_buffer_bytes,
                self.startup,
            ) {
                Ok(holder) => self.ready = Some(holder),
                Err(e) => eprintln!("mcp-v8 worker: cannot pre-build an isolate: {e}"),
            }
        }
    }

    /// Runs one request in a fresh isolate.
    pub fn execute(&mut self, req: ExecRequest) -> ExecResponse {
        let started = Instant::now();
        // Only non-empty when `prepare` was skipped.
        self.drop_retired();
        let mut response = ExecResponse {
            id: req.id,
            outcome: Ok(JsValue::Undefined),
            output: Vec::new(),
            output_truncated: false,
            duration_us: 0,
            heap: None,
        };
        match self.execute_in_isolate(&req, started) {
            Ok((outcome, output, heap)) => {
                response.outcome = outcome;
                response.output_truncated = output.truncated;
                response.output = output.lines;
                response.heap = heap;
            }
            Err(e) => response.outcome = Err(e),
        }
        response.duration_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        response
    }

    /// Picks or builds the isolate, runs, and snapshots when asked.
    #[allow(clippy::type_complexity)]
    fn execute_in_isolate(
        &mut self,
        req: &ExecRequest,
        started: Instant,
    ) -> Result<(Result<JsValue, ExecError>, state::Output, Option<Vec<u8>>), ExecError> {
        let Some(watchdog) = self.watchdog.as_ref() else {
            return Err(ExecError::Protocol(
                "the worker has no watchdog thread".into(),
            ));
        };
        let heap_mb = req.heap_mb.max(1);
        let kind = match (&req.heap, req.snapshot) {
            (Some(blob), true) => Some(Kind::CreatorFrom(blob.clone())),
            (None, true) => Some(Kind::Creator),
            (Some(blob), false) => Some(Kind::Restore(blob.clone())),
            (None, false) if heap_mb == self.default_heap_mb && self.ready.is_some() => None,
            (None, false) => Some(Kind::Plain),
        };
        let mut holder = match kind {
            None => self
                .ready
                .take()
                .ok_or_else(|| ExecError::Protocol("no isolate".into()))?,
            Some(kind) => create::build(kind, heap_mb, self.max_array_buffer_bytes, self.startup)?,
        };
        let deadline = deadline_after(started, req.timeout_ms);
        let budget = usize::try_from(self.max_frame_bytes).unwrap_or(usize::MAX);
        let link = self.host_fd.map(|fd| {
            // SAFETY: `set_host_fd`'s contract: the fd is the open IPC
            // socket, and the request loop does not touch it during a run.
            unsafe { host::HostLink::on_fd(fd, self.max_frame_bytes) }
        });
        let finished = run::run(
            &mut holder,
            req,
            link,
            deadline,
            watchdog,
            self.platform,
            budget,
        );
        let mut outcome = finished.outcome;
        let mut heap = None;
        if req.snapshot && outcome.is_ok() {
            match (holder.isolate.take(), holder.context.take()) {
                (Some(isolate), Some(context)) => match snapshot::create(isolate, context) {
                    Some(blob) if blob.len() as u64 > req.max_snapshot_bytes => {
                        outcome = Err(ExecError::SnapshotTooLarge {
                            bytes: blob.len() as u64,
                            max_bytes: req.max_snapshot_bytes,
                        });
                    }
                    Some(blob) => heap = Some(blob),
                    None => {
                        outcome = Err(ExecError::Protocol(
                            "V8 could not create a heap snapshot".into(),
                        ))
                    }
                },
                _ => {
                    outcome = Err(ExecError::Protocol(
                        "isolate not available for a snapshot".into(),
                    ))
                }
            }
        }
        let room = self.max_frame_bytes.saturating_sub(
            finished.output.bytes + heap.as_ref().map_or(0, |h| h.len() as u64) + FRAME_RESERVE,
        );
        if let Ok(JsValue::Json(text) | JsValue::Text(text)) = &outcome {
            if text.len() as u64 > room {
                outcome = Err(ExecError::ResultTooLarge {
                    bytes: text.len() as u64,
                    max_bytes: room,
                });
            }
        }
        if holder.isolate.is_some() {
            self.retired.push(holder);
        }
        Ok((outcome, finished.output, heap))
    }

    /// Drops retired isolates, newest first (isolates are entered on
    /// creation and must be exited in reverse order). After a big one,
    /// hands freed malloc memory back to the kernel so that an idle worker
    /// stays small.
    fn drop_retired(&mut self) {
        let mut big = false;
        while let Some(mut holder) = self.retired.pop() {
            if let Some(isolate) = holder.isolate.as_mut() {
                let stats = isolate.get_heap_statistics();
                let bytes =
                    stats.total_physical_size() + stats.malloced_memory() + stats.external_memory();
                big |= bytes > TRIM_AFTER_BYTES;
            }
            drop(holder);
        }
        if big {
            // SAFETY: malloc_trim only returns free memory to the kernel.
            unsafe { libc::malloc_trim(0) };
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.drop_retired();
        self.ready = None;
    }
}
