//! `--on-error keep`, read from the plan the bake walks: after a failure its cleanup
//! leaves the builder for debugging; without one it terminates what runs, as always.

use crate::support::bake_mocks as mocks;

use amibake::bake::BakeError;
use amibake::plan::{OnError, Overrides};
use mocks::*;

/// A bake planned with `--on-error keep` whose builder never leaves `pending` (the ready
/// phase times out), then cleaned up as after a failure or not (`failed`): the mocks,
/// whether the cleanup left nothing, and the journal.
async fn kept_bake(failed: bool) -> (Mocks, bool, Vec<serde_json::Value>) {
    let m = Mocks::new();
    m.world().stuck_pending.insert(BUILDER.into());
    let dir = tempfile::tempdir().unwrap();
    let reporter = reporter();
    let keep = Overrides {
        on_error: OnError::Keep,
        ..Overrides::default()
    };
    let bake = bake_with(m.aws(), ONE_STEP, &reporter, dir.path(), &keep).await;
    // The ready phase's timeout, not any failure: a panicking mock rule also ends the
    // bake with an error (BakeError::Panicked), which must not pass for this one.
    match bake.run().await {
        Err(BakeError::Timeout { phase, .. }) if phase == "ready" => {}
        other => panic!("expected the ready phase to time out, got {other:?}"),
    }
    let clean = bake.cleanup(failed).await;
    (m, clean, journal(dir.path()))
}

#[tokio::test(start_paused = true)]
async fn after_a_failure_the_plans_keep_leaves_the_builder_and_the_journal_not_clean() {
    let (m, clean, journal) = kept_bake(true).await;

    assert!(!clean, "what was kept is left");
    assert_eq!(m.ec2(HOME).terminate_builder.num_calls(), 0);
    assert_eq!(m.world().instances[BUILDER], "pending");
    assert!(
        journal.iter().any(|l| l["event"] == "kept"),
        "the journal records what was kept: {journal:?}"
    );
    assert!(
        !journal.iter().any(|l| l["event"] == "clean"),
        "{journal:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn without_a_failure_the_cleanup_terminates_what_runs_even_with_keep() {
    let (m, _, _) = kept_bake(false).await;

    assert_eq!(m.ec2(HOME).terminate_builder.num_calls(), 1);
}
