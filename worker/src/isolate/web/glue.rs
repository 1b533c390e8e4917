//! Compiling the glue's chunks (`chunks.rs`) and their V8 code caches.
//!
//! A chunk is compiled and run once per context, on first use of one of
//! its globals (`lazy.rs`). Compiling its source in every fresh isolate
//! was most of the cost of that first use (docs/performance.md), so once
//! per worker process, before the seal and after the startup blob exists,
//! [`produce_code_caches`] loads the glue in a throw-away isolate made
//! from that blob, exercises the classes scripts use most (`EXERCISE`:
//! URL, Headers, Request, Response, bodies, encodings, fetch up to the
//! host call, and something of every chunk; each snippet in a context of
//! its own) so that their lazily compiled functions have bytecode too, and
//! serialises each chunk's script as a V8 code cache. [`compile`]
//! consumes the chunk's cache in each context. V8 checks it (its version
//! and flags, the source's length, a sane header) and, when it does not
//! fit, compiles from source as if there were none; either way is counted
//! ([`cache_stats`]), so a test can tell the caches are used.
//!
//! The sources are external strings over static text, so they are not
//! copied into every isolate's heap.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use v8::script_compiler::{self, CachedData, CompileOptions, NoCacheReason, Source};
use v8::Local;

use super::super::origin::{script_origin, SourceKind};
use super::super::run::Tc;
use super::chunks::{self, CHUNKS};

/// The glue's name in stack traces.
const GLUE_NAME: &str = "web-glue.js";

/// Run in the scratch isolate, whose globals are the lazy properties of
/// the blob, so that every chunk loads and the functions a typical script
/// reaches are compiled when the code caches are taken: the classes
/// scripts use most (URL, Headers, Request, Response, bodies, encodings,
/// fetch up to the host call) and something of every chunk. Each snippet
/// runs in a fresh context of its own. V8 records on a function's
/// `SharedFunctionInfo` that it tiered up once its feedback budget ran
/// out, and the code cache keeps that record, so a function called often
/// in one long exercise would get a feedback vector and a Sparkplug
/// compilation at its first call in every run (0.9 M instructions of the
/// fetch path's first use); a fresh context per snippet gives every
/// function the few calls one use makes. None may throw (tested);
/// `fetch` rejects at the host call, there is no host.
const EXERCISE: &[&str] = &[
    "const u = new URL('/p/a?q=1&r=two#h', 'https://user:pw@example.com:8080');
     u.searchParams.append('s', 'x y');
     void [u.href, u.origin, u.pathname, u.search, u.hash, u.host, String(u), JSON.stringify(u)];",
    "void URL.canParse('x:'), URL.parse('https://a.example/');",
    "const q = new URLSearchParams('a=1&b=2+3');
     q.set('c', 'd'); q.get('a'); q.getAll('b'); q.has('c'); q.sort(); void [...q, String(q)];",
    "const h = new Headers({ 'content-type': 'text/plain', 'x-a': '1' });
     h.set('x-b', '2'); h.append('x-a', '3'); h.get('x-a'); h.has('x'); h.delete('x-b');
     void [...h, [...h.keys()], [...h.entries()]];
     h.forEach(() => {});",
    "const signal = new AbortController().signal;
     const req = new Request('https://example.com/x?y=1',
       { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'data', signal });
     void [req.url, req.method, req.headers.get('content-type'), req.signal.aborted, req.redirect];",
    "new Request('https://example.com/x', { method: 'POST', body: 'data' }).clone().text();",
    "new Request(new Request('https://example.com/x', { method: 'PUT', body: 'd' })).arrayBuffer();",
    "const res = new Response('{\"a\":1}',
       { status: 201, statusText: 'Created', headers: { 'content-type': 'application/json' } });
     void [res.status, res.ok, res.statusText, res.headers.get('content-type'), res.bodyUsed, res.url, res.type];
     res.clone().text();
     res.json();",
    "Response.json({ a: 1 }).text();",
    "new Response(new Uint8Array([1, 2])).arrayBuffer();",
    "new Response(new Uint8Array([1])).bytes();",
    "new Response(null, { status: 204 }).text();",
    "Response.error(); Response.redirect('https://example.com/', 302);",
    "new TextEncoder().encode('x\\u00e9'); new TextEncoder().encodeInto('x', new Uint8Array(4));",
    "new TextDecoder().decode(new Uint8Array([104, 105])); btoa('xy'); atob('eHk=');",
    "const ac = new AbortController(); ac.signal.addEventListener('abort', () => {}); ac.abort();",
    "fetch('https://example.com/').catch(() => {});",
    "fetch('https://example.com/', { headers: { accept: 'text/plain' } }).catch(() => {});",
    "fetch(new Request('https://example.com/', { method: 'PUT', body: 'b' })).catch(() => {});",
    "new Blob(['x', new Uint8Array([1])], { type: 'text/plain' }).text();",
    "structuredClone({ a: [1, new Map([[1, 2]])] });",
    "new Response('s').body.getReader().read();",
    "new ReadableStream({ start(c) { c.enqueue(1); c.close(); } }).getReader().read();",
    "new URLPattern({ pathname: '/a/:id' }).exec('https://x.example/a/1');",
    "crypto.randomUUID(); crypto.getRandomValues(new Uint8Array(4));",
    "void [performance.now(), navigator.userAgent, typeof console.table, DOMException.ABORT_ERR];",
];

/// Chunk `k`'s source as a V8 string that points at the static text.
fn v8_source<'s>(tc: &Tc<'_, '_, 's, '_>, k: usize) -> Result<Local<'s, v8::String>, String> {
    static ASCII: OnceLock<bool> = OnceLock::new();
    // An external one-byte string must be Latin-1; a UTF-8 glue would be
    // read wrong, so refuse it loudly (checked once per process; also a
    // unit test in `chunks.rs`).
    if !*ASCII.get_or_init(|| (0..CHUNKS.len()).all(|k| chunks::source(k).is_ascii())) {
        return Err("the web glue must be ASCII".into());
    }
    v8::String::new_external_onebyte_static(tc, chunks::source(k).as_bytes())
        .ok_or_else(|| "glue too large".into())
}

/// How often [`compile`] found a code cache to use, and V8 took it or
/// rejected it (counted per chunk).
static ACCEPTED: AtomicU64 = AtomicU64::new(0);
static REJECTED: AtomicU64 = AtomicU64::new(0);
static WITHOUT: AtomicU64 = AtomicU64::new(0);

/// Counts of chunk compilations in this process: (cache accepted, cache
/// rejected, no cache).
pub(crate) fn cache_stats() -> (u64, u64, u64) {
    (
        ACCEPTED.load(Ordering::Relaxed),
        REJECTED.load(Ordering::Relaxed),
        WITHOUT.load(Ordering::Relaxed),
    )
}

/// This process's code caches, one per chunk (empty: none), once
/// [`set_code_caches`] was called (before the seal).
static CACHES: OnceLock<Vec<&'static [u8]>> = OnceLock::new();

/// Keeps `caches` as the chunks' code caches for the rest of the process
/// (later calls are ignored).
pub(super) fn set_code_caches(caches: Vec<Vec<u8>>) {
    let _ = CACHES.get_or_init(|| {
        caches
            .into_iter()
            .map(|c| &*Box::leak(c.into_boxed_slice()))
            .collect()
    });
}

/// Chunk `k`'s code cache set by [`set_code_caches`], if any.
pub(crate) fn code_cache(k: usize) -> Option<&'static [u8]> {
    CACHES
        .get()
        .and_then(|c| c.get(k).copied())
        .filter(|c| !c.is_empty())
}

/// Compiles and runs chunk `k`'s script in the current context, with
/// `cache` if given, and returns the chunk's function. A cache V8 rejects
/// costs a compilation from source, nothing else.
pub(super) fn compile<'s>(
    tc: &mut Tc<'_, '_, 's, '_>,
    k: usize,
    cache: Option<&[u8]>,
) -> Result<Local<'s, v8::Function>, String> {
    // The producer compiles each chunk once and binds that script in each
    // of its contexts, so that one script collects what every snippet of
    // the exercise compiled.
    let made = tc
        .get_slot::<Producer>()
        .and_then(|p| p.0[k].clone())
        .map(|unbound| Local::new(tc, unbound).bind_to_current_context(tc));
    if let Some(script) = made {
        return run_chunk(tc, script);
    }
    let code = v8_source(tc, k)?;
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
        if let Some(producer) = tc.get_slot_mut::<Producer>() {
            producer.0[k] = Some(unbound);
        }
    }
    run_chunk(tc, script)
}

/// Runs a chunk's script, which evaluates to the chunk's function.
fn run_chunk<'s>(
    tc: &mut Tc<'_, '_, 's, '_>,
    script: Local<'s, v8::Script>,
) -> Result<Local<'s, v8::Function>, String> {
    let Some(value) = script.run(tc) else {
        return Err(super::failed(tc));
    };
    Local::<v8::Function>::try_from(value).map_err(|_| "glue is no function".to_string())
}

/// Set as an isolate slot while [`produce_code_caches`] runs: [`compile`]
/// leaves each chunk's script here, to be serialised afterwards.
struct Producer(Vec<Option<v8::Global<v8::UnboundScript>>>);

/// Runs the chunks in order in a throw-away isolate (so that nothing they
/// allocated can end up in the startup blob) and returns, for each, what
/// `names_js` (called as `names_js(glue, ops, shared)`) returns, as a
/// string. A chunk that fails (a missing import, say) fails this.
pub(super) fn names(names_js: &str) -> Result<Vec<String>, String> {
    let refs = super::super::bindings::external_references();
    let mut isolate = v8::Isolate::new(v8::CreateParams::default().external_references(refs));
    isolate.set_microtasks_policy(v8::MicrotasksPolicy::Explicit);
    v8::scope!(let scope, &mut isolate);
    let context = v8::Context::new(scope, Default::default());
    let scope = &mut v8::ContextScope::new(scope, context);
    super::super::bindings::install(scope);
    v8::tc_scope!(let tc, scope);
    let helper = super::compile_fn(tc, names_js, "web-names.js")?;
    let shared = super::lazy::new_shared(tc);
    let undefined = v8::undefined(tc).into();
    let mut out = Vec::with_capacity(CHUNKS.len());
    for (k, chunk) in CHUNKS.iter().enumerate() {
        let glue = compile(tc, k, None)?;
        let ops = super::ops::for_chunk(tc, k);
        match helper.call(tc, undefined, &[glue.into(), ops.into(), shared.into()]) {
            Some(value) => out.push(value.to_rust_string_lossy(tc)),
            None => return Err(format!("chunk {}: {}", chunk.name, super::failed(tc))),
        }
    }
    Ok(out)
}

/// Builds the chunks' code caches in a throw-away isolate made from `blob`
/// (V8 accepts a code cache only in isolates whose read-only heap matches
/// the one it was made in): each snippet of `EXERCISE` runs in a fresh
/// context and touches lazy globals, which loads the chunks through the
/// normal path, and reaches the functions scripts use most; then each
/// chunk's script, with every function compiled so far, is serialised
/// (empty for a chunk the exercise did not load).
pub(super) fn produce_code_caches(blob: &'static [u8]) -> Result<Vec<Vec<u8>>, String> {
    let refs = super::super::bindings::external_references();
    let params = v8::CreateParams::default()
        .snapshot_blob(v8::StartupData::from(blob))
        .external_references(refs);
    let mut isolate = v8::Isolate::new(params);
    isolate.set_microtasks_policy(v8::MicrotasksPolicy::Explicit);
    isolate.set_slot(Producer(vec![None; CHUNKS.len()]));
    {
        v8::scope!(let scope, &mut isolate);
        for snippet in EXERCISE {
            v8::scope!(let scope, scope);
            let context = v8::Context::new(scope, Default::default());
            let scope = &mut v8::ContextScope::new(scope, context);
            v8::tc_scope!(let tc, scope);
            let code = format!("(function () {{ {snippet} }})");
            let exercise = super::compile_fn(tc, &code, "web-exercise.js")?;
            let undefined = v8::undefined(tc).into();
            if exercise.call(tc, undefined, &[]).is_none() {
                return Err(format!(
                    "web glue exercise {snippet:?}: {}",
                    super::failed(tc)
                ));
            }
            tc.perform_microtask_checkpoint();
        }
        let context = v8::Context::new(scope, Default::default());
        let scope = &mut v8::ContextScope::new(scope, context);
        v8::tc_scope!(let tc, scope);
        let scripts = tc
            .get_slot_mut::<Producer>()
            .map(|p| std::mem::take(&mut p.0))
            .ok_or("the exercise lost its scripts")?;
        let mut caches = Vec::with_capacity(scripts.len());
        for script in scripts {
            let cache = match script {
                Some(script) => Local::new(tc, script)
                    .create_code_cache()
                    .ok_or("V8 could not serialise the web glue")?
                    .to_vec(),
                None => Vec::new(),
            };
            caches.push(cache);
        }
        Ok(caches)
    }
}

/// For tests: in a fresh isolate from this process's startup blob,
/// compiles the core and url chunks (url with `cache`, which may be bad),
/// runs them and returns `new URL('/a?b=1', 'http://h.example/').href`.
#[cfg(test)]
pub(crate) fn url_href_with_cache(cache: &[u8]) -> Result<String, String> {
    const USE_GLUE: &str = r#"(function (core, url, coreOps, urlOps) {
      const shared = Object.create(null);
      core(coreOps, globalThis.console, globalThis.queueMicrotask, shared);
      url(urlOps, globalThis.console, globalThis.queueMicrotask, shared);
      return new shared.URL('/a?b=1', 'http://h.example/').href;
    })"#;
    super::test_support::in_fresh_context(|tc| {
        let k = chunks::index("url").ok_or("no url chunk")?;
        let core = compile(tc, 0, code_cache(0))?;
        let url = compile(tc, k, Some(cache))?;
        let helper = super::compile_fn(tc, USE_GLUE, "use-glue.js")?;
        let (core_ops, url_ops) = (super::ops::for_chunk(tc, 0), super::ops::for_chunk(tc, k));
        let undefined = v8::undefined(tc).into();
        let args = [core.into(), url.into(), core_ops.into(), url_ops.into()];
        match helper.call(tc, undefined, &args) {
            Some(value) => Ok(value.to_rust_string_lossy(tc)),
            None => Err(super::failed(tc)),
        }
    })
}
