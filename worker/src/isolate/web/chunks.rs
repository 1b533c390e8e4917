//! The JavaScript glue of the web globals, in chunks that load
//! independently: which files make up each chunk, what it needs loaded
//! before it, what it takes from and gives to the others, and each
//! chunk's source as one function.
//!
//! A chunk is one function `(ops, con, enqueueMicrotask, shared,
//! lazyNames, lazyMark) => { ... }` whose files share its scope. The
//! names other chunks use go through `shared`, one null-prototype object
//! per context that no script can reach (it lives in the loader's table,
//! `lazy.rs`): a chunk starts by destructuring its [`Chunk::imports`] from
//! it and ends by storing its [`Chunk::exports`] and its `#name` flag in
//! it. Names needed only when a function runs (the streams a body makes on
//! demand, a Blob, a Request's own AbortSignal) are reached with
//! `need('streams')` instead, which loads that chunk then. So a script
//! that uses `fetch` loads fetch, then core and http (Headers, Response
//! and bodies, which parse URLs and UTF-8 with the ops directly), and
//! request only for a fetch with an init or a Request; not url, encoding,
//! events, blob, streams, crypto, the console helpers or the rest. A
//! `fetch(url)` has sent its host call before core and http load.
//!
//! Invariant: a chunk's [`Chunk::deps`] come before it in [`CHUNKS`] and,
//! with their own dependencies, export every name in its imports (a unit
//! test below checks both); `names` (the scratch run in `glue.rs`) runs
//! every chunk's top level when the startup blob is built, so a chunk that
//! throws there fails the build, and every test with it.

use std::sync::OnceLock;

/// One chunk of the glue.
pub(super) struct Chunk {
    /// Its name, as `need` and `ops.need` spell it.
    pub name: &'static str,
    /// The native ops its files call (`ops.rs`); its `ops` argument has
    /// these and no others.
    pub ops: &'static str,
    /// Indexes in [`CHUNKS`] of the chunks loaded before it.
    pub deps: &'static [usize],
    /// Names it takes from `shared`.
    imports: &'static str,
    /// Names it puts into `shared`.
    exports: &'static str,
    /// Its files, in evaluation order.
    files: &'static [(&'static str, &'static str)],
}

/// Index of the chunk every other one depends on.
const CORE: usize = 0;
const EVENTS: usize = 1;
const ENCODING: usize = 2;
const HTTP: usize = 6;

/// The chunks, each after those it depends on.
pub(super) const CHUNKS: [Chunk; 14] = [
    Chunk {
        name: "core",
        ops: "decode, encodeInto, need, utf8Length",
        deps: &[],
        imports: "",
        exports: "AsyncIteratorPrototype, brand, concatBytes, copyOf, deferred, defineProperty, \
                  expose, freeze, global, isBufferSource, markHandled, need, newDOMException, \
                  rejected, reportError, requireArgs, toUSV, \
                  utf8Decode, utf8Encode, viewOf, HREF, ORIGIN, PROTOCOL, USERNAME, PASSWORD, \
                  HOST, HOSTNAME, PORT, PATHNAME, SEARCH, HASH",
        files: &[("util.js", include_str!("js/util.js"))],
    },
    Chunk {
        name: "events",
        ops: "now, weakTimer",
        deps: &[CORE],
        imports: "newDOMException, brand, defineProperty, expose, reportError, requireArgs",
        exports: "AbortController, AbortSignal, EventTarget, addAbortAlgorithm",
        files: &[
            ("events.js", include_str!("js/events.js")),
            ("abort.js", include_str!("js/abort.js")),
        ],
    },
    Chunk {
        name: "encoding",
        ops: "atob, btoa, decode, encodeInto, encodingName",
        deps: &[CORE],
        imports: "newDOMException, brand, concatBytes, expose, need, requireArgs, toUSV, \
                  utf8Encode, viewOf",
        exports: "TextDecoder, atob, btoa",
        files: &[("encoding.js", include_str!("js/encoding.js"))],
    },
    Chunk {
        name: "url",
        ops: "formParse, formSerialize, urlParse, urlSet",
        deps: &[CORE],
        imports: "brand, expose, requireArgs, toUSV, HREF, ORIGIN, PROTOCOL, USERNAME, PASSWORD, \
                  HOST, HOSTNAME, PORT, PATHNAME, SEARCH, HASH",
        exports: "URL, URLSearchParams",
        files: &[("url.js", include_str!("js/url.js"))],
    },
    Chunk {
        name: "urlpattern",
        ops: "urlPatternExec, urlPatternParse",
        deps: &[CORE],
        imports: "brand, expose",
        exports: "",
        files: &[("urlpattern.js", include_str!("js/urlpattern.js"))],
    },
    Chunk {
        name: "blob",
        ops: "",
        deps: &[CORE, ENCODING],
        imports: "brand, concatBytes, copyOf, expose, isBufferSource, need, requireArgs, toUSV, \
                  TextDecoder, utf8Encode",
        exports: "Blob, File, FormData, blobBytes",
        files: &[("blob.js", include_str!("js/blob.js"))],
    },
    Chunk {
        name: "http",
        ops: "httpToken, urlParse, uuid",
        deps: &[CORE],
        imports: "brand, concatBytes, copyOf, expose, isBufferSource, need, rejected, \
                  requireArgs, toUSV, utf8Decode, utf8Encode, HREF",
        exports: "Headers, headersList, bodyArrayBuffer, bodyBlob, bodyBytes, bodyFormData, \
                  bodyJson, bodyStream, bodyText, bodyUsed, cloneBody, consumeBody, extractBody, \
                  newBody, fetchReply, responseFromRaw",
        files: &[
            ("body.js", include_str!("js/body.js")),
            ("fetch_types.js", include_str!("js/fetch_types.js")),
        ],
    },
    Chunk {
        name: "streams",
        ops: "",
        deps: &[CORE, EVENTS],
        imports: "AsyncIteratorPrototype, brand, deferred, expose, markHandled, rejected, \
                  requireArgs, AbortController, AbortSignal, addAbortAlgorithm",
        exports: "ReadableStream, createReadable, rsOf, transformOf",
        files: &[
            (
                "streams_readable.js",
                include_str!("js/streams_readable.js"),
            ),
            (
                "streams_writable.js",
                include_str!("js/streams_writable.js"),
            ),
            (
                "streams_transform.js",
                include_str!("js/streams_transform.js"),
            ),
        ],
    },
    Chunk {
        name: "crypto",
        ops: "aesGcm, digest, hmac, hmacVerify, randomFill, uuid",
        deps: &[CORE, ENCODING],
        imports: "newDOMException, brand, copyOf, defineProperty, expose, freeze, global, \
                  rejected, requireArgs, atob, btoa",
        exports: "",
        files: &[("crypto.js", include_str!("js/crypto.js"))],
    },
    Chunk {
        name: "misc",
        ops: "clone, codecClose, codecNew, codecPush, now, timeOrigin",
        deps: &[CORE, EVENTS],
        imports: "newDOMException, brand, defineProperty, expose, global, need, requireArgs, \
                  viewOf, EventTarget",
        exports: "",
        files: &[("misc.js", include_str!("js/misc.js"))],
    },
    Chunk {
        name: "console",
        ops: "format, group, inspect, now, print, timeOrigin",
        deps: &[CORE],
        imports: "defineProperty",
        exports: "",
        files: &[("console.js", include_str!("js/console.js"))],
    },
    // Appended, so the indexes of the chunks before stay those of heaps
    // stored before.
    Chunk {
        name: "domexception",
        ops: "",
        deps: &[CORE],
        imports: "brand, defineProperty, expose",
        exports: "DOMException",
        files: &[("domexception.js", include_str!("js/domexception.js"))],
    },
    // Appended too. No dependencies: `fetch(url)` sends its host call
    // before core and http load.
    Chunk {
        name: "fetch",
        ops: "fetchUrl, need",
        deps: &[],
        imports: "",
        exports: "",
        files: &[("fetch.js", include_str!("js/fetch.js"))],
    },
    // Appended too: Request and the full path of fetch, which a plain
    // `fetch(url)` does not need.
    Chunk {
        name: "request",
        ops: "fetchAbort, fetchStart, httpToken, urlParse",
        deps: &[CORE, HTTP],
        imports: "brand, deferred, expose, need, requireArgs, toUSV, HREF, USERNAME, PASSWORD, \
                  Headers, headersList, bodyArrayBuffer, bodyBlob, bodyBytes, bodyFormData, \
                  bodyJson, bodyStream, bodyText, bodyUsed, cloneBody, consumeBody, extractBody, \
                  newBody, responseFromRaw",
        exports: "fetchRequest",
        files: &[("request.js", include_str!("js/request.js"))],
    },
];

/// The index of the chunk called `name`.
pub(crate) fn index(name: &str) -> Option<usize> {
    CHUNKS.iter().position(|c| c.name == name)
}

/// This build's glue, as a short id (the SHA-256 of every chunk's source):
/// a context's `shared` carries it (`#glue`, `lazy.rs`), so that a chunk
/// never loads into a `shared` that another build's chunks filled (a
/// session heap stored before an upgrade), whose names may differ.
pub(super) fn glue_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        for k in 0..CHUNKS.len() {
            hash.update(source(k).as_bytes());
            hash.update([0]);
        }
        hash.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    })
}

/// The names in one of a chunk's comma-separated lists.
pub(super) fn list(names: &str) -> impl Iterator<Item = &str> {
    names.split(',').map(str::trim).filter(|n| !n.is_empty())
}

/// Chunk `k`'s source, assembled once per process (ASCII: it becomes an
/// external one-byte string).
pub(super) fn source(k: usize) -> &'static str {
    static SOURCES: OnceLock<Vec<String>> = OnceLock::new();
    &SOURCES.get_or_init(|| CHUNKS.iter().map(assemble).collect())[k]
}

/// The function of one chunk: the lazy loader's prologue (`lazy.rs`),
/// the imports, the files, the exports and the loaded flag, the
/// epilogue.
fn assemble(chunk: &Chunk) -> String {
    let mut source = String::from(
        "(function (ops, con, enqueueMicrotask, shared, lazyNames, lazyMark) {\n'use strict';\n",
    );
    source.push_str(super::lazy::PROLOGUE_JS);
    if !chunk.imports.is_empty() {
        source.push_str(&format!("const {{ {} }} = shared;\n", chunk.imports));
    }
    source.push_str(&format!(
        "const USER_AGENT = 'mcp-v8/{} V8/{}';\n",
        env!("CARGO_PKG_VERSION"),
        v8::V8::get_version()
    ));
    for (name, text) in chunk.files {
        source.push_str(&format!("// ---- {name}\n"));
        source.push_str(text);
        source.push('\n');
    }
    for name in list(chunk.exports) {
        source.push_str(&format!("shared.{name} = {name};\n"));
    }
    source.push_str(&format!("shared['#{}'] = true;\n", chunk.name));
    source.push_str(super::lazy::EPILOGUE_JS);
    source.push_str("})");
    source
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Chunk `k` and all it depends on.
    fn closure(k: usize, out: &mut Vec<usize>) {
        for &d in CHUNKS[k].deps {
            closure(d, out);
        }
        if !out.contains(&k) {
            out.push(k);
        }
    }

    #[test]
    fn every_import_is_exported_by_a_dependency() {
        for (k, chunk) in CHUNKS.iter().enumerate() {
            let mut deps = Vec::new();
            closure(k, &mut deps);
            for name in list(chunk.imports) {
                let from: Vec<&str> = deps
                    .iter()
                    .filter(|&&d| d != k && list(CHUNKS[d].exports).any(|e| e == name))
                    .map(|&d| CHUNKS[d].name)
                    .collect();
                assert_eq!(from.len(), 1, "{}: {name} exported by {from:?}", chunk.name);
            }
        }
    }

    /// The op names `ops.NAME` in JavaScript `text`, comments left out.
    fn ops_called(text: &str) -> std::collections::BTreeSet<String> {
        let mut out = std::collections::BTreeSet::new();
        for line in text.lines() {
            let code = match line.trim_start() {
                l if l.starts_with("//") => continue,
                _ => line.split(" // ").next().unwrap_or(line),
            };
            for (at, _) in code.match_indices("ops.") {
                let before = code[..at].chars().next_back();
                if before.is_some_and(|c| c.is_alphanumeric() || "_$.".contains(c)) {
                    continue;
                }
                let name: String = code[at + 4..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.insert(name);
            }
        }
        out
    }

    #[test]
    fn each_chunk_lists_exactly_the_ops_it_calls() {
        let known: Vec<&str> = crate::isolate::web::ops::table()
            .into_iter()
            .chain(crate::isolate::web::ops::later())
            .map(|(name, _)| name)
            .collect();
        for chunk in &CHUNKS {
            let called: std::collections::BTreeSet<String> = chunk
                .files
                .iter()
                .flat_map(|(_, text)| ops_called(text))
                .collect();
            let listed: std::collections::BTreeSet<String> =
                list(chunk.ops).map(str::to_string).collect();
            assert_eq!(called, listed, "{}: ops called and listed", chunk.name);
            for name in &listed {
                assert!(
                    known.contains(&name.as_str()),
                    "{}: no op {name}",
                    chunk.name
                );
            }
        }
    }

    #[test]
    fn deps_come_first_and_names_are_unique() {
        for (k, chunk) in CHUNKS.iter().enumerate() {
            assert!(chunk.deps.iter().all(|&d| d < k), "{}", chunk.name);
            assert_eq!(index(chunk.name), Some(k));
            assert!(source(k).is_ascii(), "{} is not ASCII", chunk.name);
        }
        assert_eq!(index("nope"), None);
    }
}
