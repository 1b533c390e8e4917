//! Clock and console ops: `performance.now()`/`timeOrigin` (coarsened),
//! and the primitives the console glue builds `table`, `dir`, `group`,
//! `count`, `time` and `trace` on.
//!
//! Clocks: `performance.now()` counts from the start of the run and is
//! coarsened to [`RESOLUTION_US`] (a Spectre mitigation, like browsers
//! do); `performance.timeOrigin` is the wall-clock time the run started,
//! coarsened the same way. `Date.now()` is V8's own, whole milliseconds.

use std::time::{SystemTime, UNIX_EPOCH};

use mcp_v8_shared::LogLevel;
use v8::{FunctionCallbackArguments, Local, PinScope, ReturnValue, Value};

use super::super::console::{self, format_args};
use super::super::inspect::Inspector;
use super::super::state::RunState;

/// Resolution of `performance.now()` and `timeOrigin`, in microseconds.
pub(crate) const RESOLUTION_US: u64 = 100;

/// Rounds microseconds down to the resolution, as milliseconds.
fn coarse_ms(us: u128) -> f64 {
    let us = us as f64;
    let step = RESOLUTION_US as f64;
    (us / step).floor() * step / 1000.0
}

/// `now()`: milliseconds since the run started, coarsened.
pub(super) fn now(scope: &mut PinScope, _a: FunctionCallbackArguments, mut rv: ReturnValue<Value>) {
    let us = scope
        .get_slot::<RunState>()
        .map_or(0, |s| s.started.elapsed().as_micros());
    rv.set_double(coarse_ms(us));
}

/// `timeOrigin()`: Unix time in milliseconds when the run started,
/// coarsened.
pub(super) fn time_origin(
    scope: &mut PinScope,
    _a: FunctionCallbackArguments,
    mut rv: ReturnValue<Value>,
) {
    let wall = scope
        .get_slot::<RunState>()
        .map_or_else(SystemTime::now, |s| s.started_wall);
    let us = wall.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros());
    rv.set_double(coarse_ms(us));
}

/// The log level of a console method index (see `console::METHODS`).
fn level(scope: &mut PinScope, value: Local<Value>) -> LogLevel {
    let i = value.int32_value(scope).unwrap_or(0);
    usize::try_from(i)
        .ok()
        .and_then(|i| console::METHODS.get(i))
        .map_or(LogLevel::Log, |m| m.1)
}

/// `print(level, text)`: one output line at the current group indentation.
pub(super) fn print(scope: &mut PinScope, a: FunctionCallbackArguments, _rv: ReturnValue<Value>) {
    let level = level(scope, a.get(0));
    let Some(remaining) = console::remaining(scope) else {
        return;
    };
    let (text, _) = super::super::inspect::js_string(scope, a.get(1), remaining);
    console::emit(scope, level, text);
}

/// `format(...args)`: `util.format` of the arguments.
pub(super) fn format(
    scope: &mut PinScope,
    a: FunctionCallbackArguments,
    mut rv: ReturnValue<Value>,
) {
    let budget = console::remaining(scope).unwrap_or(0);
    let values: Vec<Local<Value>> = (0..a.length()).map(|i| a.get(i)).collect();
    let text = format_args(scope, &values, budget);
    rv.set(super::args::js_str(scope, &text));
}

/// `inspect(value, depth)`: `util.inspect(value, {depth})`; a depth that
/// is not a number means the default, `Infinity` or `null` means no limit.
pub(super) fn inspect(
    scope: &mut PinScope,
    a: FunctionCallbackArguments,
    mut rv: ReturnValue<Value>,
) {
    let budget = console::remaining(scope).unwrap_or(0);
    let depth = a.get(1);
    let mut inspector = Inspector::new(scope, budget);
    if depth.is_null() {
        inspector = inspector.with_depth(usize::MAX);
    } else if depth.is_number() {
        let d = depth.number_value(scope).unwrap_or(2.0);
        let d = if d.is_finite() {
            d.max(0.0) as usize
        } else {
            usize::MAX
        };
        inspector = inspector.with_depth(d);
    }
    let text = inspector.inspect(a.get(0));
    rv.set(super::args::js_str(scope, &text));
}

/// `group(delta)`: changes the console indentation by `delta` levels (two
/// spaces each, never below zero).
pub(super) fn group(scope: &mut PinScope, a: FunctionCallbackArguments, _rv: ReturnValue<Value>) {
    let delta = a.get(0).int32_value(scope).unwrap_or(0);
    if let Some(state) = scope.get_slot_mut::<RunState>() {
        state.group = state.group.saturating_add_signed(delta as isize).min(64);
    }
}
