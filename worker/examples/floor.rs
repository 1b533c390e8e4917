//! The in-process floor for benchmarks: a fresh isolate plus a run of
//! `1 + 1` (or of the script or ES module in FILE), through the worker's
//! own engine but with no IPC, no sandbox and no HTTP.
//!
//! Usage: `floor [iterations] [FILE]` (`MCP_V8_WEB_GLOBALS=0`: without the
//! web platform globals, the A/B baseline; `FLOOR_FAKE_HOST=1`: a thread
//! answers every fetch at once with a small fixed response over a socket
//! pair, so the worker's own side of a host call can be measured). Prints one line of JSON with
//! the per-run p50/p99 (prepare + execute, in microseconds), the runs per
//! second this one core sustains, the process's CPU time per run (all
//! threads), and how often the web glue was compiled
//! with its code cache, with a rejected one, or without.

use std::time::Instant;

use mcp_v8_shared::{ExecRequest, SandboxMode, WorkerConfig};
use mcp_v8_worker::isolate::Engine;

fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let code = match std::env::args().nth(2) {
        Some(file) => std::fs::read_to_string(file).expect("readable FILE"),
        None => "1 + 1".to_string(),
    };
    let config = WorkerConfig {
        sandbox: SandboxMode::Off,
        sandbox_debug: false,
        default_heap_mb: 64,
        max_array_buffer_bytes: 64 << 20,
        max_frame_bytes: 1 << 30,
        cpu_limit_secs: 3600,
        nice: 0,
        web_globals: std::env::var("MCP_V8_WEB_GLOBALS").map_or(true, |v| v != "0"),
    };
    let mut engine = Engine::new(&config);
    if std::env::var("FLOOR_FAKE_HOST").is_ok_and(|v| v == "1") {
        let fd = fake_host();
        // SAFETY: the socket stays open for the process's life (the thread
        // holds the other end) and only the engine uses this end.
        unsafe { engine.set_host_fd(fd) };
    }
    let mut samples = Vec::with_capacity(iterations);
    let mut prepare_us = Vec::with_capacity(iterations);
    let total = Instant::now();
    let cpu_start = process_cpu_us();
    for id in 0..iterations as u64 {
        let start = Instant::now();
        engine.prepare();
        prepare_us.push(start.elapsed().as_secs_f64() * 1e6);
        let response = engine.execute(ExecRequest {
            id,
            code: code.clone(),
            language: mcp_v8_shared::Language::JavaScript,
            timeout_ms: 30_000,
            heap_mb: 64,
            max_output_bytes: 1 << 20,
            heap: None,
            snapshot: false,
            max_snapshot_bytes: 1 << 30,
        });
        samples.push(start.elapsed().as_secs_f64() * 1e6);
        assert!(response.outcome.is_ok(), "{:?}", response.outcome);
    }
    let rate = iterations as f64 / total.elapsed().as_secs_f64();
    let cpu_per_run = (process_cpu_us() - cpu_start) / iterations as f64;
    prepare_us.sort_by(|a, b| a.total_cmp(b));
    let prepare_p50 = prepare_us[prepare_us.len() / 2];
    samples.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    let (cached, rejected, uncached) = mcp_v8_worker::isolate::web_glue_compilations();
    println!(
        "{{\"iterations\": {iterations}, \"p50_us\": {:.1}, \"p99_us\": {:.1}, \"per_sec\": {:.1}, \"prepare_p50_us\": {:.1}, \"cpu_us_per_run\": {:.1}, \"glue_cached\": {cached}, \"glue_rejected\": {rejected}, \"glue_uncached\": {uncached}}}",
        pct(0.50),
        pct(0.99),
        rate,
        prepare_p50,
        cpu_per_run
    );
}

/// CPU time this process has used (all threads), in microseconds: less
/// sensitive than wall time to what else the machine runs.
fn process_cpu_us() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer for the call.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e6 + ts.tv_nsec as f64 / 1e3
}

/// Our end of a socket pair whose other end a thread serves: every fetch
/// is answered with `200 OK` and a 30-byte body, as from a loopback server.
fn fake_host() -> std::os::fd::RawFd {
    use mcp_v8_shared::{
        read_frame, write_frame, FetchResponse, HostAnswer, HostCallKind, HostReply, Request,
        Response,
    };
    use std::os::fd::IntoRawFd;
    let (ours, mut theirs) = std::os::unix::net::UnixStream::pair().expect("socket pair");
    std::thread::spawn(move || {
        while let Ok(Response::Host(call)) = read_frame::<Response>(&mut theirs, 1 << 30) {
            let HostCallKind::Fetch(req) = call.kind else {
                continue;
            };
            let reply = HostReply {
                exec_id: call.exec_id,
                call_id: call.call_id,
                result: Ok(HostAnswer::Fetch(FetchResponse {
                    status: 200,
                    status_text: "OK".into(),
                    url: req.url,
                    redirected: false,
                    headers: vec![
                        ("content-type".into(), "text/plain".into()),
                        ("content-length".into(), "30".into()),
                    ],
                    body: b"a small body of thirty bytes.\n".to_vec(),
                })),
            };
            if write_frame(&mut theirs, &Request::HostReply(reply), 1 << 30).is_err() {
                break;
            }
        }
    });
    ours.into_raw_fd()
}
