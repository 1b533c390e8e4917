//! Engine tests of the web globals' start-up: the glue's code cache is
//! used, and bad caches and bad startup blobs are refused safely. Called
//! in order from the one `engine` test in `mod.rs`.

use super::{check_case, Engine, Want};

/// The glue's code caches are made before the first run and used by
/// every context that loads a chunk; a script loads only the chunks it
/// uses (and their dependencies); caches V8 refuses (empty, garbage,
/// truncated, another V8's header) cost a compilation from source and
/// change nothing else.
pub(super) fn glue_code_cache(engine: &mut Engine) {
    let url_chunk = crate::isolate::web::chunk_index("url").expect("a url chunk");
    let good = crate::isolate::web::code_cache(url_chunk)
        .expect("the engine made a code cache of the url chunk");
    assert!(good.len() > 1_000, "code cache of {} bytes", good.len());
    // Each script runs in a fresh context; the chunks it loads are counted
    // as compilations that took their cache.
    let (cached, rejected, uncached) = crate::isolate::web_glue_compilations();
    let mut total = cached;
    let code = "new URL('/p?q=1', 'http://example.com').searchParams.get('q')";
    for (script, want, chunks, why) in [
        (code, "\"1\"", 2, "URL loads core and url"),
        (
            "new Response('x').status",
            "200",
            2,
            "Response loads core and http (not url or encoding)",
        ),
        (
            "new Response('x').body.locked",
            "false",
            4,
            "a body stream adds events and streams",
        ),
        (
            "new Request('http://a/').signal.aborted",
            "false",
            4,
            "a Request loads core, http and request, its signal events",
        ),
        (
            "typeof fetch",
            "\"function\"",
            1,
            "the fetch global alone is a chunk without dependencies",
        ),
    ] {
        check_case(engine, script, &Want::Json(want), &[]);
        total += chunks;
        let after = crate::isolate::web_glue_compilations();
        assert_eq!(after, (total, rejected, uncached), "{why}");
    }

    let href = "http://h.example/a?b=1";
    assert_eq!(
        crate::isolate::web::url_href_with_cache(good).as_deref(),
        Ok(href)
    );
    let mut other_version = good.to_vec();
    other_version[4] ^= 0xff;
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    let bad: [&[u8]; 5] = [
        &[],
        &good[..16],
        &good[..good.len() / 2],
        &other_version,
        &garbage,
    ];
    for (i, cache) in bad.iter().enumerate() {
        let before = crate::isolate::web_glue_compilations().1;
        assert_eq!(
            crate::isolate::web::url_href_with_cache(cache).as_deref(),
            Ok(href),
            "bad cache {i}"
        );
        assert_eq!(
            crate::isolate::web_glue_compilations().1,
            before + 1,
            "bad cache {i} not rejected"
        );
    }
    check_case(engine, code, &Want::Json("\"1\""), &[]);

    // A chunk never loads into a `shared` that another build's chunks
    // filled (a session heap stored before an upgrade): this build's core
    // runs again first, so the fetch chunk finds the names it imports.
    assert_eq!(
        crate::isolate::web::text_after_another_builds_core().as_deref(),
        Ok("hi")
    );
}

/// A startup blob handed over by the supervisor is checked before V8 sees
/// it: this process's own passes; a flipped byte anywhere, a truncated
/// one, garbage, and another V8 version's header are refused (the worker
/// then builds its own, `web/startup.rs`).
pub(super) fn snapshot_checks(engine: &mut Engine) {
    assert_eq!(
        engine.web_globals_source(),
        mcp_v8_shared::WebGlobalsSource::Worker
    );
    let (blob, _) = crate::isolate::web::startup_blob(None);
    let blob = blob.expect("a startup blob");
    assert_eq!(crate::isolate::web::check_blob(blob), Ok(()));
    for at in [0, 9, 13, 20, blob.len() / 2, blob.len() - 1] {
        let mut bad = blob.to_vec();
        bad[at] ^= 0x20;
        // Bytes 0..8 (context count, rehashability) are outside V8's
        // checksum; changing the count is caught by V8's own check or not
        // at all, so only assert on the checksummed region.
        if at >= 8 {
            assert!(
                crate::isolate::web::check_blob(&bad).is_err(),
                "flip at {at} passed"
            );
        }
    }
    assert!(crate::isolate::web::check_blob(&blob[..blob.len() - 1]).is_err());
    assert!(crate::isolate::web::check_blob(&blob[..100]).is_err());
    assert!(crate::isolate::web::check_blob(&[]).is_err());
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 31 % 253) as u8).collect();
    assert!(crate::isolate::web::check_blob(&garbage).is_err());
    check_case(engine, "typeof URL", &Want::Json("\"function\""), &[]);
}

/// The lazy globals (`web/lazy.rs`): a heap snapshotted before any web
/// global was used loads them after the restore, and one snapshotted with
/// some chunks loaded loads the others; names a script replaced, deleted
/// or redefined before the first use keep the script's choice; descriptors
/// look like plain data properties.
pub(super) fn lazy_globals(engine: &mut Engine) {
    let req = super::snapshot_request("globalThis.k = 1; 'saved'", None, true);
    let heap = super::exec(engine, req).heap.expect("a snapshot");
    let use_it = "[new URL('http://a/b?c').search, typeof Response, k]";
    let resp = super::exec(engine, super::snapshot_request(use_it, Some(heap), false));
    assert_eq!(
        resp.outcome,
        Ok(mcp_v8_shared::JsValue::Json(
            r#"["?c","function",1]"#.into()
        )),
        "{:?}",
        resp.output
    );
    let changed = "globalThis.fetch = 'mine'; delete globalThis.Blob;
        Object.defineProperty(globalThis, 'atob', { get: () => 'got', configurable: true });
        console.table = 'own';
        [typeof new Headers(), fetch, typeof Blob, atob, console.table, typeof console.dir,
         JSON.stringify(Object.getOwnPropertyDescriptor(globalThis, 'URL').writable),
         Object.keys(globalThis).includes('URL')]";
    let want = r#"["object","mine","undefined","got","own","function","true",false]"#;
    check_case(engine, changed, &Want::Json(want), &[]);
    check_case(
        engine,
        "typeof structuredClone",
        &Want::Json("\"function\""),
        &[],
    );
    // DOMException's constants exist however the class is reached first:
    // through an instance (made by atob, before the global is read) or the
    // global.
    let instance = "(() => { try { atob('*') } catch (e) {
        return [e.name, e.INVALID_CHARACTER_ERR, Object.getPrototypeOf(e).constructor.SYNTAX_ERR] } })()";
    check_case(
        engine,
        instance,
        &Want::Json(r#"["InvalidCharacterError",5,12]"#),
        &[],
    );
    let global = "[DOMException.ABORT_ERR, Object.keys(DOMException.prototype).length]";
    check_case(engine, global, &Want::Json("[20,25]"), &[]);
    // A heap stored with some chunks loaded (core, url) and a name of an
    // unloaded one changed loads the rest after the restore, keeping the
    // change.
    let half = "new URL('http://a/').href; globalThis.fetch = 'mine'; 'saved'";
    let req = super::snapshot_request(half, None, true);
    let heap = super::exec(engine, req).heap.expect("a snapshot");
    let rest = "[typeof Response, fetch, typeof new ReadableStream().getReader, new URL('http://a/b').pathname,
        typeof crypto.randomUUID()]";
    let resp = super::exec(engine, super::snapshot_request(rest, Some(heap), false));
    assert_eq!(
        resp.outcome,
        Ok(mcp_v8_shared::JsValue::Json(
            r#"["function","mine","function","/b","string"]"#.into()
        )),
        "{:?}",
        resp.output
    );
}
