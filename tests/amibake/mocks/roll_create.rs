//! `roll` of a stack that does not exist yet, against aws-smithy-mocks clients under
//! paused tokio time (see `mocks::roll`): created from the template on the AMI, or, with
//! `--plan`, only said.

use crate::support::roll_mocks::*;

use amibake::roll::{Roll, RollOutcome, Target};

#[tokio::test(start_paused = true)]
async fn a_missing_stack_is_created_from_the_template_on_the_ami() {
    let m = Mocks::new();
    {
        let mut w = m.world();
        w.exists = false;
        w.script = vec![
            step(
                "CREATE_IN_PROGRESS",
                vec![
                    ("LaunchTemplate", LT_TYPE, "CREATE_COMPLETE", ""),
                    ("AutoScalingGroup", ASG_TYPE, "CREATE_IN_PROGRESS", ""),
                ],
            ),
            step(
                "CREATE_COMPLETE",
                vec![
                    ("AutoScalingGroup", ASG_TYPE, "CREATE_COMPLETE", ""),
                    (STACK, STACK_TYPE, "CREATE_COMPLETE", ""),
                ],
            ),
        ]
        .into();
    }
    let mut req = request(Target::Ami(AMI_A.into()));
    req.template = Some(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/cfn-templates/asg-rolling.yaml"
        )
        .into(),
    );
    req.parameters = vec![("VpcId".into(), "vpc-0abc".into())];
    let reporter = reporter();
    let roll = Roll::new(m.aws(), req, &reporter);

    let outcome = roll.run(None).await.expect("the stack is created");

    assert_eq!(
        outcome,
        RollOutcome::Created {
            stack: STACK.into(),
            ami: AMI_A.into(),
            launch_template_version: Some("1".into()),
        }
    );
    let w = m.world();
    assert_eq!(
        w.parameters,
        pairs(&[("VpcId", "vpc-0abc"), ("ImageId", AMI_A)])
    );
    assert_eq!(
        w.tags,
        [("amibake:image-id".to_string(), AMI_A.to_string())].into()
    );
    assert_eq!(
        w.executed_token.as_deref(),
        Some(TOKEN),
        "CreateStack's token"
    );
    drop(w);
    assert_eq!(m.rules.create_stack.num_calls(), 1);
    assert_eq!(m.rules.create_change_set.num_calls(), 0);
    assert_eq!(ids(&roll.events()), events_of(&m, TOKEN));
    // The user saw the creation announced with its parameters, then its stack events.
    let recorded = reporter.recorded();
    assert_eq!(phases(&recorded), ["create", "stack_event"]);
    let create = recorded.of_kind("create")[0];
    assert_eq!(create["plan"], false);
    assert_eq!(create["ami"], AMI_A);
    assert_eq!(
        create["parameters"],
        serde_json::json!({ "VpcId": "vpc-0abc", "ImageId": AMI_A })
    );
    assert_eq!(emitted_stack_events(&recorded), events_of(&m, TOKEN));
}

#[tokio::test(start_paused = true)]
async fn plan_for_a_missing_stack_says_what_would_be_created_and_creates_nothing() {
    let m = Mocks::new();
    m.world().exists = false;
    let mut req = request(Target::Ami(AMI_A.into()));
    req.yes = false;
    req.plan = true;
    req.template = Some(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/cfn-templates/asg-rolling.yaml"
        )
        .into(),
    );
    let reporter = reporter();
    let roll = Roll::new(m.aws(), req, &reporter);

    let outcome = roll.run(None).await.expect("a plan needs no terminal");

    assert!(
        matches!(&outcome, RollOutcome::Planned { new_stack: true, ami, .. } if ami == AMI_A),
        "{outcome:?}"
    );
    assert_eq!(
        outcome.summary(),
        format!("plan only: web would be created on {AMI_A}; nothing was created")
    );
    assert_eq!(m.rules.create_stack.num_calls(), 0);
    assert!(!m.world().exists);
    // The creation is announced as a plan, and nothing follows it.
    let recorded = reporter.recorded();
    assert_eq!(recorded.kinds(), ["create"]);
    assert_eq!(recorded.of_kind("create")[0]["plan"], true);
}
