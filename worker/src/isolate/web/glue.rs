//! The JavaScript glue of the web globals (`js/*.js`, assembled into one
//! function) and its V8 code cache.
//!
//! The glue is compiled and run once per context, on first use of a web
//! global (see `LAZY_JS` in `mod.rs`). Compiling its 109 KB in every fresh
//! isolate was most of the cost of that first use (docs/performance.md), so
//! once per worker process, before the seal and after the startup blob
//! exists, [`produce_code_cache`] loads the glue in a throw-away isolate
//! made from that blob, exercises the classes scripts use most (`EXERCISE_JS`: URL, Headers, Request, Response, bodies,
//! encodings, fetch up to the host call) so that their lazily compiled
//! functions have bytecode too, and serialises all of it as a V8 code
//! cache. [`compile`] consumes that cache in each context. V8 checks it
//! (its version and flags, the source's length, a sane header) and, when
//! it does not fit, compiles from source as if there were none; either way
//! is counted ([`cache_stats`]), so a test can tell the cache is used.
//!
//! The source is an external string over the static text, so it is not
//! copied into every isolate's heap.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use v8::script_compiler::{self, CachedData, CompileOptions, NoCacheReason, Source};
use v8::Local;

use super::super::origin::{script_origin, SourceKind};
use super::super::run::Tc;

/// The glue, in evaluation order. Each file is a fragment of the body of
/// one function `(ops, con, enqueueMicrotask, lazyNames, lazyMark) => {
/// ... }` (the last two: see `lazy::PROLOGUE_JS`), so they share its
/// scope.
const GLUE: [(&str, &str); 16] = [
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
    ("urlpattern.js", include_str!("js/urlpattern.js")),
    ("blob.js", include_str!("js/blob.js")),
    ("body.js", include_str!("js/body.js")),
    ("fetch_types.js", include_str!("js/fetch_types.js")),
    ("fetch.js", include_str!("js/fetch.js")),
    ("crypto.js", include_str!("js/crypto.js")),
    ("misc.js", include_str!("js/misc.js")),
    ("console.js", include_str!("js/console.js")),
];

/// The glue's name in stack traces.
const GLUE_NAME: &str = "web-glue.js";

/// Run after the glue in the scratch isolate (whose globals are the real
/// classes, not the lazy accessors), so that the functions a typical
/// script reaches are compiled when the code cache is taken. Must not
/// throw (tested); `fetch` rejects at the host call, there is no host.
const EXERCISE_JS: &str = r#"(function () {
  const u = new URL('/p/a?q=1&r=two#h', 'https://user:pw@example.com:8080');
  u.searchParams.append('s', 'x y');
  void [u.href, u.origin, u.pathname, u.search, u.hash, u.host, String(u), JSON.stringify(u)];
  void URL.canParse('x:'), URL.parse('https://a.example/');
  const q = new URLSearchParams('a=1&b=2+3');
  q.set('c', 'd'); q.get('a'); q.getAll('b'); q.has('c'); q.sort(); void [...q, String(q)];
  const h = new Headers({ 'content-type': 'text/plain', 'x-a': '1' });
  h.set('x-b', '2'); h.append('x-a', '3'); h.get('x-a'); h.has('x'); h.delete('x-b');
  void [...h, [...h.keys()], [...h.entries()]];
  h.forEach(() => {});
  const signal = new AbortController().signal;
  const req = new Request('https://example.com/x?y=1', { method: 'POST', headers: h, body: 'data', signal });
  void [req.url, req.method, req.headers.get('content-type'), req.signal.aborted, req.redirect];
  req.clone().text();
  new Request(req).arrayBuffer();
  const res = new Response('{"a":1}', { status: 201, statusText: 'Created', headers: { 'content-type': 'application/json' } });
  void [res.status, res.ok, res.statusText, res.headers.get('content-type'), res.bodyUsed, res.url, res.type];
  res.clone().text();
  res.json();
  Response.json({ a: 1 }).text();
  new Response(new Uint8Array([1, 2])).arrayBuffer();
  new Response(new Uint8Array([1])).bytes();
  new Response(null, { status: 204 }).text();
  Response.error(); Response.redirect('https://example.com/', 302);
  new TextEncoder().encode('x\u00e9'); new TextEncoder().encodeInto('x', new Uint8Array(4));
  new TextDecoder().decode(new Uint8Array([104, 105]));
  btoa('xy'); atob('eHk=');
  const ac = new AbortController(); ac.signal.addEventListener('abort', () => {}); ac.abort();
  fetch('https://example.com/', { headers: { accept: 'text/plain' } }).catch(() => {});
  fetch(new Request('https://example.com/', { method: 'PUT', body: 'b' })).catch(() => {});
  new Blob(['x', new Uint8Array([1])], { type: 'text/plain' }).text();
  structuredClone({ a: [1, new Map([[1, 2]])] });
})"#;

/// The glue as one function `(ops, con, enqueueMicrotask, lazyNames,
/// lazyMark) => { ... }`,
/// assembled once per process (ASCII: it becomes an external one-byte
/// string).
pub(super) fn source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(assemble)
}

/// Concatenates the glue files.
fn assemble() -> String {
    let mut source = String::from(
        "(function (ops, con, enqueueMicrotask, lazyNames, lazyMark) {\n'use strict';\n",
    );
    source.push_str(super::lazy::PROLOGUE_JS);
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
    source.push_str(super::lazy::EPILOGUE_JS);
    source.push_str("})");
    source
}

/// The glue's source as a V8 string that points at the static text.
fn v8_source<'s>(tc: &Tc<'_, '_, 's, '_>) -> Result<Local<'s, v8::String>, String> {
    static ASCII: OnceLock<bool> = OnceLock::new();
    let text = source();
    // An external one-byte string must be Latin-1; a UTF-8 glue would be
    // read wrong, so refuse it loudly (checked once; every test run
    // compiles the glue).
    if !*ASCII.get_or_init(|| text.is_ascii()) {
        return Err("the web glue must be ASCII".into());
    }
    v8::String::new_external_onebyte_static(tc, text.as_bytes())
        .ok_or_else(|| "glue too large".into())
}

/// How often [`compile`] found a code cache to use, and V8 took it or
/// rejected it.
static ACCEPTED: AtomicU64 = AtomicU64::new(0);
static REJECTED: AtomicU64 = AtomicU64::new(0);
static WITHOUT: AtomicU64 = AtomicU64::new(0);

/// Counts of glue compilations in this process: (cache accepted, cache
/// rejected, no cache).
pub(crate) fn cache_stats() -> (u64, u64, u64) {
    (
        ACCEPTED.load(Ordering::Relaxed),
        REJECTED.load(Ordering::Relaxed),
        WITHOUT.load(Ordering::Relaxed),
    )
}

/// This process's code cache of the glue, once [`set_code_cache`] was
/// called (before the seal).
static CACHE: OnceLock<&'static [u8]> = OnceLock::new();

/// Keeps `bytes` as the glue's code cache for the rest of the process
/// (later calls are ignored).
pub(super) fn set_code_cache(bytes: Vec<u8>) {
    let _ = CACHE.get_or_init(|| Box::leak(bytes.into_boxed_slice()));
}

/// The code cache set by [`set_code_cache`], if any.
pub(crate) fn code_cache() -> Option<&'static [u8]> {
    CACHE.get().copied()
}

/// Compiles and runs the glue's script in the current context, with
/// `cache` if given, and returns the glue function. A cache V8 rejects
/// costs a compilation from source, nothing else.
pub(super) fn compile<'s>(
    tc: &mut Tc<'_, '_, 's, '_>,
    cache: Option<&[u8]>,
) -> Result<Local<'s, v8::Function>, String> {
    let code = v8_source(tc)?;
    let origin = script_origin(tc, GLUE_NAME, SourceKind::Script).ok_or("origin")?;
    let script = match cache {
        Some(bytes) => {
            let data = CachedData::new(bytes);
            let mut source = Source::new_with_cached_data(code, Some(&origin), data);
            let script = script_compiler::compile(
                tc,
                &mut source,
                CompileOptions::ConsumeCodeCache,
                NoCacheReason::NoReason,
            );
            let rejected = source.get_cached_data().is_none_or(|c| c.rejected());
            let counter = if rejected { &REJECTED } else { &ACCEPTED };
            counter.fetch_add(1, Ordering::Relaxed);
            script
        }
        None => {
            WITHOUT.fetch_add(1, Ordering::Relaxed);
            let mut source = Source::new(code, Some(&origin));
            script_compiler::compile(
                tc,
                &mut source,
                CompileOptions::NoCompileOptions,
                NoCacheReason::NoReason,
            )
        }
    };
    let Some(script) = script else {
        return Err(super::failed(tc));
    };
    if tc.get_slot::<Producer>().is_some() {
        let unbound = v8::Global::new(tc, script.get_unbound_script(tc));
        tc.set_slot(Producer(Some(unbound)));
    }
    let Some(value) = script.run(tc) else {
        return Err(super::failed(tc));
    };
    Local::<v8::Function>::try_from(value).map_err(|_| "glue is no function".to_string())
}

/// Set as an isolate slot while [`produce_code_cache`] runs: [`compile`]
/// leaves the glue's script here, to be serialised afterwards.
struct Producer(Option<v8::Global<v8::UnboundScript>>);

/// Runs the glue in a throw-away isolate (so that nothing it allocated can
/// end up in the startup blob) and returns what `names_js` (called as
/// `names_js(glue, ops)`) returns, as a string.
pub(super) fn names(names_js: &str) -> Result<String, String> {
    let refs = super::super::bindings::external_references();
    let mut isolate = v8::Isolate::new(v8::CreateParams::default().external_references(refs));
    isolate.set_microtasks_policy(v8::MicrotasksPolicy::Explicit);
    v8::scope!(let scope, &mut isolate);
    let context = v8::Context::new(scope, Default::default());
    let scope = &mut v8::ContextScope::new(scope, context);
    super::super::bindings::install(scope);
    v8::tc_scope!(let tc, scope);
    let glue = compile(tc, None)?;
    call_with_glue(tc, glue, names_js, "web-names.js")
}

/// Compiles `source` (a function) and returns what `source(glue, ops)`
/// returns, as a string.
fn call_with_glue(
    tc: &mut Tc,
    glue: Local<v8::Function>,
    source: &str,
    name: &str,
) -> Result<String, String> {
    let helper = super::compile_fn(tc, source, name)?;
    let ops = super::ops::object(tc);
    let undefined = v8::undefined(tc).into();
    match helper.call(tc, undefined, &[glue.into(), ops.into()]) {
        Some(value) => Ok(value.to_rust_string_lossy(tc)),
        None => Err(super::failed(tc)),
    }
}

/// Builds the glue's code cache in a throw-away isolate made from `blob`
/// (V8 accepts a code cache only in isolates whose read-only heap matches
/// the one it was made in): `EXERCISE_JS` touches the lazy globals, which
/// compiles the glue through the normal path, and reaches the functions
/// scripts use most; then the glue's script, with every function compiled
/// so far, is serialised.
pub(super) fn produce_code_cache(blob: &'static [u8]) -> Result<Vec<u8>, String> {
    let refs = super::super::bindings::external_references();
    let params = v8::CreateParams::default()
        .snapshot_blob(v8::StartupData::from(blob))
        .external_references(refs);
    let mut isolate = v8::Isolate::new(params);
    isolate.set_microtasks_policy(v8::MicrotasksPolicy::Explicit);
    isolate.set_slot(Producer(None));
    {
        v8::scope!(let scope, &mut isolate);
        let context = v8::Context::new(scope, Default::default());
        let scope = &mut v8::ContextScope::new(scope, context);
        v8::tc_scope!(let tc, scope);
        let exercise = super::compile_fn(tc, EXERCISE_JS, "web-exercise.js")?;
        let undefined = v8::undefined(tc).into();
        if exercise.call(tc, undefined, &[]).is_none() {
            return Err(format!("web glue exercise: {}", super::failed(tc)));
        }
        tc.perform_microtask_checkpoint();
        let script = tc
            .get_slot_mut::<Producer>()
            .and_then(|p| p.0.take())
            .ok_or("the exercise did not load the web glue")?;
        let script = v8::Local::new(tc, script);
        let cache = script
            .create_code_cache()
            .ok_or("V8 could not serialise the web glue")?;
        Ok(cache.to_vec())
    }
}

/// For tests: in a fresh isolate from this process's startup blob,
/// compiles the glue with `cache` (which may be bad), runs it and returns
/// `new URL('/a?b=1', 'http://h.example/').href`.
#[cfg(test)]
pub(crate) fn url_href_with_cache(cache: &[u8]) -> Result<String, String> {
    const USE_GLUE: &str = r#"(function (glue, ops) {
      glue(ops, globalThis.console, globalThis.queueMicrotask);
      return new URL('/a?b=1', 'http://h.example/').href;
    })"#;
    let blob = super::startup_blob(None).0.ok_or("no startup blob")?;
    let params = v8::CreateParams::default()
        .snapshot_blob(v8::StartupData::from(blob))
        .external_references(super::super::bindings::external_references());
    let mut isolate = v8::Isolate::new(params);
    isolate.set_microtasks_policy(v8::MicrotasksPolicy::Explicit);
    v8::scope!(let scope, &mut isolate);
    let context = v8::Context::new(scope, Default::default());
    let scope = &mut v8::ContextScope::new(scope, context);
    v8::tc_scope!(let tc, scope);
    let glue = compile(tc, Some(cache))?;
    call_with_glue(tc, glue, USE_GLUE, "use-glue.js")
}
