//! The worker pool: N slots, each driving one worker process at a time,
//! fed from one bounded queue.
//!
//! One job is in flight per worker. A full queue is refused at once
//! ([`PoolError::QueueFull`], which the HTTP edge turns into 503 with
//! `Retry-After`). Each slot replaces its worker in the background when the
//! worker dies, times out, hits a limit or is cancelled; replacements that
//! keep dying young are delayed with exponential backoff.

pub mod cgroup;
mod exit_class;
mod slot;
mod spawn;
mod status;
mod web_snapshot;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use mcp_v8_shared::{ExecRequest, ExecResponse, WebSnapshot, WorkerConfig};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

pub use cgroup::{CgroupStatus, WorkerCgroup};
pub use exit_class::ExitClass;
pub use status::{resident_bytes, WorkerState, WorkerStatus};

use crate::host::RunHost;
use crate::metrics::Metrics;

/// One execution waiting for, or running on, a worker.
pub struct Job {
    /// What to run.
    pub request: ExecRequest,
    /// Cancelling it kills the worker running the job.
    pub cancel: CancellationToken,
    /// Where the result goes.
    pub reply: oneshot::Sender<JobResult>,
    /// This job's share of the queue's byte budget, held until it is done.
    _bytes: OwnedSemaphorePermit,
    /// Answers the job's host calls (fetch, modules).
    pub host: Arc<RunHost>,
}

/// What became of a job.
#[derive(Debug)]
pub struct JobResult {
    /// Slot that ran it.
    pub worker: usize,
    /// The worker's answer, or how the worker died.
    pub outcome: JobOutcome,
}

/// The worker's answer, or how the worker died running the job.
#[derive(Debug)]
pub enum JobOutcome {
    /// The worker answered (success or a JS-level error).
    Completed(ExecResponse),
    /// The worker process is gone; the class says why.
    Died(ExitClass),
}

/// Why a job was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("all {workers} workers are busy and {queued} executions are queued")]
    QueueFull { workers: usize, queued: usize },
    #[error("queued executions already hold {max_mib} MiB of code and heaps")]
    QueueBytesFull { max_mib: u64 },
    #[error("the server is shutting down")]
    ShuttingDown,
}

/// State shared by the pool handle and its slot tasks.
struct PoolShared {
    /// Receiving end of the job queue; an idle slot holds the lock while it
    /// waits for the next job.
    jobs: tokio::sync::Mutex<mpsc::Receiver<Job>>,
    /// Status of every slot, indexed by slot id.
    slots: Vec<Mutex<WorkerStatus>>,
    /// Sent to every worker in its Init frame.
    worker_config: WorkerConfig,
    /// Cancelled when the pool shuts down.
    shutdown: CancellationToken,
    /// Counters and gauges.
    metrics: Arc<Metrics>,
    /// Set when a worker refuses to start for a reason every worker shares
    /// (for example `--sandbox=strict` without seccomp).
    fatal: OnceLock<String>,
    /// The memory cap on all workers together (or why there is none).
    cgroup: WorkerCgroup,
    /// The cgroup's OOM-kill counter as last seen, to tell a kill by the
    /// memory cap from any other SIGKILL.
    oom_kills_seen: std::sync::atomic::AtomicU64,
    /// The web globals' startup snapshot, built once by the first slot that
    /// needs it (`None`: web globals off, or the build failed; workers then
    /// build their own).
    web_snapshot: tokio::sync::OnceCell<Option<Arc<WebSnapshot>>>,
    /// Set when a worker that was handed the snapshot died before Ready:
    /// later workers build their own rather than risk the same.
    web_snapshot_distrusted: std::sync::atomic::AtomicBool,
}

impl PoolShared {
    /// The snapshot to hand to the next worker, built on first call.
    async fn web_snapshot(&self) -> Option<Arc<WebSnapshot>> {
        use std::sync::atomic::Ordering;
        if !self.worker_config.web_globals || self.web_snapshot_distrusted.load(Ordering::Relaxed) {
            return None;
        }
        let built = self.web_snapshot.get_or_init(|| async {
            let started = std::time::Instant::now();
            match web_snapshot::build(&self.worker_config).await {
                Ok(snapshot) => {
                    tracing::info!(
                        blob_bytes = snapshot.blob.len(),
                        code_cache_bytes =
                            snapshot.code_caches.iter().map(|c| c.len()).sum::<usize>(),
                        ms = started.elapsed().as_millis() as u64,
                        "built the web globals snapshot for the workers"
                    );
                    Some(Arc::new(snapshot))
                }
                Err(e) => {
                    tracing::warn!("each worker builds its own web globals snapshot: {e}");
                    None
                }
            }
        });
        built.await.clone()
    }

    /// Stops handing the snapshot out (a worker given it died starting).
    fn distrust_web_snapshot(&self) {
        use std::sync::atomic::Ordering;
        if !self.web_snapshot_distrusted.swap(true, Ordering::Relaxed) {
            tracing::warn!("a worker died starting with the shared web globals snapshot; workers build their own from now on");
        }
    }
}

/// Handle to the pool; cheap to clone.
#[derive(Clone)]
pub struct WorkerPool {
    /// Sending end of the job queue.
    queue: mpsc::Sender<Job>,
    /// Capacity of the queue.
    max_queue: usize,
    /// KiB of code and heap payloads that queued and running jobs may hold
    /// together: the queue's memory is bounded in bytes, not only in jobs.
    queue_kib: Arc<Semaphore>,
    /// The budget's size in KiB.
    max_queue_kib: u32,
    /// State shared with the slot tasks.
    shared: Arc<PoolShared>,
}

impl WorkerPool {
    /// Starts `workers` slots; each spawns its worker in the background.
    /// `workers_memory_max` caps the workers' memory together, in bytes
    /// (0: no cap); see [`WorkerCgroup`]. Queued and running jobs hold at
    /// most `max_queue_bytes` of code and heaps together.
    pub fn start(
        workers: usize,
        max_queue: usize,
        max_queue_bytes: u64,
        worker_config: WorkerConfig,
        metrics: Arc<Metrics>,
        workers_memory_max: u64,
    ) -> Self {
        let max_queue = max_queue.max(1);
        let (queue, jobs) = mpsc::channel(max_queue);
        let cgroup = WorkerCgroup::setup(workers_memory_max);
        let shared = Arc::new(PoolShared {
            jobs: tokio::sync::Mutex::new(jobs),
            slots: (0..workers)
                .map(|id| Mutex::new(WorkerStatus::new(id)))
                .collect(),
            worker_config,
            shutdown: CancellationToken::new(),
            metrics,
            fatal: OnceLock::new(),
            oom_kills_seen: std::sync::atomic::AtomicU64::new(cgroup.oom_kills().unwrap_or(0)),
            cgroup,
            web_snapshot: tokio::sync::OnceCell::new(),
            web_snapshot_distrusted: std::sync::atomic::AtomicBool::new(false),
        });
        for id in 0..workers {
            tokio::spawn(slot::drive_slot(id, shared.clone()));
        }
        let max_queue_kib =
            u32::try_from(max_queue_bytes.div_ceil(1024).max(1)).unwrap_or(u32::MAX);
        WorkerPool {
            queue,
            max_queue,
            queue_kib: Arc::new(Semaphore::new(max_queue_kib as usize)),
            max_queue_kib,
            shared,
        }
    }

    /// Queues a job; fails at once when the queue is full.
    pub fn submit(
        &self,
        request: ExecRequest,
        cancel: CancellationToken,
        host: Arc<RunHost>,
    ) -> Result<oneshot::Receiver<JobResult>, PoolError> {
        let bytes = request.code.len() + request.heap.as_ref().map_or(0, Vec::len);
        // A job larger than the whole budget still runs, alone.
        let kib = u32::try_from(bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .min(self.max_queue_kib);
        let Ok(permit) = self.queue_kib.clone().try_acquire_many_owned(kib) else {
            return Err(PoolError::QueueBytesFull {
                max_mib: u64::from(self.max_queue_kib) / 1024,
            });
        };
        let (reply, result) = oneshot::channel();
        let job = Job {
            request,
            cancel,
            reply,
            _bytes: permit,
            host,
        };
        match self.queue.try_send(job) {
            Ok(()) => {
                self.shared
                    .metrics
                    .queue_depth
                    .set(self.queue_depth() as i64);
                Ok(result)
            }
            Err(mpsc::error::TrySendError::Full(_)) => Err(PoolError::QueueFull {
                workers: self.shared.slots.len(),
                queued: self.queue_depth(),
            }),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(PoolError::ShuttingDown),
        }
    }

    /// Jobs waiting for a worker.
    pub fn queue_depth(&self) -> usize {
        self.max_queue - self.queue.capacity()
    }

    /// Capacity of the queue.
    pub fn max_queue(&self) -> usize {
        self.max_queue
    }

    /// A copy of every slot's status.
    pub fn statuses(&self) -> Vec<WorkerStatus> {
        self.shared.slots.iter().map(|s| lock(s).clone()).collect()
    }

    /// Slots whose worker is ready or busy.
    pub fn live_workers(&self) -> usize {
        self.statuses()
            .iter()
            .filter(|s| matches!(s.state, WorkerState::Idle | WorkerState::Busy))
            .count()
    }

    /// The memory cap on the workers, for `/api/status`.
    pub fn cgroup_status(&self) -> CgroupStatus {
        self.shared.cgroup.status()
    }

    /// Removes the workers' cgroup; call after [`WorkerPool::shutdown`].
    pub fn cleanup_cgroup(&self) {
        self.shared.cgroup.cleanup();
    }

    /// Waits until one worker is ready, a fatal start-up error is known, or
    /// the timeout passes.
    pub async fn wait_first_ready(&self, timeout: Duration) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(fatal) = self.shared.fatal.get() {
                return Err(fatal.clone());
            }
            if self.live_workers() > 0 {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!("no worker became ready within {timeout:?}"));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops taking jobs, asks every worker to exit and waits for the slots.
    pub async fn shutdown(&self, timeout: Duration) {
        self.shared.shutdown.cancel();
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            let running = self.statuses().iter().filter(|s| s.pid.is_some()).count();
            if running == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl PoolShared {
    /// Refines the class of a worker that died of a SIGKILL we did not send:
    /// if the cgroup's OOM-kill counter moved, the memory cap killed it.
    fn refine_exit(&self, class: ExitClass) -> ExitClass {
        if class != ExitClass::Signal {
            return class;
        }
        let Some(now) = self.cgroup.oom_kills() else {
            return class;
        };
        let before = self
            .oom_kills_seen
            .swap(now, std::sync::atomic::Ordering::Relaxed);
        if now > before {
            ExitClass::MemoryCap
        } else {
            class
        }
    }
}

/// Locks a status mutex, recovering from poisoning (a panicked holder
/// cannot leave a status half-written in a way that matters).
fn lock(m: &Mutex<WorkerStatus>) -> std::sync::MutexGuard<'_, WorkerStatus> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
