//! The worker side of mcp-v8: one process, one V8 isolate at a time.
//!
//! The `mcp-v8` binary re-executes itself with [`WORKER_ARG`] as its first
//! argument; `main` then calls [`run`] before starting any thread. The
//! worker talks only to its supervisor, over the Unix socket at fd
//! [`WORKER_IPC_FD`], and never opens a file or socket after start-up.
//!
//! Module map: [`serve`] is the request loop and owns the start-up order;
//! [`sandbox`] locks the process down; [`isolate`] owns every V8 call;
//! [`typescript`] strips TypeScript to JavaScript before it is compiled.
//!
//! [`WORKER_ARG`]: mcp_v8_shared::WORKER_ARG
//! [`WORKER_IPC_FD`]: mcp_v8_shared::WORKER_IPC_FD

pub mod isolate;
pub mod sandbox;
pub mod serve;
pub mod typescript;

/// The `__web-snapshot` child of the supervisor: builds the web globals'
/// startup snapshot (see [`isolate::build_web_snapshot`]), writes it to
/// stdout as one frame and exits. `args` are the arguments after
/// [`WEB_SNAPSHOT_ARG`]: the workers' ArrayBuffer cap in bytes. Runs only
/// the project's own JavaScript; reads nothing but its arguments.
///
/// [`WEB_SNAPSHOT_ARG`]: mcp_v8_shared::WEB_SNAPSHOT_ARG
pub fn run_web_snapshot(args: &[String]) -> ! {
    let outcome = args
        .first()
        .and_then(|a| a.parse::<u64>().ok())
        .ok_or_else(|| "usage: __web-snapshot MAX_ARRAY_BUFFER_BYTES".to_string())
        .and_then(isolate::build_web_snapshot)
        .and_then(|snapshot| {
            let mut out = std::io::stdout().lock();
            mcp_v8_shared::write_frame(&mut out, &snapshot, mcp_v8_shared::HANDSHAKE_MAX_FRAME)
                .map_err(|e| format!("cannot write the snapshot: {e}"))
        });
    match outcome {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("mcp-v8 web snapshot: {e}");
            std::process::exit(1)
        }
    }
}

/// Runs the worker until its supervisor says `Shutdown` or goes away, then
/// exits the process. Must be called while the process is single-threaded.
pub fn run() -> ! {
    let code = match serve::serve() {
        Ok(()) => 0,
        Err(e) => {
            // stderr is captured by the supervisor and logged with our id.
            eprintln!("mcp-v8 worker: {e}");
            1
        }
    };
    std::process::exit(code)
}
