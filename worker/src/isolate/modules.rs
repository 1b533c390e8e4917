//! ES modules: compiling the request's code as a module, loading its
//! import graph through host calls, V8's resolve callback, and dynamic
//! `import()` from scripts and modules.
//!
//! The worker never reads a file. For each import it has not seen, it asks
//! the supervisor (`HostCallKind::Module{specifier, referrer}`) and blocks
//! until the answer (V8's resolve callback is synchronous, and the worker
//! is single-threaded; the deadline still applies). The answer names the
//! module by a canonical id, so a module imported twice, or in a cycle, is
//! compiled and instantiated once per run. Once the whole graph is loaded,
//! [`ModuleMap::resolve`] answers V8 from the table.

use std::collections::HashMap;

use mcp_v8_shared::{
    HostAnswer, HostCallKind, JsException, ModuleRequest, MAIN_MODULE_ID, MODULES_DIR_PREFIX,
};
use v8::{Global, Local, PinScope};

use super::host::{describe, LinkError};
use super::module_cache;
use super::origin::{script_origin, SourceKind};
use super::state::RunState;

/// Most modules one run may load; beyond that an import fails.
pub(crate) const MAX_MODULES_PER_RUN: usize = 10_000;

/// The modules of one run.
#[derive(Default)]
pub(crate) struct ModuleMap {
    /// Module id -> the compiled module.
    by_id: HashMap<String, Global<v8::Module>>,
    /// V8 identity hash -> (module, id) for finding a referrer's id.
    ids: HashMap<i32, Vec<(Global<v8::Module>, String)>>,
    /// (referrer id, specifier) -> module id.
    resolved: HashMap<(String, String), String>,
    /// Whether this run may make code caches of packages: not in a run
    /// that saves a heap (V8 aborted snapshotting an isolate that had made
    /// one: the session test in tests/modules.rs). Every run uses them.
    pub(crate) code_cache: bool,
}

impl ModuleMap {
    fn id_of(&self, module: Local<v8::Module>) -> Option<String> {
        let hash = module.get_identity_hash().get();
        self.ids
            .get(&hash)?
            .iter()
            .find(|(m, _)| *m == module)
            .map(|(_, id)| id.clone())
    }

    fn insert(&mut self, id: &str, global: Global<v8::Module>, hash: i32) {
        self.ids
            .entry(hash)
            .or_default()
            .push((global.clone(), id.to_string()));
        self.by_id.insert(id.to_string(), global);
    }
}

/// Why loading a module graph failed.
pub(crate) enum LoadError {
    /// A JS error to throw (missing module, syntax error, limit).
    Js(JsException),
    /// The run must stop: the deadline passed or the socket failed.
    Fatal(LinkError),
    /// V8 has a pending exception (compile error) in the scope.
    Pending,
}

fn js_error(name: &str, message: String) -> LoadError {
    LoadError::Js(JsException {
        name: name.into(),
        message,
        stack: None,
    })
}

/// The origin of a module named `id`.
fn module_origin<'s>(scope: &PinScope<'s, '_>, id: &str) -> Option<v8::ScriptOrigin<'s>> {
    script_origin(scope, id, SourceKind::Module)
}

/// Compiles `source` as module `id` (a syntax error is left pending),
/// through the worker's code caches when `cache_key` (the source's
/// SHA-256, and whether to make a cache) is given.
pub(crate) fn compile<'s>(
    scope: &PinScope<'s, '_>,
    id: &str,
    source: &str,
    cache_key: Option<(&str, bool)>,
) -> Result<Local<'s, v8::Module>, LoadError> {
    let text = v8::String::new(scope, source)
        .ok_or_else(|| js_error("RangeError", format!("module {id} is too large")))?;
    let origin = module_origin(scope, id);
    let module = match cache_key {
        Some((hash, make)) => module_cache::compile(scope, text, origin.as_ref(), hash, make),
        None => {
            let mut source = v8::script_compiler::Source::new(text, origin.as_ref());
            v8::script_compiler::compile_module(scope, &mut source)
        }
    };
    module.ok_or(LoadError::Pending)
}

/// Asks the supervisor for `specifier` imported by `referrer`; returns the
/// module's id, compiling it (and loading its own imports) if new.
fn load_one(scope: &mut PinScope, specifier: &str, referrer: &str) -> Result<String, LoadError> {
    let key = (referrer.to_string(), specifier.to_string());
    let Some(state) = scope.get_slot_mut::<RunState>() else {
        return Err(LoadError::Fatal(LinkError::NoHost));
    };
    if let Some(id) = state.modules.resolved.get(&key) {
        return Ok(id.clone());
    }
    if state.modules.by_id.len() >= MAX_MODULES_PER_RUN {
        return Err(js_error(
            "RangeError",
            format!("too many modules: at most {MAX_MODULES_PER_RUN} per run"),
        ));
    }
    let deadline = state.deadline;
    let call = HostCallKind::Module(ModuleRequest {
        specifier: specifier.to_string(),
        referrer: referrer.to_string(),
    });
    let answer = match state.host.call_blocking(call, deadline) {
        Ok(answer) => answer,
        Err(LinkError::NoHost) => {
            return Err(js_error(
                "TypeError",
                format!("cannot import '{specifier}' from {referrer}: modules are not available"),
            ))
        }
        Err(e) => return Err(LoadError::Fatal(e)),
    };
    let source = match answer {
        Ok(HostAnswer::Module(source)) => source,
        Ok(HostAnswer::Fetch(_) | HostAnswer::Woken) => {
            return Err(LoadError::Fatal(LinkError::Ipc(
                "a module request was answered with something else".into(),
            )))
        }
        Err(e) => {
            return Err(js_error(
                "TypeError",
                format!(
                    "cannot import '{specifier}' from {referrer}: {}",
                    describe(&e)
                ),
            ))
        }
    };
    state.modules.resolved.insert(key, source.id.clone());
    if state.modules.by_id.contains_key(&source.id) {
        return Ok(source.id);
    }
    // Packages from --modules-dir repeat across runs; in-request modules
    // rarely do.
    let make = state.modules.code_cache;
    let cached = source.id.starts_with(MODULES_DIR_PREFIX);
    let cache_key = cached.then_some((source.sha256.as_str(), make));
    let module = compile(scope, &source.id, &source.source, cache_key)?;
    remember(scope, &source.id, module);
    load_requests(scope, module, &source.id)?;
    Ok(source.id)
}

/// Loads every module `module` (named `id`) imports, depth first.
pub(crate) fn load_requests(
    scope: &mut PinScope,
    module: Local<v8::Module>,
    id: &str,
) -> Result<(), LoadError> {
    let requests = module.get_module_requests();
    for i in 0..requests.length() {
        let Some(data) = requests.get(scope, i) else {
            continue;
        };
        let Ok(request) = Local::<v8::ModuleRequest>::try_from(data) else {
            continue;
        };
        let specifier = request.get_specifier().to_rust_string_lossy(scope);
        load_one(scope, &specifier, id)?;
    }
    Ok(())
}

/// Adds `module` to the run's table as `id`.
fn remember(scope: &mut PinScope, id: &str, module: Local<v8::Module>) {
    let global = Global::new(scope, module);
    let hash = module.get_identity_hash().get();
    if let Some(state) = scope.get_slot_mut::<RunState>() {
        state.modules.insert(id, global, hash);
    }
}

/// Registers the request's own code as module [`MAIN_MODULE_ID`].
pub(crate) fn register_main(scope: &mut PinScope, module: Local<v8::Module>) {
    remember(scope, MAIN_MODULE_ID, module);
}

/// V8's resolve callback: answers from the table filled while loading.
pub(crate) fn resolve<'s>(
    context: Local<'s, v8::Context>,
    specifier: Local<'s, v8::String>,
    _attributes: Local<'s, v8::FixedArray>,
    referrer: Local<'s, v8::Module>,
) -> Option<Local<'s, v8::Module>> {
    v8::callback_scope!(unsafe scope, context);
    let specifier = specifier.to_rust_string_lossy(scope);
    let found = scope.get_slot::<RunState>().and_then(|state| {
        let referrer = state.modules.id_of(referrer)?;
        let id = state.modules.resolved.get(&(referrer, specifier.clone()))?;
        state.modules.by_id.get(id).cloned()
    });
    match found {
        Some(global) => Some(Local::new(scope, &global)),
        None => {
            let msg = v8::String::new(scope, &format!("module '{specifier}' was not loaded"))?;
            let err = v8::Exception::type_error(scope, msg);
            scope.throw_exception(err);
            None
        }
    }
}

/// Throws `e` in `scope` as the matching error.
fn throw(scope: &mut PinScope, e: &JsException) {
    let Some(msg) = v8::String::new(scope, &e.message) else {
        return;
    };
    let err = match e.name.as_str() {
        "RangeError" => v8::Exception::range_error(scope, msg),
        "TypeError" => v8::Exception::type_error(scope, msg),
        _ => v8::Exception::error(scope, msg),
    };
    scope.throw_exception(err);
}

/// Loads the graph of `module`, instantiates and evaluates it; returns the
/// evaluation promise. `None` leaves an exception pending (or the isolate
/// terminating).
pub(crate) fn link_and_evaluate<'s>(
    scope: &mut PinScope<'s, '_>,
    module: Local<'s, v8::Module>,
    id: &str,
) -> Option<Local<'s, v8::Value>> {
    match load_requests(scope, module, id) {
        Ok(()) => {}
        Err(LoadError::Js(e)) => {
            throw(scope, &e);
            return None;
        }
        Err(LoadError::Fatal(e)) => {
            eprintln!("mcp-v8 worker: loading modules stopped: {e}");
            scope.terminate_execution();
            return None;
        }
        Err(LoadError::Pending) => return None,
    }
    module.instantiate_module(scope, resolve)?;
    module.evaluate(scope)
}

/// Native fulfilment handler of a dynamic import: returns its data (the
/// module namespace).
pub(crate) fn import_fulfilled(
    _scope: &mut PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    rv.set(args.data());
}

/// `import(specifier)` from a script or module named `resource_name`.
pub(crate) fn import_dynamically<'s>(
    scope: &mut PinScope<'s, '_>,
    _options: Local<'s, v8::Data>,
    resource_name: Local<'s, v8::Value>,
    specifier: Local<'s, v8::String>,
    _attributes: Local<'s, v8::FixedArray>,
) -> Option<Local<'s, v8::Promise>> {
    let referrer = resource_name.to_rust_string_lossy(scope);
    let referrer = if referrer == super::run::SCRIPT_NAME {
        MAIN_MODULE_ID.to_string()
    } else {
        referrer
    };
    let specifier = specifier.to_rust_string_lossy(scope);
    let resolver = v8::PromiseResolver::new(scope)?;
    let promise = resolver.get_promise(scope);
    v8::tc_scope!(let tc, scope);
    let id = match load_one(tc, &specifier, &referrer) {
        Ok(id) => id,
        Err(LoadError::Js(e)) => {
            throw(tc, &e);
            let exception = tc.exception()?;
            tc.reset();
            resolver.reject(tc, exception);
            return Some(promise);
        }
        Err(LoadError::Fatal(e)) => {
            eprintln!("mcp-v8 worker: loading modules stopped: {e}");
            tc.terminate_execution();
            return None;
        }
        Err(LoadError::Pending) => {
            let exception = tc.exception()?;
            tc.reset();
            resolver.reject(tc, exception);
            return Some(promise);
        }
    };
    let global = tc.get_slot::<RunState>()?.modules.by_id.get(&id)?.clone();
    let module = Local::new(tc, &global);
    let evaluated = match module.get_status() {
        v8::ModuleStatus::Uninstantiated => module
            .instantiate_module(tc, resolve)
            .and_then(|_| module.evaluate(tc)),
        _ => module.evaluate(tc),
    };
    let Some(evaluated) = evaluated else {
        if tc.is_execution_terminating() {
            return None;
        }
        let exception = tc.exception()?;
        tc.reset();
        resolver.reject(tc, exception);
        return Some(promise);
    };
    let namespace = module.get_module_namespace();
    let Ok(evaluated) = Local::<v8::Promise>::try_from(evaluated) else {
        resolver.resolve(tc, namespace);
        return Some(promise);
    };
    let on_ok = v8::Function::builder(import_fulfilled)
        .data(namespace)
        .build(tc)?;
    evaluated.then(tc, on_ok)
}
