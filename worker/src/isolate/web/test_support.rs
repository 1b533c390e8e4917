//! For tests: a fresh isolate and context from this process's startup
//! blob, and in one a `shared` that another build's chunks filled, as in
//! a session heap stored before an upgrade.

use v8::Local;

use super::Tc;

/// Runs `f` in a fresh context of a fresh isolate made from this
/// process's startup blob (the lazy web globals in place, nothing loaded).
pub(crate) fn in_fresh_context<R>(
    f: impl FnOnce(&mut Tc<'_, '_, '_, '_>) -> Result<R, String>,
) -> Result<R, String> {
    let blob = super::startup_blob(None).0.ok_or("no startup blob")?;
    let params = v8::CreateParams::default()
        .snapshot_blob(v8::StartupData::from(blob))
        .external_references(super::super::bindings::external_references());
    let mut isolate = v8::Isolate::new(params);
    isolate.set_microtasks_policy(v8::MicrotasksPolicy::Explicit);
    v8::scope!(let scope, &mut isolate);
    let context = v8::Context::new(scope, Default::default());
    let scope = &mut v8::ContextScope::new(scope, context);
    v8::tc_scope!(let tc, scope);
    f(tc)
}

/// Loads core, then makes its `shared` look like an older build's (no
/// build stamp, and without `utf8Decode`, a name an older core did not
/// export and this build's fetch chunk imports), then reads a Response
/// body as text, which loads the fetch chunk. Returns that text, or the
/// error.
pub(crate) fn text_after_another_builds_core() -> Result<String, String> {
    in_fresh_context(|tc| {
        let core = super::compile_fn(tc, "(function () { return typeof reportError; })", "t.js")?;
        let undefined = v8::undefined(tc).into();
        core.call(tc, undefined, &[]).ok_or("core did not load")?;
        let table = super::lazy::table(tc).ok_or("no loader table")?;
        let shared = super::lazy::shared(tc, table).ok_or("no shared")?;
        for name in ["#glue", "utf8Decode"] {
            let key = v8::String::new(tc, name).ok_or("key")?;
            shared.delete(tc, key.into());
        }
        let text = super::compile_fn(
            tc,
            "(function () { return new Response(new Uint8Array([104, 105])).text(); })",
            "t.js",
        )?;
        let promise = text.call(tc, undefined, &[]).ok_or("text() threw")?;
        tc.perform_microtask_checkpoint();
        let promise = Local::<v8::Promise>::try_from(promise).map_err(|_| "no promise")?;
        let value = promise.result(tc).to_rust_string_lossy(tc);
        match promise.state() {
            v8::PromiseState::Fulfilled => Ok(value),
            _ => Err(value),
        }
    })
}
