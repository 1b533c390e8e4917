//! The code caches of `--modules-dir` modules (`module_cache.rs`), with a
//! thread on a socket pair answering the worker's module calls as the
//! supervisor would.

use std::os::fd::IntoRawFd;
use std::os::unix::net::UnixStream;
use std::sync::mpsc;

use mcp_v8_shared::{
    read_frame, write_frame, HostAnswer, HostCallKind, HostReply, JsValue, ModuleSource, Request,
    Response,
};

use super::super::module_cache;
use super::{exec, request, Engine};

/// Gives the engine a host that answers every module call with the next
/// source sent on the returned channel, as `modules:pkg/index.js` with a
/// fixed hash (so a changed source under the same key shows a rejection).
fn fake_host(engine: &mut Engine) -> mpsc::Sender<String> {
    let (ours, mut theirs) = UnixStream::pair().expect("socket pair");
    let (sources, next) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        while let Ok(Response::Host(call)) = read_frame::<Response>(&mut theirs, 1 << 30) {
            let HostCallKind::Module(_) = call.kind else {
                continue;
            };
            let Ok(source) = next.recv() else { break };
            let reply = HostReply {
                exec_id: call.exec_id,
                call_id: call.call_id,
                result: Ok(HostAnswer::Module(ModuleSource {
                    id: "modules:pkg/index.js".into(),
                    source,
                    sha256: "ab".repeat(32),
                })),
            };
            if write_frame(&mut theirs, &Request::HostReply(reply), 1 << 30).is_err() {
                break;
            }
        }
    });
    // SAFETY: the fd is our end of the pair, open for the process's life
    // (leaked on purpose), and only the engine uses it from now on.
    unsafe { engine.set_host_fd(ours.into_raw_fd()) };
    sources
}

/// Runs an import of `pkg` answered with `source`, saving a heap if
/// `snapshot`; returns the result.
fn import_in(
    engine: &mut Engine,
    sources: &mpsc::Sender<String>,
    source: &str,
    snapshot: bool,
) -> JsValue {
    sources.send(source.to_string()).unwrap();
    let mut req = request("import f from 'pkg'; export default f(21)");
    req.snapshot = snapshot;
    let resp = exec(engine, req);
    assert_eq!(resp.heap.is_some(), snapshot, "{:?}", resp.outcome);
    resp.outcome.expect("the import ran")
}

fn import(engine: &mut Engine, sources: &mpsc::Sender<String>, source: &str) -> JsValue {
    import_in(engine, sources, source, false)
}

pub(super) fn module_code_cache(engine: &mut Engine) {
    let sources = fake_host(engine);
    let pkg = "export default function twice(x) { return helper(x) * 2 }\n\
               function helper(x) { return x }";
    let (before, accepted, rejected) = module_cache::stats();
    assert_eq!(import(engine, &sources, pkg), JsValue::Json("42".into()));
    assert_eq!(module_cache::stats(), (before + 1, accepted, rejected));
    // A fresh isolate compiles the same source from the cache.
    assert_eq!(import(engine, &sources, pkg), JsValue::Json("42".into()));
    assert_eq!(module_cache::stats(), (before + 1, accepted + 1, rejected));
    // Another source under the same key: V8 rejects the cache, the module
    // compiles from its source, and the stale entry is gone.
    let other = "export default function thrice(x) { return x * 3 }";
    assert_eq!(import(engine, &sources, other), JsValue::Json("63".into()));
    assert_eq!(module_cache::stats(), (before, accepted + 1, rejected + 1));
    // A run that saves a heap compiles from a cache but makes none (V8
    // aborts snapshotting an isolate that made one).
    assert_eq!(
        import_in(engine, &sources, other, true),
        JsValue::Json("63".into())
    );
    assert_eq!(module_cache::stats(), (before, accepted + 1, rejected + 1));
    assert_eq!(import(engine, &sources, pkg), JsValue::Json("42".into()));
    assert_eq!(
        module_cache::stats(),
        (before + 1, accepted + 1, rejected + 1)
    );
    assert_eq!(
        import_in(engine, &sources, pkg, true),
        JsValue::Json("42".into())
    );
    assert_eq!(
        module_cache::stats(),
        (before + 1, accepted + 2, rejected + 1)
    );
}
