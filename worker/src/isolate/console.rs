//! `console.log/info/warn/error/debug`: formats the arguments like Node's
//! `util.format` and captures them, in call order, into the run's output,
//! indented by the open `console.group`s. The other console methods are
//! JavaScript (`web/js/console.js`) over the ops in `web/misc.rs`.

use mcp_v8_shared::LogLevel;
use v8::{FunctionCallbackArguments, Local, PinScope, ReturnValue, Value};

use super::inspect::{self, Inspector};
use super::state::RunState;

/// The console methods with the level each one records; the index is the
/// function's data value.
pub(crate) const METHODS: [(&str, LogLevel); 5] = [
    ("log", LogLevel::Log),
    ("info", LogLevel::Info),
    ("warn", LogLevel::Warn),
    ("error", LogLevel::Error),
    ("debug", LogLevel::Debug),
];

/// Native body of every console method; `args.data()` is the index into
/// [`METHODS`].
pub(crate) fn console_method(
    scope: &mut PinScope,
    args: FunctionCallbackArguments,
    _rv: ReturnValue<Value>,
) {
    let index = args.data().int32_value(scope).unwrap_or(0);
    let level = usize::try_from(index)
        .ok()
        .and_then(|i| METHODS.get(i))
        .map_or(LogLevel::Log, |m| m.1);
    // Once the output is full, skip formatting entirely.
    let Some(budget) = remaining(scope) else {
        return;
    };
    let values: Vec<Local<Value>> = (0..args.length()).map(|i| args.get(i)).collect();
    let text = format_args(scope, &values, budget);
    emit(scope, level, text);
}

/// Bytes the run may still print (plus one, so that a cut is noticed), or
/// `None` once the output is full or outside a run.
pub(crate) fn remaining(scope: &PinScope) -> Option<usize> {
    let state = scope.get_slot::<RunState>()?;
    if state.output.truncated {
        return None;
    }
    Some(
        usize::try_from(state.output.remaining())
            .unwrap_or(usize::MAX)
            .saturating_add(1),
    )
}

/// Records one output line, indented by the open `console.group`s (two
/// spaces per level, on every line of the text, as Node does).
pub(crate) fn emit(scope: &mut PinScope, level: LogLevel, text: String) {
    if let Some(state) = scope.get_slot_mut::<RunState>() {
        let text = if state.group == 0 {
            text
        } else {
            let pad = " ".repeat(state.group * 2);
            let mut out = String::with_capacity(text.len() + pad.len());
            for (i, line) in text.split('\n').enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                out.push_str(&pad);
                out.push_str(line);
            }
            out
        };
        state.output.push(level, text);
    }
}

/// `util.format(...args)`: printf-style directives in a leading string,
/// then the remaining arguments, strings raw and others inspected, joined
/// by spaces. Stops early once `budget` bytes are produced.
pub(crate) fn format_args<'s>(
    scope: &PinScope<'s, '_>,
    args: &[Local<'s, Value>],
    budget: usize,
) -> String {
    let mut out = String::new();
    let mut rest = args;
    if let Some(first) = args.first().filter(|v| v.is_string()) {
        let (fmt, _) = inspect::js_string(scope, *first, budget);
        if fmt.contains('%') && args.len() > 1 {
            let used = directives(scope, &fmt, &args[1..], budget, &mut out);
            rest = &args[1 + used..];
        } else {
            out = fmt;
            rest = &args[1..];
        }
    }
    for value in rest {
        if out.len() >= budget {
            break;
        }
        if !out.is_empty() || !std::ptr::eq(value, &args[0]) {
            out.push(' ');
        }
        let remaining = budget.saturating_sub(out.len());
        if value.is_string() {
            out.push_str(&inspect::js_string(scope, *value, remaining).0);
        } else {
            out.push_str(&Inspector::new(scope, remaining).inspect(*value));
        }
    }
    out
}

/// Expands `%s %d %i %f %j %o %O %c %%` in `fmt` with `args`; returns how
/// many arguments were consumed.
fn directives<'s>(
    scope: &PinScope<'s, '_>,
    fmt: &str,
    args: &[Local<'s, Value>],
    budget: usize,
    out: &mut String,
) -> usize {
    let mut used = 0;
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(&d) = chars.peek() else {
            out.push('%');
            break;
        };
        if d == '%' {
            chars.next();
            out.push('%');
            continue;
        }
        if !matches!(d, 's' | 'd' | 'i' | 'f' | 'j' | 'o' | 'O' | 'c') || used >= args.len() {
            out.push('%');
            continue;
        }
        chars.next();
        let arg = args[used];
        used += 1;
        let remaining = budget.saturating_sub(out.len());
        let piece = match d {
            's' if arg.is_string() => inspect::js_string(scope, arg, remaining).0,
            's' if arg.is_object() => Inspector::new(scope, remaining).with_depth(0).inspect(arg),
            's' => Inspector::new(scope, remaining).primitive(arg, false),
            'd' | 'i' | 'f' => number_directive(scope, arg, d),
            'j' => match v8::json::stringify(scope, arg) {
                Some(s) => s.to_rust_string_lossy(scope),
                None => "[Circular]".into(),
            },
            'c' => String::new(),
            _ => Inspector::new(scope, remaining).inspect(arg),
        };
        out.push_str(&piece);
        if out.len() >= budget {
            break;
        }
    }
    used
}

/// `%d`, `%i` and `%f` of one argument.
fn number_directive(scope: &PinScope, arg: Local<Value>, d: char) -> String {
    if arg.is_big_int() {
        return format!("{}n", arg.to_rust_string_lossy(scope));
    }
    if arg.is_symbol() {
        return "NaN".into();
    }
    let Some(n) = arg.to_number(scope) else {
        return "NaN".into();
    };
    let mut v = n.value();
    if d == 'i' {
        v = v.trunc();
    }
    let num = v8::Number::new(scope, v);
    inspect::number(scope, num.into())
}
