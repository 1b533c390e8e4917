//! The web globals as lazy native data properties: what the startup
//! snapshot holds in place of the glue, and the first use that loads it.
//!
//! [`install`] (run once, when the blob is made) gives every name the glue
//! defines on the global object or on `console` a V8 native data property
//! whose getter is [`getter`] and whose setter is V8's own (a write turns
//! it into a plain data property, as for any global). The loader's inputs
//! (the original `console` and `queueMicrotask`, the two lists of names)
//! are one small array in the context's embedder data. So a fresh context
//! deserialises a few dozen `AccessorInfo`s and one array, and not the
//! glue, its closures or its op functions: it costs what a context
//! without the web globals costs.
//!
//! The first read of any of them in a context calls [`load`]: it makes the
//! ops object, compiles the glue (from its code cache, `glue.rs`) and runs
//! it; the glue's first lines (`PROLOGUE_JS`) note the names a script has
//! already replaced, deleted or redefined, its files define the real
//! properties, and its last lines (`EPILOGUE_JS`) put the script's choices
//! back. While it runs, the
//! getter answers a private mark, which is how the loader tells a lazy
//! name from one the script changed. Reading a property descriptor sees
//! a plain data property, as in a browser.
//!
//! Invariant: [`getter`] is in `bindings::external_references`, so the
//! accessors survive the startup blob and session heaps.

use serde::Deserialize;
use v8::{Local, PinScope};

use super::ops;

/// The names the glue defines, with their enumerability (what `NAMES_JS`
/// in `mod.rs` returns).
#[derive(Deserialize)]
pub(super) struct Names {
    global: Vec<(String, bool)>,
    console: Vec<(String, bool)>,
}

impl Names {
    /// Parses `NAMES_JS`'s JSON.
    pub(super) fn parse(json: &str) -> Result<Names, String> {
        serde_json::from_str(json).map_err(|e| format!("web glue names: {e}"))
    }
}

/// The start of the glue's function body (`glue.rs` puts it before the
/// files): when the glue is called by [`load`] with `lazyNames` (the
/// table's two name lists) and `lazyMark`, notes the names a script has
/// already assigned, deleted or redefined. Part of the glue's script, so
/// it comes from the same code cache rather than being compiled in every
/// context.
pub(super) const PROLOGUE_JS: &str = r#"const lazyChanged = [];
if (lazyNames !== undefined) {
  const { getOwnPropertyDescriptor } = Object;
  for (const [holder, names] of [[globalThis, lazyNames[0]], [con, lazyNames[1]]]) {
    for (const name of names) {
      const d = getOwnPropertyDescriptor(holder, name);
      if (d === undefined || d.value !== lazyMark) lazyChanged.push([holder, name, d]);
    }
  }
}
"#;

/// The end of the glue's function body: puts the script's choices back
/// over what the glue defined.
pub(super) const EPILOGUE_JS: &str = r#"for (const [holder, name, d] of lazyChanged) {
  if (d === undefined) delete holder[name];
  else Object.defineProperty(holder, name, d);
}
"#;

/// Installs the lazy properties in the current context of `scope`, whose
/// native bindings (`console`, `queueMicrotask`) are installed already.
pub(super) fn install(scope: &mut PinScope, names: &Names) -> Result<(), String> {
    let global = scope.get_current_context().global(scope);
    let console = property(scope, global, "console")?;
    let console = Local::<v8::Object>::try_from(console).map_err(|_| "console is no object")?;
    let enqueue = property(scope, global, "queueMicrotask")?;
    let global_names = string_array(scope, &names.global);
    let console_names = string_array(scope, &names.console);
    let table = v8::Array::new_with_elements(
        scope,
        &[
            console.into(),
            enqueue,
            global_names.into(),
            console_names.into(),
        ],
    );
    let context = scope.get_current_context();
    context.set_embedder_data(TABLE_SLOT, table.into());
    // Setting embedder data made rusty_v8 attach its per-context annex (a
    // weak handle), which must not exist when the blob is made; the slot
    // itself stays.
    context.clear_all_slots();
    for (holder, list) in [(global, &names.global), (console, &names.console)] {
        for (name, enumerable) in list {
            let key = v8::String::new(scope, name).ok_or("name too long")?;
            let attribute = if *enumerable {
                v8::PropertyAttribute::NONE
            } else {
                v8::PropertyAttribute::DONT_ENUM
            };
            let config = v8::AccessorConfiguration::new(getter).property_attribute(attribute);
            if holder.set_accessor_with_configuration(scope, key.into(), config) != Some(true) {
                return Err(format!("cannot define the lazy global {name}"));
            }
        }
    }
    Ok(())
}

/// The context's embedder-data slot that holds the loader's table. (An
/// accessor's data must not point into the context: V8 keeps
/// `AccessorInfo`s with the isolate, and their data would drag the whole
/// context into the isolate's part of the blob, deserialised again with
/// every isolate. A private symbol does not work either: V8 does not find
/// `Private::for_api` keys again in a heap restored by another process.)
const TABLE_SLOT: i32 = 0;

/// An array of the names in `names`.
fn string_array<'s>(scope: &PinScope<'s, '_>, names: &[(String, bool)]) -> Local<'s, v8::Array> {
    let names: Vec<Local<v8::Value>> = names
        .iter()
        .filter_map(|(n, _)| v8::String::new(scope, n).map(Into::into))
        .collect();
    v8::Array::new_with_elements(scope, &names)
}

/// `holder[name]`.
fn property<'s>(
    scope: &PinScope<'s, '_>,
    holder: Local<'s, v8::Object>,
    name: &str,
) -> Result<Local<'s, v8::Value>, String> {
    let key = v8::String::new(scope, name).ok_or("name")?;
    holder
        .get(scope, key.into())
        .ok_or_else(|| format!("no {name}"))
}

/// Isolate slot while [`load`] runs: the mark the getter answers.
struct Loading(v8::Global<v8::Value>);

/// Isolate slot once the glue ran in this isolate's context.
struct Loaded;

/// The getter of every lazy name: loads the glue (once), then reads the
/// real property. While loading it answers the loader's mark.
pub(crate) fn getter<'s>(
    scope: &mut PinScope<'s, '_>,
    name: Local<'s, v8::Name>,
    args: v8::PropertyCallbackArguments<'s>,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    if let Some(mark) = scope.get_slot::<Loading>() {
        let mark = mark.0.clone();
        rv.set(Local::new(scope, mark));
        return;
    }
    // Loaded before but still lazy: the glue did not define this name
    // (cannot happen with a sound build); `undefined` rather than a loop.
    if scope.get_slot::<Loaded>().is_some() {
        return;
    }
    let table = scope
        .get_current_context()
        .get_embedder_data(scope, TABLE_SLOT);
    let Some(Ok(table)) = table.map(Local::<v8::Array>::try_from) else {
        return;
    };
    let holder = args.holder();
    v8::tc_scope!(let tc, scope);
    if !load(tc, table) {
        tc.rethrow();
        return;
    }
    if let Some(value) = holder.get(tc, name.into()) {
        rv.set(value);
    } else {
        tc.rethrow();
    }
}

/// Compiles the glue and runs it with the table's console, enqueue
/// function and name lists (`PROLOGUE_JS`); false with the exception in
/// `tc` if that failed.
fn load(tc: &mut super::Tc, table: Local<v8::Array>) -> bool {
    let Ok(glue) = super::glue::compile(tc, super::glue::code_cache()) else {
        return false;
    };
    let [Some(con), Some(enqueue), Some(global_names), Some(console_names)] =
        [0, 1, 2, 3].map(|i| table.get_index(tc, i))
    else {
        return false;
    };
    let names = v8::Array::new_with_elements(tc, &[global_names, console_names]);
    let ops = ops::object(tc);
    let mark: Local<v8::Value> = v8::Symbol::new(tc, None).into();
    let global_mark = v8::Global::new(tc, mark);
    tc.set_slot(Loading(global_mark));
    let undefined = v8::undefined(tc).into();
    let done = glue
        .call(tc, undefined, &[ops.into(), con, enqueue, names.into(), mark])
        .is_some();
    tc.remove_slot::<Loading>();
    if done {
        tc.set_slot(Loaded);
    }
    done
}
