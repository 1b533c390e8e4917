//! The event loop of one run: microtasks, V8's foreground tasks, timers
//! and host-call replies, until nothing is left or the deadline passes.
//!
//! Each turn: run microtasks to completion; stop on an uncaught exception,
//! an unhandled rejection or a rejected result; pump V8's foreground tasks; settle a host
//! reply that is already here; fire the earliest due timer; otherwise
//! wait, never past the deadline: for the next host reply (a blocking read
//! of the IPC socket, after asking the supervisor for a wake-up at the
//! next timer or the deadline, see `host.rs`) when calls are in flight,
//! else by sleeping until the next timer.

use std::time::Instant;

use v8::{Local, Platform, SharedRef, Value};

use super::fetch;
use super::run::{caught, exception_of, terminating, Stop, Tc};
use super::state::{Rejection, RunState};

/// Runs microtasks, platform tasks, timers and host replies until none
/// are left.
pub(crate) fn event_loop(
    tc: &mut Tc,
    result: Option<Local<v8::Promise>>,
    deadline: Instant,
    platform: &SharedRef<Platform>,
) -> Result<(), Stop> {
    loop {
        tc.perform_microtask_checkpoint();
        if terminating(tc) {
            return Err(Stop::Terminated);
        }
        check_uncaught(tc, result)?;
        // A rejected result ends the run at once, as an uncaught exception
        // does: its error is the outcome, and what is still pending
        // (timers, host calls) is dropped with the run.
        if result.is_some_and(|p| p.state() == v8::PromiseState::Rejected) {
            return Ok(());
        }
        let mut pumped = false;
        while Platform::pump_message_loop(platform, tc, false) {
            pumped = true;
            if terminating(tc) {
                return Err(Stop::Terminated);
            }
        }
        if pumped {
            continue;
        }
        // Weak timers (`AbortSignal.timeout`) keep the run alive only
        // while the script's own promise waits.
        let waiting = result.is_some_and(|p| p.state() == v8::PromiseState::Pending);
        let Some(state) = tc.get_slot_mut::<RunState>() else {
            return Ok(());
        };
        let due = state.timers.next_due(waiting);
        let busy = state.host.busy();
        if due.is_none() && !busy {
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Stop::Deadline);
        }
        if due.is_some_and(|due| due <= now) {
            fire_timer(tc, now)?;
            continue;
        }
        let wake = due.map_or(deadline, |due| due.min(deadline));
        if !busy {
            std::thread::sleep(wake - now);
            continue;
        }
        // Settle at most one reply per turn, then run its microtasks.
        match state.host.next_reply(wake) {
            Ok(Some((resolver, answer))) => {
                let resolver = Local::new(tc, &resolver);
                fetch::settle(tc, resolver, answer);
            }
            Ok(None) => {}
            Err(e) => return Err(Stop::Host(e.to_string())),
        }
    }
}

/// Fires the earliest due timer (re-queueing an interval first, so that
/// `clearInterval` inside the callback works).
fn fire_timer(tc: &mut Tc, now: Instant) -> Result<(), Stop> {
    let Some(state) = tc.get_slot_mut::<RunState>() else {
        return Ok(());
    };
    let Some(timer) = state.timers.pop_due(now) else {
        return Ok(());
    };
    if let Some(period) = timer.repeat {
        state.timers.insert(
            now + period,
            super::state::Timer {
                id: timer.id,
                callback: timer.callback.clone(),
                args: timer.args.clone(),
                repeat: timer.repeat,
                weak: timer.weak,
            },
        );
    }
    let callback = Local::new(tc, &timer.callback);
    let args: Vec<Local<Value>> = timer.args.iter().map(|a| Local::new(tc, a)).collect();
    let this = v8::undefined(tc).into();
    if callback.call(tc, this, &args).is_none() {
        return Err(caught(tc));
    }
    Ok(())
}

/// Reports an exception thrown where nothing could catch it (a microtask
/// callback) or a rejection nobody handled, except the result promise,
/// which `execute` reports itself.
fn check_uncaught(tc: &mut Tc, result: Option<Local<v8::Promise>>) -> Result<(), Stop> {
    let Some(state) = tc.get_slot_mut::<RunState>() else {
        return Ok(());
    };
    if let Some(uncaught) = state.uncaught.take() {
        let value = Local::new(tc, &uncaught);
        return Err(Stop::Exception(exception_of(tc, value)));
    }
    let pos = state
        .rejections
        .iter()
        .position(|r| result.is_none_or(|p| r.promise != p));
    let Some(pos) = pos else {
        return Ok(());
    };
    let rejection: Rejection = state.rejections.swap_remove(pos);
    let reason = Local::new(tc, &rejection.reason);
    Err(Stop::Exception(exception_of(tc, reason)))
}
