//! V8 code caches of the `--modules-dir` modules this worker compiled,
//! keyed by the SHA-256 the supervisor sends with each source.
//!
//! A package imported again by a later run (in a fresh isolate, as every
//! run is) compiles from its cache instead of parsing its source anew. The
//! cache is made by V8 in this process right after the source compiled
//! (before any of it ran, so no script shapes it) and checked by V8 when
//! consumed (V8 compares only the source's length, its version and flags:
//! the SHA-256 key is what ties a cache to its source); one it rejects is
//! dropped. It lives
//! as long as the worker process, within [`BUDGET_BYTES`] (oldest out
//! first). In-request modules are not cached: they rarely repeat. Runs
//! that save a heap use these caches but make none: V8 aborted
//! snapshotting an isolate that had made one (consuming is fine; both are
//! checked by the engine tests and tests/modules.rs).

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use v8::script_compiler::{self, CachedData, CompileOptions, NoCacheReason, Source};
use v8::{Local, PinScope};

/// Bytes of code caches one worker keeps.
const BUDGET_BYTES: usize = 32 << 20;

/// The caches by source hash, and the order they came in.
#[derive(Default)]
struct Caches {
    by_hash: HashMap<String, Rc<[u8]>>,
    order: VecDeque<String>,
    bytes: usize,
    /// Compiles from a cache V8 accepted, and ones it rejected.
    accepted: u64,
    rejected: u64,
}

thread_local! {
    static CACHES: RefCell<Caches> = RefCell::new(Caches::default());
}

impl Caches {
    fn insert(&mut self, hash: &str, data: Rc<[u8]>) {
        if data.len() > BUDGET_BYTES || self.by_hash.contains_key(hash) {
            return;
        }
        while self.bytes + data.len() > BUDGET_BYTES {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some(old) = self.by_hash.remove(&oldest) {
                self.bytes -= old.len();
            }
        }
        self.bytes += data.len();
        self.order.push_back(hash.to_string());
        self.by_hash.insert(hash.to_string(), data);
    }

    fn remove(&mut self, hash: &str) {
        if let Some(old) = self.by_hash.remove(hash) {
            self.bytes -= old.len();
            self.order.retain(|h| h != hash);
        }
    }
}

/// Compiles `source` as a module, from the cache for `hash` if there is
/// one; otherwise compiles it and, if `make`, caches what V8 compiled.
pub(crate) fn compile<'s>(
    scope: &PinScope<'s, '_>,
    text: Local<'s, v8::String>,
    origin: Option<&v8::ScriptOrigin<'s>>,
    hash: &str,
    make: bool,
) -> Option<Local<'s, v8::Module>> {
    let cached = CACHES.with(|c| c.borrow().by_hash.get(hash).cloned());
    if let Some(bytes) = cached {
        let mut source = Source::new_with_cached_data(text, origin, CachedData::new(&bytes));
        let module = script_compiler::compile_module2(
            scope,
            &mut source,
            CompileOptions::ConsumeCodeCache,
            NoCacheReason::NoReason,
        );
        let rejected = source.get_cached_data().is_none_or(|c| c.rejected());
        CACHES.with(|c| {
            let mut c = c.borrow_mut();
            if rejected {
                c.rejected += 1;
                c.remove(hash);
            } else {
                c.accepted += 1;
            }
        });
        return module;
    }
    let mut source = Source::new(text, origin);
    let module = script_compiler::compile_module(scope, &mut source)?;
    if !make {
        return Some(module);
    }
    if let Some(data) = module.get_unbound_module_script(scope).create_code_cache() {
        CACHES.with(|c| c.borrow_mut().insert(hash, Rc::from(&data[..])));
    }
    Some(module)
}

/// Entries cached, and compiles from a cache accepted and rejected (for
/// tests).
#[cfg(test)]
pub(crate) fn stats() -> (usize, u64, u64) {
    CACHES.with(|c| {
        let c = c.borrow();
        (c.by_hash.len(), c.accepted, c.rejected)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_evicts_the_oldest_first() {
        let mut caches = Caches::default();
        caches.insert("a", Rc::from(vec![0; BUDGET_BYTES / 2]));
        caches.insert("b", Rc::from(vec![0; BUDGET_BYTES / 2]));
        caches.insert("c", Rc::from(vec![0; 10]));
        assert!(!caches.by_hash.contains_key("a"));
        assert!(caches.by_hash.contains_key("b") && caches.by_hash.contains_key("c"));
        assert_eq!(caches.bytes, BUDGET_BYTES / 2 + 10);
        caches.insert("huge", Rc::from(vec![0; BUDGET_BYTES + 1]));
        assert!(!caches.by_hash.contains_key("huge"));
        caches.remove("b");
        assert_eq!(caches.bytes, 10);
        assert_eq!(caches.order, ["c"]);
    }
}
