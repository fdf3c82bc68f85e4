//! Waits paced by what the same kind of wait took last time: [`until_learned`] bisects the
//! window the history holds (a call or two, late by at most a step) and records the new one.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::{PollError, Schedule, answer, deadline_after, within_grace};
use crate::aws::AwsError;
use crate::aws::history::{History, Window};

/// Like [`until`], but paced by what the same kind of wait (`key`) took before, and
/// recording what this one took. The first call comes when the change is due, not at once.
/// `max_gap` bounds the pause between two calls whatever the history says: a wait that
/// streams output (a step) keeps showing it.
pub async fn until_learned<T, F, Fut>(
    schedule: Schedule,
    history: &History,
    key: &str,
    max_gap: Option<Duration>,
    timeout: Duration,
    mut check: F,
) -> Result<T, PollError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, AwsError>>,
{
    let start = Instant::now();
    let deadline = deadline_after(start, timeout);
    let mut probes = Probes::new(schedule, history.get(key));
    let mut last = 0.0_f64;
    loop {
        let mut next = probes.next();
        if let Some(gap) = max_gap {
            next = next.min(last + gap.as_secs_f64());
        }
        // A window the history held is checked when read; past a `Duration`, ask at the deadline.
        let at = start + Duration::try_from_secs_f64(next).unwrap_or(timeout);
        tokio::time::sleep_until(at.min(deadline)).await;
        let sent = start.elapsed().as_secs_f64();
        last = sent;
        let Some(polled) = within_grace(deadline, check()).await else {
            return Err(PollError::Timeout(timeout));
        };
        if let Some(value) = answer(polled)? {
            history.put(key, probes.window(sent));
            return Ok(value);
        }
        probes.not_yet(sent);
        if Instant::now() >= deadline {
            return Err(PollError::Timeout(timeout));
        }
    }
}

/// When to ask next, in seconds since the wait began.
///
/// With a window from last time, bisect it until it is one `step` wide, then ask at its
/// end: one or two calls, late by at most a step. Past the window (this time is slower),
/// or with no window at all, ask at intervals that grow with the time already waited
/// (from the schedule's `first`, by a quarter of the elapsed time, up to its `max`).
#[derive(Debug, Clone)]
pub(super) struct Probes {
    schedule: Schedule,
    prior: Option<Window>,
    /// The change is known to come after `lo` (the last "not yet") ...
    lo: f64,
    /// ... and expected by `hi`, while this wait is still inside last time's window.
    hi: Option<f64>,
    /// Whether any probe said "not yet".
    missed: bool,
    /// The resolution worth asking at: 2 % of the expected wait, at least 50 ms.
    step: f64,
}

impl Probes {
    pub(super) fn new(schedule: Schedule, prior: Option<Window>) -> Probes {
        let prior = prior.filter(|w| w.hi.is_finite() && w.hi > 0.0 && w.lo >= 0.0 && w.lo < w.hi);
        let step = prior.map_or(0.05, |w| (w.hi * 0.02).max(0.05));
        Probes {
            schedule,
            prior,
            lo: prior.map_or(0.0, |w| w.lo),
            hi: prior.map(|w| w.hi),
            missed: false,
            step,
        }
    }

    pub(super) fn next(&self) -> f64 {
        match self.hi {
            Some(hi) if hi - self.lo > self.step => (self.lo + hi) / 2.0,
            Some(hi) => hi,
            None if !self.missed && self.prior.is_none() => self.schedule.first.as_secs_f64(),
            None => {
                let first = self.schedule.first.as_secs_f64();
                let grow = if self.prior.is_some() { 0.15 } else { 0.25 };
                let interval = (self.lo * grow)
                    .max(if self.prior.is_some() {
                        self.step
                    } else {
                        first
                    })
                    .min(self.schedule.max.as_secs_f64());
                self.lo + interval
            }
        }
    }

    pub(super) fn not_yet(&mut self, at: f64) {
        self.missed = true;
        self.lo = self.lo.max(at);
        if self.hi.is_some_and(|hi| self.lo >= hi) {
            // Slower than last time: grow from here.
            self.hi = None;
        }
    }

    /// What to remember: after the last "not yet" by the first "done". When the first
    /// probe was already done, the lower bound is last time's, a step lower, so a wait that
    /// got faster is found out over the next runs.
    pub(super) fn window(&self, done_at: f64) -> Window {
        let lo = if self.missed {
            self.lo
        } else {
            self.prior.map_or(0.0, |w| (w.lo - self.step).max(0.0))
        };
        Window {
            lo: lo.min(done_at),
            hi: done_at,
        }
    }
}
