//! One slot of the pool: starts a worker, feeds it jobs one at a time,
//! enforces the hard deadline, and replaces the worker when it is gone.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use std::collections::HashMap;

use std::panic::AssertUnwindSafe;

use futures::future::{abortable, AbortHandle};
use futures::stream::FuturesUnordered;
use futures::{FutureExt, SinkExt, StreamExt};
use mcp_v8_shared::{
    decode, encode, ExecError, ExecRequest, ExecResponse, HostCallKind, HostReply, Request,
    Response, MAX_HOST_CALLS_IN_FLIGHT,
};
use tokio::sync::mpsc;

use super::exit_class::ExitClass;
use super::spawn::{send, spawn_worker, SpawnError, Spawned};
use super::status::{resident_bytes, CurrentExecution, WorkerState};
use super::{lock, Job, JobOutcome, JobResult, PoolShared};
use crate::host::RunHost;

/// Host calls of one job the supervisor runs at once before it retires the
/// worker as out of protocol. The worker keeps itself to
/// `MAX_HOST_CALLS_IN_FLIGHT` fetches plus one module load and one wake; the margin
/// covers calls whose reply went out but that are not reaped yet.
const SUPERVISOR_IN_FLIGHT_LIMIT: usize = 4 * MAX_HOST_CALLS_IN_FLIGHT;

/// Time a worker gets past an execution's deadline before it is killed
/// (its own watchdog should have answered long before).
const KILL_GRACE: Duration = Duration::from_secs(2);

/// A worker that dies (or fails to start) sooner than this after becoming
/// ready counts as a failed start for backoff.
const HEALTHY_AFTER: Duration = Duration::from_secs(5);

/// Longest wait between restarts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// How long a worker asked to exit may take before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(1);

/// A worker whose resident memory exceeds this after a job is replaced:
/// 128 MiB, or the heap limit plus 64 MiB when that is larger.
fn retire_rss_bytes(config: &mcp_v8_shared::WorkerConfig) -> u64 {
    (128u64 << 20).max((u64::from(config.default_heap_mb) + 64) << 20)
}

/// Delay before the next start after `failures` consecutive failed starts.
fn backoff(failures: u32) -> Duration {
    let ms = 50u64.saturating_mul(1 << failures.min(10));
    Duration::from_millis(ms).min(MAX_BACKOFF)
}

/// Runs slot `id` until the pool shuts down.
pub(super) async fn drive_slot(id: usize, shared: Arc<PoolShared>) {
    let mut failures = 0u32;
    let mut started_once = false;
    while !shared.shutdown.is_cancelled() {
        if failures > 0 {
            set_state(&shared, id, WorkerState::Backoff);
            let delay = backoff(failures);
            tracing::warn!(
                worker = id,
                failures,
                ?delay,
                "worker keeps failing; backing off"
            );
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shared.shutdown.cancelled() => break,
            }
        }
        set_state(&shared, id, WorkerState::Starting);
        if started_once {
            lock(&shared.slots[id]).n_restarts += 1;
        }
        started_once = true;
        let web = shared.web_snapshot().await;
        let spawned =
            match spawn_worker(id, &shared.worker_config, web.as_deref(), &shared.cgroup).await {
                Ok(spawned) => spawned,
                Err(e) => {
                    tracing::error!(worker = id, "worker failed to start: {e}");
                    if web.is_some() && matches!(e, SpawnError::Died { .. }) {
                        shared.distrust_web_snapshot();
                    }
                    if let SpawnError::Fatal(why) = &e {
                        let _ = shared.fatal.set(why.clone());
                    }
                    failures += 1;
                    continue;
                }
            };
        let ready_at = Instant::now();
        let (class, job_killed_it) = serve_jobs(id, &shared, spawned).await;
        {
            let mut status = lock(&shared.slots[id]);
            status.pid = None;
            status.current = None;
            status.last_exit = Some(class);
        }
        shared.metrics.worker_exit(class.as_str());
        let died_young = ready_at.elapsed() < HEALTHY_AFTER && !job_killed_it;
        failures = if died_young && class != ExitClass::Normal {
            failures + 1
        } else {
            0
        };
        if shared.shutdown.is_cancelled() {
            tracing::debug!(
                worker = id,
                class = class.as_str(),
                "worker exited at shutdown"
            );
        } else {
            tracing::info!(
                worker = id,
                class = class.as_str(),
                "worker exited; replacing it"
            );
        }
    }
    set_state(&shared, id, WorkerState::Stopped);
}

fn set_state(shared: &PoolShared, id: usize, state: WorkerState) {
    lock(&shared.slots[id]).state = state;
}

/// Feeds jobs to one worker until it is gone. Returns how it ended and
/// whether a job (rather than the worker on its own) ended it.
async fn serve_jobs(id: usize, shared: &PoolShared, mut worker: Spawned) -> (ExitClass, bool) {
    let pid = worker.child.id();
    {
        let mut status = lock(&shared.slots[id]);
        status.pid = pid;
        status.state = WorkerState::Idle;
        status.ready_since = Some(SystemTime::now());
        status.sandbox = Some(worker.sandbox.clone());
    }
    tracing::debug!(worker = id, ?pid, v8 = %worker.hello.v8_version, "worker ready");
    loop {
        let job = tokio::select! {
            biased;
            _ = shared.shutdown.cancelled() => {
                return (retire(&mut worker).await, false);
            }
            status = worker.child.wait() => {
                let class = status.map_or(ExitClass::Error, |s| ExitClass::from_status(s, None));
                let class = shared.refine_exit(class);
                tracing::warn!(worker = id, class = class.as_str(), "idle worker died");
                return (class, false);
            }
            job = next_job(shared) => match job {
                Some(job) => job,
                None => return (retire(&mut worker).await, false),
            },
        };
        shared.metrics.queue_depth.dec();
        if job.reply.is_closed() || job.cancel.is_cancelled() {
            continue;
        }
        {
            let mut status = lock(&shared.slots[id]);
            status.state = WorkerState::Busy;
            status.current = Some(CurrentExecution {
                id: job.request.id,
                started: Instant::now(),
            });
        }
        let ran = run_job(&mut worker, job.request, &job.cancel, &job.host).await;
        let (outcome, end) = match ran {
            Ran::Answered(response) => {
                // A worker whose isolate hit a limit is replaced: its
                // process may hold on to memory or a damaged heap.
                let hit_limit = matches!(
                    response.outcome,
                    Err(ExecError::Timeout { .. } | ExecError::MemoryLimit { .. })
                );
                // So is one that grew large: V8 keeps the pages of a big
                // heap pooled after the isolate is gone.
                let bloated = pid
                    .and_then(resident_bytes)
                    .is_some_and(|rss| rss > retire_rss_bytes(&shared.worker_config));
                let end = (hit_limit || bloated).then_some(ExitClass::Retired);
                (JobOutcome::Completed(response), end)
            }
            Ran::Kill(class) => {
                kill(&mut worker).await;
                (JobOutcome::Died(class), Some(class))
            }
            Ran::Lost => {
                let class = shared.refine_exit(reap(&mut worker).await);
                (JobOutcome::Died(class), Some(class))
            }
        };
        {
            let mut status = lock(&shared.slots[id]);
            status.n_executions += 1;
            status.current = None;
            status.state = WorkerState::Idle;
        }
        let _ = job.reply.send(JobResult {
            worker: id,
            outcome,
        });
        match end {
            Some(ExitClass::Retired) => {
                // Retired on purpose: report it so even if it exited cleanly.
                let class = match retire(&mut worker).await {
                    ExitClass::Normal => ExitClass::Retired,
                    other => other,
                };
                return (class, true);
            }
            Some(class) => return (class, true),
            None => {}
        }
    }
}

/// How one job went on the worker.
enum Ran {
    /// The worker answered.
    Answered(ExecResponse),
    /// The worker must be killed; the class says why.
    Kill(ExitClass),
    /// The socket broke: the worker died on its own.
    Lost,
}

/// Sends the job, then serves its host calls until the worker answers,
/// the hard deadline passes or the caller cancels. Host calls are futures
/// polled here, in the slot's own task (no task spawned per call, no
/// other runtime thread woken to run it): when the job ends, for whatever
/// reason, dropping them closes their connections, and a call the worker
/// gives up on is aborted. A call that panics is logged and answered by
/// nobody (the worker's deadline ends the run). Replies go out through
/// their own writer, so that a large reply never blocks reading the
/// worker's next frame.
async fn run_job(
    worker: &mut Spawned,
    request: ExecRequest,
    cancel: &tokio_util::sync::CancellationToken,
    host: &Arc<RunHost>,
) -> Ran {
    let id = request.id;
    let timeout = Duration::from_millis(request.timeout_ms);
    let hard_deadline = tokio::time::sleep(timeout + KILL_GRACE);
    tokio::pin!(hard_deadline);
    host.started(timeout);
    let (mut sink, mut stream) = (&mut worker.conn).split();
    // Room for a reply from every call in flight. A worker that stops
    // reading its replies fills it; the hard deadline then ends its job.
    let (replies, mut outgoing) = mpsc::channel::<HostReply>(SUPERVISOR_IN_FLIGHT_LIMIT + 1);
    let mut calls = FuturesUnordered::new();
    let mut in_flight: HashMap<u32, AbortHandle> = HashMap::new();
    // The call id of the job's pending `Wake`: a new one replaces it.
    let mut wake: Option<u32> = None;
    let writer = async {
        let send = |r: &Request| encode(r).map(bytes::Bytes::from);
        let Ok(exec) = send(&Request::Exec(request)) else {
            return Ran::Lost;
        };
        if sink.send(exec).await.is_err() {
            return Ran::Lost;
        }
        while let Some(reply) = outgoing.recv().await {
            let Ok(frame) = send(&Request::HostReply(reply)) else {
                return Ran::Kill(ExitClass::Retired);
            };
            if sink.send(frame).await.is_err() {
                return Ran::Lost;
            }
        }
        std::future::pending().await
    };
    let reader = async {
        loop {
            tokio::select! {
                frame = stream.next() => {
                    let answer = match frame {
                        Some(Ok(frame)) => decode::<Response>(&frame),
                        _ => return Ran::Lost,
                    };
                    match answer {
                        Ok(Response::Exec(response)) if response.id == id => {
                            return Ran::Answered(response)
                        }
                        Ok(Response::Host(call)) if call.exec_id == id => {
                            if let HostCallKind::Abort = call.kind {
                                if let Some(task) = in_flight.remove(&call.call_id) {
                                    task.abort();
                                }
                                continue;
                            }
                            // Counted in `calls`, not by id: a worker that
                            // reuses an id still gets no more than the limit.
                            if calls.len() >= SUPERVISOR_IN_FLIGHT_LIMIT {
                                tracing::error!(execution = id, "worker exceeded the host calls in flight");
                                return Ran::Kill(ExitClass::Retired);
                            }
                            let call_id = call.call_id;
                            if let HostCallKind::Wake { .. } = call.kind {
                                if let Some(task) = wake.replace(call_id).and_then(|old| in_flight.remove(&old)) {
                                    task.abort();
                                }
                            }
                            let (task, handle) = abortable(host.clone().handle(call_id, call.kind));
                            calls.push(AssertUnwindSafe(task).catch_unwind().map(move |done| (call_id, done)));
                            in_flight.insert(call_id, handle);
                        }
                        Ok(other) => {
                            tracing::error!(execution = id, "worker answered out of protocol: {other:?}");
                            return Ran::Kill(ExitClass::Retired);
                        }
                        Err(e) => {
                            tracing::error!(execution = id, "malformed frame from worker: {e}");
                            return Ran::Kill(ExitClass::Retired);
                        }
                    }
                }
                Some((call_id, done)) = calls.next(), if !calls.is_empty() => {
                    in_flight.remove(&call_id);
                    match done {
                        Ok(Ok(Some(reply))) => {
                            if replies.send(reply).await.is_err() {
                                return Ran::Lost;
                            }
                        }
                        // Aborted, or nothing to answer.
                        Ok(_) => {}
                        Err(_) => tracing::error!(execution = id, call = call_id, "a host call panicked"),
                    }
                }
            }
        }
    };
    tokio::select! {
        ran = reader => ran,
        ran = writer => ran,
        _ = &mut hard_deadline => Ran::Kill(ExitClass::TimeoutKill),
        _ = cancel.cancelled() => Ran::Kill(ExitClass::Cancelled),
    }
}

/// Waits for the next job; `None` once the queue is closed.
async fn next_job(shared: &PoolShared) -> Option<Job> {
    shared.jobs.lock().await.recv().await
}

/// SIGKILLs the worker and waits for it.
async fn kill(worker: &mut Spawned) {
    let _ = worker.child.start_kill();
    let _ = worker.child.wait().await;
}

/// Waits briefly for a worker whose socket broke, then classifies its end.
async fn reap(worker: &mut Spawned) -> ExitClass {
    match tokio::time::timeout(EXIT_GRACE, worker.child.wait()).await {
        Ok(Ok(status)) => ExitClass::from_status(status, None),
        Ok(Err(_)) => ExitClass::Error,
        Err(_) => {
            // The socket broke but the process lives on: kill it.
            kill(worker).await;
            ExitClass::Retired
        }
    }
}

/// Asks the worker to exit, killing it if it does not within the grace.
async fn retire(worker: &mut Spawned) -> ExitClass {
    let _ = send(&mut worker.conn, &Request::Shutdown).await;
    match tokio::time::timeout(EXIT_GRACE, worker.child.wait()).await {
        Ok(Ok(status)) => ExitClass::from_status(status, None),
        _ => {
            kill(worker).await;
            ExitClass::Retired
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_then_caps() {
        assert_eq!(backoff(1), Duration::from_millis(100));
        assert_eq!(backoff(2), Duration::from_millis(200));
        assert!(backoff(5) > backoff(4));
        assert_eq!(backoff(20), MAX_BACKOFF);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn big_heaps_raise_the_retirement_threshold() {
        let mut config = mcp_v8_shared::WorkerConfig {
            sandbox: mcp_v8_shared::SandboxMode::Off,
            sandbox_debug: false,
            default_heap_mb: 64,
            max_array_buffer_bytes: 0,
            max_frame_bytes: 0,
            cpu_limit_secs: 0,
            nice: 0,
            web_globals: true,
        };
        assert_eq!(retire_rss_bytes(&config), 128 << 20);
        config.default_heap_mb = 512;
        assert_eq!(retire_rss_bytes(&config), 576 << 20);
    }
}
