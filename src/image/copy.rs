//! Copies of an image to other regions: started one after another, waited for together,
//! every region reported — the same for a bake's `copy_to` and `promote --copy-to`.

use std::fmt::Display;
use std::time::Duration;

use crate::report::Reporter;

use super::{CopyState, ImageEvent};

/// Copies to each `(region, timeout)` target: `start` starts one copy (or finds one an
/// earlier run started), reports it (`pending` or `reused`) and returns its id; `finish`
/// waits until it is usable. Starts come one at a time, `pace` apart; the waits run
/// together. Every region ends reported `available` or `failed`. Returns what `finish`
/// gave for each copy, in order, or — after all have finished — every failure as
/// `region: error`.
pub async fn copy_all<T, E: Display>(
    targets: &[(String, Duration)],
    pace: Duration,
    reporter: &Reporter,
    start: impl AsyncFn(&str) -> Result<String, E>,
    finish: impl AsyncFn(&str, &str, Duration) -> Result<T, E>,
) -> Result<Vec<T>, Vec<String>> {
    let finish = &finish;
    let mut waits = Vec::new();
    let mut failures = Vec::new();
    for (i, (region, timeout)) in targets.iter().enumerate() {
        if i > 0 && !pace.is_zero() {
            tokio::time::sleep(pace).await;
        }
        match start(region).await {
            Ok(id) => waits.push(async move {
                let result = finish(region, &id, *timeout).await;
                (region, id, result)
            }),
            Err(e) => failures.push(failed(reporter, region, e)),
        }
    }
    let mut done = Vec::new();
    for (region, id, result) in futures_util::future::join_all(waits).await {
        match result {
            Ok(copy) => {
                reporter.emit(ImageEvent::copy(
                    region,
                    CopyState::Available,
                    Some(&id),
                    None,
                ));
                done.push(copy);
            }
            Err(e) => failures.push(failed(reporter, region, e)),
        }
    }
    if failures.is_empty() {
        Ok(done)
    } else {
        Err(failures)
    }
}

/// Reports a failed copy; the failure as the caller's error lists it.
fn failed(reporter: &Reporter, region: &str, e: impl Display) -> String {
    let error = e.to_string();
    let failure = format!("{region}: {error}");
    reporter.emit(ImageEvent::copy(
        region,
        CopyState::Failed,
        None,
        Some(error),
    ));
    failure
}
