//! One execution inside a prepared isolate: strip TypeScript (see
//! `crate::typescript`), compile (as a classic script with the top-level
//! `await` rewrite, or as an ES module when the code has static
//! `import`/`export`), run, drive the event loop (`eventloop.rs`), and turn
//! the completion value or the failure into the response.
//!
//! A script's completion value, if a promise, is read after the loop:
//! fulfilled -> its value, rejected -> an exception, still pending ->
//! `Promise { <pending> }`. A module's value is its `default` export
//! (awaited), or `undefined` without one.

use std::time::Instant;

use mcp_v8_shared::{ExecError, ExecRequest, JsException, JsValue, MAIN_MODULE_ID};
use v8::{Global, Local, PinScope, Platform, SharedRef, Value};

use super::create::Holder;
use super::eventloop::event_loop;
use super::host::{HostCalls, HostLink};
use super::inspect::{self, Inspector};
use super::modules;
use super::origin::{script_origin, SourceKind};
use super::state::{Output, Rejection, RunState};
use super::tla;
use super::watchdog::Watchdog;

/// The try-catch scope a run executes in.
pub(crate) type Tc<'a, 'b, 's, 'i> = v8::PinnedRef<'a, v8::TryCatch<'b, 's, v8::HandleScope<'i>>>;

/// Resource name of the script in stack traces.
pub(crate) const SCRIPT_NAME: &str = crate::typescript::JS_SCRIPT_NAME;

/// Why a run stopped without a value.
pub(crate) enum Stop {
    /// The isolate was terminated (watchdog or heap limit).
    Terminated,
    /// The deadline passed while no JS was running (waiting for timers).
    Deadline,
    /// An uncaught exception or unhandled rejection.
    Exception(JsException),
    /// The result is longer than a response frame can carry.
    TooLarge(usize),
    /// The IPC link to the supervisor failed during a host call.
    Host(String),
}

/// The result of [`run`].
pub(crate) struct Finished {
    /// The value or why there is none.
    pub(crate) outcome: Result<JsValue, ExecError>,
    /// Console output captured by the run.
    pub(crate) output: Output,
}

/// Runs `req.code` in `holder`'s context until it settles, the deadline
/// passes or a limit is hit. `result_budget` caps the inspect form of a
/// non-JSON result.
pub(crate) fn run(
    holder: &mut Holder,
    req: &ExecRequest,
    link: Option<HostLink>,
    deadline: Instant,
    watchdog: &Watchdog,
    platform: &SharedRef<Platform>,
    result_budget: usize,
) -> Finished {
    let heap_mb = holder.heap_mb;
    let (Some(isolate), Some(context)) = (holder.isolate.as_mut(), holder.context.as_ref()) else {
        return Finished {
            outcome: Err(ExecError::Protocol("isolate not available".into())),
            output: Output::default(),
        };
    };
    // TypeScript is stripped here, behind the sandbox, before compiling.
    let prepared = match crate::typescript::prepare(&req.code, req.language) {
        Ok(prepared) => prepared,
        Err(e) => {
            return Finished {
                outcome: Err(ExecError::Exception(e)),
                output: Output::default(),
            }
        }
    };
    let mut state = RunState::new(req.max_output_bytes, HostCalls::new(link, req.id), deadline);
    state.budget = Some(holder.heap_guard.budget.clone());
    state.modules.code_cache = !req.snapshot;
    isolate.set_slot(state);
    watchdog.arm(isolate.thread_safe_handle(), deadline);
    let result = {
        v8::scope!(let scope, isolate);
        let local = Local::new(scope, context);
        let scope = &mut v8::ContextScope::new(scope, local);
        let scope: &mut PinScope = scope;
        v8::tc_scope!(let tc, scope);
        let result = execute(tc, prepared.code(), deadline, platform, result_budget);
        match result {
            Ok(value) if req.snapshot => {
                settle_for_snapshot(tc, deadline, platform).map(|()| value)
            }
            other => other,
        }
    };
    let fired = watchdog.disarm();
    if fired || isolate.is_execution_terminating() {
        isolate.cancel_terminate_execution();
    }
    // Dropping the run state releases its Globals (timers, rejections).
    let output = isolate
        .remove_slot::<RunState>()
        .map(|state| state.output)
        .unwrap_or_default();
    let mut outcome = if holder.heap_guard.was_hit() {
        Err(ExecError::MemoryLimit { heap_mb })
    } else {
        match result {
            Ok(value) => Ok(value),
            Err(Stop::Terminated | Stop::Deadline) => Err(ExecError::Timeout {
                timeout_ms: req.timeout_ms,
            }),
            Err(Stop::Exception(e)) => Err(ExecError::Exception(e)),
            Err(Stop::TooLarge(units)) => Err(ExecError::ResultTooLarge {
                bytes: units as u64,
                max_bytes: result_budget as u64,
            }),
            Err(Stop::Host(why)) => Err(ExecError::Protocol(why)),
        }
    };
    if let Err(e) = outcome.as_mut() {
        prepared.remap(e);
    }
    Finished { outcome, output }
}

/// Compiles, runs, drives the event loop and converts the result.
fn execute<'s>(
    tc: &mut Tc<'_, '_, 's, '_>,
    code: &str,
    deadline: Instant,
    platform: &SharedRef<Platform>,
    result_budget: usize,
) -> Result<JsValue, Stop> {
    let value = match compile(tc, code)? {
        Compiled::Script(script) => {
            let Some(value) = script.run(tc) else {
                return Err(caught(tc));
            };
            settle(tc, value, deadline, platform)?
        }
        Compiled::Module(module) => {
            modules::register_main(tc, module);
            let Some(done) = modules::link_and_evaluate(tc, module, MAIN_MODULE_ID) else {
                return Err(caught(tc));
            };
            if let Settled::Pending = settle(tc, done, deadline, platform)? {
                return Ok(JsValue::Text("Promise { <pending> }".into()));
            }
            let namespace = module.get_module_namespace();
            let default = Local::<v8::Object>::try_from(namespace)
                .ok()
                .zip(v8::String::new(tc, "default"))
                .and_then(|(ns, key)| ns.get(tc, key.into()));
            match default {
                Some(value) => settle(tc, value, deadline, platform)?,
                None => Settled::Value(v8::undefined(tc).into()),
            }
        }
    };
    match value {
        Settled::Value(value) => to_js_value(tc, value, result_budget),
        Settled::Pending => Ok(JsValue::Text("Promise { <pending> }".into())),
    }
}

/// A value after the event loop ran: a promise's outcome, or the value.
enum Settled<'s> {
    Value(Local<'s, Value>),
    Pending,
}

/// Runs the event loop; if `value` is a promise, returns its outcome.
fn settle<'s>(
    tc: &mut Tc<'_, '_, 's, '_>,
    value: Local<'s, Value>,
    deadline: Instant,
    platform: &SharedRef<Platform>,
) -> Result<Settled<'s>, Stop> {
    let promise = Local::<v8::Promise>::try_from(value).ok();
    event_loop(tc, promise, deadline, platform)?;
    Ok(match promise {
        None => Settled::Value(value),
        Some(promise) => match promise.state() {
            v8::PromiseState::Fulfilled => Settled::Value(promise.result(tc)),
            v8::PromiseState::Rejected => {
                let reason = promise.result(tc);
                return Err(Stop::Exception(exception_of(tc, reason)));
            }
            v8::PromiseState::Pending => Settled::Pending,
        },
    })
}

/// Before a snapshot: one full GC, then the tasks it posts (notably
/// FinalizationRegistry cleanups, which run JS) while the watchdog is still
/// armed. V8 aborts when `create_blob` finds a registry with pending
/// cleanups; this empties them in the common case (tested).
///
/// The GC is V8's critical memory-pressure collection, one full GC as a
/// rule, then the pressure is lifted again. `low_memory_notification`
/// would collect at least twice, which costs 0.2 ms more per snapshot and
/// gains nothing: `create_blob` collects all garbage itself anyway.
fn settle_for_snapshot(
    tc: &mut Tc,
    deadline: Instant,
    platform: &SharedRef<Platform>,
) -> Result<(), Stop> {
    tc.memory_pressure_notification(v8::MemoryPressureLevel::Critical);
    tc.memory_pressure_notification(v8::MemoryPressureLevel::None);
    event_loop(tc, None, deadline, platform)
}

/// The origin naming the script in stack traces.
fn origin<'s>(scope: &PinScope<'s, '_>) -> Option<v8::ScriptOrigin<'s>> {
    script_origin(scope, SCRIPT_NAME, SourceKind::Script)
}

/// Compiles `code` without reporting failures (for TLA candidates).
fn try_compile<'s>(tc: &mut Tc<'_, '_, 's, '_>, code: &str) -> Option<Local<'s, v8::Script>> {
    let source = v8::String::new(tc, code)?;
    let origin = origin(tc)?;
    let script = v8::Script::compile(tc, source, Some(&origin));
    if script.is_none() {
        tc.reset();
    }
    script
}

/// What the request's code compiled to.
enum Compiled<'s> {
    Script(Local<'s, v8::Script>),
    Module(Local<'s, v8::Module>),
}

/// Whether a classic-script syntax error means "this is a module".
fn needs_module(e: &JsException) -> bool {
    e.name == "SyntaxError"
        && (e
            .message
            .contains("Cannot use import statement outside a module")
            || e.message.contains("Unexpected token 'export'")
            || e.message
                .contains("Cannot use 'import.meta' outside a module"))
}

/// Compiles `code` as a classic script; as an ES module when it has
/// static `import`/`export`; else falls back to the top-level `await`
/// rewrite (see `tla.rs`) when the script fails to parse.
fn compile<'s>(tc: &mut Tc<'_, '_, 's, '_>, code: &str) -> Result<Compiled<'s>, Stop> {
    match compile_script(tc, code) {
        Ok(script) => Ok(Compiled::Script(script)),
        Err(Stop::Exception(e)) if needs_module(&e) => {
            match modules::compile(tc, MAIN_MODULE_ID, code, None) {
                Ok(module) => Ok(Compiled::Module(module)),
                Err(_) => Err(caught(tc)),
            }
        }
        Err(e) => Err(e),
    }
}

/// Compiles `code` as a classic script, falling back to the top-level
/// `await` rewrite (see `tla.rs`) when the script fails to parse.
fn compile_script<'s>(
    tc: &mut Tc<'_, '_, 's, '_>,
    code: &str,
) -> Result<Local<'s, v8::Script>, Stop> {
    let Some(source) = v8::String::new(tc, code) else {
        return Err(Stop::Exception(JsException {
            name: "RangeError".into(),
            message: "script source is too large".into(),
            stack: None,
        }));
    };
    let origin = origin(tc);
    if let Some(script) = v8::Script::compile(tc, source, origin.as_ref()) {
        return Ok(script);
    }
    let first = caught(tc);
    let is_syntax =
        matches!(&first, Stop::Exception(e) if e.name == "SyntaxError" && !needs_module(e));
    if is_syntax && tla::mentions_await(code) {
        tc.reset();
        for (head, tail) in tla::candidates(code) {
            if let Some(script) = try_compile(tc, &tla::wrap_with_tail(&head, &tail)) {
                return Ok(script);
            }
        }
        if let Some(script) = try_compile(tc, &tla::wrap_whole(code)) {
            return Ok(script);
        }
    }
    Err(first)
}

/// The failure currently held by `tc` (after a call returned `None`).
pub(crate) fn caught(tc: &mut Tc) -> Stop {
    if tc.has_terminated() || tc.is_execution_terminating() {
        return Stop::Terminated;
    }
    let Some(exception) = tc.exception() else {
        return Stop::Terminated;
    };
    let location = tc.message().and_then(|m| {
        let line = m.get_line_number(tc)?;
        // A native throw (a missing module) has no position: -1.
        let column = m.get_start_column().checked_add(1)?;
        let name = m
            .get_script_resource_name(tc)
            .filter(|n| n.is_string())
            .map_or_else(|| SCRIPT_NAME.to_string(), |n| n.to_rust_string_lossy(tc));
        Some(format!("{name}:{line}:{column}"))
    });
    let mut e = exception_of(tc, exception);
    tc.reset();
    // Compile errors carry no frames; add where they happened.
    if let (Some(loc), Some(stack)) = (location, e.stack.as_mut()) {
        if !stack.contains("\n    at ") {
            stack.push_str(&format!("\n    at {loc}"));
        }
    }
    Stop::Exception(e)
}

/// Describes a thrown value: an Error's name, message and stack, or, for
/// anything else, name `Uncaught` and its inspect form.
pub(crate) fn exception_of(scope: &PinScope, value: Local<Value>) -> JsException {
    if value.is_native_error() {
        if let Ok(obj) = Local::<v8::Object>::try_from(value) {
            return JsException {
                name: inspect::get_str(scope, obj, "name").unwrap_or_else(|| "Error".into()),
                message: inspect::get_str(scope, obj, "message").unwrap_or_default(),
                stack: inspect::get_str(scope, obj, "stack"),
            };
        }
    }
    JsException {
        name: "Uncaught".into(),
        message: Inspector::new(scope, 64 * 1024).inspect(value),
        stack: None,
    }
}

/// Whether the isolate is being terminated.
pub(crate) fn terminating(tc: &Tc) -> bool {
    tc.has_terminated() || tc.is_execution_terminating()
}

/// Converts the completion value: `Undefined`, `Json` when JSON.stringify
/// yields text, otherwise `Text` (inspect form).
fn to_js_value(tc: &mut Tc, value: Local<Value>, budget: usize) -> Result<JsValue, Stop> {
    if value.is_undefined() {
        return Ok(JsValue::Undefined);
    }
    if value.is_function() || value.is_symbol() || value.is_big_int() {
        return Ok(JsValue::Text(Inspector::new(tc, budget).inspect(value)));
    }
    match v8::json::stringify(tc, value) {
        Some(json) => {
            // Refuse before copying: a huge JSON text would be held twice
            // outside the JS heap limit.
            if json.length() > budget {
                return Err(Stop::TooLarge(json.length()));
            }
            let text = json.to_rust_string_lossy(tc);
            if text == "undefined" {
                Ok(JsValue::Text(Inspector::new(tc, budget).inspect(value)))
            } else {
                Ok(JsValue::Json(text))
            }
        }
        None => {
            if terminating(tc) {
                return Err(Stop::Terminated);
            }
            tc.reset();
            Ok(JsValue::Text(Inspector::new(tc, budget).inspect(value)))
        }
    }
}

/// Promise rejection tracking: remembers rejections without a handler and
/// forgets them when a handler is attached later.
pub(crate) extern "C" fn on_promise_reject(msg: v8::PromiseRejectMessage) {
    v8::callback_scope!(unsafe scope, &msg);
    let promise = msg.get_promise();
    match msg.get_event() {
        v8::PromiseRejectEvent::PromiseRejectWithNoHandler => {
            let reason = msg
                .get_value()
                .unwrap_or_else(|| v8::undefined(scope).into());
            let rejection = Rejection {
                promise: Global::new(scope, promise),
                reason: Global::new(scope, reason),
            };
            if let Some(state) = scope.get_slot_mut::<RunState>() {
                state.rejections.push(rejection);
            }
        }
        v8::PromiseRejectEvent::PromiseHandlerAddedAfterReject => {
            if let Some(state) = scope.get_slot_mut::<RunState>() {
                state.rejections.retain(|r| r.promise != promise);
            }
        }
        _ => {}
    }
}

/// Message listener: V8 reports here exceptions that no script frame
/// could catch (thrown by a `queueMicrotask` callback). The first one ends
/// the run.
pub(crate) extern "C" fn on_message(message: Local<v8::Message>, exception: Local<Value>) {
    v8::callback_scope!(unsafe scope, message);
    let exception = Global::new(scope, exception);
    if let Some(state) = scope.get_slot_mut::<RunState>() {
        if state.uncaught.is_none() {
            state.uncaught = Some(exception);
        }
    }
}
