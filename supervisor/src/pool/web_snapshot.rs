//! The web globals' startup snapshot, built once per supervisor.
//!
//! Without it every worker builds the V8 startup snapshot with the web
//! globals and the code cache of their glue itself, before its seal: about
//! 90 ms of start-up and some 2 MiB of resident memory per worker (the
//! snapshot serialiser's code pages, the scratch isolates' leftovers). So
//! the pool runs its own binary once with [`WEB_SNAPSHOT_ARG`], reads the
//! [`WebSnapshot`] it writes to stdout, and hands it to each worker before
//! `Init` (see `spawn.rs`). The child runs only the project's JavaScript
//! and reads nothing but its arguments. When it fails, or a worker finds
//! the snapshot does not fit, workers build their own, as before.

use std::process::Stdio;
use std::time::Duration;

use mcp_v8_shared::{decode, WebSnapshot, WorkerConfig, HANDSHAKE_MAX_FRAME, WEB_SNAPSHOT_ARG};
use tokio::process::Command;

/// How long the child may take.
const BUILD_TIMEOUT: Duration = Duration::from_secs(60);

/// Why no snapshot was built (logged; workers then build their own).
#[derive(Debug, thiserror::Error)]
pub enum WebSnapshotError {
    #[error("cannot run the snapshot builder: {0}")]
    Io(#[from] std::io::Error),
    #[error("the snapshot builder took longer than {0:?}")]
    Timeout(Duration),
    #[error("the snapshot builder failed ({status}): {stderr}")]
    Failed { status: String, stderr: String },
    #[error("the snapshot builder wrote {0}")]
    Malformed(String),
}

/// Runs the builder child for workers configured as `config`.
pub async fn build(config: &WorkerConfig) -> Result<WebSnapshot, WebSnapshotError> {
    let exe = std::env::current_exe()?;
    let mut command = Command::new(exe);
    command
        .arg(WEB_SNAPSHOT_ARG)
        .arg(config.max_array_buffer_bytes.to_string())
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // SAFETY: the closure runs in the forked child before exec and only
    // calls prctl, which is async-signal-safe.
    unsafe {
        command.pre_exec(super::spawn::die_with_parent);
    }
    let child = command.spawn()?;
    let output = tokio::time::timeout(BUILD_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| WebSnapshotError::Timeout(BUILD_TIMEOUT))??;
    if !output.status.success() {
        return Err(WebSnapshotError::Failed {
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    #[allow(unused_mut)]
    let mut snapshot = parse(&output.stdout)?;
    #[cfg(feature = "attack-hooks")]
    tamper(&mut snapshot);
    Ok(snapshot)
}

/// Test-only (feature `attack-hooks`): spoils the snapshot as
/// `MCP_V8_TEST_TAMPER_WEB_SNAPSHOT` says (`corrupt`: one byte of the
/// blob flipped; `short`: a truncated blob; `cache`: code caches of
/// another V8), so tests can show that workers fall back safely.
#[cfg(feature = "attack-hooks")]
fn tamper(snapshot: &mut WebSnapshot) {
    match std::env::var("MCP_V8_TEST_TAMPER_WEB_SNAPSHOT").as_deref() {
        Ok("corrupt") => {
            let middle = snapshot.blob.len() / 2;
            if let Some(b) = snapshot.blob.get_mut(middle) {
                *b ^= 0x01;
            }
        }
        Ok("short") => snapshot.blob.truncate(100),
        Ok("cache") => {
            // A code cache's second word is V8's version hash.
            for cache in &mut snapshot.code_caches {
                if let Some(b) = cache.get_mut(4) {
                    *b ^= 0xff;
                }
            }
        }
        _ => {}
    }
}

/// Decodes the child's stdout: one frame holding a [`WebSnapshot`].
fn parse(mut out: &[u8]) -> Result<WebSnapshot, WebSnapshotError> {
    let mut prefix = [0u8; 4];
    std::io::Read::read_exact(&mut out, &mut prefix)
        .map_err(|_| WebSnapshotError::Malformed(format!("{} bytes", out.len())))?;
    let len = u64::from(u32::from_be_bytes(prefix));
    if len > HANDSHAKE_MAX_FRAME || len != out.len() as u64 {
        return Err(WebSnapshotError::Malformed(format!(
            "a frame of {len} bytes with {} bytes after the length",
            out.len()
        )));
    }
    let snapshot: WebSnapshot =
        decode(out).map_err(|e| WebSnapshotError::Malformed(e.to_string()))?;
    if snapshot.blob.is_empty() {
        return Err(WebSnapshotError::Malformed("an empty blob".into()));
    }
    Ok(snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_checks_the_frame() {
        let snapshot = WebSnapshot {
            blob: vec![1, 2, 3],
            code_caches: vec![serde_bytes::ByteBuf::from(vec![4])],
        };
        let payload = mcp_v8_shared::encode(&snapshot).unwrap();
        let mut framed = (payload.len() as u32).to_be_bytes().to_vec();
        framed.extend_from_slice(&payload);
        assert_eq!(parse(&framed).unwrap(), snapshot);
        assert!(parse(&framed[..framed.len() - 1]).is_err());
        assert!(parse(&[0, 0]).is_err());
        let empty = WebSnapshot {
            blob: vec![],
            code_caches: vec![],
        };
        let payload = mcp_v8_shared::encode(&empty).unwrap();
        let mut framed = (payload.len() as u32).to_be_bytes().to_vec();
        framed.extend_from_slice(&payload);
        assert!(parse(&framed).is_err());
    }
}
