//! `roll` of a stack whose group is replaced by an instance refresh
//! (`cfn-templates/asg-instance-refresh.yaml`), against aws-smithy-mocks clients: the
//! refresh's progress shown while the update runs, an alarm that fails it and rolls the
//! stack back (exit 1, the alarm named), and what a refresh could not roll back refused
//! before anything changes (exit 2, with the fix).
//!
//! Every test runs the public `Roll::run` under paused tokio time against the mocked AWS
//! of `tests/amibake/support/roll_mocks/` and asserts what the user is shown (`Reporter::recorded`).

use crate::support::roll_mocks as rollmocks;

use amibake::error::{ExitKind, Failure};
use amibake::roll::{Roll, RollError, RollOutcome, Target};
use rollmocks::*;

/// The mocks of a stack on the instance-refresh template; `refreshes` follow two calls
/// that see no refresh (the busy check, and the refreshes before this roll).
fn refresh_stack(refreshes: Vec<RefreshStep>) -> Mocks {
    let m = Mocks::new();
    {
        let mut w = m.world();
        w.template = REFRESH_TEMPLATE.to_string();
        w.refreshes = [None, None]
            .into_iter()
            .chain(refreshes.into_iter().map(Some))
            .collect();
    }
    m
}

#[tokio::test(start_paused = true)]
async fn a_refresh_roll_names_the_policy_and_shows_the_refresh_progressing() {
    let m = refresh_stack(vec![
        ("InProgress", 50, 1, Some("Waiting at checkpoint 50%")),
        ("Baking", 100, 0, None),
        ("Successful", 100, 0, None),
    ]);
    m.world().script = success_script().into();
    let reporter = reporter();
    let roll = Roll::new(m.aws(), request(Target::Ami(AMI_B.into())), &reporter);

    let outcome = roll.run(None).await.expect("the roll succeeds");

    assert!(matches!(outcome, RollOutcome::Rolled { .. }), "{outcome:?}");
    let seen = reporter.recorded();
    let start = seen.of_kind("start");
    assert_eq!(start[0]["policy"], "instance_refresh");
    let refreshes = seen.of_kind("refresh");
    assert!(!refreshes.is_empty(), "{:?}", seen.kinds());
    assert_eq!(refreshes[0]["group"], ASG);
    assert_eq!(refreshes[0]["status"], "InProgress");
    assert_eq!(refreshes[0]["percent_complete"], 50);
    assert_eq!(refreshes[0]["instances_to_update"], 1);
    assert_eq!(refreshes[0]["checkpoints"], serde_json::json!([50, 100]));
    let percents: Vec<i64> = refreshes
        .iter()
        .map(|r| r["percent_complete"].as_i64().unwrap())
        .collect();
    assert!(percents.windows(2).all(|w| w[0] <= w[1]), "{percents:?}");
    assert!(
        seen.text
            .iter()
            .any(|l| l.contains("instance refresh r-1 InProgress, 50% complete, 1 to update")),
        "{:?}",
        seen.text
    );
}

#[tokio::test(start_paused = true)]
async fn an_alarm_that_fails_the_refresh_rolls_the_stack_back_exit_1_naming_the_alarm() {
    // The roll names the alarm; the refresh fails on that alarm, as Auto Scaling says.
    let alarm = "web-5xx";
    assert!(ALARM.ends_with(&format!(":alarm:{alarm}")), "{ALARM}");
    let reason = "The instance refresh failed because alarm web-5xx is in ALARM state";
    let m = refresh_stack(vec![
        ("InProgress", 50, 1, None),
        ("Failed", 50, 1, Some(reason)),
        ("RollbackSuccessful", 100, 0, Some(reason)),
    ]);
    m.world().script = rollback_script(true).into();
    let reporter = reporter();
    let mut req = request(Target::Ami(AMI_B.into()));
    req.rollback_alarms = vec![ALARM.to_string()];
    let roll = Roll::new(m.aws(), req, &reporter);

    let err = roll.run(None).await.expect_err("the refresh fails");

    // The update carried the alarm as its rollback trigger.
    assert_eq!(
        rollback_triggers(&m),
        pairs(&[(ALARM, "AWS::CloudWatch::Alarm")])
    );

    assert_eq!(err.kind(), ExitKind::Failed);
    match &err {
        RollError::RolledBack {
            ami, reason: why, ..
        } => {
            assert_eq!(ami, AMI_A, "the stack is back on the old image");
            assert!(why.contains("instance refresh r-1"), "{why}");
            assert!(
                why.contains(&format!("alarm {alarm} is in ALARM state")),
                "{why}"
            );
        }
        other => panic!("expected RolledBack, got {other:?}"),
    }
    let error = err.event().to_json();
    assert!(error["reason"].as_str().unwrap().contains(alarm), "{error}");
    let statuses: Vec<String> = reporter
        .recorded()
        .of_kind("refresh")
        .iter()
        .map(|r| r["status"].as_str().unwrap().to_string())
        .collect();
    assert!(statuses.contains(&"Failed".to_string()), "{statuses:?}");
}

#[tokio::test(start_paused = true)]
async fn a_floating_launch_template_version_is_refused_before_any_change_exit_2() {
    let m = refresh_stack(vec![]);
    m.world().group_version = "$Latest".into();
    let reporter = reporter();
    let roll = Roll::new(m.aws(), request(Target::Ami(AMI_B.into())), &reporter);

    let err = roll.run(None).await.expect_err("refused");

    assert_eq!(err.kind(), ExitKind::Usage);
    let text = err.to_string();
    assert!(text.contains("cannot roll back"), "{text}");
    assert!(text.contains("$Latest"), "{text}");
    assert!(text.contains("LatestVersionNumber"), "the fix: {text}");
    assert_eq!(m.rules.create_change_set.num_calls(), 0);
    assert_eq!(m.rules.execute_change_set.num_calls(), 0);
    assert!(reporter.recorded().of_kind("start").is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_image_parameter_read_from_ssm_is_refused_before_any_change_exit_2() {
    let m = refresh_stack(vec![]);
    m.world().template = REFRESH_TEMPLATE.replace(
        "  ImageId:\n    Type: AWS::EC2::Image::Id",
        "  ImageId:\n    Type: AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
    );
    let reporter = reporter();
    let roll = Roll::new(m.aws(), request(Target::Ami(AMI_B.into())), &reporter);

    let err = roll.run(None).await.expect_err("refused");

    assert_eq!(err.kind(), ExitKind::Usage);
    let text = err.to_string();
    assert!(text.contains("read from an SSM parameter"), "{text}");
    assert!(text.contains("AWS::EC2::Image::Id"), "the fix: {text}");
    assert_eq!(m.rules.create_change_set.num_calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn plan_on_a_rolling_stack_says_the_rolling_update_acts() {
    let m = Mocks::new();
    let reporter = reporter();
    let mut req = request(Target::Ami(AMI_B.into()));
    req.plan = true;
    let roll = Roll::new(m.aws(), req, &reporter);

    let outcome = roll.run(None).await.expect("plan");

    assert!(
        matches!(outcome, RollOutcome::Planned { .. }),
        "{outcome:?}"
    );
    let seen = reporter.recorded();
    assert_eq!(seen.of_kind("start")[0]["policy"], "rolling_update");
    assert!(
        seen.text
            .iter()
            .any(|l| l.contains("by rolling update (AutoScalingRollingUpdate)")),
        "{:?}",
        seen.text
    );
    assert_eq!(m.rules.execute_change_set.num_calls(), 0);
}
