//! The in-process baseline of `scripts/bench-host`: evaluates the source
//! in FILE (a script, or an ES module when it has `export`) in a fresh
//! isolate per run, through the worker's engine with no IPC, no sandbox
//! and no HTTP. Usage: `eval_floor FILE [iterations]`; prints one JSON
//! line with the p50/p99 of prepare + execute, in microseconds.

use std::time::Instant;

use mcp_v8_shared::{ExecRequest, SandboxMode, WorkerConfig};
use mcp_v8_worker::isolate::Engine;

fn main() {
    let mut args = std::env::args().skip(1);
    let file = args.next().expect("usage: eval_floor FILE [iterations]");
    let code = std::fs::read_to_string(&file).expect("readable FILE");
    let iterations: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(300);
    let config = WorkerConfig {
        sandbox: SandboxMode::Off,
        sandbox_debug: false,
        default_heap_mb: 64,
        max_array_buffer_bytes: 64 << 20,
        max_frame_bytes: 1 << 30,
        cpu_limit_secs: 3600,
        nice: 0,
        web_globals: true,
    };
    let mut engine = Engine::new(&config);
    let mut samples = Vec::with_capacity(iterations);
    for id in 0..iterations as u64 {
        let start = Instant::now();
        engine.prepare();
        let response = engine.execute(ExecRequest {
            id,
            code: code.clone(),
            timeout_ms: 30_000,
            heap_mb: 64,
            max_output_bytes: 1 << 20,
            heap: None,
            snapshot: false,
            max_snapshot_bytes: 1 << 30,
            language: mcp_v8_shared::Language::JavaScript,
        });
        samples.push(start.elapsed().as_secs_f64() * 1e6);
        assert!(response.outcome.is_ok(), "{:?}", response.outcome);
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "{{\"p50_us\": {:.1}, \"p99_us\": {:.1}}}",
        pct(0.5),
        pct(0.99)
    );
}
