//! Progress notifications for long runs.
//!
//! When a `tools/call` carries `_meta.progressToken`, a ticker sends
//! `notifications/progress` while the execution is running: `progress` is
//! the elapsed time in milliseconds and `total` the deadline, so a client
//! can draw a bar that fills up to the timeout. The ticker stops when the
//! run ends (its guard is dropped) or the client goes away.

use std::time::{Duration, Instant};

use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::{Peer, RoleServer};
use tokio_util::sync::{CancellationToken, DropGuard};

/// Time between two notifications.
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(500);

/// Stops the ticker when dropped.
pub struct ProgressTicker {
    _stop: DropGuard,
}

impl ProgressTicker {
    /// Starts reporting to `peer` under `token`; `total_ms` is the deadline.
    pub fn start(peer: Peer<RoleServer>, token: ProgressToken, total_ms: u64) -> Self {
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let started = Instant::now();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(
                tokio::time::Instant::now() + PROGRESS_INTERVAL,
                PROGRESS_INTERVAL,
            );
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = stopped.cancelled() => return,
                    _ = ticks.tick() => {}
                }
                let elapsed_ms = started.elapsed().as_millis() as u64;
                let param = ProgressNotificationParam::new(token.clone(), elapsed_ms as f64)
                    .with_total(total_ms as f64)
                    .with_message(format!("running for {:.1} s", elapsed_ms as f64 / 1000.0));
                if let Err(e) = peer.notify_progress(param).await {
                    tracing::debug!("progress notification not delivered, stopping: {e}");
                    return;
                }
            }
        });
        ProgressTicker {
            _stop: stop.drop_guard(),
        }
    }
}
