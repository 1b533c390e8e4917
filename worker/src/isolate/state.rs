//! Per-run state that native callbacks reach through the isolate slot:
//! captured console output, the timer queue, unhandled rejections, the
//! run's clock origin, console group depth and open compression codecs.
//!
//! Exactly one [`RunState`] sits in the slot of the isolate that is running;
//! callbacks find it with `scope.get_slot_mut::<RunState>()`. It holds V8
//! `Global`s, so it is removed from the slot (and dropped) before the
//! isolate is snapshotted or dropped.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime};

use std::sync::Arc;

use mcp_v8_shared::{LogLevel, OutputLine};

use super::host::HostCalls;
use super::limits::AllocBudget;
use super::modules::ModuleMap;

/// Most timers one run may have pending at once; a script that creates
/// more gets a RangeError instead of growing worker memory without bound.
pub(crate) const MAX_PENDING_TIMERS: usize = 100_000;

/// One pending `setTimeout`/`setInterval`.
pub(crate) struct Timer {
    /// The id returned to the script.
    pub(crate) id: u32,
    /// The function to call.
    pub(crate) callback: v8::Global<v8::Function>,
    /// Extra arguments passed to the callback.
    pub(crate) args: Vec<v8::Global<v8::Value>>,
    /// For intervals, the period; `None` for a one-shot timeout.
    pub(crate) repeat: Option<Duration>,
    /// A weak timer does not keep the run alive.
    pub(crate) weak: bool,
}

/// Timers ordered by due time, then by insertion.
#[derive(Default)]
pub(crate) struct TimerQueue {
    /// (due, sequence number) -> timer.
    by_due: BTreeMap<(Instant, u64), Timer>,
    /// Timer id -> its key in `by_due`, for clearTimeout.
    keys: HashMap<u32, (Instant, u64)>,
    /// Next insertion sequence number.
    next_seq: u64,
    /// Next timer id handed out (ids start at 1, like browsers).
    next_id: u32,
    /// Pending weak timers.
    weak: usize,
}

impl TimerQueue {
    /// Number of pending timers.
    pub(crate) fn len(&self) -> usize {
        self.by_due.len()
    }

    /// Allocates a fresh timer id.
    pub(crate) fn new_id(&mut self) -> u32 {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.next_id
    }

    /// Queues `timer` to fire at `due`.
    pub(crate) fn insert(&mut self, due: Instant, timer: Timer) {
        let key = (due, self.next_seq);
        self.next_seq += 1;
        self.keys.insert(timer.id, key);
        self.weak += usize::from(timer.weak);
        self.by_due.insert(key, timer);
    }

    /// Removes the timer with this id, if pending.
    pub(crate) fn cancel(&mut self, id: u32) {
        if let Some(key) = self.keys.remove(&id) {
            if let Some(timer) = self.by_due.remove(&key) {
                self.weak -= usize::from(timer.weak);
            }
        }
    }

    /// When the earliest timer is due; `None` when none is left, or only
    /// weak timers and `include_weak` is false.
    pub(crate) fn next_due(&self, include_weak: bool) -> Option<Instant> {
        if !include_weak && self.weak == self.by_due.len() {
            return None;
        }
        self.by_due.keys().next().map(|(due, _)| *due)
    }

    /// Takes the earliest timer if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        let (&key, _) = self.by_due.iter().next()?;
        if key.0 > now {
            return None;
        }
        let timer = self.by_due.remove(&key)?;
        self.keys.remove(&timer.id);
        self.weak -= usize::from(timer.weak);
        Some(timer)
    }
}

/// Captured console output with its byte cap.
#[derive(Default)]
pub(crate) struct Output {
    /// Lines in call order.
    pub(crate) lines: Vec<OutputLine>,
    /// Bytes of text captured so far.
    pub(crate) bytes: u64,
    /// The cap on `bytes`.
    pub(crate) max_bytes: u64,
    /// Whether something was cut or dropped.
    pub(crate) truncated: bool,
}

impl Output {
    /// Bytes that may still be captured.
    pub(crate) fn remaining(&self) -> u64 {
        self.max_bytes.saturating_sub(self.bytes)
    }

    /// Appends one line, cutting it at the cap (on a char boundary) and
    /// flagging truncation; after that, lines are dropped. Each line costs
    /// its text plus one byte (its newline), so a flood of empty lines is
    /// bounded too.
    pub(crate) fn push(&mut self, level: LogLevel, mut text: String) {
        if self.truncated {
            return;
        }
        let remaining = self.remaining();
        if remaining == 0 {
            self.truncated = true;
            return;
        }
        if text.len() as u64 + 1 > remaining {
            let keep = usize::try_from(remaining - 1).unwrap_or(usize::MAX);
            let mut cut = keep.min(text.len());
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            self.truncated = true;
        }
        self.bytes += text.len() as u64 + 1;
        self.lines.push(OutputLine { level, text });
    }
}

/// A promise that was rejected while nothing handled it.
pub(crate) struct Rejection {
    /// The promise.
    pub(crate) promise: v8::Global<v8::Promise>,
    /// Its rejection value.
    pub(crate) reason: v8::Global<v8::Value>,
}

/// Everything the native callbacks of one run share.
pub(crate) struct RunState {
    /// Console output.
    pub(crate) output: Output,
    /// Pending timers.
    pub(crate) timers: TimerQueue,
    /// Rejected promises without a handler, in rejection order.
    pub(crate) rejections: Vec<Rejection>,
    /// The first exception no script frame could catch (reported by V8's
    /// message listener, e.g. thrown from a `queueMicrotask` callback).
    pub(crate) uncaught: Option<v8::Global<v8::Value>>,
    /// Host calls (fetches, modules) of this run.
    pub(crate) host: HostCalls,
    /// ES modules compiled in this run, by id.
    pub(crate) modules: ModuleMap,
    /// The isolate's ArrayBuffer budget (fetch bodies are checked
    /// against it before they are allocated).
    pub(crate) budget: Option<Arc<AllocBudget>>,
    /// The run's deadline (blocking host calls wait until then at most).
    pub(crate) deadline: Instant,
    /// When the run started (`performance.now()` counts from here).
    pub(crate) started: Instant,
    /// The wall-clock time of `started` (`performance.timeOrigin`).
    pub(crate) started_wall: SystemTime,
    /// Open `console.group`s.
    pub(crate) group: usize,
    /// Open CompressionStream/DecompressionStream codecs.
    pub(crate) codecs: super::web::Codecs,
}

impl RunState {
    /// Fresh state for a run capturing at most `max_output_bytes`, making
    /// host calls through `host`.
    pub(crate) fn new(max_output_bytes: u64, host: HostCalls, deadline: Instant) -> RunState {
        RunState {
            output: Output {
                max_bytes: max_output_bytes,
                ..Output::default()
            },
            timers: TimerQueue::default(),
            rejections: Vec::new(),
            uncaught: None,
            host,
            modules: ModuleMap::default(),
            budget: None,
            deadline,
            started: Instant::now(),
            started_wall: SystemTime::now(),
            group: 0,
            codecs: Default::default(),
        }
    }

    /// Bytes of ArrayBuffer the run may still allocate.
    pub(crate) fn array_buffer_room(&self) -> u64 {
        self.budget.as_ref().map_or(u64::MAX, |b| b.room())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_cut_at_char_boundary_then_dropped() {
        let mut out = Output {
            max_bytes: 8,
            ..Output::default()
        };
        out.push(LogLevel::Log, "abc".into()); // 4 bytes with its newline
        out.push(LogLevel::Warn, "déf".into()); // 4 remain: "dé" (3) + newline
        out.push(LogLevel::Log, "never".into());
        assert!(out.truncated);
        assert_eq!(out.lines.len(), 2);
        assert_eq!(out.lines[1].text, "dé");
        assert_eq!(out.bytes, 8);
    }

    #[test]
    fn output_exactly_at_cap_is_not_truncated() {
        let mut out = Output {
            max_bytes: 4,
            ..Output::default()
        };
        out.push(LogLevel::Log, "abc".into());
        assert!(!out.truncated);
        out.push(LogLevel::Log, String::new());
        assert!(out.truncated);
        assert_eq!(out.lines.len(), 1);
    }
}
