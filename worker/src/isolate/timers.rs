//! `setTimeout`, `setInterval`, `clearTimeout`, `clearInterval` and
//! `queueMicrotask`, native.
//!
//! Timers go into the run's [`TimerQueue`](super::state::TimerQueue),
//! ordered by due time then insertion; the event loop in `run.rs` fires
//! them. Ids are numbers; `clearTimeout` and `clearInterval` are
//! interchangeable, as in Node and browsers. Delays below 1 ms (or not a
//! number) become 1 ms; delays above 2^31-1 ms also become 1 ms, like Node.

use std::time::{Duration, Instant};

use v8::{FunctionCallbackArguments, Global, Local, PinScope, ReturnValue, Value};

use super::state::{RunState, Timer, MAX_PENDING_TIMERS};

/// Data value of the `setTimeout` function.
pub(crate) const ONE_SHOT: i32 = 0;
/// Data value of the `setInterval` function.
pub(crate) const REPEAT: i32 = 1;

/// Throws a JS error of the given constructor with `message`.
fn throw(scope: &mut PinScope, message: &str, range: bool) {
    let Some(msg) = v8::String::new(scope, message) else {
        return;
    };
    let err = if range {
        v8::Exception::range_error(scope, msg)
    } else {
        v8::Exception::type_error(scope, msg)
    };
    scope.throw_exception(err);
}

/// The first argument as a function, or a TypeError thrown (Node's wording).
fn callback_arg<'a>(
    scope: &mut PinScope,
    first: Local<'a, Value>,
) -> Option<Local<'a, v8::Function>> {
    let callback = Local::<v8::Function>::try_from(first).ok();
    if callback.is_none() {
        throw(
            scope,
            "The \"callback\" argument must be of type function",
            false,
        );
    }
    callback
}

/// Native `setTimeout(fn, ms, ...args)` / `setInterval(...)`; `args.data()`
/// is [`ONE_SHOT`] or [`REPEAT`].
pub(crate) fn set_timer(
    scope: &mut PinScope,
    args: FunctionCallbackArguments,
    rv: ReturnValue<Value>,
) {
    let repeat = args.data().int32_value(scope) == Some(REPEAT);
    schedule(scope, args, rv, repeat, false);
}

/// `weakTimer(fn, ms)` (a web op, not a global): a one-shot timer that
/// does not keep the run alive (`AbortSignal.timeout`): the event loop
/// ends when only weak timers are left, unless the script's result promise
/// is still pending.
pub(crate) fn weak_timer(
    scope: &mut PinScope,
    args: FunctionCallbackArguments,
    rv: ReturnValue<Value>,
) {
    schedule(scope, args, rv, false, true);
}

/// Queues a timer for `set_timer` and `weak_timer`.
fn schedule(
    scope: &mut PinScope,
    args: FunctionCallbackArguments,
    mut rv: ReturnValue<Value>,
    repeat: bool,
    weak: bool,
) {
    let Some(callback) = callback_arg(scope, args.get(0)) else {
        return;
    };
    let delay_ms = args.get(1).number_value(scope).unwrap_or(1.0);
    let delay_ms = if delay_ms.is_finite() && (1.0..=2_147_483_647.0).contains(&delay_ms) {
        delay_ms
    } else {
        1.0
    };
    let delay = Duration::from_micros((delay_ms * 1000.0) as u64);
    let callback = Global::new(scope, callback);
    let extra: Vec<Global<Value>> = (2..args.length())
        .map(|i| Global::new(scope, args.get(i)))
        .collect();
    let Some(state) = scope.get_slot_mut::<RunState>() else {
        return;
    };
    if state.timers.len() >= MAX_PENDING_TIMERS {
        throw(scope, "too many pending timers", true);
        return;
    }
    let id = state.timers.new_id();
    state.timers.insert(
        Instant::now() + delay,
        Timer {
            id,
            callback,
            args: extra,
            repeat: repeat.then_some(delay),
            weak,
        },
    );
    rv.set_uint32(id);
}

/// Native `clearTimeout(id)` / `clearInterval(id)`.
pub(crate) fn clear_timer(
    scope: &mut PinScope,
    args: FunctionCallbackArguments,
    _rv: ReturnValue<Value>,
) {
    let arg = args.get(0);
    if !arg.is_number() {
        return;
    }
    let Some(id) = arg.uint32_value(scope) else {
        return;
    };
    if let Some(state) = scope.get_slot_mut::<RunState>() {
        state.timers.cancel(id);
    }
}

/// Native `queueMicrotask(fn)`: runs `fn` at the next microtask checkpoint.
pub(crate) fn queue_microtask(
    scope: &mut PinScope,
    args: FunctionCallbackArguments,
    _rv: ReturnValue<Value>,
) {
    let Some(callback) = callback_arg(scope, args.get(0)) else {
        return;
    };
    scope.enqueue_microtask(callback);
}
