//! The bake against aws-smithy-mocks clients up to the image: what the emulator cannot
//! produce — invocations that are not visible yet, Failed / TimedOut / Cancelled
//! commands, throttling, an instance stuck pending (`mocks::bake_image` goes on from the
//! image: copies and the boot test).
//!
//! Every test runs the public `Bake::run` and `Bake::cleanup` under paused tokio time:
//! polls, backoffs and phase timeouts advance the clock instantly. The mocked AWS lives
//! in `tests/amibake/support/bake_mocks/`; each test puts its own rules in front of the defaults and asserts
//! the calls that matter with `Rule::num_calls`.

use crate::support::bake_mocks as mocks;

use std::time::Duration;

use amibake::bake::BakeError;
use amibake::error::{ExitKind, Failure};
use amibake::script::StepCommand;
use aws_sdk_ec2::operation::create_tags::{CreateTagsError, CreateTagsOutput};
use aws_sdk_ec2::operation::describe_images::{DescribeImagesError, DescribeImagesOutput};
use aws_smithy_mocks::{Rule, mock};
use mocks::*;

/// Matches the GetCommandInvocation of the `provision` step (see `mocks::command_id`).
fn provision_step(
    req: &aws_sdk_ssm::operation::get_command_invocation::GetCommandInvocationInput,
) -> bool {
    req.instance_id() == Some(BUILDER)
        && req
            .command_id()
            .is_some_and(|c| c.starts_with("step ") && c.ends_with(" provision"))
}

/// Puts `step` (answers to the provision step's GetCommandInvocation) in front of the
/// defaults, and a rule counting the step's SendCommand, which it returns.
fn answer_provision(m: &mut Mocks, step: &Rule) -> Rule {
    m.override_ssm(step);
    m.sends_of(" provision")
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
    let sends = answer_provision(&mut m, &step);
    let dir = tempfile::tempdir().unwrap();
    let reporter = reporter();
    let bake = bake(m.aws(), ONE_STEP, &reporter, dir.path()).await;

    let manifest = bake.run().await.expect("the bake succeeds");
    let clean = bake.cleanup(false).await;

    // Not visible yet, then running, then done: one command, polled three times.
    assert_eq!(step.num_calls(), 3);
    assert_eq!(sends.num_calls(), 1, "the step is sent once, not re-sent");
    // What was sent is the plan's step: its rendered script, to the builder, with the
    // step's timeout.
    let planned = &bake.plan().steps[0];
    let StepCommand::Shell { script } = &planned.command else {
        panic!("the provision step is a shell step: {:?}", planned.command)
    };
    assert!(script.text.contains("echo provisioning"), "{}", script.text);
    assert_sent(
        &m,
        "step 1/1 provision",
        BUILDER,
        &script.text,
        planned.timeout.get().as_secs(),
    );
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

/// The builder launches the AMI the source resolution found (the recipe names no AMI: only
/// an SSM parameter), IMDSv2 only, an encrypted root deleted with the instance, and the
/// run's tags on the instance and its volume at creation; the boot test launches the
/// baked image.
#[tokio::test(start_paused = true)]
async fn run_instances_launches_the_resolved_source_ami_with_imdsv2_an_encrypted_root_and_the_run_tags()
 {
    const PARAMETER: &str = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64";
    let recipe = format!(
        "{}boot_test:\n  checks:\n    - {{ name: boots, run: \"true\" }}\n",
        ONE_STEP.replace(
            &format!("{{ ami: {SOURCE_AMI} }}"),
            &format!("{{ ssm_parameter: {PARAMETER} }}")
        )
    );
    assert!(!recipe.contains(SOURCE_AMI), "{recipe}");
    let mut m = Mocks::new();
    let resolved = mock!(aws_sdk_ssm::Client::get_parameter)
        .match_requests(|req| req.name() == Some(PARAMETER))
        .then_output(|| {
            aws_sdk_ssm::operation::get_parameter::GetParameterOutput::builder()
                .parameter(
                    aws_sdk_ssm::types::Parameter::builder()
                        .name(PARAMETER)
                        .value(SOURCE_AMI)
                        .build(),
                )
                .build()
        });
    m.override_ssm(&resolved);
    let dir = tempfile::tempdir().unwrap();
    let reporter = reporter();
    let bake = bake(m.aws(), &recipe, &reporter, dir.path()).await;

    let manifest = bake.run().await.expect("the bake succeeds");
    assert!(bake.cleanup(false).await);

    assert_eq!(resolved.num_calls(), 1);
    assert_eq!(manifest.source_ami.id, SOURCE_AMI);
    let launched = m.world().launched.clone();
    let builder = &launched[BUILDER];
    assert_eq!(
        builder.image_id(),
        Some(SOURCE_AMI),
        "the resolved source AMI"
    );
    assert_eq!(
        launched[BOOT_TEST].image_id(),
        Some(ami_in(HOME).as_str()),
        "the boot test boots the baked image"
    );
    for (id, req) in &launched {
        let imds = req.metadata_options().expect("metadata options");
        assert_eq!(
            imds.http_tokens(),
            Some(&aws_sdk_ec2::types::HttpTokensState::Required),
            "{id}: IMDSv2 only"
        );
        assert_eq!(imds.http_put_response_hop_limit(), Some(1), "{id}");
        assert_eq!(
            (req.min_count(), req.max_count()),
            (Some(1), Some(1)),
            "{id}"
        );
        let kinds: Vec<_> = req
            .tag_specifications()
            .iter()
            .map(|s| s.resource_type().map(|t| t.as_str().to_string()))
            .collect();
        assert_eq!(
            kinds,
            [Some("instance".to_string()), Some("volume".to_string())],
            "{id}"
        );
        for spec in req.tag_specifications() {
            assert!(
                spec.tags()
                    .iter()
                    .any(|t| t.key() == Some("amibake:run-id") && t.value() == Some(RUN_ID)),
                "{id}: the run's tag at creation: {spec:?}"
            );
        }
    }
    let root = builder.block_device_mappings();
    assert_eq!(root.len(), 1, "{root:?}");
    assert_eq!(
        root[0].device_name(),
        Some("/dev/xvda"),
        "the source's root device"
    );
    let ebs = root[0].ebs().expect("an EBS root");
    assert_eq!(
        ebs.encrypted(),
        Some(true),
        "the builder's root is encrypted"
    );
    assert_eq!(ebs.delete_on_termination(), Some(true));
    assert!(
        launched[BOOT_TEST].block_device_mappings().is_empty(),
        "the boot test keeps the baked image's own (encrypted) devices"
    );
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
    let recipe = one_step_copied_to("[us-west-2]");
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
    let bake = bake(m.aws(), &recipe, &reporter, dir.path()).await;

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
    let recipe = ONE_STEP.replace("  security_group_ids: [sg-0123456789abcdef0]\n", "");
    let m = Mocks::new();
    m.world().stuck_pending.insert(BUILDER.into());
    let dir = tempfile::tempdir().unwrap();
    let reporter = reporter();
    let bake = bake(m.aws(), &recipe, &reporter, dir.path()).await;

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
    assert_eq!(err.kind(), ExitKind::Failed);
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
    let sends = answer_provision(&mut m, &step);
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
    assert_eq!(err.kind(), ExitKind::Failed);
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
