//! Our own polling and retrying, tuned per phase.
//!
//! The SDK waiters poll no faster than every 15 s. A bake's waits instead ask when the
//! change is due: [`until_learned`] bisects towards the moment the same kind of wait ended
//! last time ([`History`]), so it notices within a fraction of a second for a call or two;
//! with no history it polls on the phase's cold [`Schedule`], at intervals that grow with
//! the time already waited (late by at most about a quarter). Polls tolerate throttling
//! and eventual-consistency errors (an id that is not visible yet) until the phase
//! deadline. All waiting uses tokio's clock, so tests can run it under paused time.
//!
//! A wait ends by its deadline: a call still in flight then gets [`CALL_GRACE`] more to
//! answer and is dropped after that, so behind a connection that stops answering a wait
//! fails at its deadline plus that grace, not when the SDK's own call timeouts give up.
//!
//! Here: the bounds, the cold schedule, [`until`], [`while_in_use`] and [`retry`]; in
//! `learned`, the waits paced by their history.

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use tokio::time::Instant;

use super::AwsError;

/// How long past its deadline a wait lets the call in flight finish before it gives up.
pub const CALL_GRACE: Duration = Duration::from_secs(5);

/// How long a look-up that only explains a failure (which half of a wait never happened)
/// may take; without an answer the error says less.
pub const CLOSING_LOOK: Duration = Duration::from_secs(5);

/// How long after its deadline a phase fails at the latest: the call in flight, then the
/// closing look-up (docs/bake.md, "Timeouts, signals and what is left").
pub const DEADLINE_MARGIN: Duration =
    Duration::from_secs(CALL_GRACE.as_secs() + CLOSING_LOOK.as_secs());

/// `start + timeout`, or far in the future when that is past what the clock holds.
fn deadline_after(start: Instant, timeout: Duration) -> Instant {
    start
        .checked_add(timeout)
        .unwrap_or_else(|| start + Duration::from_secs(100 * 365 * 24 * 3600))
}

/// Runs `call` for at most `limit`; `None` when it did not answer in time.
pub async fn bounded<T>(limit: Duration, call: impl Future<Output = T>) -> Option<T> {
    tokio::time::timeout(limit, call).await.ok()
}

/// Runs one poll's call, dropping it when it has not answered `CALL_GRACE` after the
/// deadline: `None` then.
async fn within_grace<T>(deadline: Instant, call: impl Future<Output = T>) -> Option<T> {
    let cut = deadline.checked_add(CALL_GRACE).unwrap_or(deadline);
    tokio::time::timeout_at(cut, call).await.ok()
}

/// How often a phase polls: starting at `first`, growing by half each time up to `max`,
/// each pause jittered by ±20 % so concurrent bakes do not poll in lockstep.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub first: Duration,
    pub max: Duration,
}

impl Schedule {
    /// Instance state changes: seconds.
    pub const INSTANCE: Schedule = Schedule::new(1_000, 5_000);
    /// SSM agent registration: a few seconds.
    pub const AGENT: Schedule = Schedule::new(2_000, 5_000);
    /// A running command: quick at first (short steps), then every few seconds.
    pub const COMMAND: Schedule = Schedule::new(500, 10_000);
    /// Image creation and copies: minutes, so start at a few seconds.
    pub const IMAGE: Schedule = Schedule::new(2_000, 15_000);

    pub const fn new(first_ms: u64, max_ms: u64) -> Schedule {
        Schedule {
            first: Duration::from_millis(first_ms),
            max: Duration::from_millis(max_ms),
        }
    }

    /// The same shape scaled down (the emulator with no delays needs no long pauses).
    /// The factor comes from the environment: anything but a finite positive number is 1,
    /// and it is at most 10, so the scaled pauses stay seconds.
    pub fn scaled(self, factor: f64) -> Schedule {
        let factor = if factor.is_finite() && factor > 0.0 {
            factor.min(10.0)
        } else {
            1.0
        };
        Schedule {
            first: self.first.mul_f64(factor),
            max: self.max.mul_f64(factor),
        }
    }
}

/// Why a poll stopped without an answer.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Aws(#[from] AwsError),
}

/// Calls `check` on `schedule` until it yields `Some`, a non-transient error, or
/// `timeout` passes.
pub async fn until<T, F, Fut>(
    schedule: Schedule,
    timeout: Duration,
    mut check: F,
) -> Result<T, PollError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, AwsError>>,
{
    let start = Instant::now();
    let deadline = deadline_after(start, timeout);
    let mut interval = schedule.first;
    loop {
        let Some(polled) = within_grace(deadline, check()).await else {
            return Err(PollError::Timeout(timeout));
        };
        if let Some(value) = answer(polled)? {
            return Ok(value);
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(PollError::Timeout(timeout));
        }
        let pause = jitter(interval).min(deadline - now);
        tokio::time::sleep(pause).await;
        interval = (interval.mul_f64(1.5)).min(schedule.max);
    }
}

/// What one poll said: done (`Some`), not yet (`None`) — which is also what a throttled
/// call or an id that is not visible yet says — or a real error that ends the wait.
fn answer<T>(polled: Result<Option<T>, AwsError>) -> Result<Option<T>, PollError> {
    match polled {
        Err(e) if e.is_transient() => Ok(None),
        other => other.map_err(PollError::Aws),
    }
}

/// Repeats a delete while AWS answers `busy_code` (the resource is still in use: a security
/// group whose instance's network interface lingers, a snapshot its just-deregistered image
/// still holds), up to `timeout`. Running out of time is reported under that code.
pub async fn while_in_use<F, Fut>(
    schedule: Schedule,
    timeout: Duration,
    busy_code: &'static str,
    action: &'static str,
    what: &str,
    mut call: F,
) -> Result<(), AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), AwsError>>,
{
    until(schedule, timeout, || {
        let attempt = call();
        async move {
            match attempt.await {
                Ok(()) => Ok(Some(())),
                Err(e) if e.code() == Some(busy_code) => Ok(None),
                Err(e) => Err(e),
            }
        }
    })
    .await
    .map_err(|e| match e {
        PollError::Aws(a) => a,
        PollError::Timeout(after) => AwsError::local(
            action,
            Some(busy_code),
            format!("{what} was still in use after {}s", after.as_secs()),
        ),
    })
}

/// Runs a one-shot call, retrying transient errors with jittered exponential backoff
/// (about a minute in all) before giving up.
pub async fn retry<T, F, Fut>(call: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AwsError>>,
{
    call.retry(
        ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(500))
            .with_max_delay(Duration::from_secs(15))
            .with_max_times(8)
            .with_jitter(),
    )
    // Only "slow down" and "not visible yet": transport failures were already retried by
    // the SDK, and a dead endpoint should fail now, not after a minute more.
    .when(|e| e.is_throttling() || e.is_not_yet_visible())
    .await
}

fn jitter(d: Duration) -> Duration {
    d.mul_f64(0.8 + fastrand::f64() * 0.4)
}

mod learned;

pub use learned::until_learned;

#[cfg(test)]
mod tests;
