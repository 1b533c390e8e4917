//! Building one isolate with its context, ready to run: heap limit and
//! near-heap-limit callback, counting ArrayBuffer allocator, explicit
//! microtasks, promise-rejection tracking and the native bindings.
//!
//! A [`Holder`] owns the isolate and everything V8 points into (the heap
//! guard, the allocator budget); dropping it tears the isolate down in the
//! right order. Isolates are entered on creation and must be dropped in
//! reverse creation order; the engine keeps to that.

use std::ffi::c_void;

use mcp_v8_shared::ExecError;

use super::bindings;
use super::limits::{self, HeapGuard};
use super::modules;
use super::run::{on_message, on_promise_reject};
use super::snapshot;
use super::state::RunState;

/// Which kind of isolate to build.
pub(crate) enum Kind {
    /// A plain isolate from V8's built-in startup snapshot.
    Plain,
    /// A plain isolate restored from a heap snapshot (not re-snapshotted).
    Restore(Vec<u8>),
    /// A snapshot creator from scratch.
    Creator,
    /// A snapshot creator restored from a heap snapshot.
    CreatorFrom(Vec<u8>),
}

/// One isolate and its context, plus what V8 holds pointers into.
pub(crate) struct Holder {
    /// The isolate; `None` once `create_blob` consumed it.
    pub(crate) isolate: Option<v8::OwnedIsolate>,
    /// The context scripts run in.
    pub(crate) context: Option<v8::Global<v8::Context>>,
    /// Target of the near-heap-limit callback; must outlive the isolate.
    pub(crate) heap_guard: Box<HeapGuard>,
    /// The heap limit it was built with, in MiB.
    pub(crate) heap_mb: u32,
    /// Whether it is a snapshot creator (must end in `create_blob`).
    pub(crate) creator: bool,
}

/// Builds an isolate of `kind` with a `heap_mb` MiB heap and an ArrayBuffer
/// cap of `max_array_buffer_bytes`, and creates its context. `startup` is
/// the worker's startup snapshot with the web globals (`web.rs`): fresh
/// isolates start from it, and their contexts (like those restored from a
/// session heap) already hold every binding. Without it, fresh isolates
/// start from V8's built-in snapshot and get the native bindings
/// installed.
pub(crate) fn build(
    kind: Kind,
    heap_mb: u32,
    max_array_buffer_bytes: u64,
    startup: Option<&'static [u8]>,
) -> Result<Holder, ExecError> {
    let (allocator, budget) = limits::counting_allocator(max_array_buffer_bytes);
    let max_heap = (heap_mb.max(1) as usize) << 20;
    let params = v8::CreateParams::default()
        .heap_limits(0, max_heap)
        .array_buffer_allocator(allocator);
    let refs = bindings::external_references();
    let (isolate, creator) = match (kind, startup) {
        (Kind::Plain, Some(blob)) => {
            let params = params
                .snapshot_blob(v8::StartupData::from(blob))
                .external_references(refs);
            (v8::Isolate::new(params), false)
        }
        (Kind::Creator, Some(blob)) => (
            v8::Isolate::snapshot_creator_from_existing_snapshot(
                v8::StartupData::from(blob),
                Some(refs),
                Some(params),
            ),
            true,
        ),
        (Kind::Plain, None) => (v8::Isolate::new(params), false),
        (Kind::Restore(blob), _) => {
            let blob = snapshot::checked_blob(blob)?;
            let params = params.snapshot_blob(blob).external_references(refs);
            (v8::Isolate::new(params), false)
        }
        (Kind::Creator, None) => (
            v8::Isolate::snapshot_creator(Some(refs), Some(params)),
            true,
        ),
        (Kind::CreatorFrom(blob), _) => {
            let blob = snapshot::checked_blob(blob)?;
            let iso = v8::Isolate::snapshot_creator_from_existing_snapshot(
                blob,
                Some(refs),
                Some(params),
            );
            (iso, true)
        }
    };
    let mut holder = Holder {
        isolate: Some(isolate),
        context: None,
        heap_guard: HeapGuard::new(budget),
        heap_mb,
        creator,
    };
    let guard_ptr = &*holder.heap_guard as *const HeapGuard as *mut c_void;
    let Some(isolate) = holder.isolate.as_mut() else {
        return Err(ExecError::Protocol("isolate vanished".into()));
    };
    let _ = holder.heap_guard.handle.set(isolate.thread_safe_handle());
    // SAFETY: only stores the pointer; the callback dereferences it while
    // the isolate is alive (the guard is dropped after the isolate).
    holder
        .heap_guard
        .isolate
        .set(unsafe { isolate.as_raw_isolate_ptr() });
    isolate.add_near_heap_limit_callback(limits::near_heap_limit, guard_ptr);
    isolate.set_microtasks_policy(v8::MicrotasksPolicy::Explicit);
    isolate.set_promise_reject_callback(on_promise_reject);
    isolate.add_message_listener(on_message);
    isolate.set_host_import_module_dynamically_callback(modules::import_dynamically);
    let context = {
        v8::scope!(let scope, isolate);
        let context = v8::Context::new(scope, Default::default());
        let scope = &mut v8::ContextScope::new(scope, context);
        if startup.is_none() {
            bindings::install(scope);
        }
        v8::Global::new(scope, context)
    };
    holder.context = Some(context);
    Ok(holder)
}

impl Drop for Holder {
    fn drop(&mut self) {
        self.context = None;
        if let Some(mut isolate) = self.isolate.take() {
            isolate.remove_slot::<RunState>();
            if self.creator {
                snapshot::discard(isolate);
            } else {
                drop(isolate);
            }
        }
        // `heap_guard` is dropped after this, i.e. after the
        // isolate is gone.
    }
}
