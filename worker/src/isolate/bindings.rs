//! The native globals every context gets (`console`, timers,
//! `queueMicrotask`, and with the `attack-hooks` feature `__attack`), and the one static list of
//! native callbacks that snapshots need (these plus the web platform ops of
//! `web::ops`, which the web glue holds in a closure).
//!
//! Invariant: every function installed here appears in
//! [`external_references`], and that list is used, in the same order, when
//! a snapshot is created and when it is restored. Adding a callback means
//! adding it to both [`install`] and [`external_references`].

use std::borrow::Cow;
use std::sync::OnceLock;

use v8::{ExternalReference, Local, MapFnTo, PinScope};

use super::console::{console_method, METHODS};
use super::modules::import_fulfilled;
use super::run::on_message;
use super::timers::{clear_timer, queue_microtask, set_timer, ONE_SHOT, REPEAT};

/// Address of the leaked, process-wide external reference table.
/// (`ExternalReference` holds raw pointers and is not `Sync`, so the table
/// is kept as an address and rebuilt into a slice on use.)
static REFS: OnceLock<(usize, usize)> = OnceLock::new();

/// Every native callback reachable from JS, in a fixed order.
pub(crate) fn external_references() -> Cow<'static, [ExternalReference]> {
    let &(ptr, len) = REFS.get_or_init(|| {
        let mut refs = vec![
            ExternalReference {
                function: console_method.map_fn_to(),
            },
            ExternalReference {
                function: set_timer.map_fn_to(),
            },
            ExternalReference {
                function: clear_timer.map_fn_to(),
            },
            ExternalReference {
                function: queue_microtask.map_fn_to(),
            },
            // The message listener lives in the heap's listener list, so a
            // snapshot refers to it too.
            ExternalReference {
                message: on_message,
            },
        ];
        // The web platform ops (`web::ops`), after the original five so
        // that heaps stored before them still resolve.
        for (_, function) in super::web::ops::table() {
            refs.push(ExternalReference { function });
        }
        // The fulfilment handler of dynamic `import()` (a closure over the
        // module namespace, alive while an import is pending).
        refs.push(ExternalReference {
            function: import_fulfilled.map_fn_to(),
        });
        // The getter of the web globals' lazy properties (`web::lazy`).
        let lazy: v8::AccessorNameGetterCallback = super::web::lazy_getter.map_fn_to();
        refs.push(ExternalReference {
            pointer: lazy as *mut std::ffi::c_void,
        });
        // Ops added since (`web::ops::later`).
        for (_, function) in super::web::ops::later() {
            refs.push(ExternalReference { function });
        }
        #[cfg(feature = "attack-hooks")]
        refs.push(ExternalReference {
            function: attack.map_fn_to(),
        });
        refs.shrink_to_fit();
        let leaked: &'static mut [ExternalReference] = Box::leak(refs.into_boxed_slice());
        (leaked.as_ptr() as usize, leaked.len())
    });
    // SAFETY: (ptr, len) describe the slice leaked above, which lives for
    // the rest of the process and is never written again.
    let refs = unsafe { std::slice::from_raw_parts(ptr as *const ExternalReference, len) };
    Cow::Borrowed(refs)
}

/// Creates a native function with an integer data value.
fn native<'s>(
    scope: &PinScope<'s, '_>,
    callback: impl MapFnTo<v8::FunctionCallback>,
    data: i32,
) -> Option<Local<'s, v8::Function>> {
    let data = v8::Integer::new(scope, data);
    // Like a Web IDL operation: no `prototype`, not a constructor (and
    // one object less per function in every context).
    v8::Function::builder(callback)
        .data(data.into())
        .constructor_behavior(v8::ConstructorBehavior::Throw)
        .build(scope)
}

/// Sets `obj[name] = value`.
fn set<'s>(
    scope: &PinScope<'s, '_>,
    obj: Local<'s, v8::Object>,
    name: &str,
    value: Local<'s, v8::Value>,
) {
    if let Some(key) = v8::String::new(scope, name) {
        obj.set(scope, key.into(), value);
    }
}

/// Installs the native globals into the current context of `scope`
/// (fresh or restored from a snapshot; existing bindings are replaced).
pub(crate) fn install(scope: &mut PinScope) {
    let global = scope.get_current_context().global(scope);
    let console = v8::Object::new(scope);
    for (i, (name, _)) in METHODS.iter().enumerate() {
        if let Some(f) = native(scope, console_method, i as i32) {
            set(scope, console, name, f.into());
        }
    }
    set(scope, global, "console", console.into());
    let timers: [(&str, i32, bool); 4] = [
        ("setTimeout", ONE_SHOT, true),
        ("setInterval", REPEAT, true),
        ("clearTimeout", 0, false),
        ("clearInterval", 0, false),
    ];
    for (name, data, is_set) in timers {
        let f = if is_set {
            native(scope, set_timer, data)
        } else {
            native(scope, clear_timer, data)
        };
        if let Some(f) = f {
            set(scope, global, name, f.into());
        }
    }
    if let Some(f) = native(scope, queue_microtask, 0) {
        set(scope, global, "queueMicrotask", f.into());
    }
    #[cfg(feature = "attack-hooks")]
    if let Some(f) = native(scope, attack, 0) {
        set(scope, global, "__attack", f.into());
    }
}

/// Test-only `__attack(name)`: performs a forbidden operation from inside
/// the sandbox; returns its report or throws it.
#[cfg(feature = "attack-hooks")]
fn attack(
    scope: &mut PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let name = args.get(0).to_rust_string_lossy(scope);
    match crate::sandbox::attack::perform(&name) {
        Ok(report) => {
            if let Some(s) = v8::String::new(scope, &report) {
                rv.set(s.into());
            }
        }
        Err(why) => {
            if let Some(msg) = v8::String::new(scope, &why) {
                let err = v8::Exception::error(scope, msg);
                scope.throw_exception(err);
            }
        }
    }
}
