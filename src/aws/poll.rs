//! Our own polling and retrying, tuned per phase.
//!
//! The SDK waiters poll no faster than every 15 s; a bake notices state changes within a
//! second or two instead, backing off as a phase drags on. Polls tolerate throttling and
//! eventual-consistency errors (an id that is not visible yet) until the phase deadline.
//! All waiting uses tokio's clock, so tests can run it under paused time.

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use tokio::time::Instant;

use super::AwsError;

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
    pub const COMMAND: Schedule = Schedule::new(1_000, 4_000);
    /// Image creation and copies: minutes, so start at a few seconds.
    pub const IMAGE: Schedule = Schedule::new(3_000, 15_000);

    pub const fn new(first_ms: u64, max_ms: u64) -> Schedule {
        Schedule {
            first: Duration::from_millis(first_ms),
            max: Duration::from_millis(max_ms),
        }
    }

    /// The same shape scaled down (the emulator with no delays needs no long pauses).
    pub fn scaled(self, factor: f64) -> Schedule {
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
    let deadline = start + timeout;
    let mut interval = schedule.first;
    loop {
        match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(e) if e.is_transient() => {
                // Not visible yet or throttled: the next poll will tell.
            }
            Err(e) => return Err(PollError::Aws(e)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn not_found() -> AwsError {
        AwsError::local(
            "ec2:DescribeInstances",
            Some("InvalidInstanceID.NotFound"),
            "not found",
        )
    }

    #[tokio::test(start_paused = true)]
    async fn polls_through_not_yet_visible_errors_until_ready() {
        let calls = AtomicU32::new(0);
        let value = until(Schedule::INSTANCE, Duration::from_secs(60), || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 => Err(not_found()),
                1 => Ok(None),
                _ => Ok(Some("running")),
            }
        })
        .await
        .unwrap();
        assert_eq!(value, "running");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn stops_at_the_deadline() {
        let start = Instant::now();
        let err = until(Schedule::INSTANCE, Duration::from_secs(30), || async {
            Ok::<Option<()>, AwsError>(None)
        })
        .await
        .unwrap_err();
        assert!(matches!(err, PollError::Timeout(_)));
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(30) && waited < Duration::from_secs(31),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_real_error_ends_the_poll_at_once() {
        let err = until(Schedule::INSTANCE, Duration::from_secs(30), || async {
            Err::<Option<()>, _>(AwsError::local(
                "ec2:DescribeInstances",
                Some("UnauthorizedOperation"),
                "denied",
            ))
        })
        .await
        .unwrap_err();
        assert!(matches!(err, PollError::Aws(e) if e.code() == Some("UnauthorizedOperation")));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_rides_out_throttling() {
        let calls = AtomicU32::new(0);
        let v = retry(|| async {
            if calls.fetch_add(1, Ordering::SeqCst) < 3 {
                Err(AwsError::local(
                    "ec2:CreateTags",
                    Some("RequestLimitExceeded"),
                    "slow down",
                ))
            } else {
                Ok(7)
            }
        })
        .await
        .unwrap();
        assert_eq!(v, 7);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }
}
