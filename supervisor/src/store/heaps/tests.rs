//! Tests of [`super::HeapStore`] against real files in temp directories.

use std::collections::HashSet;
use std::fs::{self, File};
use std::time::{Duration, SystemTime};

use mcp_v8_shared::heap_file::{self, HeapFileError, HEAP_FORMAT_VERSION};

use super::durable::write_direct;
use super::*;
use std::os::unix::fs::OpenOptionsExt;

const V8: &str = "13.7.152.2";
const DAY: Duration = Duration::from_secs(86_400);

fn store() -> (tempfile::TempDir, HeapStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = HeapStore::open(dir.path().join("heaps"), 1 << 30).unwrap();
    (dir, store)
}

fn age(path: &Path, by: Duration) {
    let file = File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - by).unwrap();
}

fn files(store: &HeapStore) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(store.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn hash_parsing() {
    let hex = "ab".repeat(32);
    let hash = HeapHash::parse(&hex).unwrap();
    assert_eq!(hash.to_string(), hex);
    assert_eq!(hex.parse::<HeapHash>().unwrap(), hash);
    for bad in [
        "",
        "ab",
        &"AB".repeat(32),
        &"zz".repeat(32),
        &"ab".repeat(33),
    ] {
        let err = HeapHash::parse(bad).unwrap_err();
        assert!(
            matches!(err, HeapError::InvalidHash { .. }),
            "{bad}: {err:?}"
        );
        assert_eq!(err.class(), ErrorClass::BadRequest);
    }
    let json = serde_json::to_string(&hash).unwrap();
    assert_eq!(json, format!("\"{hex}\""));
    assert_eq!(serde_json::from_str::<HeapHash>(&json).unwrap(), hash);
    assert!(serde_json::from_str::<HeapHash>("\"nope\"").is_err());
}

#[test]
fn put_get_metadata_round_trip() {
    let (_dir, store) = store();
    let payload = b"a V8 snapshot".to_vec();
    let hash = store.put(payload.as_slice(), V8).unwrap();
    assert_eq!(hash.to_string(), heap_file::sha256_hex(&payload));
    assert_eq!(files(&store), vec![hash.to_string()], "no temp file left");
    assert_eq!(store.get(&hash, V8).unwrap(), payload);
    let meta = store.metadata(&hash).unwrap();
    assert_eq!(meta.hash, hash);
    assert_eq!(meta.payload_bytes, payload.len() as u64);
    assert_eq!(
        meta.size_bytes,
        (heap_file::header_len(V8) + payload.len()) as u64
    );
    assert_eq!(meta.v8_version, V8);
    assert_eq!(meta.format_version, HEAP_FORMAT_VERSION);
    let now = unix_ms(SystemTime::now()) / 1000;
    assert!(meta.created_unix_secs.abs_diff(now) < 60, "{meta:?}");
    assert!(meta.created.ends_with('Z'));
}

#[test]
fn put_is_idempotent_and_refreshes_age() {
    let (_dir, store) = store();
    let hash = store.put(b"same", V8).unwrap();
    let path = store.path_of(&hash);
    age(&path, 30 * DAY);
    assert_eq!(store.put(b"same", V8).unwrap(), hash);
    assert_eq!(files(&store).len(), 1);
    // Re-putting made it young again, so the GC keeps it.
    let report = store.gc(&HashSet::new(), 7 * DAY).unwrap();
    assert_eq!((report.removed, report.kept), (0, 1));
}

#[test]
fn put_repairs_a_damaged_existing_file() {
    let (_dir, store) = store();
    let hash = store.put(b"payload", V8).unwrap();
    let path = store.path_of(&hash);
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
    assert_eq!(store.put(b"payload", V8).unwrap(), hash);
    assert_eq!(store.get(&hash, V8).unwrap(), b"payload");
}

#[test]
fn unknown_hash_is_not_found() {
    let (_dir, store) = store();
    let hash = HeapHash::of_payload(b"never stored");
    let err = store.get(&hash, V8).unwrap_err();
    assert!(matches!(err, HeapError::NotFound { hash: h } if h == hash));
    assert_eq!(err.class(), ErrorClass::NotFound);
    assert!(err.to_string().contains(&hash.to_string()));
    assert!(matches!(
        store.metadata(&hash),
        Err(HeapError::NotFound { .. })
    ));
    assert!(!store.contains(&hash));
}

#[test]
fn truncated_file_is_an_error_naming_the_hash() {
    let (_dir, store) = store();
    let hash = store.put(vec![7u8; 10_000], V8).unwrap();
    let path = store.path_of(&hash);
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..5_000]).unwrap();
    let err = store.get(&hash, V8).unwrap_err();
    assert!(
        matches!(
            err,
            HeapError::Corrupt {
                source: HeapFileError::Truncated { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.class(), ErrorClass::Internal);
    let message = err.to_string();
    assert!(
        message.contains(&hash.to_string()) && message.contains("truncated"),
        "{message}"
    );
    let err = store.metadata(&hash).unwrap_err();
    assert!(err.to_string().contains(&hash.to_string()), "{err}");
    // Cut inside the header.
    fs::write(&path, &bytes[..10]).unwrap();
    assert!(matches!(
        store.get(&hash, V8),
        Err(HeapError::Corrupt { .. })
    ));
    assert!(matches!(
        store.metadata(&hash),
        Err(HeapError::Corrupt { .. })
    ));
}

#[test]
fn corrupt_payload_is_an_error_naming_the_hash() {
    let (_dir, store) = store();
    let hash = store.put(b"some snapshot", V8).unwrap();
    let path = store.path_of(&hash);
    let mut bytes = fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    fs::write(&path, &bytes).unwrap();
    let err = store.get(&hash, V8).unwrap_err();
    assert!(
        matches!(
            err,
            HeapError::Corrupt {
                source: HeapFileError::ChecksumMismatch { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains(&hash.to_string()));
    // Garbage instead of a heap file.
    fs::write(&path, b"garbage").unwrap();
    let err = store.get(&hash, V8).unwrap_err();
    assert!(matches!(
        err,
        HeapError::Corrupt {
            source: HeapFileError::BadMagic,
            ..
        }
    ));
}

#[test]
fn file_holding_another_heap_is_refused() {
    let (_dir, store) = store();
    let a = store.put(b"heap a", V8).unwrap();
    let b = store.put(b"heap b", V8).unwrap();
    fs::copy(store.path_of(&b), store.path_of(&a)).unwrap();
    let err = store.get(&a, V8).unwrap_err();
    assert!(matches!(err, HeapError::Misnamed { hash, actual, .. } if hash == a && actual == b));
}

#[test]
fn other_v8_version_is_refused() {
    let (_dir, store) = store();
    let hash = store.put(b"old snapshot", "12.0.0.1").unwrap();
    let err = store.get(&hash, V8).unwrap_err();
    assert!(
        matches!(&err, HeapError::Incompatible { source: HeapFileError::V8Mismatch { found, expected }, .. }
            if found == "12.0.0.1" && expected == V8),
        "{err:?}"
    );
    assert_eq!(err.class(), ErrorClass::Conflict);
    let message = err.to_string();
    assert!(
        message.contains("12.0.0.1") && message.contains(V8),
        "{message}"
    );
    // Metadata still shows what it is.
    assert_eq!(store.metadata(&hash).unwrap().v8_version, "12.0.0.1");
}

#[test]
fn other_format_version_is_refused() {
    let (_dir, store) = store();
    let hash = store.put(b"snapshot", V8).unwrap();
    let path = store.path_of(&hash);
    let mut bytes = fs::read(&path).unwrap();
    bytes[8..12].copy_from_slice(&(HEAP_FORMAT_VERSION + 1).to_le_bytes());
    fs::write(&path, &bytes).unwrap();
    let err = store.get(&hash, V8).unwrap_err();
    assert!(
        matches!(
            err,
            HeapError::Incompatible {
                source: HeapFileError::UnsupportedFormat { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("format version"));
}

#[test]
fn too_large_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = HeapStore::open(dir.path(), 100).unwrap();
    assert!(store.put([0u8; 100], V8).is_ok());
    let err = store.put([0u8; 101], V8).unwrap_err();
    assert!(matches!(
        err,
        HeapError::TooLarge {
            size: 101,
            limit: 100
        }
    ));
    assert_eq!(err.class(), ErrorClass::TooLarge);
}

#[test]
fn readers_never_see_a_partial_file() {
    let (_dir, store) = store();
    let payloads: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i; 2 << 20]).collect();
    let paths: Vec<_> = payloads
        .iter()
        .map(|p| store.path_of(&HeapHash::of_payload(p)))
        .collect();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut seen = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) || seen == 0 {
                for path in &paths {
                    if let Ok(bytes) = fs::read(path) {
                        heap_file::parse_heap_file(&bytes, V8).expect("complete file");
                        seen += 1;
                    }
                }
            }
        });
        for payload in &payloads {
            store.put(payload.as_slice(), V8).unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    assert_eq!(files(&store).len(), payloads.len(), "no temp files left");
}

#[test]
fn interrupted_write_leaves_no_heap_and_gc_removes_it() {
    let (_dir, store) = store();
    let payload = b"never finished";
    let hash = HeapHash::of_payload(payload);
    let temp = store.dir().join(format!(".tmp-{hash}-1-0"));
    let full = heap_file::encode_heap_file(payload, V8);
    fs::write(&temp, &full[..full.len() / 2]).unwrap();
    assert!(matches!(
        store.get(&hash, V8),
        Err(HeapError::NotFound { .. })
    ));
    // Young temp files may belong to a write in progress.
    let report = store.gc(&HashSet::new(), DAY).unwrap();
    assert_eq!(report.temp_files_removed, 0);
    age(&temp, Duration::from_secs(7200));
    let report = store.gc(&HashSet::new(), DAY).unwrap();
    assert_eq!(report.temp_files_removed, 1);
    assert!(files(&store).is_empty());
}

#[test]
fn gc_removes_only_old_unreferenced_heaps() {
    let (_dir, store) = store();
    let old_unreferenced = store.put(b"old, unreferenced", V8).unwrap();
    let old_referenced = store.put(b"old, referenced", V8).unwrap();
    let young_unreferenced = store.put(b"young, unreferenced", V8).unwrap();
    age(&store.path_of(&old_unreferenced), 8 * DAY);
    age(&store.path_of(&old_referenced), 8 * DAY);
    fs::write(store.dir().join("README"), b"not a heap").unwrap();
    let referenced = HashSet::from([old_referenced]);
    let size = store.metadata(&old_unreferenced).unwrap().size_bytes;

    let report = store.gc(&referenced, 7 * DAY).unwrap();
    assert_eq!(
        report,
        GcReport {
            removed: 1,
            kept: 2,
            bytes_freed: size,
            temp_files_removed: 0,
            errors: 0
        }
    );
    assert!(!store.contains(&old_unreferenced));
    assert!(
        matches!(
            store.get(&old_unreferenced, V8),
            Err(HeapError::NotFound { .. })
        ),
        "a removed heap is not served from memory"
    );
    assert!(store.contains(&old_referenced));
    assert_eq!(store.get(&old_referenced, V8).unwrap(), b"old, referenced");
    assert!(store.contains(&young_unreferenced));
    assert!(
        store.dir().join("README").exists(),
        "foreign files are left alone"
    );
    // Nothing more to do on a second pass.
    assert_eq!(store.gc(&referenced, 7 * DAY).unwrap().removed, 0);
}

#[test]
fn direct_and_buffered_writes_leave_exactly_header_and_payload() {
    let dir = tempfile::tempdir().unwrap();
    let header = b"a header of odd length";
    for len in [0, 1, 4073, 4074, 4075, 8192, (1 << 20) + 3] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut want = header.to_vec();
        want.extend_from_slice(&payload);
        // Whatever path write_synced takes on this filesystem...
        let path = dir.path().join(format!("synced-{len}"));
        write_synced(&path, header, &payload).unwrap();
        assert_eq!(fs::read(&path).unwrap(), want, "write_synced, {len} bytes");
        // ...and the direct path itself, where the filesystem allows it.
        let path = dir.path().join(format!("direct-{len}"));
        let opened = File::options()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_DIRECT)
            .open(&path);
        if let Ok(mut file) = opened {
            match write_direct(&mut file, header, &payload) {
                Ok(()) => assert_eq!(fs::read(&path).unwrap(), want, "direct, {len} bytes"),
                Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{e}"),
            }
        }
    }
}
