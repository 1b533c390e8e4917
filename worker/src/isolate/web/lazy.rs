//! The web globals as lazy native data properties: what the startup
//! snapshot holds in place of the glue, and the first use that loads the
//! chunk (`chunks.rs`) that defines them.
//!
//! [`install`] (run once, when the blob is made) gives every name a chunk
//! defines on the global object or on `console` a V8 native data property
//! whose getter is [`getter`], whose data is the chunk's index (a small
//! integer), and whose setter is V8's own (a write turns it into a plain
//! data property, as for any global). The loader's inputs (the original
//! `console` and `queueMicrotask`, the chunks' `shared` object, each
//! chunk's two lists of names) are one small array in the context's
//! embedder data. So a fresh context deserialises a few
//! dozen `AccessorInfo`s and a few arrays, and not the glue, its closures
//! or its op functions: it costs what a context without the web globals
//! costs.
//!
//! The first read of a name calls [`load`] for its chunk: it loads the
//! chunk's dependencies first, makes the chunk's ops object (its own ops
//! only, `ops::for_chunk`), compiles the chunk (from its code cache,
//! `glue.rs`) and runs it; its first lines (`PROLOGUE_JS`) note the
//! chunk's names a script has already replaced, deleted or redefined, its
//! files define the real properties, and its last lines (`EPILOGUE_JS`)
//! put the script's choices back. While
//! a chunk runs, the getter answers a private mark, which is how the
//! prologue tells a lazy name from one the script changed. Reading a
//! property descriptor sees a plain data property, as in a browser. The
//! glue itself loads a chunk it needs only when called with the op
//! [`need`].
//!
//! Which chunks a context has loaded is kept in `shared` (`#name` flags),
//! so a session heap stored halfway loads the rest after a restore; the
//! build's glue id is kept there too (`#glue`), and a `shared` another
//! build filled is taken over before a chunk loads
//! ([`ensure_own_shared`]). Heaps stored before the glue came in chunks
//! have a table of four entries and accessors without data: their first
//! use loads every chunk.
//!
//! Invariant: [`getter`] and [`need`] are in
//! `bindings::external_references`, so the accessors and the ops survive
//! the startup blob and session heaps.

use serde::Deserialize;
use v8::{Local, PinScope};

use super::chunks::{self, CHUNKS};
use super::{glue, ops};

/// The names one chunk defines, with their enumerability (what `NAMES_JS`
/// in `mod.rs` returns for it).
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

/// The start of every chunk's function body (`chunks.rs`): when the chunk
/// is called by [`run_chunk`] with `lazyNames` (its two name lists) and
/// `lazyMark`, notes the names a script has already assigned, deleted or
/// redefined. Part of the chunk's script, so it comes from the same code
/// cache rather than being compiled in every context.
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

/// The end of every chunk's function body: puts the script's choices back
/// over what the chunk defined.
pub(super) const EPILOGUE_JS: &str = r#"for (const [holder, name, d] of lazyChanged) {
  if (d === undefined) delete holder[name];
  else Object.defineProperty(holder, name, d);
}
"#;

/// The context's embedder-data slot that holds the loader's table. (An
/// accessor's data must not point into the context: V8 keeps
/// `AccessorInfo`s with the isolate, and their data would drag the whole
/// context into the isolate's part of the blob, deserialised again with
/// every isolate. A private symbol does not work either: V8 does not find
/// `Private::for_api` keys again in a heap restored by another process.)
const TABLE_SLOT: i32 = 0;

/// The table's entries: `[console, queueMicrotask, shared, unused,
/// [[global names, console names] per chunk]]`. (Entry 3 held the one ops
/// object of a context when all chunks shared it; each chunk now gets its
/// own, and the entry stays so that stored tables keep their layout.)
const CON: u32 = 0;
const ENQUEUE: u32 = 1;
const SHARED: u32 = 2;
const CHUNK_NAMES: u32 = 4;
const TABLE_LEN: u32 = 5;

/// Installs the lazy properties in the current context of `scope`, whose
/// native bindings (`console`, `queueMicrotask`) are installed already.
pub(super) fn install(scope: &mut PinScope, names: &[Names]) -> Result<(), String> {
    if names.len() != CHUNKS.len() {
        return Err(format!(
            "names for {} of {} chunks",
            names.len(),
            CHUNKS.len()
        ));
    }
    let global = scope.get_current_context().global(scope);
    let console = property(scope, global, "console")?;
    let console = Local::<v8::Object>::try_from(console).map_err(|_| "console is no object")?;
    let enqueue = property(scope, global, "queueMicrotask")?;
    let shared = new_shared(scope);
    let per_chunk: Vec<Local<v8::Value>> = names
        .iter()
        .map(|n| {
            let lists = [
                string_array(scope, &n.global).into(),
                string_array(scope, &n.console).into(),
            ];
            v8::Array::new_with_elements(scope, &lists).into()
        })
        .collect();
    let per_chunk = v8::Array::new_with_elements(scope, &per_chunk);
    let undefined = v8::undefined(scope).into();
    let table = v8::Array::new_with_elements(
        scope,
        &[
            console.into(),
            enqueue,
            shared.into(),
            undefined,
            per_chunk.into(),
        ],
    );
    let context = scope.get_current_context();
    context.set_embedder_data(TABLE_SLOT, table.into());
    // Setting embedder data made rusty_v8 attach its per-context annex (a
    // weak handle), which must not exist when the blob is made; the slot
    // itself stays.
    context.clear_all_slots();
    for (k, chunk_names) in names.iter().enumerate() {
        let index = v8::Integer::new_from_unsigned(scope, k as u32).into();
        for (holder, list) in [
            (global, &chunk_names.global),
            (console, &chunk_names.console),
        ] {
            for (name, enumerable) in list {
                let key = v8::String::new(scope, name).ok_or("name too long")?;
                let attribute = if *enumerable {
                    v8::PropertyAttribute::NONE
                } else {
                    v8::PropertyAttribute::DONT_ENUM
                };
                let config = v8::AccessorConfiguration::new(getter)
                    .property_attribute(attribute)
                    .data(index);
                if holder.set_accessor_with_configuration(scope, key.into(), config) != Some(true) {
                    return Err(format!("cannot define the lazy global {name}"));
                }
            }
        }
    }
    Ok(())
}

/// A fresh `shared` object for the chunks of one context: no prototype,
/// so a chunk's imports read only what other chunks put there.
pub(super) fn new_shared<'s>(scope: &PinScope<'s, '_>) -> Local<'s, v8::Object> {
    let null = v8::null(scope).into();
    let shared = v8::Object::with_prototype_and_properties(scope, null, &[], &[]);
    if let (Some(key), Some(id)) = (
        v8::String::new(scope, GLUE_KEY),
        v8::String::new(scope, chunks::glue_id()),
    ) {
        shared.set(scope, key.into(), id.into());
    }
    shared
}

/// The key of the build stamp in `shared` (`chunks::glue_id`).
const GLUE_KEY: &str = "#glue";

/// Makes sure the table's `shared` holds this build's glue. One that
/// another build's chunks filled (a session heap stored before an
/// upgrade: another stamp, or none) may lack names this build's chunks
/// import, so it is taken over: stamped, and its chunks marked not loaded,
/// so that each chunk runs again (dependencies first) when next needed and
/// puts this build's names into it. The old chunks' closures keep the
/// names they took at their load; the globals they defined stay (the
/// prologue keeps what is no longer lazy), as do the objects made with
/// them.
fn ensure_own_shared(tc: &mut super::Tc, table: Local<v8::Array>) {
    let (Some(shared), Some(key)) = (shared(tc, table), v8::String::new(tc, GLUE_KEY)) else {
        return;
    };
    let own = shared
        .get(tc, key.into())
        .is_some_and(|id| id.to_rust_string_lossy(tc) == chunks::glue_id());
    if own {
        return;
    }
    for chunk in &CHUNKS {
        if let Some(flag) = v8::String::new(tc, &format!("#{}", chunk.name)) {
            shared.delete(tc, flag.into());
        }
    }
    if let Some(id) = v8::String::new(tc, chunks::glue_id()) {
        shared.set(tc, key.into(), id.into());
    }
}

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

/// Isolate slot while a chunk runs: the mark the getter answers.
struct Loading(v8::Global<v8::Value>);

/// Isolate slot once every chunk ran in this isolate's context for a heap
/// stored before the glue came in chunks.
struct LoadedAll;

/// The current context's loader table.
pub(super) fn table<'s>(scope: &PinScope<'s, '_>) -> Option<Local<'s, v8::Array>> {
    let table = scope
        .get_current_context()
        .get_embedder_data(scope, TABLE_SLOT)?;
    Local::<v8::Array>::try_from(table).ok()
}

/// The getter of every lazy name: loads its chunk (once), then reads the
/// real property. While a chunk runs it answers the mark.
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
    let Some(table) = table(scope) else {
        return;
    };
    // The chunk's index, or `None` for an accessor of a heap stored before
    // the glue came in chunks (no data, a four-entry table).
    let data = args.data();
    let chunk = match (data.is_uint32(), table.length() == TABLE_LEN) {
        (true, true) => data
            .uint32_value(scope)
            .map(|k| k as usize)
            .filter(|&k| k < CHUNKS.len()),
        _ => None,
    };
    let holder = args.holder();
    v8::tc_scope!(let tc, scope);
    if chunk.is_some() {
        ensure_own_shared(tc, table);
    }
    let done = match chunk {
        // Loaded but still lazy: the chunk did not define this name, as
        // in a heap stored by a build whose chunks were cut differently.
        // Every chunk then; if none defines it, `undefined` (not a loop).
        Some(k) if is_loaded(tc, table, k) => {
            if (0..CHUNKS.len()).all(|j| is_loaded(tc, table, j)) {
                return;
            }
            (0..CHUNKS.len()).all(|j| load(tc, table, j))
        }
        Some(k) => load(tc, table, k),
        None if tc.get_slot::<LoadedAll>().is_some() => return,
        None => load_all_for_old_table(tc, table),
    };
    if !done {
        tc.rethrow();
        return;
    }
    if let Some(value) = holder.get(tc, name.into()) {
        rv.set(value);
    } else {
        tc.rethrow();
    }
}

/// The table's `shared` object.
pub(super) fn shared<'s>(
    tc: &super::Tc<'_, '_, 's, '_>,
    table: Local<v8::Array>,
) -> Option<Local<'s, v8::Object>> {
    let value = table.get_index(tc, SHARED)?;
    Local::<v8::Object>::try_from(value).ok()
}

/// Whether chunk `k` ran in this context (its `#name` flag in `shared`).
fn is_loaded(tc: &mut super::Tc, table: Local<v8::Array>, k: usize) -> bool {
    let Some(shared) = shared(tc, table) else {
        return false;
    };
    let Some(key) = v8::String::new(tc, &format!("#{}", CHUNKS[k].name)) else {
        return false;
    };
    shared.get(tc, key.into()).is_some_and(|v| v.is_true())
}

/// Loads chunk `k` after its dependencies, each once; false with the
/// exception in `tc` if that failed.
fn load(tc: &mut super::Tc, table: Local<v8::Array>, k: usize) -> bool {
    if is_loaded(tc, table, k) {
        return true;
    }
    for &dep in CHUNKS[k].deps {
        if !load(tc, table, dep) {
            return false;
        }
    }
    let (Some(con), Some(enqueue), Some(shared), Some(per_chunk)) = (
        table.get_index(tc, CON),
        table.get_index(tc, ENQUEUE),
        shared(tc, table),
        table.get_index(tc, CHUNK_NAMES),
    ) else {
        return false;
    };
    let Some(names) = Local::<v8::Array>::try_from(per_chunk)
        .ok()
        .and_then(|a| a.get_index(tc, k as u32))
    else {
        return false;
    };
    run_chunk(tc, k, [con, enqueue, shared.into(), names])
}

/// Compiles chunk `k` and calls it with its ops, `args` (console,
/// enqueue, shared, its names or undefined) and the mark.
fn run_chunk(tc: &mut super::Tc, k: usize, args: [Local<v8::Value>; 4]) -> bool {
    let Ok(glue) = glue::compile(tc, k, glue::code_cache(k)) else {
        return false;
    };
    let ops = ops::for_chunk(tc, k).into();
    let mark: Local<v8::Value> = v8::Symbol::new(tc, None).into();
    let global_mark = v8::Global::new(tc, mark);
    tc.set_slot(Loading(global_mark));
    let undefined = v8::undefined(tc).into();
    let [con, enqueue, shared, names] = args;
    let done = glue
        .call(tc, undefined, &[ops, con, enqueue, shared, names, mark])
        .is_some();
    tc.remove_slot::<Loading>();
    done
}

/// Runs every chunk in a context whose table is the four entries of heaps
/// stored before the glue came in chunks (`[console, queueMicrotask,
/// global names, console names]`); each chunk notes all the names.
fn load_all_for_old_table(tc: &mut super::Tc, table: Local<v8::Array>) -> bool {
    let [Some(con), Some(enqueue), Some(global_names), Some(console_names)] =
        [0, 1, 2, 3].map(|i| table.get_index(tc, i))
    else {
        return false;
    };
    let names = v8::Array::new_with_elements(tc, &[global_names, console_names]).into();
    let done = run_all(tc, con, enqueue, names);
    if done {
        tc.set_slot(LoadedAll);
    }
    done
}

/// Runs every chunk in order with a fresh `shared`.
fn run_all(
    tc: &mut super::Tc,
    con: Local<v8::Value>,
    enqueue: Local<v8::Value>,
    names: Local<v8::Value>,
) -> bool {
    let shared = new_shared(tc).into();
    (0..CHUNKS.len()).all(|k| run_chunk(tc, k, [con, enqueue, shared, names]))
}

/// The op `need(name)`: loads chunk `name` (after its dependencies) in
/// the current context, for glue code that needs it only when called.
pub(super) fn need(
    scope: &mut PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let name = args.get(0).to_rust_string_lossy(scope);
    let (Some(k), Some(table)) = (chunks::index(&name), table(scope)) else {
        return throw(scope, &format!("no web glue chunk {name:?} to load"));
    };
    if table.length() != TABLE_LEN {
        return throw(scope, "this context loads its web glue all at once");
    }
    v8::tc_scope!(let tc, scope);
    ensure_own_shared(tc, table);
    if !load(tc, table, k) {
        tc.rethrow();
    }
}

/// The op `loadAll(console, queueMicrotask)`, the glue function that
/// `ops.glue()` returns to heaps stored before the web globals were
/// native properties: runs every chunk, noting nothing.
pub(super) fn load_all(
    scope: &mut PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    // Called as `glue(ops, con, enqueue)`.
    let (con, enqueue) = (args.get(1), args.get(2));
    v8::tc_scope!(let tc, scope);
    let undefined = v8::undefined(tc).into();
    if !run_all(tc, con, enqueue, undefined) {
        tc.rethrow();
    }
}

/// Throws an Error with `message`.
fn throw(scope: &mut PinScope, message: &str) {
    if let Some(msg) = v8::String::new(scope, message) {
        let err = v8::Exception::error(scope, msg);
        scope.throw_exception(err);
    }
}
