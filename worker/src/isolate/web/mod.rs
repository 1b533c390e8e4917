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
//! (random values, digests, HMAC), `aes` (AES-GCM), `clone` (structuredClone with V8's
//! ValueSerializer), `compress` (CompressionStream codecs), `misc`
//! (clocks, console helpers), `args` (argument helpers).

mod aes;
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
    let names = glue_names()?;
    let refs = super::bindings::external_references();
    let mut isolate = v8::Isolate::snapshot_creator(Some(refs), None);
    let outcome = {
        v8::scope!(let scope, &mut isolate);
        let context = v8::Context::new(scope, Default::default());
        let outcome = {
            let scope = &mut v8::ContextScope::new(scope, context);
            super::bindings::install(scope);
            bootstrap(scope, LAZY_JS, Some(&names)).map(|_| ())
        };
        scope.set_default_context(context);
        outcome
    };
    // `Clear` drops compiled bytecode from the blob: functions are compiled
    // again on first use in each isolate.
    let blob = isolate.create_blob(v8::FunctionCodeHandling::Clear);
    outcome?;
    let blob = blob.ok_or_else(|| "V8 could not create the blob".to_string())?;
    Ok(blob.to_vec())
}

/// The names the glue defines, found by running it in a throw-away
/// isolate (so that nothing it allocated can end up in the blob).
fn glue_names() -> Result<String, String> {
    let refs = super::bindings::external_references();
    let mut isolate = v8::Isolate::new(v8::CreateParams::default().external_references(refs));
    isolate.set_microtasks_policy(v8::MicrotasksPolicy::Explicit);
    v8::scope!(let scope, &mut isolate);
    let context = v8::Context::new(scope, Default::default());
    let scope = &mut v8::ContextScope::new(scope, context);
    super::bindings::install(scope);
    bootstrap(scope, NAMES_JS, None)
}

/// Runs the glue in a scratch context and returns, as JSON, the names it
/// defined on the global object and on `console`, with their
/// enumerability.
const NAMES_JS: &str = r#"(function (glue, ops) {
  const keys = (o) => new Set(Reflect.ownKeys(o));
  const g0 = keys(globalThis), c0 = keys(globalThis.console);
  glue(ops, globalThis.console, globalThis.queueMicrotask);
  const diff = (o, before) => Reflect.ownKeys(o)
    .filter((k) => typeof k === 'string' && !before.has(k))
    .map((k) => [k, Object.getOwnPropertyDescriptor(o, k).enumerable]);
  return JSON.stringify({ global: diff(globalThis, g0), console: diff(globalThis.console, c0) });
})"#;

/// Installs the glue lazily: every name it defines becomes an accessor
/// whose first use compiles and runs the whole glue (`ops.glue()`), which
/// replaces the accessors by the real properties. A fresh context thus
/// holds a few dozen small functions and not the glue (neither its
/// objects nor its source), and creating it costs what it costs without
/// the web globals.
const LAZY_JS: &str = r#"(function (ops, names) {
  const con = globalThis.console, enqueue = globalThis.queueMicrotask;
  const { defineProperty, getOwnPropertyDescriptor } = Object;
  let loaded = false;
  const load = () => { if (!loaded) { loaded = true; ops.glue()(ops, con, enqueue); } };
  const lazy = (holder, name, enumerable) => {
    const desc = {
      configurable: true, enumerable,
      get() {
        load();
        const now = getOwnPropertyDescriptor(holder, name);
        return now === undefined || now.get === desc.get ? undefined : holder[name];
      },
      set(value) {
        load();
        defineProperty(holder, name, { value, writable: true, configurable: true, enumerable });
      },
    };
    defineProperty(holder, name, desc);
  };
  const list = JSON.parse(names);
  for (const [name, enumerable] of list.global) lazy(globalThis, name, enumerable);
  for (const [name, enumerable] of list.console) lazy(con, name, enumerable);
})"#;

/// Compiles `source` (text of a function) in the current context.
fn compile_fn<'s>(
    tc: &mut v8::PinnedRef<'_, v8::TryCatch<'_, 's, v8::HandleScope<'_>>>,
    source: &str,
    name: &str,
) -> Result<Local<'s, v8::Function>, String> {
    let code = v8::String::new(tc, source).ok_or("glue too large")?;
    let name = v8::String::new(tc, name).ok_or("name")?;
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
    Local::<v8::Function>::try_from(value).map_err(|_| "glue is no function".to_string())
}

/// Describes the exception `tc` caught.
fn failed(tc: &mut v8::PinnedRef<v8::TryCatch<v8::HandleScope>>) -> String {
    let message = tc
        .exception()
        .map(|e| e.to_rust_string_lossy(tc))
        .unwrap_or_else(|| "terminated".into());
    let line = tc
        .message()
        .and_then(|m| m.get_line_number(tc))
        .unwrap_or(0);
    format!("web glue failed at line {line}: {message}")
}

/// The glue as one function `(ops, con, enqueueMicrotask) => { ... }`,
/// assembled once per process.
fn glue_source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(assemble_glue)
}

/// Concatenates the glue files.
fn assemble_glue() -> String {
    let mut source = String::from("(function (ops, con, enqueueMicrotask) {\n'use strict';\n");
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
    source
}

/// Calls `installer(glue, ops)` (to find the names) or
/// `installer(ops, names)` (to install them lazily) in the current context
/// of `scope` and returns its result as a string.
fn bootstrap(scope: &mut PinScope, installer: &str, names: Option<&str>) -> Result<String, String> {
    v8::tc_scope!(let tc, scope);
    let installer = compile_fn(tc, installer, "web-install.js")?;
    let ops = ops::object(tc);
    let args: Vec<Local<v8::Value>> = match names {
        Some(names) => vec![
            ops.into(),
            v8::String::new(tc, names).ok_or("names")?.into(),
        ],
        None => vec![
            compile_fn(tc, glue_source(), "web-glue.js")?.into(),
            ops.into(),
        ],
    };
    let undefined = v8::undefined(tc).into();
    match installer.call(tc, undefined, &args) {
        Some(value) => Ok(value.to_rust_string_lossy(tc)),
        None => Err(failed(tc)),
    }
}

/// The op `glue()`: compiles the glue in the current context and returns
/// its function (called once per context, on first use of a web global).
pub(super) fn load_glue(
    scope: &mut PinScope,
    _args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    v8::tc_scope!(let tc, scope);
    match compile_fn(tc, glue_source(), "web-glue.js") {
        Ok(f) => rv.set(f.into()),
        Err(_) => {
            tc.rethrow();
        }
    }
}
