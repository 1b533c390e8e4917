//! Starting a worker process and its handshake.
//!
//! The supervisor re-executes its own binary with [`WORKER_ARG`], so the two
//! sides of the protocol are always the same build. The child's end of a
//! Unix socket pair is placed at fd [`WORKER_IPC_FD`]; the child gets
//! `PR_SET_PDEATHSIG(SIGKILL)` so it never outlives the supervisor. All other
//! lock-down happens in the worker's own `main` (see docs/sandbox.md).

use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Stdio;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use mcp_v8_shared::{
    decode, encode, Hello, Request, Response, SandboxReport, WebSnapshot, WorkerConfig,
    PROTOCOL_VERSION, WORKER_ARG, WORKER_IPC_FD,
};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::UnixStream;
use tokio::process::{Child, Command};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

use super::cgroup::{CgroupError, WorkerCgroup};
use super::exit_class::ExitClass;

/// How long a new worker may take to say Hello and to report Ready.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// The supervisor's end of a worker socket.
pub type WorkerConn = Framed<UnixStream, LengthDelimitedCodec>;

/// Why a worker could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("cannot start worker process: {0}")]
    Io(#[from] std::io::Error),
    #[error("worker did not complete the handshake within {0:?}")]
    HandshakeTimeout(Duration),
    #[error("worker closed its socket during the handshake")]
    Closed,
    #[error("worker died during the handshake ({class}): {cause}")]
    Died {
        class: &'static str,
        cause: Box<SpawnError>,
    },
    #[error("worker speaks protocol {found}, supervisor speaks {expected}")]
    ProtocolMismatch { found: u32, expected: u32 },
    #[error("worker sent {0} during the handshake")]
    Unexpected(&'static str),
    #[error("worker refused to start: {0}")]
    Fatal(String),
    #[error("cannot cap the worker's memory: {0}")]
    Cgroup(#[from] CgroupError),
    #[error("malformed frame from worker: {0}")]
    Frame(#[from] mcp_v8_shared::FrameError),
}

/// A started worker that completed its handshake.
pub struct Spawned {
    /// The child process (killed when dropped).
    pub child: Child,
    /// The framed socket.
    pub conn: WorkerConn,
    /// The worker's Hello.
    pub hello: Hello,
    /// What the worker locked down.
    pub sandbox: SandboxReport,
}

/// Builds the framed connection with the configured frame bound.
pub fn framed(stream: UnixStream, max_frame_bytes: u64) -> WorkerConn {
    let codec = LengthDelimitedCodec::builder()
        .length_field_length(4)
        .max_frame_length(max_frame_bytes as usize)
        .new_codec();
    Framed::new(stream, codec)
}

/// Starts a worker, moves it into the workers' cgroup, checks its Hello,
/// sends the web globals' snapshot (when there is one) and Init, and waits
/// for Ready.
pub async fn spawn_worker(
    worker_id: usize,
    config: &WorkerConfig,
    web: Option<&WebSnapshot>,
    cgroup: &WorkerCgroup,
) -> Result<Spawned, SpawnError> {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
    ours.set_nonblocking(true)?;
    let theirs: OwnedFd = theirs.into();
    let theirs_raw = theirs.as_raw_fd();

    let exe = std::env::current_exe()?;
    let mut command = Command::new(exe);
    command
        .arg(WORKER_ARG)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe calls (prctl, dup2, fcntl) on fds it owns.
    unsafe {
        command.pre_exec(move || {
            die_with_parent()?;
            if theirs_raw == WORKER_IPC_FD {
                // dup2 onto itself keeps CLOEXEC; clear it instead.
                if libc::fcntl(theirs_raw, libc::F_SETFD, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(theirs_raw, WORKER_IPC_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn()?;
    drop(theirs);
    // Before the handshake, so before any untrusted code: a worker that
    // cannot be capped does not run.
    if let Err(e) = cgroup.add(child.id().unwrap_or(0)) {
        let _ = child.start_kill();
        let _ = child.wait().await;
        return Err(e.into());
    }
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(forward_stderr(worker_id, child.id().unwrap_or(0), stderr));
    }

    let mut conn = framed(UnixStream::from_std(ours)?, config.max_frame_bytes);
    let handshake = async {
        let hello = match recv(&mut conn).await? {
            Response::Hello(hello) => hello,
            Response::Fatal(why) => return Err(SpawnError::Fatal(why)),
            _ => return Err(SpawnError::Unexpected("a non-Hello frame")),
        };
        if hello.protocol_version != PROTOCOL_VERSION {
            return Err(SpawnError::ProtocolMismatch {
                found: hello.protocol_version,
                expected: PROTOCOL_VERSION,
            });
        }
        if let Some(web) = web {
            let bytes =
                (web.blob.len() + web.code_caches.iter().map(|c| c.len()).sum::<usize>()) as u64;
            // Frames are bounded on both sides; a worker builds its own
            // snapshot when it gets none.
            if bytes + 1024
                < config
                    .max_frame_bytes
                    .min(mcp_v8_shared::HANDSHAKE_MAX_FRAME)
            {
                send(&mut conn, &Request::WebSnapshot(web.clone())).await?;
            }
        }
        send(&mut conn, &Request::Init(config.clone())).await?;
        match recv(&mut conn).await? {
            Response::Ready(sandbox) => Ok((hello, sandbox)),
            Response::Fatal(why) => Err(SpawnError::Fatal(why)),
            _ => Err(SpawnError::Unexpected("a non-Ready frame")),
        }
    };
    let outcome = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake)
        .await
        .unwrap_or(Err(SpawnError::HandshakeTimeout(HANDSHAKE_TIMEOUT)));
    match outcome {
        Ok((hello, sandbox)) => Ok(Spawned {
            child,
            conn,
            hello,
            sandbox,
        }),
        Err(cause) => {
            // Say how the process ended: a SIGSYS here means the sandbox
            // allowlist lacks a syscall the start-up needs.
            let _ = child.start_kill();
            let class = match tokio::time::timeout(Duration::from_secs(2), child.wait()).await {
                Ok(Ok(status)) => ExitClass::from_status(status, Some(ExitClass::Retired)).as_str(),
                _ => "unknown",
            };
            match cause {
                SpawnError::Fatal(_) => Err(cause),
                cause => Err(SpawnError::Died {
                    class,
                    cause: Box::new(cause),
                }),
            }
        }
    }
}

/// In a forked child before exec: asks the kernel to SIGKILL this process
/// when its parent (the supervisor) dies. Only calls prctl, which is
/// async-signal-safe.
pub(super) fn die_with_parent() -> std::io::Result<()> {
    // SAFETY: prctl with PR_SET_PDEATHSIG takes an integer argument and
    // touches no memory of ours.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Sends one request frame.
pub async fn send(conn: &mut WorkerConn, request: &Request) -> Result<(), SpawnError> {
    let payload = encode(request)?;
    conn.send(bytes::Bytes::from(payload)).await?;
    Ok(())
}

/// Receives one response frame.
pub async fn recv(conn: &mut WorkerConn) -> Result<Response, SpawnError> {
    match conn.next().await {
        Some(Ok(frame)) => Ok(decode(&frame)?),
        Some(Err(e)) => Err(SpawnError::Io(e)),
        None => Err(SpawnError::Closed),
    }
}

/// Logs each line the worker writes to stderr, tagged with its id and pid.
async fn forward_stderr(worker_id: usize, pid: u32, stderr: tokio::process::ChildStderr) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::warn!(worker = worker_id, pid, "worker stderr: {line}");
    }
}
