//! Host calls: what a running script asks of the supervisor (a `fetch`, a
//! module's source), and the answers.
//!
//! A worker cannot open a file or a socket, so it asks. While a run is in
//! progress the worker may send [`HostCall`]s (as `Response::Host`) at any
//! time; the supervisor decides by its policy, does the IO and answers each
//! with one [`HostReply`] (as `Request::HostReply`) carrying the same
//! `call_id`, in any order. At most [`MAX_HOST_CALLS_IN_FLIGHT`] calls of
//! one run are unanswered at once (the worker refuses more itself; the
//! supervisor treats more as a protocol violation). When the run ends the
//! supervisor abandons its calls; a reply that arrives after the run's
//! `Exec` answer names an old `exec_id` and is ignored by the worker.
//!
//! Same rules as `protocol.rs`: closed enums, bincode-friendly shapes.

use serde::{Deserialize, Serialize};

/// Most host calls of one run that may await their reply at once.
pub const MAX_HOST_CALLS_IN_FLIGHT: usize = 16;

/// Worker -> supervisor, during a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostCall {
    /// The run's `ExecRequest::id`.
    pub exec_id: u64,
    /// Chosen by the worker, unique within the run.
    pub call_id: u32,
    /// What is asked.
    pub kind: HostCallKind,
}

/// The kinds of host call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostCallKind {
    /// Perform an HTTP request.
    Fetch(FetchRequest),
    /// Resolve and load an ES module.
    Module(ModuleRequest),
    /// The script gave up on call `call_id` (e.g. `AbortSignal`); no reply
    /// is sent for an abort itself, and the aborted call gets none either.
    Abort,
    /// Answer `call_id` with [`HostAnswer::Woken`] `after_us` microseconds
    /// from now. The worker's only way to wait with a timeout: it blocks
    /// reading its socket (its seccomp filter has no `poll`), so the next
    /// timer or the deadline is a reply like any other. A run has at most
    /// one: a new `Wake` replaces the one pending.
    Wake {
        /// Microseconds to wait.
        after_us: u64,
    },
}

/// Supervisor -> worker: the answer to one call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostReply {
    /// Echo of [`HostCall::exec_id`].
    pub exec_id: u64,
    /// Echo of [`HostCall::call_id`].
    pub call_id: u32,
    /// The answer or why there is none.
    pub result: Result<HostAnswer, HostError>,
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostAnswer {
    /// The response of a fetch.
    Fetch(FetchResponse),
    /// A module's source.
    Module(ModuleSource),
    /// The time of a [`HostCallKind::Wake`] came.
    Woken,
}

/// Why a host call failed; the worker turns it into a JS error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostError {
    /// The class of failure.
    pub kind: HostErrorKind,
    /// A message for the script (never a header value or a secret).
    pub message: String,
}

/// Classes of host call failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostErrorKind {
    /// The policy does not allow it (e.g. a host not in `--allow-net`).
    Denied,
    /// A per-run or per-request limit was hit.
    Limit,
    /// The network failed (DNS, connect, TLS, reset).
    Network,
    /// The request took too long.
    Timeout,
    /// A module specifier that resolves to nothing.
    NotFound,
    /// The request itself is malformed (bad URL, bad header).
    Invalid,
}

/// How `fetch` treats a redirect (WHATWG `RequestRedirect`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RedirectMode {
    /// Follow up to the supervisor's limit, checking every hop.
    Follow,
    /// Return the 3xx response itself.
    Manual,
    /// A redirect is a network error.
    Error,
}

/// One HTTP request as the script made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchRequest {
    /// Upper-case method.
    pub method: String,
    /// Absolute URL.
    pub url: String,
    /// Header names and values in order.
    pub headers: Vec<(String, String)>,
    /// Request body, if any. Encoded as one byte string.
    #[serde(with = "serde_bytes")]
    pub body: Option<Vec<u8>>,
    /// Redirect handling.
    pub redirect: RedirectMode,
}

/// One HTTP response, body included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchResponse {
    /// Status code.
    pub status: u16,
    /// Reason phrase (canonical for the code).
    pub status_text: String,
    /// The URL of the final response (after redirects).
    pub url: String,
    /// Whether at least one redirect was followed.
    pub redirected: bool,
    /// Header names (lower case) and values in order.
    pub headers: Vec<(String, String)>,
    /// The whole body. Encoded as one byte string.
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
}

/// An import to resolve: `import ... from specifier` inside `referrer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleRequest {
    /// The specifier as written.
    pub specifier: String,
    /// The id of the importing module ([`ModuleSource::id`]), or
    /// [`MAIN_MODULE_ID`] for the script itself.
    pub referrer: String,
}

/// The id of the request's own code when it imports something.
pub const MAIN_MODULE_ID: &str = "main.js";

/// How the id of a module sent with the request begins.
pub const REQUEST_MODULE_PREFIX: &str = "request:";

/// How the id of a module from `--modules-dir` begins.
pub const MODULES_DIR_PREFIX: &str = "modules:";

/// A resolved module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleSource {
    /// Canonical id: the same module always gets the same id within a run
    /// (`request:./util.js`, `modules:zod/lib/index.mjs`), so the worker
    /// instantiates it once.
    pub id: String,
    /// JavaScript source of an ES module.
    pub source: String,
    /// SHA-256 of `source`, hex (a key for a code cache).
    pub sha256: String,
}
