use super::learned::Probes;
use super::*;
use crate::aws::history::{History, Window};
use std::sync::Mutex;
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
            "ec2:DescribeInstances",
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
