//! The web platform globals (WinterTC's Minimum Common API; `fetch` asks
//! the supervisor, see `fetch.rs`): the worker's startup snapshot that carries them, and the
//! native ops their JavaScript glue calls.
//!
//! Once per worker process, before the sandbox is sealed, [`startup_blob`]
//! builds a V8 startup snapshot: a fresh context gets the native bindings
//! (`bindings::install`) and then runs the JavaScript glue in `js/`, which
//! defines `URL`, `Response`, streams, events and the rest on the global
//! object. Every isolate the engine builds afterwards (the anchor, the
//! pre-warmed `ready` isolate, session snapshot creators) starts from that
//! blob, so a fresh context already has the globals and no JavaScript is
//! evaluated per execution. Session heaps are snapshots of such contexts and
//! carry the globals with them.
//!
//! The glue is one function that receives the ops object (the native
//! functions of [`ops`]) as an argument; the ops are reachable only through
//! that closure, never from a global. Every op is in
//! `bindings::external_references` (see `ops::OPS`).
//!
//! Files: `ops` (the op table), `text` (TextEncoder/TextDecoder, atob/btoa),
//! `url_ops` (WHATWG URL via the `url` crate, form encoding), `crypto`
//! (random values, digests, HMAC), `clone` (structuredClone with V8's
//! ValueSerializer), `compress` (CompressionStream codecs), `misc`
//! (clocks, console helpers), `args` (argument helpers).

mod args;
mod clone;
mod compress;
mod crypto;
mod misc;
pub(crate) mod ops;
mod text;
mod url_ops;

use std::sync::OnceLock;

use v8::{Local, PinScope};

pub(crate) use compress::Codecs;

/// The JavaScript glue, in evaluation order. Each file is a fragment of the
/// body of one function `(ops) => { ... }`, so they share its scope.
const GLUE: [(&str, &str); 15] = [
    ("util.js", include_str!("js/util.js")),
    ("events.js", include_str!("js/events.js")),
    ("abort.js", include_str!("js/abort.js")),
    (
        "streams_readable.js",
        include_str!("js/streams_readable.js"),
    ),
    (
        "streams_writable.js",
        include_str!("js/streams_writable.js"),
    ),
    (
        "streams_transform.js",
        include_str!("js/streams_transform.js"),
    ),
    ("encoding.js", include_str!("js/encoding.js")),
    ("url.js", include_str!("js/url.js")),
    ("blob.js", include_str!("js/blob.js")),
    ("body.js", include_str!("js/body.js")),
    ("fetch_types.js", include_str!("js/fetch_types.js")),
    ("fetch.js", include_str!("js/fetch.js")),
    ("crypto.js", include_str!("js/crypto.js")),
    ("misc.js", include_str!("js/misc.js")),
    ("console.js", include_str!("js/console.js")),
];

/// The startup blob of this process: `Some` once built, `None` if building
/// it failed (the engine then runs without web globals and says so).
static BLOB: OnceLock<Option<&'static [u8]>> = OnceLock::new();

/// The startup snapshot with the web globals, built on first call (call it
/// before the sandbox is sealed). The blob is leaked: it lives as long as
/// the process, and every isolate is created from it.
pub(crate) fn startup_blob() -> Option<&'static [u8]> {
    *BLOB.get_or_init(|| match build_blob() {
        Ok(blob) => Some(Box::leak(blob.into_boxed_slice())),
        Err(e) => {
            eprintln!("mcp-v8 worker: cannot build the web globals snapshot: {e}");
            None
        }
    })
}

/// Builds the startup snapshot: context, native bindings, the glue.
fn build_blob() -> Result<Vec<u8>, String> {
    let refs = super::bindings::external_references();
    let mut isolate = v8::Isolate::snapshot_creator(Some(refs), None);
    let outcome = {
        v8::scope!(let scope, &mut isolate);
        let context = v8::Context::new(scope, Default::default());
        let outcome = {
            let scope = &mut v8::ContextScope::new(scope, context);
            super::bindings::install(scope);
            bootstrap(scope)
        };
        scope.set_default_context(context);
        outcome
    };
    // `Clear` drops compiled bytecode from the blob: functions are compiled
    // again on first use in each isolate, which keeps the blob (and the
    // cost of every fresh context) small for the scripts that use none.
    let blob = isolate.create_blob(v8::FunctionCodeHandling::Clear);
    outcome?;
    let blob = blob.ok_or_else(|| "V8 could not create the blob".to_string())?;
    Ok(blob.to_vec())
}

/// Runs the glue in the current context of `scope`.
fn bootstrap(scope: &mut PinScope) -> Result<(), String> {
    let mut source = String::from("(function (ops) {\n'use strict';\n");
    source.push_str(&format!(
        "const USER_AGENT = 'mcp-v8/{} V8/{}';\n",
        env!("CARGO_PKG_VERSION"),
        v8::V8::get_version()
    ));
    for (name, text) in GLUE {
        source.push_str(&format!("// ---- {name}\n"));
        source.push_str(text);
        source.push('\n');
    }
    source.push_str("})");
    v8::tc_scope!(let tc, scope);
    let failed = |tc: &mut v8::PinnedRef<v8::TryCatch<v8::HandleScope>>| {
        let message = tc
            .exception()
            .map(|e| e.to_rust_string_lossy(tc))
            .unwrap_or_else(|| "terminated".into());
        let line = tc
            .message()
            .and_then(|m| m.get_line_number(tc))
            .unwrap_or(0);
        format!("web glue failed at line {line}: {message}")
    };
    let code = v8::String::new(tc, &source).ok_or("glue too large")?;
    let name = v8::String::new(tc, "web-glue.js").ok_or("name")?;
    let origin = v8::ScriptOrigin::new(
        tc,
        name.into(),
        0,
        0,
        false,
        0,
        None,
        false,
        false,
        false,
        None,
    );
    let Some(script) = v8::Script::compile(tc, code, Some(&origin)) else {
        return Err(failed(tc));
    };
    let Some(value) = script.run(tc) else {
        return Err(failed(tc));
    };
    let function = Local::<v8::Function>::try_from(value).map_err(|_| "glue is no function")?;
    let ops = ops::object(tc);
    let undefined = v8::undefined(tc).into();
    if function.call(tc, undefined, &[ops.into()]).is_none() {
        return Err(failed(tc));
    }
    Ok(())
}
