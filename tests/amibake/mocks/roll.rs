//! `roll` and `rollback` against aws-smithy-mocks clients: what the emulator cannot
//! produce (issue 5) — an update that rolls back, a rollback that fails, a busy Auto
//! Scaling group, a failed change set, an event stream longer than one page — and every
//! exit code of the library's errors.
//!
//! Every test runs the public `Roll::run` under paused tokio time. The mocked AWS lives in
//! `tests/amibake/support/roll_mocks/`: each test sets the stack, the change set and the script of what
//! CloudFormation reveals after ExecuteChangeSet, then asserts the outcome, the calls
//! that matter (`Rule::num_calls`) and the requests amibake sent; the reporter keeps the
//! events the roll emitted (`Reporter::recorded`), so tests assert on what a user is shown.

use crate::support::roll_mocks as rollmocks;

use std::cell::RefCell;

use amibake::error::{ExitKind, Failure};
use amibake::roll::{Roll, RollError, RollOutcome, Target};
use rollmocks::*;

#[tokio::test(start_paused = true)]
async fn a_completed_update_exits_0_naming_old_and_new_ami_and_launch_template_version() {
    let m = Mocks::new();
    m.world().script = success_script().into();
    let mut req = request(Target::Ami(format!("resolve:ssm:{PARAM_B}")));
    req.rollback_alarms = vec![ALARM.to_string()];
    let reporter = reporter();
    let roll = Roll::new(m.aws(), req, &reporter);

    let outcome = roll.run(None).await.expect("the roll succeeds");

    assert_eq!(
        outcome,
        RollOutcome::Rolled {
            stack: STACK.into(),
            from_ami: AMI_A.into(),
            to_ami: AMI_B.into(),
            from_version: Some("3".into()),
            to_version: Some("4".into()),
        }
    );
    assert_eq!(
        outcome.summary(),
        format!("rolled web: {AMI_A} → {AMI_B} (launch template version 3 → 4)")
    );
    // The SSM parameter was resolved to the concrete id, which was checked to exist.
    assert_eq!(m.rules.get_parameter.num_calls(), 1);
    assert!(m.rules.describe_images.num_calls() >= 1);
    // The change set: the image set, every other parameter as it was (NoEcho too), the
    // previous image recorded, the alarm as a rollback trigger, the token for
    // idempotency and for the events.
    assert_eq!(
        change_set_parameters(&m),
        pairs(&[
            ("ImageId", AMI_B),
            ("InstanceType", "<previous>"),
            ("Subnets", "<previous>"),
            ("DbPassword", "<previous>"),
        ])
    );
    assert_eq!(
        change_set_tags(&m),
        pairs(&[
            ("Team", "platform"),
            ("amibake:image-id", AMI_B),
            ("amibake:previous-image-id", AMI_A),
        ])
    );
    {
        let w = m.world();
        let cs = w.created_change_set.as_ref().unwrap();
        assert_eq!(cs.use_previous_template(), Some(true));
        assert_eq!(cs.template_body(), None);
        assert_eq!(cs.client_token(), Some(TOKEN));
        assert_eq!(cs.change_set_name(), Some(TOKEN));
        assert_eq!(
            cs.change_set_type(),
            Some(&aws_sdk_cloudformation::types::ChangeSetType::Update)
        );
        let rollback = cs
            .rollback_configuration()
            .expect("a rollback configuration");
        assert_eq!(rollback.monitoring_time_in_minutes(), Some(10));
        assert_eq!(w.executed_token.as_deref(), Some(TOKEN));
        // The stack now records both images.
        assert_eq!(w.tags["amibake:previous-image-id"], AMI_A);
        assert_eq!(w.tags["amibake:image-id"], AMI_B);
    }
    assert_eq!(
        rollback_triggers(&m),
        pairs(&[(ALARM, "AWS::CloudWatch::Alarm")])
    );
    assert_eq!(m.rules.execute_change_set.num_calls(), 1);
    assert_eq!(m.rules.delete_change_set.num_calls(), 0);
    // Every event of this roll, once, oldest first.
    assert_eq!(ids(&roll.events()), events_of(&m, TOKEN));
    assert_eq!(roll.events().last().unwrap().status, "UPDATE_COMPLETE");
}

#[tokio::test(start_paused = true)]
async fn a_roll_shows_the_image_then_the_change_set_and_its_changes_then_the_stack_events() {
    let m = Mocks::new();
    m.world().script = success_script().into();
    let reporter = reporter();
    let roll = Roll::new(
        m.aws(),
        request(Target::Ami(format!("resolve:ssm:{PARAM_B}"))),
        &reporter,
    );

    roll.run(None).await.expect("the roll succeeds");

    let recorded = reporter.recorded();
    assert_eq!(
        phases(&recorded),
        ["resolved", "start", "change_set", "change", "stack_event"]
    );
    assert_eq!(recorded.of_kind("resolved")[0]["ami"], AMI_B);
    let start = recorded.of_kind("start")[0];
    assert_eq!(
        (&start["from_ami"], &start["to_ami"], &start["change_set"]),
        (&AMI_A.into(), &AMI_B.into(), &TOKEN.into())
    );
    assert_eq!(recorded.of_kind("change_set")[0]["changes"], 2);
    assert_eq!(
        emitted_changes(&recorded),
        ["LaunchTemplate", "AutoScalingGroup"]
    );
    assert_eq!(emitted_stack_events(&recorded), events_of(&m, TOKEN));
    // The library leaves `done` to the command line, which adds the region.
    assert!(recorded.of_kind("done").is_empty());
}

#[tokio::test(start_paused = true)]
async fn update_rollback_complete_exits_1_with_the_first_failure_reason() {
    let m = Mocks::new();
    m.world().script = rollback_script(true).into();
    let reporter = reporter();
    let roll = Roll::new(m.aws(), request(Target::Ami(AMI_B.into())), &reporter);

    let err = roll.run(None).await.expect_err("the update rolls back");

    assert_eq!(err.kind(), ExitKind::Failed);
    match &err {
        RollError::RolledBack { stack, ami, reason } => {
            assert_eq!(stack, STACK);
            assert_eq!(ami, AMI_A, "the stack is back on the old image");
            // The ASG's missing signals, not the cancelled launch template or the
            // stack-level summary that follow it.
            assert_eq!(
                reason,
                "AutoScalingGroup UPDATE_FAILED: Received 0 SUCCESS signal(s) out of 1. Unable to satisfy 100% MinSuccessfulInstancesPercent requirement"
            );
        }
        other => panic!("expected RolledBack, got {other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with(&format!("web rolled back to {AMI_A}: ")),
        "{err}"
    );
    assert_eq!(m.world().status, "UPDATE_ROLLBACK_COMPLETE");
    assert_eq!(ids(&roll.events()), events_of(&m, TOKEN));
    // The user saw every stack event of the update and of its rollback, and the roll
    // ended on them: no `done`.
    let recorded = reporter.recorded();
    assert_eq!(emitted_stack_events(&recorded), events_of(&m, TOKEN));
    assert_eq!(
        recorded.kinds().last().map(String::as_str),
        Some("stack_event")
    );
    assert!(recorded.of_kind("done").is_empty());
    assert_eq!(
        recorded.of_kind("stack_event").last().unwrap()["status"],
        "UPDATE_ROLLBACK_COMPLETE"
    );
    // The error event tells a script which image the stack is on, and why.
    let error = err.event().to_json();
    assert_eq!(error["event"], "error");
    assert_eq!(error["exit_code"], 1);
    assert_eq!(error["ami"], AMI_A);
    assert_eq!(error["reason"], *reason_of(&err));
}

#[tokio::test(start_paused = true)]
async fn update_rollback_failed_exits_1_naming_the_resources_and_the_continue_command() {
    let m = Mocks::new();
    m.world().script = rollback_script(false).into();
    let reporter = reporter();
    let roll = Roll::new(m.aws(), request(Target::Ami(AMI_B.into())), &reporter);

    let err = roll.run(None).await.expect_err("the rollback fails");

    assert_eq!(err.kind(), ExitKind::Failed);
    match &err {
        RollError::RollbackFailed {
            stack,
            resources,
            reason,
            command,
        } => {
            assert_eq!(stack, STACK);
            // Only the ASG failed during the rollback (the launch template failed
            // before it, as cancelled, and rolled back fine).
            assert_eq!(resources, &["AutoScalingGroup".to_string()]);
            assert!(reason.contains("Received 0 SUCCESS signal(s)"), "{reason}");
            assert_eq!(
                command,
                "aws cloudformation continue-update-rollback --stack-name web --region us-east-1"
            );
        }
        other => panic!("expected RollbackFailed, got {other:?}"),
    }
    // The error event names what to fix and how to go on, for a script.
    let error = err.event().to_json();
    assert_eq!(error["resources"], serde_json::json!(["AutoScalingGroup"]));
    assert_eq!(error["reason"], *reason_of(&err));
    assert_eq!(
        error["command"],
        "aws cloudformation continue-update-rollback --stack-name web --region us-east-1"
    );
    assert!(reporter.recorded().of_kind("done").is_empty());
    let text = err.to_string();
    assert!(
        text.contains("could not restore AutoScalingGroup")
            && text.ends_with(
                "\n  aws cloudformation continue-update-rollback --stack-name web --region us-east-1"
            ),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_change_set_without_changes_means_already_on_the_ami_exit_0() {
    let m = Mocks::new();
    {
        let mut w = m.world();
        w.change_set_status = "FAILED".into();
        w.change_set_reason = Some("The submitted information didn't contain changes. Submit different information to create a change set.".into());
        w.changes.clear();
    }
    let reporter = reporter();
    let roll = Roll::new(m.aws(), request(Target::Ami(AMI_A.into())), &reporter);

    let outcome = roll.run(None).await.expect("nothing to do is fine");

    assert_eq!(
        outcome,
        RollOutcome::AlreadyOn {
            stack: STACK.into(),
            ami: AMI_A.into()
        }
    );
    assert_eq!(
        outcome.summary(),
        format!("web is already on {AMI_A}: nothing to do")
    );
    // Rolling onto the image the stack runs keeps the recorded previous image.
    assert!(
        change_set_tags(&m).is_empty(),
        "the stack's tags are left alone"
    );
    assert_eq!(m.rules.delete_change_set.num_calls(), 1);
    assert_eq!(m.rules.execute_change_set.num_calls(), 0);
    // The roll starts on the image the stack runs, finds nothing to change, and
    // shows no changes and no stack events.
    let recorded = reporter.recorded();
    assert_eq!(recorded.kinds(), ["start"]);
    let start = recorded.of_kind("start")[0];
    assert_eq!(start["from_ami"], start["to_ami"]);
}

#[tokio::test(start_paused = true)]
async fn an_event_stream_longer_than_one_page_shows_only_this_rolls_events_each_once() {
    let m = Mocks::new();
    {
        let mut w = m.world();
        w.page_size = 2;
        // An earlier roll's events: before the mark, never read back.
        w.history(7);
        let mut script = success_script();
        // Events of another operation among this roll's (they must not show).
        script[0].foreign = vec![("Other", "AWS::SNS::Topic", "UPDATE_COMPLETE", "")];
        script[1].foreign = vec![
            ("Other", "AWS::SNS::Topic", "UPDATE_IN_PROGRESS", ""),
            ("Other", "AWS::SNS::Topic", "UPDATE_FAILED", "not this roll"),
        ];
        // Three events in one poll: more than a page.
        script[1]
            .events
            .push(("Extra", "AWS::EC2::SecurityGroup", "UPDATE_COMPLETE", ""));
        w.script = script.into();
    }
    let reporter = reporter();
    let roll = Roll::new(m.aws(), request(Target::Ami(AMI_B.into())), &reporter);

    let outcome = roll.run(None).await.expect("the roll succeeds");
    assert!(matches!(outcome, RollOutcome::Rolled { .. }));

    let shown = roll.events();
    let expected = events_of(&m, TOKEN);
    assert_eq!(expected.len(), 8, "User Initiated + 3 + 3 + 1");
    assert_eq!(
        ids(&shown),
        expected,
        "each of this roll's events, once, oldest first"
    );
    assert!(
        shown.iter().all(|e| e.token.as_deref() == Some(TOKEN)),
        "only this token's events"
    );
    assert!(!shown.iter().any(|e| e.logical_id == "Other"));
    assert_eq!(shown.last().unwrap().status, "UPDATE_COMPLETE");
    // What the user saw is the same: this roll's events, each once, oldest first.
    assert_eq!(emitted_stack_events(&reporter.recorded()), expected);
    // Pages were followed: more DescribeStackEvents calls than polls.
    let polls = m.rules.describe_stacks.num_calls();
    assert!(
        m.rules.describe_stack_events.num_calls() > polls,
        "{} DescribeStackEvents for {polls} DescribeStacks",
        m.rules.describe_stack_events.num_calls()
    );
}

#[tokio::test(start_paused = true)]
async fn rollback_goes_back_to_the_recorded_previous_image() {
    let m = Mocks::new();
    {
        let mut w = m.world();
        w.parameters[0].1 = AMI_B.into();
        w.tags.insert("amibake:image-id".into(), AMI_B.into());
        w.tags
            .insert("amibake:previous-image-id".into(), AMI_A.into());
        w.script = success_script().into();
    }
    let reporter = reporter();
    let roll = Roll::new(m.aws(), request(Target::Previous), &reporter);

    let outcome = roll.run(None).await.expect("the rollback succeeds");

    assert_eq!(
        outcome,
        RollOutcome::Rolled {
            stack: STACK.into(),
            from_ami: AMI_B.into(),
            to_ami: AMI_A.into(),
            from_version: Some("3".into()),
            to_version: Some("4".into()),
        }
    );
    assert_eq!(
        change_set_parameters(&m)[0],
        ("ImageId".to_string(), AMI_A.to_string())
    );
    // The record turns around: a second rollback would go forward again.
    assert_eq!(
        change_set_tags(&m),
        pairs(&[
            ("Team", "platform"),
            ("amibake:image-id", AMI_A),
            ("amibake:previous-image-id", AMI_B),
        ])
    );
}

#[tokio::test(start_paused = true)]
async fn plan_shows_the_changes_deletes_the_change_set_and_executes_nothing() {
    let m = Mocks::new();
    let mut req = request(Target::Ami(AMI_B.into()));
    req.yes = false;
    req.plan = true;
    let reporter = reporter();
    let roll = Roll::new(m.aws(), req, &reporter);

    let outcome = roll.run(None).await.expect("a plan needs no terminal");

    match outcome {
        RollOutcome::Planned { ami, changes, .. } => {
            assert_eq!(ami, AMI_B);
            let shown: Vec<_> = changes
                .iter()
                .map(|c| {
                    (
                        c.logical_id.as_str(),
                        c.action.as_str(),
                        c.replacement.as_deref(),
                    )
                })
                .collect();
            assert_eq!(
                shown,
                [
                    ("LaunchTemplate", "Modify", Some("False")),
                    ("AutoScalingGroup", "Modify", Some("Conditional")),
                ]
            );
        }
        other => panic!("expected Planned, got {other:?}"),
    }
    assert_eq!(m.rules.delete_change_set.num_calls(), 1);
    assert_eq!(m.rules.execute_change_set.num_calls(), 0);
    // The changes are shown; no stack event follows (nothing was executed).
    let recorded = reporter.recorded();
    assert_eq!(phases(&recorded), ["start", "change_set", "change"]);
    assert_eq!(
        emitted_changes(&recorded),
        ["LaunchTemplate", "AutoScalingGroup"]
    );
}

#[tokio::test(start_paused = true)]
async fn declining_at_the_prompt_deletes_the_change_set_and_exits_1() {
    let m = Mocks::new();
    let mut req = request(Target::Ami(AMI_B.into()));
    req.yes = false;
    let reporter = reporter();
    let roll = Roll::new(m.aws(), req, &reporter);
    let asked = RefCell::new(Vec::new());
    let no = |q: &str| {
        asked.borrow_mut().push(q.to_string());
        false
    };

    let err = roll.run(Some(&no)).await.expect_err("declined");

    assert_eq!(err.kind(), ExitKind::Failed);
    assert!(matches!(err, RollError::Declined(_)), "{err:?}");
    assert_eq!(
        *asked.borrow(),
        [format!(
            "execute change set {TOKEN}: roll web from {AMI_A} to {AMI_B} (2 change(s))?"
        )]
    );
    assert_eq!(m.rules.delete_change_set.num_calls(), 1);
    assert_eq!(m.rules.execute_change_set.num_calls(), 0);
    // The changes were shown before the question; nothing ran after it.
    assert_eq!(
        phases(&reporter.recorded()),
        ["start", "change_set", "change"]
    );
}
