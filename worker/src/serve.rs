//! The worker's request loop and its start-up order.
//!
//! Order (see docs/sandbox.md): adopt the IPC fd and close every other fd,
//! clear the environment, say Hello, read the supervisor's web snapshot (if
//! any) and Init, set the nice value, unshare
//! namespaces and set rlimits (still single-threaded), initialise V8, set
//! no_new_privs, install seccomp, report Ready. Only then is the first Exec
//! read, so untrusted code never runs before the filter is in place.

use std::os::fd::FromRawFd;
use std::os::unix::net::UnixStream;

use mcp_v8_shared::{
    read_frame, write_frame, FrameError, Hello, Request, Response, SandboxMode, WebSnapshot,
    WorkerConfig, HANDSHAKE_MAX_FRAME, PROTOCOL_VERSION, WORKER_IPC_FD,
};

use crate::isolate::Engine;
use crate::sandbox;

/// Why the worker stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("IPC: {0}")]
    Frame(#[from] FrameError),
    #[error("supervisor sent {0} where Init was expected")]
    NoInit(&'static str),
    #[error("sandbox: {0}")]
    Sandbox(#[from] sandbox::SandboxError),
}

/// Runs at `nice` (higher is lower priority; only raising it is allowed
/// without privileges). A refusal is reported on stderr and not fatal.
fn lower_priority(nice: i32) {
    if nice <= 0 {
        return;
    }
    // SAFETY: setpriority changes this thread's scheduling only.
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) } != 0 {
        let e = std::io::Error::last_os_error();
        eprintln!("mcp-v8 worker: cannot set nice {nice}: {e}");
    }
}

/// Runs the conversation with the supervisor to its end.
pub fn serve() -> Result<(), ServeError> {
    // SAFETY: the supervisor placed our end of a socket pair at this fd
    // before exec; nothing else in this process owns it.
    let mut ipc = unsafe { UnixStream::from_raw_fd(WORKER_IPC_FD) };
    let mut layers = sandbox::prepare_process(WORKER_IPC_FD);

    let hello = Hello {
        protocol_version: PROTOCOL_VERSION,
        v8_version: crate::isolate::v8_version().to_string(),
        pid: std::process::id(),
    };
    write_frame(&mut ipc, &Response::Hello(hello), HANDSHAKE_MAX_FRAME)?;
    let mut web: Option<WebSnapshot> = None;
    let config: WorkerConfig = loop {
        match read_frame(&mut ipc, HANDSHAKE_MAX_FRAME) {
            Ok(Request::Init(config)) => break config,
            Ok(Request::WebSnapshot(snapshot)) if web.is_none() => web = Some(snapshot),
            Ok(Request::WebSnapshot(_)) => return Err(ServeError::NoInit("a second WebSnapshot")),
            Ok(Request::Exec(_)) => return Err(ServeError::NoInit("Exec")),
            Ok(Request::HostReply(_)) => return Err(ServeError::NoInit("HostReply")),
            Ok(Request::Shutdown) | Err(FrameError::Closed) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    };
    let max_frame = config.max_frame_bytes;

    // Before any thread exists, so the watchdog inherits it too.
    lower_priority(config.nice);
    if config.sandbox != SandboxMode::Off {
        layers.extend(sandbox::restrict_process(&config));
    }
    let mut engine = Engine::with_web_snapshot(&config, web);
    // SAFETY: `ipc` lives until `serve` returns, after the engine's last
    // run, and the request loop below does not use it while a run goes on.
    unsafe { engine.set_host_fd(WORKER_IPC_FD) };
    if config.sandbox != SandboxMode::Off {
        match sandbox::seal(&config) {
            Ok(sealed) => layers.extend(sealed),
            Err(e) => {
                let _ = write_frame(&mut ipc, &Response::Fatal(e.to_string()), max_frame);
                return Err(e.into());
            }
        }
    }
    engine.prepare();
    let report = mcp_v8_shared::SandboxReport {
        layers,
        web_globals: engine.web_globals_source(),
    };
    write_frame(&mut ipc, &Response::Ready(report), max_frame)?;

    loop {
        match read_frame(&mut ipc, max_frame) {
            Ok(Request::Exec(req)) => {
                let resp = engine.execute(req);
                write_frame(&mut ipc, &Response::Exec(resp), max_frame)?;
                // Build the next isolate while idle, so the next request
                // does not wait for it.
                engine.prepare();
            }
            // A late answer to a host call of a run that already ended.
            Ok(Request::HostReply(_)) => {}
            Ok(Request::Init(_) | Request::WebSnapshot(_)) => {
                let msg = Response::Fatal("Init or WebSnapshot after Init".into());
                write_frame(&mut ipc, &msg, max_frame)?;
            }
            Ok(Request::Shutdown) | Err(FrameError::Closed) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
}
