//! Where this process's startup blob with the web globals comes from: the
//! supervisor's [`WebSnapshot`] (built once by a short-lived child of the
//! same binary, see [`build`]), checked and adopted, or else built here.
//! Either way before the seal and before any untrusted code runs.
//!
//! A handed-over snapshot is checked before V8 sees it: long enough for
//! V8's header, its checksum (V8's own Fletcher-32 over everything after
//! the checksum slot, which release V8 does not verify itself) matches,
//! and V8 says this V8 build made it (`StartupData::is_valid`). Its code
//! caches are checked by V8 on each use (a rejected one costs a compilation,
//! see `glue.rs`). The snapshot comes only from the supervisor, which got
//! it from its own binary over a pipe; the child proved it works (it made
//! the code cache in an isolate created from it).

use std::sync::OnceLock;

use mcp_v8_shared::{WebGlobalsSource, WebSnapshot};

use super::glue;

/// Shortest blob handed to V8 (its header alone is 80 bytes; V8's checks
/// CHECK-fail on anything shorter).
const MIN_BLOB_BYTES: usize = 1024;

/// This process's startup blob (`None`: none could be built) and where it
/// came from.
static STARTUP: OnceLock<(Option<&'static [u8]>, WebGlobalsSource)> = OnceLock::new();

/// The startup blob with the web globals: `given` (the supervisor's) if it
/// fits this V8, else one built here; decided on the first call (call it
/// before the seal), later calls return the same. The blob is leaked: it
/// lives as long as the process, and every isolate is created from it.
pub(crate) fn startup_blob(
    given: Option<WebSnapshot>,
) -> (Option<&'static [u8]>, WebGlobalsSource) {
    *STARTUP.get_or_init(|| {
        // The chunks' sources and their glue id (a SHA-256 over them), made
        // now rather than in the first run that loads a chunk.
        super::chunks::glue_id();
        if let Some(snapshot) = given {
            match adopt(snapshot) {
                Ok(blob) => return (Some(blob), WebGlobalsSource::Supervisor),
                Err(e) => eprintln!(
                    "mcp-v8 worker: the supervisor's web snapshot does not fit ({e}); building one"
                ),
            }
        }
        match build_here() {
            Ok(blob) => (Some(blob), WebGlobalsSource::Worker),
            Err(e) => {
                eprintln!("mcp-v8 worker: cannot build the web globals snapshot: {e}");
                (None, WebGlobalsSource::Unavailable)
            }
        }
    })
}

/// Checks `snapshot`'s blob and keeps it, with its code cache.
fn adopt(snapshot: WebSnapshot) -> Result<&'static [u8], String> {
    check(&snapshot.blob)?;
    let blob: &'static [u8] = Box::leak(snapshot.blob.into_boxed_slice());
    glue::set_code_caches(
        snapshot
            .code_caches
            .into_iter()
            .map(|c| c.into_vec())
            .collect(),
    );
    Ok(blob)
}

/// Offset of the checksum in V8's startup-data header; the checksummed
/// region starts right after it (`snapshot.cc`, `ChecksummedContent`).
const CHECKSUM_OFFSET: usize = 8;

/// Whether `blob` is intact and V8 would take it as a startup snapshot of
/// this build.
pub(crate) fn check(blob: &[u8]) -> Result<(), String> {
    if blob.len() < MIN_BLOB_BYTES {
        return Err(format!("a blob of {} bytes is too short", blob.len()));
    }
    let start = CHECKSUM_OFFSET + 4;
    let mut stored = [0u8; 4];
    stored.copy_from_slice(&blob[CHECKSUM_OFFSET..start]);
    if super::super::checksum::fletcher32(&blob[start..]) != u32::from_le_bytes(stored) {
        return Err("the blob's checksum does not match".into());
    }
    if !v8::StartupData::from(blob.to_vec()).is_valid() {
        return Err("the blob was not made by this V8 build".into());
    }
    Ok(())
}

/// Builds the blob and the glue's code cache in this process.
fn build_here() -> Result<&'static [u8], String> {
    let blob: &'static [u8] = Box::leak(super::build_blob()?.into_boxed_slice());
    match glue::produce_code_caches(blob) {
        Ok(caches) => glue::set_code_caches(caches),
        Err(e) => eprintln!("mcp-v8 worker: no code cache for the web glue: {e}"),
    }
    Ok(blob)
}

/// Builds a [`WebSnapshot`] to hand to other workers (the supervisor's
/// `__web-snapshot` child; V8 must be initialised with the workers' flags).
pub(crate) fn build() -> Result<WebSnapshot, String> {
    let blob = super::build_blob()?;
    // The code cache must be made in an isolate from this very blob; V8
    // wants it for as long as isolates from it live. This process exits
    // right after, so the copy is leaked.
    let leaked: &'static [u8] = Box::leak(blob.clone().into_boxed_slice());
    let code_caches = glue::produce_code_caches(leaked)?
        .into_iter()
        .map(serde_bytes::ByteBuf::from)
        .collect();
    Ok(WebSnapshot { blob, code_caches })
}
