//! The web platform globals (WinterTC's Minimum Common API; `fetch` asks
//! the supervisor, see `fetch.rs`): the startup snapshot that carries
//! them, and the native ops their JavaScript glue calls.
//!
//! [`build_blob`] makes a V8 startup snapshot: a context with the native
//! bindings (`bindings::install`) and, for every name the glue defines on
//! the global object or on `console`, a lazy native data property
//! (`lazy.rs`) whose first use compiles and runs the chunk of the glue
//! that defines it (`chunks.rs`, `glue.rs`, from its code cache), which
//! replaces them with the real `URL`, `Response`, streams, events and the
//! rest. The blob is made once per supervisor by a
//! child process, or by the worker itself, before the seal (`startup.rs`).
//! Every isolate the engine builds (the anchor, the pre-warmed `ready`
//! isolate, session snapshot creators) starts from that blob, so a fresh
//! context costs about what it costs without the web globals (1.6% more
//! instructions, docs/performance.md), and no JavaScript is evaluated per
//! execution that uses none. Session heaps are snapshots
//! of such contexts and carry the globals with them.
//!
//! Each chunk is one function that receives the ops object (the native
//! functions of [`ops`]) as an argument; the ops are reachable only through
//! those closures, never from a global; the object is made when the first
//! chunk loads, not kept in the blob. Every op is in
//! `bindings::external_references` (see `ops::table`).
//!
//! Files: `startup` (where the blob comes from, checks of a handed-over
//! one), `lazy` (the lazy properties and the first use), `chunks` (the
//! glue's files in chunks, their dependencies and sources), `glue`
//! (compiling the chunks, their code caches), `ops` (the op table), `text`
//! (TextEncoder/TextDecoder, atob/btoa), `url_ops` (WHATWG URL via the
//! `url` crate, form encoding), `pattern` (URLPattern via the `urlpattern`
//! crate), `http` (HTTP token checks), `crypto` (random values, digests,
//! HMAC), `aes` (AES-GCM), `clone` (structuredClone with V8's
//! ValueSerializer), `compress` (CompressionStream codecs), `misc` (clocks,
//! console helpers), `args` (argument helpers).

mod aes;
mod args;
mod chunks;
mod clone;
mod compress;
mod crypto;
mod glue;
mod http;
mod lazy;
mod misc;
pub(crate) mod ops;
mod pattern;
mod startup;
#[cfg(test)]
mod test_support;
mod text;
mod url_ops;

use v8::{Local, PinScope};

use super::origin::{script_origin, SourceKind};
use super::run::Tc;

#[cfg(test)]
pub(crate) use chunks::index as chunk_index;
pub(crate) use compress::Codecs;
pub(crate) use glue::cache_stats;
#[cfg(test)]
pub(crate) use glue::{code_cache, url_href_with_cache};
pub(crate) use lazy::getter as lazy_getter;
#[cfg(test)]
pub(crate) use startup::check as check_blob;
pub(crate) use startup::{build as build_snapshot, startup_blob};
#[cfg(test)]
pub(crate) use test_support::text_after_another_builds_core;

/// Builds the startup snapshot: context, native bindings, the glue.
pub(super) fn build_blob() -> Result<Vec<u8>, String> {
    let names = glue::names(NAMES_JS)?
        .iter()
        .map(|json| lazy::Names::parse(json))
        .collect::<Result<Vec<_>, _>>()?;
    let refs = super::bindings::external_references();
    let mut isolate = v8::Isolate::snapshot_creator(Some(refs), None);
    let outcome = {
        v8::scope!(let scope, &mut isolate);
        let context = v8::Context::new(scope, Default::default());
        let outcome = {
            let scope = &mut v8::ContextScope::new(scope, context);
            super::bindings::install(scope);
            lazy::install(scope, &names)
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

/// Runs one chunk in a scratch context (after the ones before it) and
/// returns, as JSON, the names it defined on the global object and on
/// `console`, with their enumerability.
const NAMES_JS: &str = r#"(function (glue, ops, shared) {
  const keys = (o) => new Set(Reflect.ownKeys(o));
  const g0 = keys(globalThis), c0 = keys(globalThis.console);
  glue(ops, globalThis.console, globalThis.queueMicrotask, shared);
  const diff = (o, before) => Reflect.ownKeys(o)
    .filter((k) => typeof k === 'string' && !before.has(k))
    .map((k) => [k, Object.getOwnPropertyDescriptor(o, k).enumerable]);
  return JSON.stringify({ global: diff(globalThis, g0), console: diff(globalThis.console, c0) });
})"#;

/// Compiles and runs `source` (the text of a function) in the current
/// context and returns the function.
fn compile_fn<'s>(
    tc: &mut Tc<'_, '_, 's, '_>,
    source: &str,
    name: &str,
) -> Result<Local<'s, v8::Function>, String> {
    let code = v8::String::new(tc, source).ok_or("source too large")?;
    let origin = script_origin(tc, name, SourceKind::Script).ok_or("origin")?;
    let Some(script) = v8::Script::compile(tc, code, Some(&origin)) else {
        return Err(failed(tc));
    };
    let Some(value) = script.run(tc) else {
        return Err(failed(tc));
    };
    Local::<v8::Function>::try_from(value).map_err(|_| format!("{name} is no function"))
}

/// Describes the exception `tc` caught.
fn failed(tc: &mut Tc) -> String {
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

/// The op `glue()`, kept for session heaps stored before the lazy globals
/// were native (`lazy.rs`): their JavaScript accessors call it on first
/// use and then call what it returns as `glue(ops, con, enqueue)`, which
/// is the op `loadAll` (every chunk, in order).
pub(super) fn load_glue(
    scope: &mut PinScope,
    _args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    if let Some(f) = v8::Function::builder(lazy::load_all).build(scope) {
        rv.set(f.into());
    }
}
