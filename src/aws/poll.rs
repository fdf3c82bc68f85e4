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

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use tokio::time::Instant;

use super::AwsError;
use super::history::{History, Window};

/// How long past its deadline a wait lets the call in flight finish before it gives up.
pub const CALL_GRACE: Duration = Duration::from_secs(5);

/// How long a look-up that only explains a failure (which half of a wait never happened)
/// may take; without an answer the error says less.
pub const CLOSING_LOOK: Duration = Duration::from_secs(5);

/// How long after its deadline a phase fails at the latest: the call in flight, then the
/// closing look-up (README, "Timeouts").
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

/// What one poll said: done (`Some`), not yet (`None`) — which is also what a throttled
/// call or an id that is not visible yet says — or a real error that ends the wait.
fn answer<T>(polled: Result<Option<T>, AwsError>) -> Result<Option<T>, PollError> {
    match polled {
        Err(e) if e.is_transient() => Ok(None),
        other => other.map_err(PollError::Aws),
    }
}

/// When to ask next, in seconds since the wait began.
///
/// With a window from last time, bisect it until it is one `step` wide, then ask at its
/// end: one or two calls, late by at most a step. Past the window (this time is slower),
/// or with no window at all, ask at intervals that grow with the time already waited
/// (from the schedule's `first`, by a quarter of the elapsed time, up to its `max`).
#[derive(Debug, Clone)]
struct Probes {
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
    fn new(schedule: Schedule, prior: Option<Window>) -> Probes {
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

    fn next(&self) -> f64 {
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

    fn not_yet(&mut self, at: f64) {
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
    fn window(&self, done_at: f64) -> Window {
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
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn not_found() -> AwsError {
        AwsError::local(
            crate::aws::calls::EC2_DESCRIBE_INSTANCES,
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
    async fn a_call_that_never_answers_ends_the_wait_at_its_deadline_plus_the_grace() {
        let start = Instant::now();
        let err = until(Schedule::INSTANCE, Duration::from_secs(30), || {
            std::future::pending::<Result<Option<()>, AwsError>>()
        })
        .await
        .unwrap_err();
        assert!(matches!(err, PollError::Timeout(t) if t == Duration::from_secs(30)));
        assert_eq!(start.elapsed(), Duration::from_secs(30) + CALL_GRACE);

        let history = History::in_memory();
        let start = Instant::now();
        let err = until_learned(
            Schedule::COMMAND,
            &history,
            "k",
            None,
            Duration::from_secs(30),
            std::future::pending::<Result<Option<()>, AwsError>>,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, PollError::Timeout(_)));
        assert_eq!(start.elapsed(), Duration::from_secs(30) + CALL_GRACE);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_call_in_flight_at_the_deadline_may_still_answer_within_the_grace() {
        let value = until(Schedule::INSTANCE, Duration::from_secs(2), || async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            Ok::<_, AwsError>(Some("done"))
        })
        .await
        .unwrap();
        assert_eq!(value, "done");
    }

    #[tokio::test(start_paused = true)]
    async fn a_real_error_ends_the_poll_at_once() {
        let err = until(Schedule::INSTANCE, Duration::from_secs(30), || async {
            Err::<Option<()>, _>(AwsError::local(
                crate::aws::calls::EC2_DESCRIBE_INSTANCES,
                Some("UnauthorizedOperation"),
                "denied",
            ))
        })
        .await
        .unwrap_err();
        assert!(matches!(err, PollError::Aws(e) if e.code() == Some("UnauthorizedOperation")));
    }

    /// Simulates waits for a change at `t` seconds, paced by `prior`: the probe times and
    /// the window learned.
    fn probe(prior: Option<Window>, t: f64) -> (Vec<f64>, Window) {
        let mut p = Probes::new(Schedule::INSTANCE, prior);
        let mut asked = Vec::new();
        loop {
            let at = p.next();
            asked.push(at);
            if at >= t {
                return (asked, p.window(at));
            }
            p.not_yet(at);
        }
    }

    #[test]
    fn a_cold_wait_asks_at_intervals_growing_with_the_time_waited() {
        let (asked, window) = probe(None, 9.5);
        assert_eq!(asked, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.25, 7.8125, 9.765625]);
        assert_eq!(
            window,
            Window {
                lo: 7.8125,
                hi: 9.765625
            }
        );
    }

    #[test]
    fn a_learned_wait_converges_on_the_change_within_a_step_and_two_calls() {
        let t = 9.5;
        let (_, mut window) = probe(None, t);
        let mut calls = Vec::new();
        for _ in 0..8 {
            let (asked, w) = probe(Some(window), t);
            let late = asked.last().unwrap() - t;
            assert!((0.0..=0.25).contains(&late), "late by {late}: {asked:?}");
            calls.push(asked.len());
            window = w;
        }
        // Bisecting the cold window at first; then one or two calls a wait.
        assert!(calls[3..].iter().all(|&n| n <= 2), "{calls:?}");
        assert!(window.hi - t <= 0.2 && window.lo < t, "{window:?}");
    }

    #[test]
    fn a_slower_wait_than_last_time_grows_gently_past_the_window() {
        let prior = Window { lo: 4.9, hi: 5.0 };
        let (asked, window) = probe(Some(prior), 6.0);
        assert_eq!(asked[0], 5.0);
        let late = asked.last().unwrap() - 6.0;
        assert!(late <= 6.0 * 0.15, "late by {late}: {asked:?}");
        assert!(window.lo < 6.0 && window.hi >= 6.0);
    }

    #[test]
    fn a_faster_wait_than_last_time_is_found_out() {
        let mut window = Window { lo: 9.9, hi: 10.0 };
        for _ in 0..40 {
            window = probe(Some(window), 6.0).1;
        }
        assert!(window.hi - 6.0 <= 0.5, "{window:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn until_learned_records_the_window_and_uses_it_next_time() {
        let history = History::in_memory();
        for _ in 0..6 {
            let start = Instant::now();
            let ready_at = start + Duration::from_millis(3_300);
            let calls = AtomicU32::new(0);
            until_learned(
                Schedule::INSTANCE,
                &history,
                "k",
                None,
                Duration::from_secs(60),
                || {
                    calls.fetch_add(1, Ordering::SeqCst);
                    async move { Ok::<_, AwsError>((Instant::now() >= ready_at).then_some(())) }
                },
            )
            .await
            .unwrap();
            let late = start.elapsed().as_secs_f64() - 3.3;
            assert!((0.0..0.75).contains(&late), "late by {late}");
        }
        let w = history.get("k").unwrap();
        assert!(w.lo < 3.3 && w.hi >= 3.3 && w.hi - 3.3 <= 0.1, "{w:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_streaming_wait_asks_at_least_every_max_gap_even_when_it_knows_better() {
        let history = History::in_memory();
        history.put("k", Window { lo: 59.0, hi: 60.0 });
        let start = Instant::now();
        let asked = Mutex::new(Vec::new());
        until_learned(
            Schedule::COMMAND,
            &history,
            "k",
            Some(Duration::from_secs(10)),
            Duration::from_secs(300),
            || {
                let t = start.elapsed().as_secs_f64();
                asked.lock().unwrap().push(t);
                async move { Ok::<_, AwsError>((t >= 60.0).then_some(())) }
            },
        )
        .await
        .unwrap();
        let asked = asked.into_inner().unwrap();
        assert!(
            asked.windows(2).all(|w| w[1] - w[0] <= 10.0 + 1e-9),
            "{asked:?}"
        );
        assert!(*asked.last().unwrap() <= 60.1, "{asked:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn retry_rides_out_throttling() {
        let calls = AtomicU32::new(0);
        let v = retry(|| async {
            if calls.fetch_add(1, Ordering::SeqCst) < 3 {
                Err(AwsError::local(
                    crate::aws::calls::EC2_CREATE_TAGS,
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
