//! The bake against aws-smithy-mocks clients: what the emulator cannot produce
//! (issues 3 and 4) — invocations that are not visible yet, Failed / TimedOut / Cancelled
//! commands, throttling, an instance stuck pending, a copy failing in one region, a
//! failing boot-test check and an interrupt during the boot test.
//!
//! Every test runs the public `Bake::run` and `Bake::cleanup` under paused tokio time:
//! polls, backoffs and phase timeouts advance the clock instantly. The mocked AWS lives
//! in `tests/mocks/`; each test puts its own rules in front of the defaults and asserts
//! the calls that matter with `Rule::num_calls`.

mod mocks;

use std::sync::Arc;
use std::time::Duration;

use amibake::bake::BakeError;
use amibake::event::Failure;
use aws_sdk_ec2::operation::copy_image::CopyImageError;
use aws_sdk_ec2::operation::create_tags::{CreateTagsError, CreateTagsOutput};
use aws_sdk_ec2::operation::describe_images::{DescribeImagesError, DescribeImagesOutput};
use aws_smithy_mocks::mock;
use mocks::*;
use tokio::sync::Notify;

/// One shell step, an existing security group (no temporary one), no copies.
const ONE_STEP: &str = r#"
name: mock-bake
source: { ami: ami-0123456789abcdef0 }
builder:
  iam_instance_profile: amibake-builder
  security_group_ids: [sg-0123456789abcdef0]
  ready_timeout: 30s
steps:
  - name: provision
    shell: "echo provisioning"
image:
  name: "mock-bake-{{ timestamp }}"
"#;

/// Matches the GetCommandInvocation of the `provision` step (see `mocks::command_id`).
fn provision_step(
    req: &aws_sdk_ssm::operation::get_command_invocation::GetCommandInvocationInput,
) -> bool {
    req.instance_id() == Some(BUILDER)
        && req
            .command_id()
            .is_some_and(|c| c.starts_with("step ") && c.ends_with(" provision"))
}

#[tokio::test(start_paused = true)]
async fn invocation_does_not_exist_then_in_progress_then_success_passes_the_step() {
    let mut m = Mocks::new();
    let step = mock!(aws_sdk_ssm::Client::get_command_invocation)
        .match_requests(provision_step)
        .sequence()
        .error(invocation_does_not_exist)
        .output(|| invocation("InProgress", -1, "provisioning\n", ""))
        .output(|| invocation("Success", 0, "provisioning\ndone\n", ""))
        .build();
    m.override_ssm(&step);
    let sends = sends_of(" provision");
    m.override_ssm(&sends);
    let dir = tempfile::tempdir().unwrap();
    let reporter = reporter();
    let bake = bake(m.aws(), ONE_STEP, &reporter, dir.path()).await;

    let manifest = bake.run().await.expect("the bake succeeds");
    let clean = bake.cleanup(false).await;

    // Not visible yet, then running, then done: one command, polled three times.
    assert_eq!(step.num_calls(), 3);
    assert_eq!(sends.num_calls(), 1, "the step is sent once, not re-sent");
    assert_eq!(manifest.steps.len(), 1);
    assert_eq!(manifest.steps[0].name, "provision");
    assert_eq!(manifest.steps[0].attempts, 1);
    assert_eq!(manifest.steps[0].exit_code, 0);
    // The bake went on to the image.
    assert_eq!(m.ec2(HOME).create_image.num_calls(), 1);
    assert_eq!(manifest.amis.len(), 1);
    assert_eq!(manifest.amis[0].ami_id, ami_in(HOME));
    assert_eq!(manifest.amis[0].snapshot_ids, [snapshot_in(HOME)]);
    assert_eq!(manifest.source_ami.id, SOURCE_AMI);
    // Success: the builder is terminated once, the image stays.
    assert!(clean);
    assert_eq!(m.ec2(HOME).terminate_builder.num_calls(), 1);
    assert_eq!(m.ec2(HOME).deregister_image.num_calls(), 0);
    assert_eq!(m.world().instances[BUILDER], "terminated");
    assert!(m.world().images.contains_key(&ami_in(HOME)));
    assert_eq!(journal(dir.path()).last().unwrap()["event"], "clean");

    // What the user saw: the phases in the plan's order, the step starting and ending
    // with its attempts, its output streamed, the builder and the image announced.
    let seen = reporter.recorded();
    let phases: Vec<(&str, &str)> = seen
        .of_kind("phase")
        .iter()
        .map(|e| (e["phase"].as_str().unwrap(), e["state"].as_str().unwrap()))
        .collect();
    let order = ["source", "launch", "ready", "steps", "hygiene", "image"];
    let want: Vec<(&str, &str)> = order
        .iter()
        .flat_map(|p| [(*p, "start"), (*p, "done")])
        .collect();
    assert_eq!(phases, want);
    let steps = seen.of_kind("step");
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert_eq!(steps[0]["state"], "start");
    assert_eq!(steps[1]["state"], "done");
    assert_eq!(steps[1]["attempts"], 1);
    assert!(
        seen.of_kind("output")
            .iter()
            .any(|e| e["text"].as_str().unwrap().contains("done")),
        "the step's output is streamed: {:?}",
        seen.of_kind("output")
    );
    let made: Vec<(&str, &str)> = seen
        .of_kind("resource")
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["id"].as_str().unwrap()))
        .collect();
    let image = ami_in(HOME);
    assert!(made.contains(&("instance", BUILDER)), "{made:?}");
    assert!(made.contains(&("image", image.as_str())), "{made:?}");
}

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

/// Runs [`ONE_STEP`] with the step ending in `status`; returns the mocks, the error and
/// whether cleanup left nothing behind.
async fn bake_with_failing_step(status: &'static str, exit_code: i32) -> (Mocks, BakeError, bool) {
    let mut m = Mocks::new();
    let step = mock!(aws_sdk_ssm::Client::get_command_invocation)
        .match_requests(provision_step)
        .sequence()
        .output(|| invocation("InProgress", -1, "provisioning\n", "stderr line 1\n"))
        .output(move || invocation(status, exit_code, "provisioning\n", &stderr_lines()))
        .build();
    m.override_ssm(&step);
    let sends = sends_of(" provision");
    m.override_ssm(&sends);
    let dir = tempfile::tempdir().unwrap();
    let reporter = reporter();
    let bake = bake(m.aws(), ONE_STEP, &reporter, dir.path()).await;

    let err = bake.run().await.expect_err("the step fails the bake");
    let clean = bake.cleanup(true).await;

    assert_eq!(step.num_calls(), 2);
    assert_eq!(sends.num_calls(), 1, "retries: 0 sends the step once");
    (m, err, clean)
}

fn stderr_lines() -> String {
    (1..=12).map(|i| format!("stderr line {i}\n")).collect()
}

/// A failed step: `StepFailed` naming the step, the status, the exit code and the last
/// ten lines of stderr; exit code 1; no image; cleanup terminates the builder.
fn assert_step_failed(m: &Mocks, err: &BakeError, clean: bool, status: &str, exit_code: i32) {
    match err {
        BakeError::StepFailed {
            step,
            status: s,
            exit_code: code,
            stderr_tail,
        } => {
            assert_eq!(step, "provision");
            assert_eq!(s, status);
            assert_eq!(*code, exit_code);
            let want: Vec<String> = (3..=12).map(|i| format!("stderr line {i}")).collect();
            assert_eq!(stderr_tail.lines().collect::<Vec<_>>(), want);
        }
        other => panic!("expected StepFailed, got {other:?}"),
    }
    assert_eq!(err.exit_code(), 1);
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "step `provision` failed: {status}, exit code {exit_code}"
        )),
        "{text}"
    );
    assert!(text.ends_with("stderr line 12"), "{text}");

    let ec2 = m.ec2(HOME);
    assert_eq!(
        ec2.create_image.num_calls(),
        0,
        "no image after a failed step"
    );
    assert_eq!(ec2.stop_instances.num_calls(), 0);
    assert_eq!(ec2.terminate_builder.num_calls(), 1);
    assert_eq!(m.world().instances[BUILDER], "terminated");
    assert_eq!(
        m.ssm.send_command.num_calls(),
        0,
        "nothing runs after the failed step"
    );
    assert!(clean);
}

#[tokio::test(start_paused = true)]
async fn a_failed_invocation_fails_the_step_and_cleanup_terminates_the_builder() {
    let (m, err, clean) = bake_with_failing_step("Failed", 3).await;
    assert_step_failed(&m, &err, clean, "Failed", 3);
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_invocation_fails_the_step_and_cleanup_terminates_the_builder() {
    let (m, err, clean) = bake_with_failing_step("TimedOut", -1).await;
    assert_step_failed(&m, &err, clean, "TimedOut", -1);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_invocation_fails_the_step_and_cleanup_terminates_the_builder() {
    let (m, err, clean) = bake_with_failing_step("Cancelled", -1).await;
    assert_step_failed(&m, &err, clean, "Cancelled", -1);
}

#[tokio::test(start_paused = true)]
async fn throttling_on_describe_images_and_create_tags_is_retried_and_the_bake_goes_on() {
    const RECIPE: &str = r#"
name: mock-bake
source: { ami: ami-0123456789abcdef0 }
builder:
  iam_instance_profile: amibake-builder
  security_group_ids: [sg-0123456789abcdef0]
steps:
  - name: provision
    shell: "echo provisioning"
image:
  name: "mock-bake-{{ timestamp }}"
  copy_to: [us-west-2]
"#;
    const THROTTLES: usize = 4;
    let mut m = Mocks::new();
    // Source resolution: throttled four times (more than the SDK's own three attempts,
    // so our backoff has to carry it), then the real answer. One rule serves the SDK's
    // retry attempts and ours alike.
    let source = mock!(aws_sdk_ec2::Client::describe_images)
        .match_requests(|req| req.image_ids() == [SOURCE_AMI])
        .sequence()
        .error(|| DescribeImagesError::generic(throttled()))
        .times(THROTTLES)
        .output(|| {
            DescribeImagesOutput::builder()
                .images(source_image())
                .build()
        })
        .repeatedly()
        .build();
    m.override_ec2(HOME, &source);
    // Tagging the finished copy (AMI and snapshot) complete in us-west-2: the same.
    let tags = mock!(aws_sdk_ec2::Client::create_tags)
        .match_requests(|req| req.resources().contains(&snapshot_in("us-west-2")))
        .sequence()
        .error(|| CreateTagsError::generic(throttled()))
        .times(THROTTLES)
        .output(|| CreateTagsOutput::builder().build())
        .repeatedly()
        .build();
    m.override_ec2("us-west-2", &tags);
    let dir = tempfile::tempdir().unwrap();
    let reporter = reporter();
    let bake = bake(m.aws(), RECIPE, &reporter, dir.path()).await;

    let manifest = bake.run().await.expect("throttling does not fail the bake");
    let clean = bake.cleanup(false).await;

    assert_eq!(
        source.num_calls(),
        THROTTLES + 1,
        "four throttled calls, then the answer"
    );
    assert_eq!(manifest.source_ami.id, SOURCE_AMI);
    assert_eq!(
        tags.num_calls(),
        THROTTLES + 1,
        "four throttled calls, then tagged"
    );
    // CopyImage tags the copy's snapshots at creation: no other CreateTags there.
    assert_eq!(m.ec2("us-west-2").create_tags.num_calls(), 0);
    let regions: Vec<&str> = manifest.amis.iter().map(|a| a.region.as_str()).collect();
    assert_eq!(regions, [HOME, "us-west-2"]);
    assert_eq!(manifest.amis[1].ami_id, ami_in("us-west-2"));
    assert_eq!(manifest.amis[1].snapshot_ids, [snapshot_in("us-west-2")]);
    assert!(clean);
    assert_eq!(m.ec2(HOME).terminate_builder.num_calls(), 1);
    assert_eq!(m.ec2(HOME).deregister_image.num_calls(), 0);
    assert_eq!(m.ec2("us-west-2").deregister_image.num_calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_instance_stuck_pending_times_out_the_ready_phase_and_cleanup_terminates_it() {
    // No security group: a temporary one is made, and must go at the end.
    const RECIPE: &str = r#"
name: mock-bake
source: { ami: ami-0123456789abcdef0 }
builder:
  iam_instance_profile: amibake-builder
  ready_timeout: 30s
steps:
  - name: provision
    shell: "echo provisioning"
image:
  name: "mock-bake-{{ timestamp }}"
"#;
    let m = Mocks::new();
    m.world().stuck_pending.insert(BUILDER.into());
    let dir = tempfile::tempdir().unwrap();
    let reporter = reporter();
    let bake = bake(m.aws(), RECIPE, &reporter, dir.path()).await;

    let started = tokio::time::Instant::now();
    let err = bake.run().await.expect_err("the ready phase times out");
    let waited = started.elapsed();
    let clean = bake.cleanup(true).await;

    match &err {
        BakeError::Timeout { phase, after, hint } => {
            assert_eq!(phase, "ready");
            assert_eq!(*after, Duration::from_secs(30));
            assert!(
                hint.contains(BUILDER) && hint.contains("did not reach `running`"),
                "the hint names the instance and what it never did: {hint}"
            );
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert_eq!(err.exit_code(), 1);
    // Nothing but the ready poll waits before the error: 30 s of paused time.
    assert!(
        waited >= Duration::from_secs(30) && waited < Duration::from_secs(31),
        "{waited:?}"
    );
    let ec2 = m.ec2(HOME);
    // The wait asks SSM for the agent, and EC2 now and then whether the instance died.
    assert!(m.ssm.describe_instance_information.num_calls() >= 3);
    assert!(
        ec2.describe_instances.num_calls() >= 2,
        "the state was checked"
    );
    assert_eq!(m.ssm.send_command.num_calls(), 0);
    assert_eq!(ec2.create_security_group.num_calls(), 1);
    assert_eq!(ec2.terminate_builder.num_calls(), 1);
    assert_eq!(m.world().instances[BUILDER], "terminated");
    assert_eq!(
        ec2.delete_security_group.num_calls(),
        1,
        "the temporary group is deleted"
    );
    assert!(clean);
}

#[tokio::test(start_paused = true)]
async fn copy_image_failing_in_one_region_fails_the_bake_after_the_other_copies_and_cleanup_removes_all_images()
 {
    const RECIPE: &str = r#"
name: mock-bake
source: { ami: ami-0123456789abcdef0 }
builder:
  iam_instance_profile: amibake-builder
  security_group_ids: [sg-0123456789abcdef0]
steps:
  - name: provision
    shell: "echo provisioning"
image:
  name: "mock-bake-{{ timestamp }}"
  copy_to: [us-west-2, eu-west-1]
"#;
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
    let bake = bake(m.aws(), RECIPE, &reporter, dir.path()).await;

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
    assert_eq!(err.exit_code(), 1);
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
        let ec2 = m.ec2(region);
        assert_eq!(
            ec2.deregister_image.num_calls(),
            1,
            "DeregisterImage in {region}"
        );
        assert_eq!(
            ec2.delete_snapshot.num_calls(),
            1,
            "DeleteSnapshot in {region}"
        );
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
    assert_eq!(err.exit_code(), 1);
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
        let ec2 = m.ec2(region);
        assert_eq!(
            ec2.deregister_image.num_calls(),
            1,
            "DeregisterImage in {region}"
        );
        assert_eq!(
            ec2.delete_snapshot.num_calls(),
            1,
            "DeleteSnapshot in {region}"
        );
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
    assert_eq!(BakeError::Interrupted.exit_code(), 130);
}
