//! The worker's side of host calls (see `mcp_v8_shared::host`): sending a
//! call on the IPC socket, waiting for replies together with timers and
//! the deadline, and the table of calls awaiting their reply.
//!
//! The worker is single-threaded and blocking, and its seccomp filter has
//! no `poll`: waiting is a blocking read of the IPC socket. So that a wait
//! ends at the next timer or the deadline even when no reply comes, the
//! worker first asks the supervisor to wake it then
//! ([`HostCallKind::Wake`]), and the wake-up is a reply like the others
//! (docs/sandbox.md). A run asks again only for an earlier time than the
//! one it already asked for. A call that must be answered before
//! JavaScript can go on (a module's source: V8's resolve callback is
//! synchronous) blocks in [`HostCalls::call_blocking`]; replies to other
//! calls that arrive meanwhile are kept and settled by the event loop
//! later.

use std::collections::{HashMap, VecDeque};
use std::mem::ManuallyDrop;
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use mcp_v8_shared::{
    read_frame, write_frame, FrameError, HostAnswer, HostCall, HostCallKind, HostError,
    HostErrorKind, HostReply, Request, Response, MAX_HOST_CALLS_IN_FLIGHT,
};

/// Why a host call could not be made or answered at the worker's end.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LinkError {
    /// This worker has no supervisor to ask (unit tests, examples).
    #[error("no host: this worker cannot reach the supervisor")]
    NoHost,
    /// Too many calls of this run await their reply.
    #[error("too many host calls in flight (at most {MAX_HOST_CALLS_IN_FLIGHT} per run)")]
    TooMany,
    /// The deadline passed while waiting.
    #[error("the deadline passed while waiting for the supervisor")]
    Deadline,
    /// The socket failed or the supervisor sent something else.
    #[error("IPC: {0}")]
    Ipc(String),
}

impl From<FrameError> for LinkError {
    fn from(e: FrameError) -> Self {
        LinkError::Ipc(e.to_string())
    }
}

/// The IPC socket, borrowed from the request loop for the run.
pub(crate) struct HostLink {
    /// The stream on the IPC fd; never closed from here.
    stream: ManuallyDrop<UnixStream>,
    /// Frame bound of the worker.
    max_frame: u64,
}

impl HostLink {
    /// A link on `fd`, the worker's IPC socket.
    ///
    /// # Safety
    /// `fd` must be an open socket that stays open for the link's lifetime,
    /// and nothing else may read from or write to it while the link is used.
    pub(crate) unsafe fn on_fd(fd: RawFd, max_frame: u64) -> HostLink {
        HostLink {
            // SAFETY: the caller guarantees the fd is an open socket; the
            // ManuallyDrop keeps this stream from closing it.
            stream: ManuallyDrop::new(unsafe { UnixStream::from_raw_fd(fd) }),
            max_frame,
        }
    }

    fn send(&mut self, call: HostCall) -> Result<(), LinkError> {
        write_frame(&mut *self.stream, &Response::Host(call), self.max_frame)?;
        Ok(())
    }

    /// Blocks for the next frame, which must be a host reply.
    fn read(&mut self) -> Result<HostReply, LinkError> {
        match read_frame::<Request>(&mut *self.stream, self.max_frame)? {
            Request::HostReply(reply) => Ok(reply),
            Request::Shutdown => Err(LinkError::Ipc("shutdown during a run".into())),
            Request::Exec(_) | Request::Init(_) | Request::WebSnapshot(_) => Err(LinkError::Ipc(
                "the supervisor sent a request during a run".into(),
            )),
        }
    }
}

/// Whole microseconds in `d`, rounded up, so that a wake-up never comes
/// before the time asked for.
fn micros_ceil(d: Duration) -> u64 {
    u64::try_from(d.as_nanos().div_ceil(1000)).unwrap_or(u64::MAX)
}

/// The host calls of one run.
pub(crate) struct HostCalls {
    /// The socket; `None` when the worker has no supervisor.
    link: Option<HostLink>,
    /// The run's id, sent with every call.
    exec_id: u64,
    /// Last call id handed out.
    last_id: u32,
    /// Calls settled by the event loop: id -> the promise to settle.
    pending: HashMap<u32, v8::Global<v8::PromiseResolver>>,
    /// Replies that arrived while a blocking call waited.
    early: VecDeque<HostReply>,
    /// The wake-up asked of the supervisor and not yet come: its call id
    /// and the time it was asked for.
    wake: Option<(u32, Instant)>,
    /// Calls made so far in this run (modules and fetches).
    pub(crate) made: u64,
}

impl HostCalls {
    /// The calls of run `exec_id` over `link`.
    pub(crate) fn new(link: Option<HostLink>, exec_id: u64) -> HostCalls {
        HostCalls {
            link,
            exec_id,
            last_id: 0,
            pending: HashMap::new(),
            early: VecDeque::new(),
            wake: None,
            made: 0,
        }
    }

    /// Whether anything is left for the event loop to wait for.
    pub(crate) fn busy(&self) -> bool {
        !self.pending.is_empty() || !self.early.is_empty()
    }

    fn next_id(&mut self) -> u32 {
        self.last_id = self.last_id.wrapping_add(1).max(1);
        self.last_id
    }

    fn check_room(&self) -> Result<(), LinkError> {
        if self.link.is_none() {
            return Err(LinkError::NoHost);
        }
        if self.pending.len() >= MAX_HOST_CALLS_IN_FLIGHT {
            return Err(LinkError::TooMany);
        }
        Ok(())
    }

    /// Sends a call whose reply settles `resolver` from the event loop;
    /// returns its id (for an abort).
    pub(crate) fn start(
        &mut self,
        kind: HostCallKind,
        resolver: v8::Global<v8::PromiseResolver>,
    ) -> Result<u32, LinkError> {
        self.check_room()?;
        let call_id = self.next_id();
        let call = HostCall {
            exec_id: self.exec_id,
            call_id,
            kind,
        };
        self.link.as_mut().ok_or(LinkError::NoHost)?.send(call)?;
        self.made += 1;
        self.pending.insert(call_id, resolver);
        Ok(call_id)
    }

    /// Gives up on call `call_id`: its reply, if any comes, is ignored.
    pub(crate) fn abort(&mut self, call_id: u32) -> Result<(), LinkError> {
        if self.pending.remove(&call_id).is_none() {
            return Ok(());
        }
        self.early.retain(|r| r.call_id != call_id);
        let call = HostCall {
            exec_id: self.exec_id,
            call_id,
            kind: HostCallKind::Abort,
        };
        self.link.as_mut().ok_or(LinkError::NoHost)?.send(call)
    }

    /// Sends a call and waits for its reply (until `deadline`).
    pub(crate) fn call_blocking(
        &mut self,
        kind: HostCallKind,
        deadline: Instant,
    ) -> Result<Result<HostAnswer, HostError>, LinkError> {
        self.check_room()?;
        let call_id = self.next_id();
        let call = HostCall {
            exec_id: self.exec_id,
            call_id,
            kind,
        };
        self.link.as_mut().ok_or(LinkError::NoHost)?.send(call)?;
        self.made += 1;
        loop {
            if Instant::now() >= deadline {
                return Err(LinkError::Deadline);
            }
            let Some(reply) = self.recv(deadline)? else {
                continue;
            };
            if reply.call_id == call_id {
                return Ok(reply.result);
            }
            if self.pending.contains_key(&reply.call_id) {
                self.early.push_back(reply);
            }
        }
    }

    /// The next reply for a pending call, waiting at most until `until`;
    /// `None` when the time passed first. The resolver is removed from the
    /// table and returned with the result.
    #[allow(clippy::type_complexity)]
    pub(crate) fn next_reply(
        &mut self,
        until: Instant,
    ) -> Result<
        Option<(
            v8::Global<v8::PromiseResolver>,
            Result<HostAnswer, HostError>,
        )>,
        LinkError,
    > {
        loop {
            while let Some(reply) = self.early.pop_front() {
                if let Some(resolver) = self.pending.remove(&reply.call_id) {
                    return Ok(Some((resolver, reply.result)));
                }
            }
            let now = Instant::now();
            if now >= until {
                return Ok(None);
            }
            let Some(reply) = self.recv(until)? else {
                return Ok(None);
            };
            self.early.push_back(reply);
        }
    }

    /// Blocks for the next reply of this run, having asked the supervisor
    /// to wake the worker at `until` unless it asked for that time or an
    /// earlier one already; `None` when the wake-up came first (then the
    /// time asked for has passed). Replies of earlier runs and wake-ups
    /// that were replaced are skipped.
    fn recv(&mut self, until: Instant) -> Result<Option<HostReply>, LinkError> {
        if self.wake.is_none_or(|(_, at)| at > until) {
            let call_id = self.next_id();
            let after_us = micros_ceil(until.saturating_duration_since(Instant::now()));
            let call = HostCall {
                exec_id: self.exec_id,
                call_id,
                kind: HostCallKind::Wake { after_us },
            };
            self.link.as_mut().ok_or(LinkError::NoHost)?.send(call)?;
            self.wake = Some((call_id, until));
        }
        let link = self.link.as_mut().ok_or(LinkError::NoHost)?;
        loop {
            let reply = link.read()?;
            if reply.exec_id != self.exec_id {
                continue;
            }
            if let Ok(HostAnswer::Woken) = reply.result {
                if self.wake.is_some_and(|(id, _)| id == reply.call_id) {
                    self.wake = None;
                    return Ok(None);
                }
                continue;
            }
            return Ok(Some(reply));
        }
    }
}

/// A host failure as a JS-facing error message.
pub(crate) fn describe(error: &HostError) -> String {
    let prefix = match error.kind {
        HostErrorKind::Denied => "denied by policy",
        HostErrorKind::Limit => "limit reached",
        HostErrorKind::Network => "network error",
        HostErrorKind::Timeout => "timed out",
        HostErrorKind::NotFound => "not found",
        HostErrorKind::Invalid => "invalid request",
    };
    format!("{prefix}: {}", error.message)
}
