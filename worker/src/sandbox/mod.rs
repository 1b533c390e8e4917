//! Locks the worker process down before any untrusted code runs.
//!
//! Owns every sandbox layer of the worker and the order they are applied in
//! (the caller, `serve`, decides *when*; see docs/sandbox.md):
//!
//! 1. [`prepare_process`] (single-threaded, first thing): check the IPC fd,
//!    close every other fd, clear the environment ([`fds`]).
//! 2. [`restrict_process`] (single-threaded, after `Init`): user, net, ipc,
//!    uts and mount namespaces ([`namespaces`]), rlimits ([`rlimit`]), and
//!    dropping every capability ([`caps`]).
//! 3. V8 is initialised by the caller (it may still read files), with
//!    [`fill_random`] as its entropy source, and warmed up (one GC on the JS
//!    thread, [`WARM_UP_SCRIPT`]); see [`warmup`] for why: V8, ICU and
//!    glibc open files lazily, and `open` kills a sealed worker.
//! 4. [`seal`]: `no_new_privs` and the seccomp allowlist ([`seccomp`], the
//!    table itself is data in [`allowlist`]), applied to every thread.
//!
//! Each step returns one [`SandboxLayer`] per layer, in order, so the
//! supervisor can show which layers the kernel granted. Only a missing
//! seccomp filter in [`SandboxMode::Strict`] is an error.

pub mod allowlist;
#[cfg(feature = "attack-hooks")]
pub mod attack;
mod caps;
mod entropy;
mod fds;
mod namespaces;
mod rlimit;
pub mod seccomp;
mod warmup;

pub use entropy::fill_random;
use mcp_v8_shared::{SandboxLayer, SandboxMode, WorkerConfig};
pub use warmup::WARM_UP_SCRIPT;

/// Why the sandbox could not be put in place.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("seccomp unavailable and --sandbox=strict: {0}")]
    StrictUnavailable(String),
}

/// Builds the report entry of one layer.
pub(crate) fn layer(name: &str, active: bool, detail: impl Into<String>) -> SandboxLayer {
    SandboxLayer {
        name: name.to_string(),
        active,
        detail: detail.into(),
    }
}

/// Step 1: adopt the IPC fd, close every other fd, clear the environment.
///
/// Must run while the process is single-threaded (it edits the
/// environment). Layers: `fds`, `env`.
pub fn prepare_process(ipc_fd: i32) -> Vec<SandboxLayer> {
    vec![fds::close_other_fds(ipc_fd), fds::clear_environment()]
}

/// Steps 2-3: namespaces, rlimits and capabilities, while still
/// single-threaded (unsharing a user namespace fails in a threaded process).
///
/// Layers: `userns`, `netns`, `ipcns`, `utsns`, `mountns`, `rlimits`,
/// `caps`. A layer the kernel refuses is reported inactive with the errno.
pub fn restrict_process(config: &WorkerConfig) -> Vec<SandboxLayer> {
    let mut layers = namespaces::unshare_all();
    layers.push(rlimit::apply(config.cpu_limit_secs));
    layers.push(caps::drop_all());
    layers
}

/// Steps 5-6: `no_new_privs` and the seccomp filter, after V8 is
/// initialised and before any untrusted code runs.
///
/// Layers: `no_new_privs`, `seccomp`. Without seccomp, strict mode is an
/// error; best-effort mode reports the layer inactive with the reason.
pub fn seal(config: &WorkerConfig) -> Result<Vec<SandboxLayer>, SandboxError> {
    let no_new_privs = seccomp::set_no_new_privs();
    let filter = match &no_new_privs {
        // Without no_new_privs the kernel refuses an unprivileged filter;
        // do not even try, so the reason stays the first one.
        Err(reason) => Err(format!("no_new_privs failed first: {reason}")),
        Ok(()) => seccomp::install(config.sandbox_debug),
    };
    if config.sandbox == SandboxMode::Strict {
        if let Err(reason) = &filter {
            return Err(SandboxError::StrictUnavailable(reason.clone()));
        }
    }
    Ok(vec![
        match no_new_privs {
            Ok(()) => layer("no_new_privs", true, "PR_SET_NO_NEW_PRIVS"),
            Err(reason) => layer("no_new_privs", false, reason),
        },
        match filter {
            Ok(detail) => layer("seccomp", true, detail),
            Err(reason) => layer("seccomp", false, reason),
        },
    ])
}
