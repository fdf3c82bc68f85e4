//! `--on-error keep`, read from the plan the bake walks: after a failure its cleanup
//! leaves the builder for debugging (and says how to get in); after success it cleans up
//! as always.

use crate::support::bake_mocks as mocks;

use amibake::plan::{OnError, Overrides};
use mocks::*;

/// The plan of a bake that keeps what it made after a failure.
fn keep() -> Overrides {
    Overrides {
        on_error: OnError::Keep,
        ..Overrides::default()
    }
}

#[tokio::test(start_paused = true)]
async fn after_a_failure_the_plans_keep_leaves_the_builder_and_the_journal_not_clean() {
    let m = Mocks::new();
    m.world().stuck_pending.insert(BUILDER.into());
    let dir = tempfile::tempdir().unwrap();
    let reporter = reporter();
    let bake = bake_with(m.aws(), ONE_STEP, &reporter, dir.path(), &keep()).await;

    bake.run().await.expect_err("the ready phase times out");
    let clean = bake.cleanup(true).await;

    assert!(!clean, "what was kept is left");
    assert_eq!(m.ec2(HOME).terminate_builder.num_calls(), 0);
    assert_eq!(m.world().instances[BUILDER], "pending");
    let journal = journal(dir.path());
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
    let m = Mocks::new();
    m.world().stuck_pending.insert(BUILDER.into());
    let dir = tempfile::tempdir().unwrap();
    let reporter = reporter();
    let bake = bake_with(m.aws(), ONE_STEP, &reporter, dir.path(), &keep()).await;

    bake.run().await.expect_err("the ready phase times out");
    // The cleanup of a bake that did not fail terminates what still runs.
    bake.cleanup(false).await;

    assert_eq!(m.ec2(HOME).terminate_builder.num_calls(), 1);
}
