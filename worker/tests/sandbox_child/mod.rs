//! The child side of the sandbox tests: a miniature worker.
//!
//! It follows the real start-up order of `serve` (prepare, restrict,
//! initialise V8, start a watchdog-like thread, seal) and then obeys a line
//! protocol on the IPC socket at fd 3:
//!
//! - child -> `ready <n>` then `n` lines `layer <name> <0|1> <detail>`;
//! - `js <len>\n<code>` -> `ok <completion value>` / `err <exception>`;
//! - `fresh_isolate` -> runs `6 * 7` in a new isolate, then drops it;
//! - `attack <name>` -> `ok <text>` / `err <text>` (feature attack-hooks);
//! - `sched` -> scheduling parameters of the main and watchdog threads;
//! - `abort` -> `std::process::abort()` (glibc raises SIGABRT with tgkill);
//! - `exit` -> the process exits with 0 through `std::process::exit`.
//!
//! V8 is driven directly here (not through `worker::isolate`, which another
//! module owns) so the test exercises V8's real syscalls after sealing.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::FromRawFd;
use std::os::unix::net::UnixStream;
use std::sync::mpsc;

use mcp_v8_shared::{SandboxMode, WorkerConfig, WORKER_IPC_FD};
use mcp_v8_worker::sandbox;

/// Runs the child in `mode` (`sealed`, `debug`, `off`, `oom`); never returns.
pub fn main(mode: &str) -> ! {
    let mut layers = sandbox::prepare_process(WORKER_IPC_FD);
    let config = WorkerConfig {
        sandbox: if mode == "off" {
            SandboxMode::Off
        } else {
            SandboxMode::Strict
        },
        sandbox_debug: mode == "debug",
        default_heap_mb: 64,
        max_array_buffer_bytes: 1 << 30,
        max_frame_bytes: 1 << 20,
        cpu_limit_secs: 120,
        nice: 0,
        web_globals: true,
    };
    if config.sandbox != SandboxMode::Off {
        layers.extend(sandbox::restrict_process(&config));
    }

    v8::V8::set_flags_from_string("--single-threaded");
    v8::V8::set_entropy_source(sandbox::fill_random);
    v8::icu::set_common_data_78(deno_core_icudata::ICU_DATA).expect("ICU data");
    let platform = v8::new_single_threaded_default_platform(false).make_shared();
    v8::V8::initialize_platform(platform.clone());
    v8::V8::initialize();
    let heap_mb = if mode == "oom" { 32 } else { 1024 };
    let params = v8::CreateParams::default().heap_limits(0, heap_mb << 20);
    let isolate = &mut v8::Isolate::new(params);
    // The warm-up the engine must do before sealing (sandbox::warmup): one
    // GC on this thread, and WARM_UP_SCRIPT below.
    isolate.low_memory_notification();

    // Like the real worker's watchdog: a second thread that exists when
    // the filter is installed (so TSYNC matters) and waits with a timeout.
    // On request it reports its scheduling parameters, as absl::Mutex does
    // for a waiting thread.
    let (stop_watchdog, ticks) = mpsc::channel::<mpsc::Sender<String>>();
    let watchdog = std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(move || loop {
            match ticks.recv_timeout(std::time::Duration::from_millis(50)) {
                Ok(reply) => {
                    let _ = reply.send(own_sched_params());
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        })
        .expect("spawn watchdog");

    // SAFETY: the parent placed our end of a socket pair at fd 3.
    let ipc = unsafe { UnixStream::from_raw_fd(WORKER_IPC_FD) };
    let mut out = &ipc;
    let mut input = BufReader::new(&ipc);

    {
        v8::scope!(let handle_scope, isolate);
        let context = v8::Context::new(handle_scope, Default::default());
        let scope = &mut v8::ContextScope::new(handle_scope, context);
        run_js(scope, sandbox::WARM_UP_SCRIPT).expect("warm-up script");
    }
    if config.sandbox != SandboxMode::Off {
        layers.extend(sandbox::seal(&config).expect("seal"));
    }
    // The workload's context is created after sealing, as in the engine.
    v8::scope!(let handle_scope, isolate);
    let context = v8::Context::new(handle_scope, Default::default());
    let scope = &mut v8::ContextScope::new(handle_scope, context);
    let mut hello = format!("ready {}\n", layers.len());
    for l in &layers {
        let detail = l.detail.replace('\n', " ");
        hello.push_str(&format!(
            "layer {} {} {detail}\n",
            l.name,
            u8::from(l.active)
        ));
    }
    out.write_all(hello.as_bytes()).expect("write ready");
    loop {
        let mut line = String::new();
        if input.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let line = line.trim_end();
        let reply = if let Some(len) = line.strip_prefix("js ") {
            let mut code = vec![0; len.parse().expect("js length")];
            input.read_exact(&mut code).expect("js code");
            let result = run_js(scope, &String::from_utf8_lossy(&code));
            while v8::Platform::pump_message_loop(&platform, scope, false) {}
            scope.perform_microtask_checkpoint();
            result
        } else if line == "sched" {
            let (reply, answer) = mpsc::channel();
            stop_watchdog.send(reply).expect("watchdog alive");
            let watchdog = answer.recv().expect("watchdog answer");
            Ok(format!("main {} watchdog {watchdog}", own_sched_params()))
        } else if line == "abort" {
            std::process::abort()
        } else if line == "fresh_isolate" {
            fresh_isolate()
        } else if let Some(name) = line.strip_prefix("attack ") {
            attack(name)
        } else if line == "exit" {
            break;
        } else {
            Err(format!("unknown command {line:?}"))
        };
        let reply = match reply {
            Ok(text) => format!("ok {}\n", text.replace('\n', "\\n")),
            Err(text) => format!("err {}\n", text.replace('\n', "\\n")),
        };
        out.write_all(reply.as_bytes()).expect("write reply");
    }
    drop(stop_watchdog);
    watchdog.join().expect("watchdog");
    // Like serve: the IPC stream is dropped (closed) before exiting.
    drop(input);
    drop(ipc);
    std::process::exit(0)
}

#[cfg(feature = "attack-hooks")]
fn attack(name: &str) -> Result<String, String> {
    sandbox::attack::perform(name)
}

#[cfg(not(feature = "attack-hooks"))]
fn attack(_name: &str) -> Result<String, String> {
    Err("built without the attack-hooks feature".into())
}

/// `sched_getparam` and `sched_getscheduler` of the calling thread by tid,
/// as glibc's pthread_getschedparam does.
fn own_sched_params() -> String {
    let tid = nix::unistd::gettid().as_raw();
    let mut param = libc::sched_param { sched_priority: -1 };
    // SAFETY: `param` is a valid sched_param to write to.
    let rc = unsafe { libc::sched_getparam(tid, &mut param) };
    // SAFETY: plain syscall with an integer argument.
    let policy = unsafe { libc::sched_getscheduler(tid) };
    format!("rc={rc},prio={},policy={policy}", param.sched_priority)
}

/// What the real engine does after sealing: a new isolate and context per
/// execution (V8 seeds a random generator and looks up the stack bounds).
fn fresh_isolate() -> Result<String, String> {
    let params = v8::CreateParams::default().heap_limits(0, 64 << 20);
    let isolate = &mut v8::Isolate::new(params);
    v8::scope!(let handle_scope, isolate);
    let context = v8::Context::new(handle_scope, Default::default());
    let scope = &mut v8::ContextScope::new(handle_scope, context);
    run_js(scope, "[6 * 7, Math.random() < 1].join()")
}

fn run_js(scope: &mut v8::PinScope, code: &str) -> Result<String, String> {
    v8::tc_scope!(let tc, scope);
    let source = v8::String::new(tc, code).ok_or("source too long")?;
    let value = v8::Script::compile(tc, source, None).and_then(|script| script.run(tc));
    match value {
        Some(value) => Ok(value.to_rust_string_lossy(tc)),
        None => Err(tc
            .exception()
            .map(|e| e.to_rust_string_lossy(tc))
            .unwrap_or_else(|| "terminated".into())),
    }
}
