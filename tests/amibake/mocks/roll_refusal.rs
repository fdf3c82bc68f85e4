//! `roll` and `rollback` against aws-smithy-mocks clients, the refusals: a busy Auto
//! Scaling group (and `--wait-for-idle`), a stack operation in progress, a stack whose
//! rollback failed, a failed change set, no previous image to go back to, no terminal and
//! no `--yes`, an unknown AMI — each refused before anything changes, with its exit code.
//!
//! Every test runs the public `Roll::run` under paused tokio time against the mocked AWS
//! of `tests/amibake/support/roll_mocks/` and asserts what the user is shown (`Reporter::recorded`).

use crate::support::roll_mocks as rollmocks;

use std::time::Duration;

use amibake::error::{ExitKind, Failure};
use amibake::roll::{Roll, RollError, RollOutcome, Target};
use rollmocks::*;

#[tokio::test(start_paused = true)]
async fn a_scaling_activity_in_progress_refuses_the_roll_with_exit_1() {
    let m = Mocks::new();
    m.world().busy_polls = usize::MAX;
    let reporter = reporter();
    let roll = Roll::new(m.aws(), request(Target::Ami(AMI_B.into())), &reporter);

    let err = roll.run(None).await.expect_err("a busy group is refused");

    assert_eq!(err.kind(), ExitKind::Failed);
    match &err {
        RollError::Busy { what } => assert_eq!(
            what,
            &format!(
                "Auto Scaling group {ASG} has 1 scaling activity in progress (InProgress: Launching a new EC2 instance: i-0123456789abcdef0)"
            )
        ),
        other => panic!("expected Busy, got {other:?}"),
    }
    assert!(err.to_string().contains("--wait-for-idle"), "{err}");
    assert!(
        reporter.recorded().of_kind("start").is_empty(),
        "refused before the roll starts"
    );
    assert_eq!(m.rules.describe_scaling_activities.num_calls(), 1);
    assert_eq!(m.rules.create_change_set.num_calls(), 0, "nothing changed");
    assert_eq!(m.rules.execute_change_set.num_calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn with_wait_for_idle_the_roll_waits_for_the_scaling_activity_then_proceeds() {
    let m = Mocks::new();
    m.world().busy_polls = 3;
    m.world().script = success_script().into();
    let mut req = request(Target::Ami(AMI_B.into()));
    req.wait_for_idle = true;
    let reporter = reporter();
    let roll = Roll::new(m.aws(), req, &reporter);
    let start = tokio::time::Instant::now();

    let outcome = roll.run(None).await.expect("the roll waits, then succeeds");

    // Busy three times (the first check and two polls), idle on the fourth.
    assert_eq!(m.rules.describe_scaling_activities.num_calls(), 4);
    assert_eq!(m.rules.describe_instance_refreshes.num_calls(), 1);
    // Two pauses of the idle schedule (5 s, then 7.5 s, each ±20 %) before the change set.
    assert!(
        start.elapsed() >= Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert!(matches!(outcome, RollOutcome::Rolled { ref to_ami, .. } if to_ami == AMI_B));
    assert_eq!(m.rules.execute_change_set.num_calls(), 1);
    // The wait is shown from its start to the group's being idle, before the roll starts.
    let recorded = reporter.recorded();
    assert_eq!(phases(&recorded)[..3], ["waiting", "idle", "start"]);
    let waiting = recorded.of_kind("waiting")[0];
    assert!(waiting["busy"].as_str().unwrap().contains(ASG), "{waiting}");
}

#[tokio::test(start_paused = true)]
async fn a_stack_operation_in_progress_refuses_the_roll_with_exit_1() {
    let m = Mocks::new();
    m.world().status = "UPDATE_IN_PROGRESS".into();
    let reporter = reporter();
    let roll = Roll::new(m.aws(), request(Target::Ami(AMI_B.into())), &reporter);

    let err = roll.run(None).await.expect_err("a busy stack is refused");

    assert_eq!(err.kind(), ExitKind::Failed);
    assert!(
        matches!(&err, RollError::Busy { what } if what == "stack web is UPDATE_IN_PROGRESS"),
        "{err:?}"
    );
    assert_eq!(m.rules.describe_scaling_activities.num_calls(), 0);
    assert_eq!(m.rules.create_change_set.num_calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_stack_whose_rollback_failed_is_refused_with_the_continue_command() {
    let m = Mocks::new();
    m.world().status = "UPDATE_ROLLBACK_FAILED".into();
    let reporter = reporter();
    let roll = Roll::new(m.aws(), request(Target::Ami(AMI_B.into())), &reporter);

    let err = roll
        .run(None)
        .await
        .expect_err("the stack cannot be updated");

    assert_eq!(err.kind(), ExitKind::Failed);
    assert!(matches!(err, RollError::Unusable { .. }), "{err:?}");
    assert!(
        err.to_string().contains(
            "aws cloudformation continue-update-rollback --stack-name web --region us-east-1"
        ),
        "{err}"
    );
    assert_eq!(m.rules.create_change_set.num_calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_failed_change_set_exits_1_with_its_status_reason_and_is_deleted() {
    let m = Mocks::new();
    {
        let mut w = m.world();
        w.change_set_pending = 2;
        w.change_set_status = "FAILED".into();
        w.change_set_reason = Some(
            "Parameter validation failed: parameter value ami-0bbbbbbbbbbbbbbbb for parameter name ImageId does not exist".into(),
        );
    }
    let reporter = reporter();
    let roll = Roll::new(m.aws(), request(Target::Ami(AMI_B.into())), &reporter);

    let err = roll.run(None).await.expect_err("the change set fails");

    assert_eq!(err.kind(), ExitKind::Failed);
    match &err {
        RollError::ChangeSetFailed { name, reason } => {
            assert_eq!(name, TOKEN);
            assert!(
                reason.starts_with("Parameter validation failed"),
                "{reason}"
            );
        }
        other => panic!("expected ChangeSetFailed, got {other:?}"),
    }
    // Polled through CREATE_IN_PROGRESS twice, then FAILED: no changes were shown.
    assert_eq!(m.rules.describe_change_set.num_calls(), 3);
    assert_eq!(phases(&reporter.recorded()), ["start"]);
    assert_eq!(err.event().to_json()["reason"], *reason_of(&err));
    assert_eq!(m.rules.delete_change_set.num_calls(), 1);
    assert_eq!(m.rules.execute_change_set.num_calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn rollback_without_a_recorded_previous_image_exits_1() {
    let m = Mocks::new();
    let reporter = reporter();
    let roll = Roll::new(m.aws(), request(Target::Previous), &reporter);

    let err = roll.run(None).await.expect_err("nothing to go back to");

    assert_eq!(err.kind(), ExitKind::Failed);
    assert!(matches!(err, RollError::NoPrevious { ref stack } if stack == STACK));
    assert!(
        err.to_string().contains("no previous image recorded"),
        "{err}"
    );
    assert_eq!(m.rules.create_change_set.num_calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn without_a_terminal_and_without_yes_the_roll_refuses_before_any_call_exit_2() {
    let m = Mocks::new();
    let mut req = request(Target::Ami(AMI_B.into()));
    req.yes = false;
    let reporter = reporter();
    let roll = Roll::new(m.aws(), req, &reporter);

    let err = roll.run(None).await.expect_err("cannot ask");

    assert_eq!(err.kind(), ExitKind::Usage);
    assert!(err.to_string().contains("pass --yes"), "{err}");
    assert_eq!(m.rules.describe_stacks.num_calls(), 0);
    assert_eq!(m.rules.describe_images.num_calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_unknown_ami_exits_2_before_the_stack_is_touched() {
    let m = Mocks::new();
    let reporter = reporter();
    let roll = Roll::new(
        m.aws(),
        request(Target::Ami("ami-0000000000deadbee".into())),
        &reporter,
    );

    let err = roll.run(None).await.expect_err("no such AMI");

    assert_eq!(err.kind(), ExitKind::Usage);
    assert!(
        err.to_string()
            .contains("AMI ami-0000000000deadbee does not exist in us-east-1"),
        "{err}"
    );
    assert_eq!(m.rules.describe_stacks.num_calls(), 0);
}
