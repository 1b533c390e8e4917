//! Per-session serialisation of runs.
//!
//! A run on session `s` holds `s`'s lock from reading its latest heap until
//! its history entry is appended, so runs on one session happen one after
//! the other (in arrival order: tokio's mutex is fair), while runs on
//! different sessions go on in parallel. The map holds an entry only while
//! some task holds or waits for that session's lock, so it does not grow
//! with the number of sessions ever used.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

type LockMap = Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>;

/// The per-session locks. Cheap to clone; clones share the locks.
#[derive(Debug, Clone, Default)]
pub struct SessionLocks {
    /// session name -> its lock, while in use.
    map: Arc<LockMap>,
}

/// Holds one session's lock; dropping it lets the next run of that session
/// start.
#[derive(Debug)]
pub struct SessionGuard {
    /// The held lock. Declared first so it is released before `slot` runs
    /// its clean-up.
    _guard: OwnedMutexGuard<()>,
    /// Removes the map entry once nobody uses it (held for its `Drop`).
    _slot: Slot,
}

#[cfg(test)]
impl SessionGuard {
    /// The session this guard serialises.
    pub fn session(&self) -> &str {
        &self._slot.name
    }
}

/// A registered interest in one session's lock. Dropping it (after the lock
/// was released, or when a waiting task is cancelled) removes the map entry
/// if no other task holds or waits for it.
#[derive(Debug)]
struct Slot {
    map: Arc<LockMap>,
    name: String,
    mutex: Arc<tokio::sync::Mutex<()>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        // References: the map's and ours. Anyone else holding or waiting
        // took their clone under this same map lock, so the count is exact.
        if Arc::strong_count(&self.mutex) <= 2
            && map
                .get(&self.name)
                .is_some_and(|m| Arc::ptr_eq(m, &self.mutex))
        {
            map.remove(&self.name);
        }
    }
}

impl SessionLocks {
    /// No locks held.
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits for the session's lock. Cancel-safe: dropping the future while
    /// it waits gives up the place in the queue and cleans up.
    pub async fn lock(&self, name: &str) -> SessionGuard {
        let slot = {
            let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
            let mutex = map.entry(name.to_owned()).or_default().clone();
            Slot {
                map: self.map.clone(),
                name: name.to_owned(),
                mutex,
            }
        };
        let guard = slot.mutex.clone().lock_owned().await;
        SessionGuard {
            _guard: guard,
            _slot: slot,
        }
    }

    /// The session's lock if it is free right now.
    #[cfg(test)]
    pub fn try_lock(&self, name: &str) -> Option<SessionGuard> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let mutex = map.entry(name.to_owned()).or_default().clone();
        let guard = mutex.clone().try_lock_owned();
        let slot = Slot {
            map: self.map.clone(),
            name: name.to_owned(),
            mutex,
        };
        drop(map);
        // On failure `slot` drops here and cleans up if it was the only user.
        Some(SessionGuard {
            _guard: guard.ok()?,
            _slot: slot,
        })
    }

    /// Number of sessions whose lock is held or awaited.
    #[cfg(test)]
    pub fn in_use(&self) -> usize {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn same_session_is_serialised() {
        let locks = SessionLocks::new();
        let inside = Arc::new(AtomicUsize::new(0));
        let max_inside = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (locks, inside, max_inside) = (locks.clone(), inside.clone(), max_inside.clone());
            tasks.push(tokio::spawn(async move {
                let _guard = locks.lock("s").await;
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                max_inside.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10)).await;
                inside.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(max_inside.load(Ordering::SeqCst), 1);
        assert_eq!(locks.in_use(), 0, "entry removed after the last guard");
    }

    #[tokio::test]
    async fn different_sessions_run_in_parallel() {
        let locks = SessionLocks::new();
        let a = locks.lock("a").await;
        // With "a" held, "b" is still available at once.
        let b = tokio::time::timeout(Duration::from_secs(1), locks.lock("b")).await;
        let b = b.expect("lock on another session must not wait");
        assert_eq!((a.session(), b.session()), ("a", "b"));
        assert_eq!(locks.in_use(), 2);
        // But "a" is not.
        assert!(locks.try_lock("a").is_none());
        drop((a, b));
        assert_eq!(locks.in_use(), 0);
    }

    #[tokio::test]
    async fn waiter_gets_lock_after_release() {
        let locks = SessionLocks::new();
        let first = locks.lock("s").await;
        let waiter = tokio::spawn({
            let locks = locks.clone();
            async move { locks.lock("s").await.session().to_owned() }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        drop(first);
        assert_eq!(waiter.await.unwrap(), "s");
        assert_eq!(locks.in_use(), 0);
    }

    #[tokio::test]
    async fn cancelled_waiter_cleans_up() {
        let locks = SessionLocks::new();
        let held = locks.lock("s").await;
        let waited = tokio::time::timeout(Duration::from_millis(20), locks.lock("s")).await;
        assert!(waited.is_err());
        assert_eq!(locks.in_use(), 1, "still held");
        drop(held);
        assert_eq!(locks.in_use(), 0);
        // A failed try_lock on a fresh name leaves nothing behind either.
        let held = locks.try_lock("t").unwrap();
        assert!(locks.try_lock("t").is_none());
        drop(held);
        assert_eq!(locks.in_use(), 0);
    }
}
