//! The bake against aws-smithy-mocks clients, from the image on: a copy failing in one
//! region, a failing boot-test check, an interrupt during the boot test, and the boot
//! test launching the instance type the plan shows.
//!
//! Every test runs the public `Bake::run` and `Bake::cleanup` under paused tokio time:
//! polls, backoffs and phase timeouts advance the clock instantly. The mocked AWS lives
//! in `tests/amibake/support/bake_mocks/`; each test puts its own rules in front of the defaults,
//! asserts the calls that matter with `Rule::num_calls` and what the user is shown with
//! `Reporter::recorded`.

use crate::support::bake_mocks as mocks;

use std::sync::Arc;

use amibake::bake::BakeError;
use amibake::error::{ExitKind, Failure};
use aws_sdk_ec2::operation::copy_image::CopyImageError;
use aws_sdk_ec2::types::LaunchPermission;
use aws_smithy_mocks::mock;
use mocks::*;
use tokio::sync::Notify;

#[tokio::test(start_paused = true)]
async fn the_boot_test_launches_the_instance_type_the_plan_shows() {
    let recipe = format!(
        "{ONE_STEP}boot_test:\n  instance_type: m5.large\n  checks:\n    - {{ name: boots, run: \"true\" }}\n"
    );
    let m = Mocks::new();
    let dir = tempfile::tempdir().unwrap();
    let reporter = reporter();
    let bake = bake(m.aws(), &recipe, &reporter, dir.path()).await;
    let planned = bake
        .plan()
        .boot_test
        .as_ref()
        .map(|bt| bt.instance_type.to_string());
    assert_eq!(planned.as_deref(), Some("m5.large"));

    let manifest = bake.run().await.expect("the bake succeeds");
    assert!(bake.cleanup(false).await);

    let types = m.world().instance_types.clone();
    assert_eq!(types[BOOT_TEST], "m5.large", "{types:?}");
    // The check sent is the plan's, to the test instance, with the check's timeout.
    let check = &bake.plan().boot_test.as_ref().unwrap().checks[0];
    assert_sent(
        &m,
        "boot-test check boots",
        BOOT_TEST,
        &check.script.text,
        check.timeout.get().as_secs(),
    );
    assert_eq!(types[BUILDER], "t3.small", "the builder keeps its own type");
    assert!(manifest.boot_test.is_some_and(|bt| bt.passed));
    let checks = reporter.recorded();
    let checks = checks.of_kind("check");
    assert!(
        !checks.is_empty()
            && checks
                .iter()
                .all(|c| c["passed"] == true && c["phase"] == "boot-test"),
        "{checks:?}"
    );
}

/// Once the boot test passed, each image (home and copy) is tagged complete with its
/// snapshot, and shared with the recipe's account: exactly that account, on that image.
#[tokio::test(start_paused = true)]
async fn a_passing_bake_tags_each_image_complete_and_shares_it_with_the_recipes_account() {
    let recipe = format!(
        "{ONE_STEP}  copy_to: [us-west-2]\n  share_with: {{ accounts: [\"{SHARE_ACCOUNT}\"] }}\n\
         boot_test:\n  checks:\n    - {{ name: boots, run: \"true\" }}\n"
    );
    let m = Mocks::new();
    let dir = tempfile::tempdir().unwrap();
    let reporter = reporter();
    let bake = bake(m.aws(), &recipe, &reporter, dir.path()).await;

    bake.run().await.expect("the bake succeeds");
    assert!(bake.cleanup(false).await);

    let w = m.world();
    let mut tagged: Vec<Vec<String>> = w.tagged.iter().map(|r| r.resources().to_vec()).collect();
    tagged.sort();
    let mut want: Vec<Vec<String>> = [HOME, "us-west-2"]
        .iter()
        .map(|r| vec![ami_in(r), snapshot_in(r)])
        .collect();
    want.sort();
    assert_eq!(
        tagged, want,
        "each image and its snapshot tagged complete once"
    );
    let mut shared: Vec<(&str, &[LaunchPermission])> = w
        .shared
        .iter()
        .map(|r| {
            let add = r.launch_permission().map(|p| p.add()).unwrap_or_default();
            (r.image_id().unwrap_or_default(), add)
        })
        .collect();
    shared.sort_by_key(|(image, _)| image.to_string());
    let account = [LaunchPermission::builder().user_id(SHARE_ACCOUNT).build()];
    let (home, copy) = (ami_in(HOME), ami_in("us-west-2"));
    let mut want = [(home.as_str(), &account[..]), (copy.as_str(), &account[..])];
    want.sort_by_key(|(image, _)| image.to_string());
    assert_eq!(
        shared, want,
        "each image shared with the recipe's account alone"
    );
}

#[tokio::test(start_paused = true)]
async fn copy_image_failing_in_one_region_fails_the_bake_after_the_other_copies_and_cleanup_removes_all_images()
 {
    let recipe = one_step_copied_to("[us-west-2, eu-west-1]");
    let mut m = Mocks::new();
    // The first copy region refuses (an SCP denying the region, say); eu-west-1 is fine.
    let refused = mock!(aws_sdk_ec2::Client::copy_image).then_error(|| {
        CopyImageError::generic(meta(
            "UnauthorizedOperation",
            "You are not authorized to perform this operation.",
        ))
    });
    m.override_ec2("us-west-2", &refused);
    let dir = tempfile::tempdir().unwrap();
    let reporter = reporter();
    let bake = bake(m.aws(), &recipe, &reporter, dir.path()).await;

    let err = bake.run().await.expect_err("a failed copy fails the bake");
    // The eu-west-1 copy was polled until available (pending once, then available).
    let copy_polls_in_eu_west_1 = m.ec2("eu-west-1").describe_images.num_calls();
    let clean = bake.cleanup(true).await;

    match &err {
        BakeError::CopiesFailed(failures) => {
            assert_eq!(failures.len(), 1, "{failures:?}");
            assert!(failures[0].starts_with("us-west-2: "), "{failures:?}");
            assert!(
                failures[0].contains("UnauthorizedOperation"),
                "{failures:?}"
            );
            assert!(!failures[0].contains("eu-west-1"), "{failures:?}");
        }
        other => panic!("expected CopiesFailed, got {other:?}"),
    }
    assert_eq!(err.kind(), ExitKind::Failed);
    assert_eq!(refused.num_calls(), 1, "a refusal is not retried");
    // eu-west-1 was copied to the end (polled until available) and journaled before the
    // bake failed.
    assert_eq!(m.ec2("eu-west-1").copy_image.num_calls(), 1);
    assert!(
        copy_polls_in_eu_west_1 >= 2,
        "polled {copy_polls_in_eu_west_1} times"
    );
    let journal = journal(dir.path());
    assert!(journal.iter().any(|e| e["event"] == "created"
        && e["kind"] == "image"
        && e["region"] == "eu-west-1"
        && e["id"] == ami_in("eu-west-1").as_str()));
    assert!(
        !journal
            .iter()
            .any(|e| e["event"] == "created" && e["region"] == "us-west-2")
    );

    // Cleanup: the home AMI and the eu-west-1 copy, with their snapshots.
    for region in [HOME, "eu-west-1"] {
        assert_image_removed_in(&m, region);
    }
    assert_eq!(m.ec2("us-west-2").deregister_image.num_calls(), 0);
    assert_eq!(m.ec2("us-west-2").delete_snapshot.num_calls(), 0);
    assert!(m.world().images.is_empty(), "{:?}", m.world().images);
    assert_eq!(m.ec2(HOME).terminate_builder.num_calls(), 1);
    assert!(clean);
}

/// A recipe baking a CodeDeploy agent ordered after cloud-init: the boot test is on by
/// default, with the built-in ordering and pin checks.
fn agent_recipe(image_extra: &str) -> String {
    format!(
        r#"
name: mock-bake
source: {{ ami: ami-0123456789abcdef0 }}
builder:
  iam_instance_profile: amibake-builder
  security_group_ids: [sg-0123456789abcdef0]
steps:
  - codedeploy_agent: {{ version: "1.7.1-110", start_after_cloud_init: true }}
image:
  name: "mock-bake-{{{{ timestamp }}}}"
{image_extra}"#
    )
}

const ORDERING_CHECK: &str = "built-in: codedeploy-agent started after cloud-final";

/// Matches the GetCommandInvocation of the boot test's built-in ordering check.
fn ordering_check(
    req: &aws_sdk_ssm::operation::get_command_invocation::GetCommandInvocationInput,
) -> bool {
    req.instance_id() == Some(BOOT_TEST)
        && req
            .command_id()
            .is_some_and(|c| c.ends_with(ORDERING_CHECK))
}

#[tokio::test(start_paused = true)]
async fn a_failing_boot_test_ordering_check_removes_the_ami_its_snapshots_and_the_copies() {
    let recipe =
        agent_recipe("  copy_to: [us-west-2]\n  share_with: { accounts: [\"111122223333\"] }\n");
    let mut m = Mocks::new();
    // The image is bad only at first boot: the agent came up before cloud-final ended.
    let ordering = mock!(aws_sdk_ssm::Client::get_command_invocation)
        .match_requests(ordering_check)
        .then_output(|| {
            invocation(
                "Failed",
                1,
                "cloud-final exited at 9001733us (inactive at 0us), codedeploy-agent active at 5120044us\n\
                 codedeploy-agent drop-ins: \n",
                "ordering: codedeploy-agent did NOT start after cloud-final\n",
            )
        });
    m.override_ssm(&ordering);
    let pin = mock!(aws_sdk_ssm::Client::get_command_invocation)
        .match_requests(|req| {
            req.instance_id() == Some(BOOT_TEST)
                && req
                    .command_id()
                    .is_some_and(|c| c.contains("runs the pinned 1.7.1-110"))
        })
        .then_output(|| {
            invocation(
                "Success",
                0,
                "codedeploy-agent 1.7.1-110 is active\npin: 1.7.1-110\n",
                "",
            )
        });
    m.override_ssm(&pin);
    let dir = tempfile::tempdir().unwrap();
    let reporter = reporter();
    let bake = bake(m.aws(), &recipe, &reporter, dir.path()).await;

    let err = bake
        .run()
        .await
        .expect_err("a failing boot test fails the bake");
    let clean = bake.cleanup(true).await;

    match &err {
        BakeError::ChecksFailed { phase, failures } => {
            assert_eq!(*phase, "boot-test");
            assert_eq!(
                failures.len(),
                1,
                "only the ordering check fails: {failures:?}"
            );
            let f = &failures[0];
            assert_eq!(f.name, ORDERING_CHECK);
            assert!(!f.passed);
            assert_eq!((f.exit_code, f.expected_exit), (1, 0));
            assert!(
                f.stdout.contains("codedeploy-agent active at 5120044us"),
                "{f:?}"
            );
        }
        other => panic!("expected ChecksFailed, got {other:?}"),
    }
    assert_eq!(err.kind(), ExitKind::Failed);
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "expected stdout to contain {:?}",
            amibake::script::ORDERING_OK
        )),
        "{text}"
    );
    assert_eq!(ordering.num_calls(), 1);
    assert_eq!(
        pin.num_calls(),
        1,
        "the other checks still run and are reported"
    );

    let home = m.ec2(HOME);
    assert_eq!(
        home.terminate_boot_test.num_calls(),
        1,
        "the test instance is terminated"
    );
    assert_eq!(home.terminate_builder.num_calls(), 1);
    assert_eq!(m.world().instances[BOOT_TEST], "terminated");
    // The copy overlapped the boot test; both it and the home AMI go, with their snapshots.
    assert_eq!(m.ec2("us-west-2").copy_image.num_calls(), 1);
    for region in [HOME, "us-west-2"] {
        assert_image_removed_in(&m, region);
        let ec2 = m.ec2(region);
        // Sharing waits for the boot test: nothing was shared.
        assert_eq!(
            ec2.modify_image_attribute.num_calls(),
            0,
            "shared in {region}"
        );
        assert_eq!(ec2.modify_snapshot_attribute.num_calls(), 0);
    }
    assert!(m.world().images.is_empty(), "{:?}", m.world().images);
    assert!(clean);

    // The user saw the failing check with what it printed, and no share.
    let seen = reporter.recorded();
    let failed: Vec<_> = seen
        .of_kind("check")
        .into_iter()
        .filter(|c| c["passed"] == false)
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["check"], ORDERING_CHECK);
    assert!(
        failed[0]["stdout"]
            .as_str()
            .unwrap()
            .contains("codedeploy-agent active at 5120044us")
    );
    assert!(seen.of_kind("share").is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_interrupt_during_the_boot_test_terminates_the_test_instance() {
    let recipe = agent_recipe("");
    let mut m = Mocks::new();
    // The ordering check keeps running; its first poll is the moment to interrupt.
    let in_progress = Arc::new(Notify::new());
    let notify = in_progress.clone();
    let check = mock!(aws_sdk_ssm::Client::get_command_invocation)
        .match_requests(ordering_check)
        .then_compute_output(move |_| {
            notify.notify_one();
            invocation("InProgress", -1, "", "")
        });
    m.override_ssm(&check);
    let dir = tempfile::tempdir().unwrap();
    let reporter = reporter();
    let bake = bake(m.aws(), &recipe, &reporter, dir.path()).await;

    // What `amibake bake` does on Ctrl-C: drop the run, then clean up as after a failure.
    tokio::select! {
        result = bake.run() => panic!("the bake ended before the interrupt: {:?}", result.err()),
        () = in_progress.notified() => {}
    }
    assert_eq!(check.num_calls(), 1);
    assert_eq!(m.world().instances[BOOT_TEST], "running");
    let clean = bake.cleanup(true).await;

    let home = m.ec2(HOME);
    assert_eq!(
        home.terminate_boot_test.num_calls(),
        1,
        "TerminateInstances of the test instance"
    );
    assert_eq!(m.world().instances[BOOT_TEST], "terminated");
    assert_eq!(home.terminate_builder.num_calls(), 1);
    assert_eq!(
        home.deregister_image.num_calls(),
        1,
        "the unproven AMI is removed"
    );
    assert_eq!(home.delete_snapshot.num_calls(), 1);
    assert!(m.world().images.is_empty());
    assert!(clean);
    assert_eq!(BakeError::Interrupted.kind(), ExitKind::Interrupted);
}
