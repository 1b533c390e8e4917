//! Tests of [`super::SessionStore`] against real sled databases.

use super::*;

fn heap(n: u8) -> HeapHash {
    HeapHash::of_payload(&[n])
}

fn ok(input: Option<HeapHash>, output: HeapHash) -> SessionEntry {
    SessionEntry {
        index: 999,
        input_heap: input,
        output_heap: Some(output),
        code_sha256: "c0de".into(),
        started_at: 1_700_000_000_000,
        duration_ms: 12,
        status: RunStatus::Ok,
    }
}

fn failed(input: Option<HeapHash>, status: RunStatus) -> SessionEntry {
    SessionEntry {
        output_heap: None,
        status,
        ..ok(input, heap(0))
    }
}

fn open() -> (tempfile::TempDir, SessionStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SessionStore::open(dir.path().join("sessions.db")).unwrap();
    (dir, store)
}

/// Appends a chain of `n` successful runs; returns the last heap.
fn chain(store: &SessionStore, name: &str, n: u8) -> HeapHash {
    let mut latest = None;
    for i in 0..n {
        let out = heap(i.wrapping_add(name.len() as u8 * 16));
        store.append(name, ok(latest, out)).unwrap();
        latest = Some(out);
    }
    latest.unwrap()
}

#[test]
fn names_are_validated() {
    for good in ["a", "my-session", "user:42.v1_x", &"x".repeat(128)] {
        assert!(SessionName::parse(good).is_ok(), "{good}");
    }
    for bad in ["", "has space", "slash/", "nul\0", "é", &"x".repeat(129)] {
        let err = SessionName::parse(bad).unwrap_err();
        assert!(matches!(err, SessionError::InvalidName { .. }), "{bad:?}");
        assert_eq!(err.class(), ErrorClass::BadRequest);
    }
    let (_dir, store) = open();
    assert!(matches!(
        store.latest("bad name"),
        Err(SessionError::InvalidName { .. })
    ));
    assert!(matches!(
        store.append("", ok(None, heap(1))),
        Err(SessionError::InvalidName { .. })
    ));
}

#[test]
fn append_advances_latest_and_assigns_indexes() {
    let (_dir, store) = open();
    assert_eq!(store.latest("s").unwrap(), None);
    assert_eq!(store.append("s", ok(None, heap(1))).unwrap(), 0);
    assert_eq!(store.latest("s").unwrap(), Some(heap(1)));
    assert_eq!(store.append("s", ok(Some(heap(1)), heap(2))).unwrap(), 1);
    assert_eq!(store.latest("s").unwrap(), Some(heap(2)));
    let summary = store.summary("s").unwrap().unwrap();
    assert_eq!(summary.entries, 2);
    assert_eq!(summary.name, "s");
    assert!(summary.updated_at >= summary.created_at);
    let page = store.history("s", None, 10).unwrap();
    assert_eq!(
        page.items.iter().map(|e| e.index).collect::<Vec<_>>(),
        [0, 1]
    );
    assert_eq!(page.items[1].input_heap, Some(heap(1)));
    assert_eq!(page.next_cursor, None);
}

#[test]
fn failed_runs_are_recorded_but_do_not_advance() {
    let (_dir, store) = open();
    store.append("s", ok(None, heap(1))).unwrap();
    for status in [
        RunStatus::Error,
        RunStatus::Timeout,
        RunStatus::Killed,
        RunStatus::MemoryLimit,
    ] {
        store.append("s", failed(Some(heap(1)), status)).unwrap();
        assert_eq!(store.latest("s").unwrap(), Some(heap(1)));
    }
    assert_eq!(store.summary("s").unwrap().unwrap().entries, 5);
    // A session whose only run failed exists but has no heap.
    store.append("t", failed(None, RunStatus::Timeout)).unwrap();
    assert_eq!(store.latest("t").unwrap(), None);
    // Entries that break the rule are refused.
    let mut bad = failed(Some(heap(1)), RunStatus::Error);
    bad.output_heap = Some(heap(9));
    assert!(matches!(
        store.append("s", bad),
        Err(SessionError::InvalidEntry { .. })
    ));
    let mut bad = ok(Some(heap(1)), heap(9));
    bad.output_heap = None;
    assert!(matches!(
        store.append("s", bad),
        Err(SessionError::InvalidEntry { .. })
    ));
}

#[test]
fn append_from_a_stale_heap_is_a_conflict() {
    let (_dir, store) = open();
    store.append("s", ok(None, heap(1))).unwrap();
    store.append("s", ok(Some(heap(1)), heap(2))).unwrap();
    let err = store.append("s", ok(Some(heap(1)), heap(3))).unwrap_err();
    assert!(matches!(err, SessionError::Conflict { .. }), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Conflict);
    assert_eq!(store.latest("s").unwrap(), Some(heap(2)));
    assert_eq!(store.summary("s").unwrap().unwrap().entries, 2);
    // A run that started from a heap cannot create a session: the session
    // it started in was deleted while it ran.
    let err = store
        .append("gone", ok(Some(heap(1)), heap(4)))
        .unwrap_err();
    assert!(matches!(err, SessionError::Conflict { .. }), "{err:?}");
    assert!(store.summary("gone").unwrap().is_none());
}

#[test]
fn history_pagination() {
    let (_dir, store) = open();
    chain(&store, "s", 25);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store.history("s", cursor.as_deref(), 10).unwrap();
        assert!(page.items.len() <= 10);
        seen.extend(page.items.iter().map(|e| e.index));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, (0..25).collect::<Vec<u64>>());
    // Exactly one full page: no next cursor.
    let page = store.history("s", Some("14"), 10).unwrap();
    assert_eq!(page.items.first().map(|e| e.index), Some(15));
    assert_eq!(page.next_cursor, None);
    // Limit is clamped to at least 1.
    assert_eq!(store.history("s", None, 0).unwrap().items.len(), 1);
    // Another session's entries never leak in ("s" is a prefix of "s2").
    chain(&store, "s2", 3);
    assert_eq!(store.history("s", Some("20"), 100).unwrap().items.len(), 4);
    let err = store.history("s", Some("x"), 10).unwrap_err();
    assert!(matches!(err, SessionError::InvalidCursor { .. }));
    assert_eq!(err.class(), ErrorClass::BadRequest);
    let err = store.history("nope", None, 10).unwrap_err();
    assert!(matches!(err, SessionError::NotFound { ref name } if name == "nope"));
    assert_eq!(err.class(), ErrorClass::NotFound);
}

#[test]
fn list_pagination() {
    let (_dir, store) = open();
    let names: Vec<String> = (0..7).map(|i| format!("session-{i}")).collect();
    for name in &names {
        chain(&store, name, 1);
    }
    assert_eq!(store.session_count(), 7);
    let first = store.list(None, 3).unwrap();
    assert_eq!(
        first.items.iter().map(|s| &s.name).collect::<Vec<_>>(),
        names[..3].iter().collect::<Vec<_>>()
    );
    let cursor = first.next_cursor.unwrap();
    let second = store.list(Some(&cursor), 3).unwrap();
    assert_eq!(second.items[0].name, "session-3");
    let third = store.list(second.next_cursor.as_deref(), 3).unwrap();
    assert_eq!(third.items.len(), 1);
    assert_eq!(third.next_cursor, None);
    assert_eq!(store.list(None, 100).unwrap().items.len(), 7);
}

#[test]
fn delete_removes_session_and_history() {
    let (_dir, store) = open();
    chain(&store, "a", 4);
    let b_latest = chain(&store, "b", 2);
    assert!(store.delete("a").unwrap());
    assert!(!store.delete("a").unwrap());
    assert!(store.summary("a").unwrap().is_none());
    assert!(matches!(
        store.history("a", None, 10),
        Err(SessionError::NotFound { .. })
    ));
    assert_eq!(store.latest("b").unwrap(), Some(b_latest));
    assert_eq!(store.history.len(), 2, "only b's entries remain");
    // The name can be reused and starts from index 0.
    assert_eq!(store.append("a", ok(None, heap(77))).unwrap(), 0);
}

#[test]
fn referenced_heaps_cover_all_history() {
    let (_dir, store) = open();
    store.append("s", ok(None, heap(1))).unwrap();
    store.append("s", ok(Some(heap(1)), heap(2))).unwrap();
    store.append("s", ok(Some(heap(2)), heap(3))).unwrap();
    store
        .append("s", failed(Some(heap(3)), RunStatus::Timeout))
        .unwrap();
    store.append("t", ok(None, heap(4))).unwrap();
    let expected = HashSet::from([heap(1), heap(2), heap(3), heap(4)]);
    assert_eq!(store.referenced_heaps().unwrap(), expected);
    store.delete("t").unwrap();
    assert!(!store.referenced_heaps().unwrap().contains(&heap(4)));
}

#[test]
fn reopening_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let latest = {
        let store = SessionStore::open(&path).unwrap();
        let latest = chain(&store, "kept", 5);
        chain(&store, "gone", 2);
        store.delete("gone").unwrap();
        latest
    };
    let store = crate::store::open_retrying(|| SessionStore::open(&path));
    assert_eq!(store.latest("kept").unwrap(), Some(latest));
    assert_eq!(store.history("kept", None, 100).unwrap().items.len(), 5);
    assert!(store.summary("gone").unwrap().is_none());
    assert_eq!(store.session_count(), 1);
    assert_eq!(
        store.append("kept", ok(Some(latest), heap(200))).unwrap(),
        5
    );
}

#[test]
fn concurrent_appends_to_different_sessions() {
    let (_dir, store) = open();
    std::thread::scope(|scope| {
        for t in 0..4u8 {
            let store = store.clone();
            scope.spawn(move || chain(&store, &format!("t{t}"), 10));
        }
    });
    for t in 0..4 {
        assert_eq!(
            store.summary(&format!("t{t}")).unwrap().unwrap().entries,
            10
        );
    }
}
