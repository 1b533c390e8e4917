//! In-process floor for heap benchmarks: restore, run and snapshot through
//! the worker's own engine, with no IPC, no disk and no sandbox.
//!
//! Usage: `heap_floor [iterations]`. Prints one line of JSON (milliseconds):
//! small heap restore+run+snapshot p50/p99 and snapshot bytes; 10 MB heap
//! restore+run p50 and restore+run+snapshot p50 (capture = the difference).

use std::time::Instant;

use mcp_v8_shared::{ExecRequest, SandboxMode, WorkerConfig};
use mcp_v8_worker::isolate::Engine;

const SMALL_INIT: &str = "var counter = 0; const user = { name: 'ada', tags: ['a', 'b'] }; \
    class Point { constructor(x, y) { this.x = x; this.y = y } } \
    const points = new Map([[1, new Point(1, 2)]]); 'ready'";
const BIG_INIT: &str =
    "globalThis.big = Array.from({ length: 1250000 }, (_, i) => i * 1.5); 'ready'";

fn request(code: &str, heap: Option<Vec<u8>>, snapshot: bool) -> ExecRequest {
    ExecRequest {
        id: 0,
        code: code.into(),
        timeout_ms: 60_000,
        heap_mb: 256,
        max_output_bytes: 1 << 20,
        heap,
        snapshot,
        max_snapshot_bytes: 1 << 30,
    }
}

fn run(engine: &mut Engine, req: ExecRequest) -> (f64, Option<Vec<u8>>) {
    engine.prepare();
    let start = Instant::now();
    let response = engine.execute(req);
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    assert!(response.outcome.is_ok(), "{:?}", response.outcome);
    (ms, response.heap)
}

fn pct(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(|a, b| a.total_cmp(b));
    samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)]
}

fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100);
    let config = WorkerConfig {
        sandbox: SandboxMode::Off,
        sandbox_debug: false,
        default_heap_mb: 256,
        max_array_buffer_bytes: 1 << 30,
        max_frame_bytes: 1 << 30,
        cpu_limit_secs: 3600,
        nice: 0,
        web_globals: true,
    };
    let mut engine = Engine::new(&config);

    let (_, small) = run(&mut engine, request(SMALL_INIT, None, true));
    let mut small = small.expect("small snapshot");
    let mut small_ms = Vec::new();
    for _ in 0..iterations {
        let (ms, next) = run(&mut engine, request("counter++", Some(small.clone()), true));
        small_ms.push(ms);
        small = next.expect("snapshot");
    }

    let (_, big) = run(&mut engine, request(BIG_INIT, None, true));
    let big = big.expect("big snapshot");
    let big_iterations = (iterations / 5).max(5);
    let mut restore_ms = Vec::new();
    let mut full_ms = Vec::new();
    for _ in 0..big_iterations {
        restore_ms.push(run(&mut engine, request("big.length", Some(big.clone()), false)).0);
        full_ms.push(run(&mut engine, request("big.length", Some(big.clone()), true)).0);
    }
    println!(
        "{{\"small_p50_ms\": {:.3}, \"small_p99_ms\": {:.3}, \"small_bytes\": {}, \
         \"big_restore_run_p50_ms\": {:.3}, \"big_restore_run_snapshot_p50_ms\": {:.3}, \"big_bytes\": {}}}",
        pct(&mut small_ms, 0.5),
        pct(&mut small_ms, 0.99),
        small.len(),
        pct(&mut restore_ms, 0.5),
        pct(&mut full_ms, 0.5),
        big.len()
    );
}
