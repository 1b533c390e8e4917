//! Messages exchanged between the supervisor and a worker.
//!
//! Conversation on one socket:
//! 1. worker -> `Response::Hello` (protocol version, V8 version, pid);
//! 2. supervisor -> `Request::WebSnapshot` (optional: the startup snapshot
//!    with the web globals, built once per supervisor, see [`WebSnapshot`]),
//!    then `Request::Init(WorkerConfig)`;
//! 3. worker locks itself down, then -> `Response::Ready(SandboxReport)`;
//! 4. any number of `Request::Exec` -> `Response::Exec`, one at a time;
//!    while one runs, the worker may send `Response::Host` calls and the
//!    supervisor answers each with a `Request::HostReply` (see `host.rs`);
//! 5. `Request::Shutdown` or EOF ends the worker.
//!
//! Both enums are closed and contain only bincode-friendly shapes (no
//! untagged or internally tagged enums, no `skip_serializing_if`).

use serde::{Deserialize, Serialize};

use crate::error::ExecError;
use crate::host::{HostCall, HostReply};

/// Bumped whenever any type in this crate changes shape.
pub const PROTOCOL_VERSION: u32 = 8;

/// The fd number at which a worker finds its end of the socket pair.
pub const WORKER_IPC_FD: i32 = 3;

/// First argument that makes the `mcp-v8` binary run as a worker.
pub const WORKER_ARG: &str = "__worker";

/// First argument that makes the `mcp-v8` binary build the web globals'
/// startup snapshot, write it to stdout as one frame (a [`WebSnapshot`])
/// and exit. The second argument is the workers'
/// [`WorkerConfig::max_array_buffer_bytes`] (it sets a V8 flag, and a code
/// cache only fits isolates with the same flags).
pub const WEB_SNAPSHOT_ARG: &str = "__web-snapshot";

/// Largest frame the worker reads before `Init`: room for a
/// [`WebSnapshot`] (about 1 MiB).
pub const HANDSHAKE_MAX_FRAME: u64 = 64 << 20;

/// The V8 startup snapshot that carries the web globals, and the V8 code
/// cache of their JavaScript glue. The supervisor has one built by a
/// short-lived child of its own binary ([`WEB_SNAPSHOT_ARG`]) and hands it
/// to every worker before `Init`, so workers do not build it themselves
/// (which cost each one start-up time and memory). A worker checks it
/// before use and builds its own if it does not fit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebSnapshot {
    /// The startup blob (`v8::SnapshotCreator::create_blob`).
    #[serde(with = "serde_bytes")]
    pub blob: Vec<u8>,
    /// The code caches of the glue's chunks, in chunk order, made in an
    /// isolate from `blob` (V8 takes a code cache only where the read-only
    /// heap matches); an empty one for a chunk without.
    pub code_caches: Vec<serde_bytes::ByteBuf>,
}

/// Where a worker's web globals came from (reported in `Ready`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum WebGlobalsSource {
    /// Web globals are switched off (`--web-globals=false`).
    #[default]
    Off,
    /// The supervisor's [`WebSnapshot`] was used.
    Supervisor,
    /// The worker built its own (no snapshot was handed over, or it did
    /// not fit this worker).
    Worker,
    /// No snapshot could be built: the worker runs without web globals.
    Unavailable,
}

/// Supervisor -> worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Request {
    /// Configuration for the lifetime of the worker; sent once, after Hello.
    Init(WorkerConfig),
    /// Run one script.
    Exec(ExecRequest),
    /// The web globals' startup snapshot; only before `Init`.
    WebSnapshot(WebSnapshot),
    /// The answer to one `Response::Host` of the running execution.
    HostReply(HostReply),
    /// Exit cleanly.
    Shutdown,
}

/// Worker -> supervisor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Response {
    /// First frame a worker sends.
    Hello(Hello),
    /// Sent once the sandbox is in place and a warm isolate is ready.
    Ready(SandboxReport),
    /// The answer to one `Request::Exec`.
    Exec(ExecResponse),
    /// A host call of the running execution (a fetch, a module).
    Host(HostCall),
    /// The worker cannot go on (e.g. strict sandbox unavailable); it exits
    /// right after sending this.
    Fatal(String),
}

/// The worker's introduction; the supervisor refuses a protocol mismatch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Must equal [`PROTOCOL_VERSION`] on both sides.
    pub protocol_version: u32,
    /// `v8::V8::get_version()` of the worker.
    pub v8_version: String,
    /// The worker's process id, as the worker sees it.
    pub pid: u32,
}

/// How hard the worker must lock itself down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SandboxMode {
    /// No sandbox layers at all (benchmarks and debugging only).
    Off,
    /// Every layer the kernel allows; missing layers are reported.
    BestEffort,
    /// Refuse to run without seccomp.
    Strict,
}

/// Configuration for one worker's lifetime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerConfig {
    /// Sandbox policy.
    pub sandbox: SandboxMode,
    /// Log seccomp violations instead of killing (finding missing syscalls).
    pub sandbox_debug: bool,
    /// Heap limit of the pre-warmed isolate, in MiB.
    pub default_heap_mb: u32,
    /// Cap on ArrayBuffer backing stores per execution, in bytes.
    pub max_array_buffer_bytes: u64,
    /// Largest frame the worker accepts or sends, in bytes.
    pub max_frame_bytes: u64,
    /// RLIMIT_CPU backstop for the whole worker process, in seconds.
    pub cpu_limit_secs: u64,
    /// Nice value the worker runs at (0-19): the supervisor stays ahead of
    /// JavaScript in the CPU queue.
    pub nice: i32,
    /// Whether scripts get the web platform globals (URL, fetch-less
    /// Request/Response, streams, crypto...) from the worker's startup
    /// snapshot; `false` gives plain V8 plus console and timers (the
    /// benchmarks' A/B baseline).
    pub web_globals: bool,
}

/// One layer of the sandbox and whether it is in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxLayer {
    /// Short stable name: `fds`, `env`, `userns`, `netns`, `ipcns`, `utsns`,
    /// `mountns`, `rlimits`, `caps`, `no_new_privs`, `seccomp`.
    pub name: String,
    /// Whether the layer is active.
    pub active: bool,
    /// Why not, or extra detail.
    pub detail: String,
}

/// What the worker managed to lock down before reporting ready.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxReport {
    /// Every layer, in the order they were applied.
    pub layers: Vec<SandboxLayer>,
    /// Where the worker's web globals came from.
    pub web_globals: WebGlobalsSource,
}

impl SandboxReport {
    /// Whether the named layer is active.
    pub fn is_active(&self, name: &str) -> bool {
        self.layers.iter().any(|l| l.name == name && l.active)
    }
}

/// Run one script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecRequest {
    /// Supervisor-chosen id, echoed in the response.
    pub id: u64,
    /// Source text, in `language`.
    pub code: String,
    /// What `code` is written in; TypeScript is stripped of its types by
    /// the worker before it is compiled.
    pub language: Language,
    /// Deadline for the whole execution (script, promises, timers).
    pub timeout_ms: u64,
    /// JS heap limit for this execution, in MiB.
    pub heap_mb: u32,
    /// Console output beyond this many bytes is dropped and flagged.
    pub max_output_bytes: u64,
    /// Snapshot payload to start from (already verified by the supervisor);
    /// `None` starts from a fresh isolate. Encoded as one byte string.
    #[serde(with = "serde_bytes")]
    pub heap: Option<Vec<u8>>,
    /// Whether to capture a heap snapshot after a successful run.
    pub snapshot: bool,
    /// Largest snapshot the worker may return, in bytes.
    pub max_snapshot_bytes: u64,
}

/// The language of [`ExecRequest::code`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Language {
    /// Plain JavaScript, compiled as a classic script.
    #[default]
    JavaScript,
    /// TypeScript: types are stripped (never checked), then the result
    /// runs as JavaScript.
    TypeScript,
}

impl Language {
    /// The name clients use (`javascript`, `typescript`).
    pub fn as_str(self) -> &'static str {
        match self {
            Language::JavaScript => "javascript",
            Language::TypeScript => "typescript",
        }
    }

    /// Parses a client's name for a language (exact, lower case).
    pub fn parse(name: &str) -> Option<Language> {
        match name {
            "javascript" => Some(Language::JavaScript),
            "typescript" => Some(Language::TypeScript),
            _ => None,
        }
    }
}

/// Severity of one console line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LogLevel {
    Log,
    Info,
    Warn,
    Error,
    Debug,
}

impl LogLevel {
    /// Lower-case name used in JSON (`log`, `info`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Log => "log",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
            LogLevel::Debug => "debug",
        }
    }
}

/// One console call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputLine {
    /// Which console method produced it.
    pub level: LogLevel,
    /// Its arguments formatted and joined by spaces.
    pub text: String,
}

/// The completion value of a script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum JsValue {
    /// `undefined` (also the value of a script with no expression).
    Undefined,
    /// A value `JSON.stringify` could serialise; the JSON text.
    Json(String),
    /// Anything else (functions, symbols, BigInt, cycles), as its string form.
    Text(String),
}

/// The answer to one [`ExecRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecResponse {
    /// Echo of [`ExecRequest::id`].
    pub id: u64,
    /// The completion value, or why there is none.
    pub outcome: Result<JsValue, ExecError>,
    /// Console output in call order.
    pub output: Vec<OutputLine>,
    /// Whether output was cut at `max_output_bytes`.
    pub output_truncated: bool,
    /// Wall time from receiving the request to finishing, in microseconds.
    pub duration_us: u64,
    /// The snapshot taken after a successful run, when one was asked for.
    /// Encoded as one byte string.
    #[serde(with = "serde_bytes")]
    pub heap: Option<Vec<u8>>,
}
