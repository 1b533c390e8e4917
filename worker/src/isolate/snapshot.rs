//! Heap snapshots (persistent heaps): checking a blob before V8 sees it,
//! turning a snapshot-creator isolate into a blob after a successful run,
//! and disposing of one after a failed run.
//!
//! Lifecycle: a run with `snapshot: true` happens in a snapshot-creator
//! isolate (fresh, or restored from the request's blob). After a
//! successful run its context becomes the default context of the new blob
//! (`FunctionCodeHandling::Keep`), so every global the script created
//! (var, let/const, functions, classes, Maps...) is in the blob. Native
//! callbacks are resolved through the static list in `bindings.rs`, the
//! same at creation and restore. Timers pending at the end of the run are
//! not carried over (they live in Rust, not in the heap).
//!
//! `Math.random` after a restore: V8 resets the per-context random cache
//! when it serialises a context, and reseeds it on first use from the
//! isolate's RNG, which is seeded from our entropy source (getrandom). Two
//! restores of one blob therefore produce different sequences (tested).
//!
//! Limits of V8's serializer (checked by hand):
//! * In a snapshot-creating run `WebAssembly` and `SharedArrayBuffer` are
//!   not defined (V8 leaves them out of serializer isolates); they are back
//!   in a plain run restored from the blob.
//! * A live Intl object (`new Intl.NumberFormat()` kept in a global) makes
//!   V8 abort in `create_blob` ("handle not serialized: Foreign"): the
//!   worker dies with SIGTRAP and the supervisor replaces it; the session's
//!   previous heap is untouched. `toLocaleString` and friends are fine.
//! * FinalizationRegistry cells whose targets die at snapshot time also
//!   made V8 abort; `run.rs` runs a full GC and drains the posted tasks
//!   before the blob is created, which avoids it in the cases tried.
//! * Declarations of a script rewritten for top-level `await` stay local
//!   to the async wrapper (see `tla.rs`) and are not in the blob.
//!
//! Invalid blobs: [`checked_blob`] rejects blobs that V8 says were not made
//! by this V8 build; a blob that passes that check but is corrupt can still
//! make V8 abort the process. The supervisor verifies a header with a
//! SHA-256 before a blob reaches a worker, so only blobs this worker
//! produced come back.

use mcp_v8_shared::ExecError;

/// Shortest blob handed to V8 (its header alone is 80 bytes).
const MIN_BLOB_BYTES: usize = 1024;

/// Wraps `bytes` for V8 after checking that this V8 build made them.
pub(crate) fn checked_blob(bytes: Vec<u8>) -> Result<v8::StartupData, ExecError> {
    // V8's own validity check reads a fixed header and CHECK-fails (aborts)
    // on anything shorter; real snapshots are hundreds of KiB.
    if bytes.len() < MIN_BLOB_BYTES {
        return Err(ExecError::BadSnapshot(format!(
            "heap snapshot of {} bytes is too short",
            bytes.len()
        )));
    }
    let blob = v8::StartupData::from(bytes);
    if !blob.is_valid() {
        return Err(ExecError::BadSnapshot(
            "heap snapshot was not produced by this V8 version".into(),
        ));
    }
    Ok(blob)
}

/// Makes `context` the default context of `isolate` and serialises it.
/// Every `Global` of the isolate must be gone (the run state removed).
pub(crate) fn create(
    mut isolate: v8::OwnedIsolate,
    context: v8::Global<v8::Context>,
) -> Option<Vec<u8>> {
    {
        v8::scope!(let scope, &mut isolate);
        let local = v8::Local::new(scope, &context);
        drop(context);
        scope.set_default_context(local);
    }
    let blob = isolate.create_blob(v8::FunctionCodeHandling::Keep)?;
    Some(blob.to_vec())
}

/// Disposes of a snapshot-creator isolate whose run failed or was not
/// snapshotted: the bindings require `create_blob` before dropping, so we
/// serialise a fresh default context (cheap: the failed run's context is
/// unreachable by then and collected) and throw the blob away.
pub(crate) fn discard(mut isolate: v8::OwnedIsolate) {
    isolate.cancel_terminate_execution();
    {
        v8::scope!(let scope, &mut isolate);
        let context = v8::Context::new(scope, Default::default());
        scope.set_default_context(context);
    }
    drop(isolate.create_blob(v8::FunctionCodeHandling::Clear));
}
