//! The deadline watchdog: one long-lived thread that terminates the running
//! isolate when its deadline passes.
//!
//! The thread is started once, in `Engine::new`, before the sandbox is
//! sealed (seccomp forbids creating threads afterwards). It talks to the
//! engine through a `Mutex` + `Condvar` only: no channels, no allocation per
//! run. [`Watchdog::arm`] hands it an isolate handle and a deadline,
//! [`Watchdog::disarm`] takes them back and says whether it fired.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

/// What the watchdog thread is currently asked to do.
struct WatchState {
    /// The armed job: which isolate to terminate, and when.
    job: Option<(v8::IsolateHandle, Instant)>,
    /// Incremented on every arm, so a late wake-up never fires on a newer job.
    generation: u64,
    /// Generation of the last job that was terminated.
    fired_generation: u64,
    /// Set when the engine goes away; the thread exits.
    shutdown: bool,
}

/// State shared by the engine and the watchdog thread.
struct Shared {
    /// The job and bookkeeping, guarded.
    state: Mutex<WatchState>,
    /// Signalled whenever `state` changes.
    wake: Condvar,
}

impl Shared {
    /// Locks the state; a poisoned lock (a panic elsewhere) is still usable
    /// because every update leaves the state consistent.
    fn lock(&self) -> MutexGuard<'_, WatchState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Handle to the watchdog thread.
pub(crate) struct Watchdog {
    /// State shared with the thread.
    shared: Arc<Shared>,
    /// The thread, joined on drop.
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Starts the watchdog thread. Must run before the sandbox is sealed.
    pub(crate) fn start() -> std::io::Result<Watchdog> {
        let shared = Arc::new(Shared {
            state: Mutex::new(WatchState {
                job: None,
                generation: 0,
                fired_generation: 0,
                shutdown: false,
            }),
            wake: Condvar::new(),
        });
        let for_thread = shared.clone();
        let thread = std::thread::Builder::new()
            .name("v8-watchdog".into())
            .stack_size(64 * 1024)
            .spawn(move || watch(&for_thread))?;
        Ok(Watchdog {
            shared,
            thread: Some(thread),
        })
    }

    /// Arms the watchdog: `handle`'s isolate is terminated at `deadline`
    /// unless [`disarm`](Self::disarm) comes first.
    pub(crate) fn arm(&self, handle: v8::IsolateHandle, deadline: Instant) {
        let mut state = self.shared.lock();
        state.generation += 1;
        state.job = Some((handle, deadline));
        drop(state);
        self.shared.wake.notify_one();
    }

    /// Disarms the watchdog; returns whether it terminated the armed job.
    pub(crate) fn disarm(&self) -> bool {
        let mut state = self.shared.lock();
        state.job = None;
        state.fired_generation == state.generation
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The watchdog thread's loop.
fn watch(shared: &Shared) {
    let mut state = shared.lock();
    loop {
        if state.shutdown {
            return;
        }
        let Some((handle, deadline)) = state.job.as_ref() else {
            state = shared
                .wake
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            continue;
        };
        let now = Instant::now();
        if now >= *deadline {
            handle.terminate_execution();
            state.fired_generation = state.generation;
            state.job = None;
            continue;
        }
        let wait = *deadline - now;
        state = shared
            .wake
            .wait_timeout(state, wait)
            .map(|(guard, _)| guard)
            .unwrap_or_else(|e| e.into_inner().0);
    }
}
