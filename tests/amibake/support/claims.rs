//! Regions of the shared emulator claimed by the running tests: the tests of every module
//! share one emulator and run concurrently, and its knobs are per region.

use super::emulator::http;

/// Regions claimed by running tests: a test that sets a region's knobs holds it until
/// the test's thread ends (libtest runs each test on a thread of its own).
static CLAIMED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
static RELEASED: std::sync::Condvar = std::sync::Condvar::new();

/// The regions this test's thread holds; dropped (released) when the thread ends.
struct Held(std::cell::RefCell<Vec<String>>);

impl Drop for Held {
    fn drop(&mut self) {
        let mut claimed = CLAIMED.lock().unwrap_or_else(|e| e.into_inner());
        claimed.retain(|r| !self.0.borrow().contains(r));
        RELEASED.notify_all();
    }
}

thread_local! {
    static HELD: Held = const { Held(std::cell::RefCell::new(Vec::new())) };
}

/// Claims `region` for the calling test until it ends, waiting while another test holds
/// it. Tests that claim two regions must take them in the same order as any other test
/// that claims both; a cycle fails the waiting test after 15 minutes, naming the region.
pub fn claim(region: &str) {
    if HELD.with(|h| h.0.borrow().iter().any(|r| r == region)) {
        return;
    }
    let (alone, holds_any) = HELD.with(|h| {
        let held = h.0.borrow();
        (held.iter().any(|r| r == ALONE), !held.is_empty())
    });
    let mut claimed = CLAIMED.lock().unwrap_or_else(|e| e.into_inner());
    // A test waiting to run alone holds back new tests, not the next region of one that
    // already runs (which would wait for it in turn).
    claimed = wait_while(claimed, region, |claimed| {
        !alone
            && claimed
                .iter()
                .any(|r| r == region || r == ALONE || (r == WANTS_ALONE && !holds_any))
    });
    claimed.push(region.to_string());
    drop(claimed);
    HELD.with(|h| h.0.borrow_mut().push(region.to_string()));
    // Knobs and counts outlive the test that set them: the region starts from the defaults
    // and from no requests.
    let body = serde_json::json!({ "region": region, "reset": true });
    let (status, text) = http("POST", "/_amibake/config", &body.to_string());
    assert_eq!(status, 200, "emulator config reset rejected: {text}");
    reset_stats(region);
}

/// Zeroes the emulator's counts of `region` (which the calling test claims): what it
/// counts from now on is the test's.
pub fn reset_stats(region: &str) {
    claim(region);
    let body = serde_json::json!({ "region": region });
    let (status, text) = http("POST", "/_amibake/stats/reset", &body.to_string());
    assert_eq!(status, 200, "emulator stats reset rejected: {text}");
}

/// Held by a test that runs alone against the emulator; wanted by one waiting to.
const ALONE: &str = "*";
const WANTS_ALONE: &str = "*wanted";

/// Claims the whole emulator for the calling test until it ends: new claims wait, then
/// this waits for the running ones to end. For a test whose assertion timing under load
/// would bend (request pacing measured against the emulator's buckets). Call it first,
/// before any other claim.
pub fn claim_alone() {
    let mut claimed = CLAIMED.lock().unwrap_or_else(|e| e.into_inner());
    claimed.push(WANTS_ALONE.to_string());
    claimed = wait_while(claimed, "every region", |claimed| {
        claimed.iter().any(|r| r != WANTS_ALONE)
    });
    if let Some(i) = claimed.iter().position(|r| r == WANTS_ALONE) {
        claimed.remove(i);
    }
    claimed.push(ALONE.to_string());
    drop(claimed);
    HELD.with(|h| h.0.borrow_mut().push(ALONE.to_string()));
}

/// Waits (at most 15 minutes, then fails naming `what`) while `busy` holds.
fn wait_while<'a>(
    mut claimed: std::sync::MutexGuard<'a, Vec<String>>,
    what: &str,
    busy: impl Fn(&[String]) -> bool,
) -> std::sync::MutexGuard<'a, Vec<String>> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(900);
    while busy(&claimed) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        assert!(
            !left.is_zero(),
            "{what} held by another test for 15 minutes: two tests claim the same \
             regions in opposite orders"
        );
        claimed = RELEASED
            .wait_timeout(claimed, left)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
    claimed
}
