//! Engine tests: JS behaviour as a table, then limits, recovery and
//! snapshots. V8 can be initialised once per process and isolates are
//! bound to their thread, so everything runs inside ONE `#[test]` on one
//! engine, in order.

use std::time::Instant;

use mcp_v8_shared::{
    ExecError, ExecRequest, ExecResponse, JsValue, LogLevel, SandboxMode, WorkerConfig,
};

use super::Engine;

mod modules;
mod web;

/// Default heap of the test engine, in MiB.
const HEAP_MB: u32 = 64;

fn config() -> WorkerConfig {
    WorkerConfig {
        sandbox: SandboxMode::Off,
        sandbox_debug: false,
        default_heap_mb: HEAP_MB,
        max_array_buffer_bytes: 64 << 20,
        max_frame_bytes: 64 << 20,
        cpu_limit_secs: 600,
        nice: 0,
        web_globals: true,
    }
}

fn request(code: &str) -> ExecRequest {
    ExecRequest {
        id: 7,
        code: code.to_string(),
        language: mcp_v8_shared::Language::JavaScript,
        timeout_ms: 2000,
        heap_mb: HEAP_MB,
        max_output_bytes: 64 * 1024,
        heap: None,
        snapshot: false,
        max_snapshot_bytes: 64 << 20,
    }
}

fn exec(engine: &mut Engine, req: ExecRequest) -> ExecResponse {
    let resp = engine.execute(req);
    engine.prepare();
    resp
}

/// What a table case expects.
enum Want {
    /// `Ok(Json(text))`.
    Json(&'static str),
    /// `Ok(Text(text))`.
    Text(&'static str),
    /// `Ok(Undefined)`.
    Undefined,
    /// `Err(Exception)` with this name and a message containing the text.
    Throws(&'static str, &'static str),
}

/// (code, expected outcome, expected output lines as "level:text").
const CASES: &[(&str, Want, &[&str])] = &[
    ("1 + 2", Want::Json("3"), &[]),
    ("let x = 1", Want::Undefined, &[]),
    ("undefined", Want::Undefined, &[]),
    ("'hi'", Want::Json("\"hi\""), &[]),
    ("({a: 1, b: [1, 2], c: null})", Want::Json("{\"a\":1,\"b\":[1,2],\"c\":null}"), &[]),
    ("(function foo() {})", Want::Text("[Function: foo]"), &[]),
    ("Symbol('s')", Want::Text("Symbol(s)"), &[]),
    ("10n", Want::Text("10n"), &[]),
    ("const o = {}; o.self = o; o", Want::Text("<ref *1> { self: [Circular *1] }"), &[]),
    ("Promise.resolve(5)", Want::Json("5"), &[]),
    ("(async () => { await null; return 'x' })()", Want::Json("\"x\""), &[]),
    ("const x = await Promise.resolve(41); x + 1", Want::Json("42"), &[]),
    ("const y = await Promise.resolve(2)\ny * 3;\n", Want::Json("6"), &[]),
    ("await new Promise(r => setTimeout(() => r(7), 10))", Want::Json("7"), &[]),
    ("const z = await 1; let w = 2", Want::Undefined, &[]),
    ("new Promise(() => {})", Want::Text("Promise { <pending> }"), &[]),
    ("throw new TypeError('bad')", Want::Throws("TypeError", "bad"), &[]),
    ("throw 42", Want::Throws("Uncaught", "42"), &[]),
    // A rejected result ends the run at once: the pending 60 s timer
    // would otherwise outlast the 2 s deadline.
    (
        "setTimeout(() => {}, 60000); await null; throw new RangeError('late')",
        Want::Throws("RangeError", "late"),
        &[],
    ),
    ("throw {a: 1}", Want::Throws("Uncaught", "{ a: 1 }"), &[]),
    ("Promise.reject(new Error('no'))", Want::Throws("Error", "no"), &[]),
    ("Promise.reject(1); 5", Want::Throws("Uncaught", "1"), &[]),
    ("const p = Promise.reject(1); p.catch(() => {}); 5", Want::Json("5"), &[]),
    ("const q = Promise.reject(2); await null; q.catch(() => {}); 6", Want::Json("6"), &[]),
    ("queueMicrotask(() => { throw new Error('qm') })", Want::Throws("Error", "qm"), &[]),
    ("setTimeout(() => { throw new RangeError('late') }, 1)", Want::Throws("RangeError", "late"), &[]),
    // Native globals are like Web IDL operations: no `prototype`, not
    // constructors.
    (
        "[typeof console.log.prototype, typeof setTimeout.prototype, \
          (() => { try { new queueMicrotask(() => {}); return 'made' } catch (e) { return e.name } })()]",
        Want::Json("[\"undefined\",\"undefined\",\"TypeError\"]"),
        &[],
    ),
    ("let = ;", Want::Throws("SyntaxError", ""), &[]),
    ("await (", Want::Throws("SyntaxError", ""), &[]),
    ("new Intl.NumberFormat('de-DE').format(1234.5)", Want::Json("\"1.234,5\""), &[]),
    (
        "const m = await WebAssembly.instantiate(new Uint8Array([0,97,115,109,1,0,0,0])); typeof m.instance",
        Want::Json("\"object\""),
        &[],
    ),
    (
        "console.log('a', 1); console.info('i'); console.warn('w'); console.error('e'); console.debug('d')",
        Want::Undefined,
        &["log:a 1", "info:i", "warn:w", "error:e", "debug:d"],
    ),
    (
        "console.log([1, 2, 3], {a: 1, b: 'x'}, -0, 1n, Symbol('q'), undefined, null, true, 'raw', 1.5)",
        Want::Undefined,
        &["log:[ 1, 2, 3 ] { a: 1, b: 'x' } -0 1n Symbol(q) undefined null true raw 1.5"],
    ),
    ("console.log({a: {b: {c: {d: 1}}}})", Want::Undefined, &["log:{ a: { b: { c: [Object] } } }"]),
    ("console.log([[[[1]]]])", Want::Undefined, &["log:[ [ [ [Array] ] ] ]"]),
    (
        "console.log(new Map([['a', 1]]), new Set([1, 2]), new Map())",
        Want::Undefined,
        &["log:Map(1) { 'a' => 1 } Set(2) { 1, 2 } Map(0) {}"],
    ),
    ("console.log(new Date(0), /ab+c/gi)", Want::Undefined, &["log:1970-01-01T00:00:00.000Z /ab+c/gi"]),
    (
        "class X {}; class Y extends X {}; console.log(X, Y, function f() {}, () => {}, async function g() {})",
        Want::Undefined,
        &["log:[class X] [class Y extends X] [Function: f] [Function (anonymous)] [AsyncFunction: g]"],
    ),
    ("console.log('%s is %d%%', 'x', 42, 'extra')", Want::Undefined, &["log:x is 42% extra"]),
    ("console.log([, 1], [], {})", Want::Undefined, &["log:[ <1 empty item>, 1 ] [] {}"]),
    ("class P { constructor() { this.x = 1 } }; console.log(new P())", Want::Undefined, &["log:P { x: 1 }"]),
    (
        "console.log({ 'a-b': 1, [Symbol('k')]: 2, get g() { return 1 } })",
        Want::Undefined,
        &["log:{ 'a-b': 1, g: [Getter], [Symbol(k)]: 2 }"],
    ),
    ("console.log([\"it's\"], Object.create(null))", Want::Undefined, &["log:[ \"it's\" ] [Object: null prototype] {}"]),
    (
        "console.log(new Number(3), Promise.resolve(4), new Uint8Array([1, 2]))",
        Want::Undefined,
        &["log:[Number: 3] Promise { 4 } Uint8Array(2) [ 1, 2 ]"],
    ),
    (
        "setTimeout(() => console.log('t'), 0); Promise.resolve().then(() => console.log('m')); console.log('s')",
        Want::Undefined,
        &["log:s", "log:m", "log:t"],
    ),
    (
        "setTimeout(() => console.log('b'), 30); setTimeout(() => console.log('a'), 15);\n\
         const t = setTimeout(() => console.log('never'), 5); clearTimeout(t);\n\
         let n = 0; const i = setInterval(() => { console.log('i' + n); if (++n === 3) clearInterval(i) }, 1);",
        Want::Undefined,
        &["log:i0", "log:i1", "log:i2", "log:a", "log:b"],
    ),
    (
        "setTimeout((a, b) => console.log(a + b), 1, 2, 3); setTimeout(() => console.log('same'), 1)",
        Want::Json("2"),
        &["log:5", "log:same"],
    ),
    ("setTimeout('code', 1)", Want::Throws("TypeError", "callback"), &[]),
    ("new ArrayBuffer(4e9)", Want::Throws("RangeError", ""), &[]),
    ("try { new ArrayBuffer(4e9) } catch (e) { e.name }", Want::Json("\"RangeError\""), &[]),
    ("let s = 'x'; while (true) s += s;", Want::Throws("RangeError", "string length"), &[]),
];

fn check_case(engine: &mut Engine, code: &str, want: &Want, lines: &[&str]) {
    let resp = exec(engine, request(code));
    assert_eq!(resp.id, 7);
    let got: Vec<String> = resp
        .output
        .iter()
        .map(|l| format!("{}:{}", l.level.as_str(), l.text))
        .collect();
    assert_eq!(got, lines, "output of {code:?}");
    match (want, &resp.outcome) {
        (Want::Json(w), Ok(JsValue::Json(g))) => assert_eq!(g, w, "{code:?}"),
        (Want::Text(w), Ok(JsValue::Text(g))) => assert_eq!(g, w, "{code:?}"),
        (Want::Undefined, Ok(JsValue::Undefined)) => {}
        (Want::Throws(name, msg), Err(ExecError::Exception(e))) => {
            assert_eq!(e.name, *name, "{code:?}: {e:?}");
            assert!(e.message.contains(msg), "{code:?}: {e:?}");
        }
        (_, other) => panic!("{code:?}: unexpected outcome {other:?}"),
    }
}

#[test]
fn engine() {
    let mut engine = Engine::new(&config());
    engine.prepare();
    for (code, want, lines) in CASES {
        check_case(&mut engine, code, want, lines);
    }
    errors_have_stacks(&mut engine);
    limits(&mut engine);
    output_cap(&mut engine);
    snapshots(&mut engine);
    web::glue_code_cache(&mut engine);
    web::snapshot_checks(&mut engine);
    web::lazy_globals(&mut engine);
    timings(&mut engine);
    // Last: it gives the engine a host for good.
    modules::module_code_cache(&mut engine);
}

fn errors_have_stacks(engine: &mut Engine) {
    let resp = exec(
        engine,
        request("function boom() { throw new Error('x') }\nboom()"),
    );
    let Err(ExecError::Exception(e)) = resp.outcome else {
        panic!("{:?}", resp.outcome)
    };
    let stack = e.stack.unwrap_or_default();
    assert!(
        stack.starts_with("Error: x\n    at boom (script.js:1:"),
        "{stack}"
    );
    let resp = exec(engine, request("console.log(new Error('boom'))"));
    assert!(
        resp.output[0].text.starts_with("Error: boom\n    at "),
        "{:?}",
        resp.output
    );
    let resp = exec(engine, request("\n\nlet = ;"));
    let Err(ExecError::Exception(e)) = resp.outcome else {
        panic!("{:?}", resp.outcome)
    };
    assert!(e.stack.unwrap_or_default().contains("script.js:3:"));
}

fn limits(engine: &mut Engine) {
    let loops = [
        "while (true) {}",
        "function f() { Promise.resolve().then(f) } f()",
        "setInterval(() => {}, 1)",
        "Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0)",
        "console.log('before'); await new Promise(() => { setInterval(() => {}, 1) })",
    ];
    for code in loops {
        let mut req = request(code);
        req.timeout_ms = 200;
        let started = Instant::now();
        let resp = exec(engine, req);
        assert_eq!(
            resp.outcome,
            Err(ExecError::Timeout { timeout_ms: 200 }),
            "{code}"
        );
        assert!(
            started.elapsed().as_millis() < 1500,
            "{code} took {:?}",
            started.elapsed()
        );
        check_case(engine, "1 + 1", &Want::Json("2"), &[]);
    }
    let bombs = [
        "let a = []; while (true) a.push(new Array(1e6).fill(1))",
        "let o = {}; for (let i = 0; ; i++) o['k' + i] = 'v'.repeat(100) + i",
        "let s = 'ab'.repeat(2 ** 27); s += 'c'; s.toUpperCase().length",
    ];
    for code in bombs {
        let resp = exec(engine, request(code));
        assert_eq!(
            resp.outcome,
            Err(ExecError::MemoryLimit { heap_mb: HEAP_MB }),
            "{code}"
        );
        check_case(engine, "1 + 1", &Want::Json("2"), &[]);
    }
    // A different heap limit builds its own isolate.
    let mut req = request("let a = []; while (true) a.push(new Array(1e6).fill(1))");
    req.heap_mb = 16;
    assert_eq!(
        exec(engine, req).outcome,
        Err(ExecError::MemoryLimit { heap_mb: 16 })
    );
    let mut req = request("2 + 2");
    req.timeout_ms = u64::MAX;
    assert_eq!(exec(engine, req).outcome, Ok(JsValue::Json("4".into())));
    let mut req = request("function r() { r() } r()");
    req.timeout_ms = 5000;
    let resp = exec(engine, req);
    assert!(
        matches!(resp.outcome, Err(ExecError::Exception(ref e)) if e.name == "RangeError"),
        "{:?}",
        resp.outcome
    );
    let mut req = request("2 + 2");
    req.heap_mb = 128;
    assert_eq!(exec(engine, req).outcome, Ok(JsValue::Json("4".into())));
}

fn output_cap(engine: &mut Engine) {
    let mut req = request("for (let i = 0; i < 1e6; i++) console.log('line ' + i); 'done'");
    req.max_output_bytes = 1000;
    let resp = exec(engine, req);
    assert_eq!(resp.outcome, Ok(JsValue::Json("\"done\"".into())));
    assert!(resp.output_truncated);
    let total: usize = resp.output.iter().map(|l| l.text.len() + 1).sum();
    assert!(total <= 1000, "{total}");
    assert!(resp.output.len() > 50);
    assert_eq!(resp.output[0].level, LogLevel::Log);
    // One huge line is cut, not copied whole.
    let mut req = request("console.log('é'.repeat(1e7)); console.log('dropped')");
    req.max_output_bytes = 101;
    let resp = exec(engine, req);
    assert!(resp.output_truncated);
    assert_eq!(resp.output.len(), 1);
    assert_eq!(resp.output[0].text.len(), 100);
}

fn snapshot_request(code: &str, heap: Option<Vec<u8>>, snapshot: bool) -> ExecRequest {
    let mut req = request(code);
    req.heap = heap;
    req.snapshot = snapshot;
    req
}

fn snapshots(engine: &mut Engine) {
    let code = "const a = 1; var b = 2; let c = 3; function f() { return 4 }\n\
                class K { get v() { return 5 } }\n\
                const m = new Map([['k', 6]]); globalThis.g = 7; console.log('saved'); a";
    let checksums = super::checksum::calls();
    let resp = exec(engine, snapshot_request(code, None, true));
    assert_eq!(resp.outcome, Ok(JsValue::Json("1".into())));
    assert_eq!(resp.output.len(), 1);
    let blob = resp.heap.expect("a snapshot");
    assert!(blob.len() > 1000);
    // V8 checksummed the new blob with our linked-in implementation.
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    assert!(
        super::checksum::calls() > checksums,
        "V8's own Checksum was linked"
    );
    let _ = checksums;

    let read =
        "console.log('restored', typeof setTimeout); a + b + c + f() + new K().v + m.get('k') + g";
    let resp = exec(engine, snapshot_request(read, Some(blob.clone()), false));
    assert_eq!(
        resp.outcome,
        Ok(JsValue::Json("28".into())),
        "{:?}",
        resp.output
    );
    assert_eq!(resp.output[0].text, "restored function");
    assert!(resp.heap.is_none());

    // Chained: restore, change, snapshot again, restore.
    let resp = exec(
        engine,
        snapshot_request(
            "const d = a + 10; m.set('z', 1); d",
            Some(blob.clone()),
            true,
        ),
    );
    assert_eq!(resp.outcome, Ok(JsValue::Json("11".into())));
    let blob2 = resp.heap.expect("a second snapshot");
    let resp = exec(engine, snapshot_request("d + m.size", Some(blob2), false));
    assert_eq!(resp.outcome, Ok(JsValue::Json("13".into())));

    // Timers work after a restore; pending ones were not carried over.
    let resp = exec(
        engine,
        snapshot_request("setTimeout(() => console.log('late'), 50); 1", None, true),
    );
    let blob3 = resp.heap.expect("snapshot with a pending timer");
    assert!(resp.output.iter().any(|l| l.text == "late"));
    let resp = exec(
        engine,
        snapshot_request(
            "await new Promise(r => setTimeout(r, 1)); 2",
            Some(blob3),
            false,
        ),
    );
    assert_eq!(resp.outcome, Ok(JsValue::Json("2".into())));
    assert!(resp.output.is_empty());

    // Math.random does not replay across restores of one blob.
    let r1 = exec(
        engine,
        snapshot_request("Math.random()", Some(blob.clone()), false),
    );
    let r2 = exec(
        engine,
        snapshot_request("Math.random()", Some(blob.clone()), false),
    );
    assert!(matches!(r1.outcome, Ok(JsValue::Json(_))));
    assert_ne!(r1.outcome, r2.outcome);

    // Failed snapshot runs return no heap and leave the engine usable.
    let resp = exec(
        engine,
        snapshot_request(
            "const e = 1; throw new Error('x')",
            Some(blob.clone()),
            true,
        ),
    );
    assert!(matches!(resp.outcome, Err(ExecError::Exception(_))));
    assert!(resp.heap.is_none());
    let mut req = snapshot_request("while (true) {}", None, true);
    req.timeout_ms = 100;
    assert_eq!(
        exec(engine, req).outcome,
        Err(ExecError::Timeout { timeout_ms: 100 })
    );
    let mut req = snapshot_request("function f() { Promise.resolve().then(f) } f()", None, true);
    req.timeout_ms = 100;
    assert_eq!(
        exec(engine, req).outcome,
        Err(ExecError::Timeout { timeout_ms: 100 })
    );
    let req = snapshot_request(
        "let a = []; while (true) a.push(new Array(1e6).fill(1))",
        None,
        true,
    );
    assert_eq!(
        exec(engine, req).outcome,
        Err(ExecError::MemoryLimit { heap_mb: HEAP_MB })
    );
    let mut req = snapshot_request("1", None, true);
    req.max_snapshot_bytes = 10;
    assert!(matches!(
        exec(engine, req).outcome,
        Err(ExecError::SnapshotTooLarge { max_bytes: 10, .. })
    ));
    let resp = exec(engine, snapshot_request("1", Some(vec![1, 2, 3]), false));
    assert!(
        matches!(resp.outcome, Err(ExecError::BadSnapshot(_))),
        "{:?}",
        resp.outcome
    );
    // FinalizationRegistry targets that die before the snapshot: their
    // cleanups run before `create_blob` (which aborts the process on
    // pending cleanups), and the registry survives.
    let code = "globalThis.cleaned = 0;\n\
                globalThis.fr = new FinalizationRegistry(() => { cleaned++ });\n\
                (function () { for (let i = 0; i < 100; i++) fr.register({ i }, i) })();\n\
                'registered'";
    let resp = exec(engine, snapshot_request(code, None, true));
    assert_eq!(resp.outcome, Ok(JsValue::Json("\"registered\"".into())));
    let blob = resp.heap.expect("a snapshot with a registry");
    let resp = exec(
        engine,
        snapshot_request(
            "typeof fr.register + ' ' + (cleaned > 0)",
            Some(blob),
            false,
        ),
    );
    assert_eq!(resp.outcome, Ok(JsValue::Json("\"function true\"".into())));
    check_case(engine, "1 + 1", &Want::Json("2"), &[]);
}

fn timings(engine: &mut Engine) {
    let n = 50;
    let mut prepare = std::time::Duration::ZERO;
    let mut execute = std::time::Duration::ZERO;
    for _ in 0..n {
        let t = Instant::now();
        let resp = engine.execute(request("1 + 2"));
        execute += t.elapsed();
        assert_eq!(resp.outcome, Ok(JsValue::Json("3".into())));
        let t = Instant::now();
        engine.prepare();
        prepare += t.elapsed();
    }
    eprintln!(
        "timings (debug build of the glue): execute {:?}, prepare {:?}",
        execute / n,
        prepare / n
    );
}
