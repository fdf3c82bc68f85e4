//! A dead network and a cancelled CI job (issue 19, findings 5, 6, 13 and the journal of
//! 14): every AWS call and wait is bounded, cleanup runs on a budget of its own and says
//! what it could not remove with the sweep command for it, SIGINT, SIGTERM and SIGHUP all
//! clean up (only the same signal repeated abandons the cleanup), an unknown outcome keeps
//! the journal dirty, and even a panic cleans up.
//!
//! The emulator's fault knobs (emulator/README.md, "Faults") stall, reset, throttle or
//! fail chosen actions; each test bakes in a region of its own with small timeouts.

mod running;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::bake_mocks as mocks;
use crate::support::emulator::{
    AL2023, amibake, assert_nothing_left, bake_command, configure, fresh_state, rt, show, stats,
    unique,
};
use running::Running;

/// How long after its deadline a wait may end (README, "Timeouts"), plus slack for a
/// loaded 2-core machine.
const MARGIN: Duration = Duration::from_secs(10 + 20);

/// A recipe of one quick step whose builder must be ready within `ready_timeout`.
fn recipe(dir: &Path, label: &str, ready_timeout: &str) -> PathBuf {
    let text = format!(
        "name: {}\nsource: {{ ssm_parameter: {AL2023} }}\nbuilder: {{ iam_instance_profile: amibake-builder, ready_timeout: {ready_timeout} }}\nsteps:\n  - name: provision\n    shell: \"echo provisioning\"\n    timeout: 60s\nimage:\n  name: \"{{{{ recipe }}}}-{{{{ run_id }}}}\"\n",
        unique(label)
    );
    let path = dir.join(format!("{label}.yaml"));
    std::fs::write(&path, text).expect("write the recipe");
    path
}

/// Every `message` event's text, one per line, and the `left` events' lines.
fn messages(events: &[serde_json::Value]) -> String {
    events
        .iter()
        .filter(|e| e["event"] == "message" || e["event"] == "left")
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `left` event: what the run could not remove and the sweep command for it.
fn left(events: &[serde_json::Value]) -> serde_json::Value {
    events
        .iter()
        .rev()
        .find(|e| e["event"] == "left")
        .unwrap_or_else(|| panic!("a `left` event saying what is left in {events:?}"))
        .clone()
}

/// Runs the sweep command a `left` event printed (against the emulator) and asserts the
/// run left nothing afterwards.
fn sweep_as_printed(region: &str, state: &Path, left: &serde_json::Value, run_id: &str) {
    let command = left["sweep"].as_str().expect("the sweep command");
    let words: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(words[..2], ["amibake", "sweep"], "{command}");
    assert!(command.contains(&format!("--region {region}")), "{command}");
    let out = amibake(region, state).args(&words[1..]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{command}: {}", show(&out));
    rt().block_on(assert_nothing_left(&[region], run_id, false));
}

fn journal_ends_clean(state: &Path, run_id: &str) -> bool {
    let text = std::fs::read_to_string(state.join("runs").join(format!("{run_id}.jsonl")))
        .expect("the run journal");
    text.lines().last().is_some_and(|l| l.contains("\"clean\""))
}

/// The run left nothing in `region` (but its images, if `images_allowed`) and its journal
/// ends clean.
fn assert_cleaned_up(region: &str, state: &Path, run_id: &str, images_allowed: bool) {
    rt().block_on(assert_nothing_left(&[region], run_id, images_allowed));
    assert!(
        journal_ends_clean(state, run_id),
        "the journal of {run_id} is dirty"
    );
}

/// A bake of a one-step recipe (its builder ready within `ready_timeout`) started in the
/// background in `region`, in a state directory of its own.
fn start(region: &str, label: &str, ready_timeout: &str) -> (Running, tempfile::TempDir) {
    let state = tempfile::tempdir().unwrap();
    let recipe = recipe(state.path(), label, ready_timeout);
    let bake = Running::spawn(bake_command(region, state.path(), &recipe, &[]));
    (bake, state)
}

/// [`start`] once `region`'s knobs are set.
fn start_bake(
    region: &str,
    knobs: serde_json::Value,
    label: &str,
    ready_timeout: &str,
) -> (Running, tempfile::TempDir) {
    configure(region, knobs);
    start(region, label, ready_timeout)
}

fn step_started(e: &serde_json::Value) -> bool {
    e["event"] == "step" && e["state"] == "start"
}

/// The emulator's fault counts in `region` (`GET /_amibake/stats`).
fn faults(region: &str) -> serde_json::Map<String, serde_json::Value> {
    stats()["faults"][region]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_stalled_describe_instances_fails_the_ready_wait_at_its_deadline_plus_the_margin_and_leaves_nothing()
 {
    let region = "ap-southeast-5";
    // The agent never comes online, and the wait's every-third look at the instance
    // (DescribeInstances) is accepted and never answered: a dead connection.
    let (mut bake, state) = start_bake(
        region,
        serde_json::json!({ "agent_online_seconds": 3600, "stall_actions": { "DescribeInstances": null } }),
        "stalled-ready",
        "8s",
    );
    let ready = bake.wait_for(Duration::from_secs(60), |e| {
        e["event"] == "phase" && e["phase"] == "ready" && e["state"] == "start"
    });
    let code = bake.finish(Duration::from_secs(8) + MARGIN + Duration::from_secs(60));
    let evs = bake.events();
    assert_eq!(code, Some(1), "{evs:?}\n{}", bake.stderr());
    let error = bake.wait_for(Duration::ZERO, |e| e["event"] == "error");
    assert!(
        error.duration_since(ready) <= Duration::from_secs(8) + MARGIN,
        "the ready wait (8 s) failed {:?} after it began",
        error.duration_since(ready)
    );
    let text = crate::support::emulator::last(&evs, "error")["error"].to_string();
    assert!(text.contains("timed out after 8s"), "{text}");
    assert!(faults(region).contains_key("stall ec2:DescribeInstances"));
    // The network comes back: the stall holds every DescribeInstances of the region,
    // the test's own look at what is left too, until the knob changes.
    configure(region, serde_json::json!({}));
    let run_id = bake.run_id();
    assert_cleaned_up(region, state.path(), &run_id, false);
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_stall_during_cleanup_ends_within_the_cleanup_budget_and_prints_what_is_left_and_the_sweep_command()
 {
    let region = "ap-south-2";
    // The step fails; then every TerminateInstances hangs: cleanup cannot remove the
    // builder (nor, while it runs, its security group).
    let state = fresh_state(
        region,
        serde_json::json!({
            "fail_command_matching": "provisioning",
            "stall_actions": { "TerminateInstances": null },
        }),
    );
    let recipe = recipe(state.path(), "stalled-cleanup", "60s");
    let mut cmd = bake_command(region, state.path(), &recipe, &[]);
    cmd.env("AMIBAKE_CLEANUP_TIMEOUT", "15s");
    let mut bake = Running::spawn(cmd);
    let failed = bake.wait_for(Duration::from_secs(90), |e| e["event"] == "error");
    let code = bake.finish(Duration::from_secs(15) + MARGIN + Duration::from_secs(30));
    let ended = Instant::now();
    assert_eq!(code, Some(1), "{}", bake.stderr());
    assert!(
        ended.duration_since(failed) <= Duration::from_secs(15) + MARGIN,
        "cleanup (budget 15 s) took {:?}",
        ended.duration_since(failed)
    );
    let evs = bake.events();
    let left = left(&evs);
    let builder = builder(&evs);
    let listed = left["resources"].to_string();
    assert!(listed.contains(&builder), "{left}");
    assert!(listed.contains("security_group"), "{left}");
    let run_id = bake.run_id();
    assert!(!journal_ends_clean(state.path(), &run_id));
    // The command it printed removes the rest once the network is back.
    configure(region, serde_json::json!({}));
    sweep_as_printed(region, state.path(), &left, &run_id);
}

/// A bake of a one-step recipe in `region` (its knobs set), asserted to succeed within
/// four minutes; its state directory lives as long as the test keeps it.
fn bake_succeeds(region: &str, label: &str) -> (Running, tempfile::TempDir) {
    let (mut bake, state) = start(region, label, "60s");
    let code = bake.finish(Duration::from_secs(240));
    assert_eq!(
        code,
        Some(0),
        "{}\n{}",
        messages(&bake.events()),
        bake.stderr()
    );
    (bake, state)
}

/// The builder instance's id, from its `resource` event.
fn builder(evs: &[serde_json::Value]) -> String {
    evs.iter()
        .find(|e| e["event"] == "resource" && e["kind"] == "instance")
        .and_then(|e| e["id"].as_str())
        .expect("the builder's resource event")
        .to_string()
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_throttling_storm_is_ridden_out_and_the_bake_succeeds() {
    let region = "ap-southeast-4";
    configure(
        region,
        serde_json::json!({
            "throttle_storm_actions": [
                "RunInstances", "DescribeInstances", "CreateImage", "DescribeImages",
                "ssm:DescribeInstanceInformation", "ssm:SendCommand", "ssm:GetCommandInvocation",
            ],
            "throttle_storm_seconds": 6,
        }),
    );
    let (bake, _state) = bake_succeeds(region, "storm");
    assert!(
        faults(region).keys().any(|k| k.starts_with("throttle ")),
        "the storm throttled nothing: {:?}",
        faults(region)
    );
    rt().block_on(assert_nothing_left(&[region], &bake.run_id(), true));
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_burst_of_5xx_answers_is_ridden_out_and_the_bake_succeeds() {
    let region = "eu-south-2";
    configure(
        region,
        serde_json::json!({
            "error_burst_actions": [
                "RunInstances", "CreateSecurityGroup", "CreateImage", "ssm:SendCommand",
                "ssm:GetCommandInvocation", "TerminateInstances",
            ],
            "error_burst_count": 4,
        }),
    );
    let (bake, state) = bake_succeeds(region, "burst");
    assert!(
        faults(region).keys().any(|k| k.starts_with("error ")),
        "the burst answered nothing: {:?}",
        faults(region)
    );
    let run_id = bake.run_id();
    assert_cleaned_up(region, state.path(), &run_id, true);
}

/// A bake interrupted by `first` while its step runs, then by `second` while its cleanup
/// waits for a TerminateInstances that takes 8 s.
fn interrupted_twice(region: &str, first: &str, second: &str) -> (Running, tempfile::TempDir) {
    let (mut bake, state) = start_bake(
        region,
        serde_json::json!({
            "command_in_progress_seconds": 600,
            "stall_actions": { "TerminateInstances": 8 },
        }),
        "twice",
        "60s",
    );
    bake.wait_for(Duration::from_secs(90), step_started);
    bake.signal(first);
    bake.wait_for(Duration::from_secs(30), |e| {
        e["event"] == "message"
            && e["text"]
                .as_str()
                .is_some_and(|m| m.starts_with("cleaning up"))
    });
    std::thread::sleep(Duration::from_secs(1));
    bake.signal(second);
    (bake, state)
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn sigterm_then_sigterm_during_cleanup_abandons_it_and_prints_what_is_left_and_the_sweep_command() {
    let region = "ca-west-1";
    let (mut bake, state) = interrupted_twice(region, "TERM", "TERM");
    let code = bake.finish(Duration::from_secs(30));
    assert_eq!(code, Some(130), "{}", bake.stderr());
    let evs = bake.events();
    let left = left(&evs);
    let builder = builder(&evs);
    assert!(left["resources"].to_string().contains(&builder), "{left}");
    let run_id = bake.run_id();
    assert!(!journal_ends_clean(state.path(), &run_id));
    sweep_as_printed(region, state.path(), &left, &run_id);
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn sigterm_then_sigint_during_cleanup_is_ignored_and_the_cleanup_goes_on() {
    let region = "il-central-1";
    let (mut bake, state) = interrupted_twice(region, "TERM", "INT");
    let code = bake.finish(Duration::from_secs(120));
    assert_eq!(code, Some(130), "{}", bake.stderr());
    let evs = bake.events();
    let said = messages(&evs);
    assert!(said.contains("cleanup goes on"), "{said}");
    assert!(evs.iter().all(|e| e["event"] != "left"), "{said}");
    let run_id = bake.run_id();
    assert_cleaned_up(region, state.path(), &run_id, false);
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn sighup_cleans_up_and_exits_130() {
    let region = "eu-central-2";
    let (mut bake, state) = start_bake(
        region,
        serde_json::json!({ "command_in_progress_seconds": 600 }),
        "sighup",
        "60s",
    );
    bake.wait_for(Duration::from_secs(90), step_started);
    bake.signal("HUP");
    let code = bake.finish(Duration::from_secs(120));
    assert_eq!(code, Some(130), "{}", bake.stderr());
    let run_id = bake.run_id();
    assert_cleaned_up(region, state.path(), &run_id, false);
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_run_instances_whose_outcome_is_unknown_keeps_the_journal_dirty_and_names_it() {
    let region = "me-central-1";
    // Every RunInstances loses its connection: AWS may or may not have launched it.
    let (mut bake, state) = start_bake(
        region,
        serde_json::json!({ "reset_actions": ["RunInstances"] }),
        "unknown-launch",
        "60s",
    );
    let code = bake.finish(Duration::from_secs(240));
    assert_eq!(code, Some(1), "{}", bake.stderr());
    let evs = bake.events();
    let run_id = bake.run_id();
    assert!(
        !journal_ends_clean(state.path(), &run_id),
        "the journal ends clean although RunInstances may have launched an instance"
    );
    let left = left(&evs);
    let listed = left["resources"].to_string();
    assert!(
        listed.contains("instance") && listed.contains(&format!("{run_id}-builder")),
        "the unknown launch is named by its client token: {left}"
    );
    assert!(
        left["sweep"]
            .as_str()
            .is_some_and(|s| s.starts_with("amibake sweep")),
        "{left}"
    );
    // The security group was removed; nothing the run knows of is left.
    rt().block_on(assert_nothing_left(&[region], &run_id, false));
}

#[tokio::test(start_paused = true)]
async fn a_panic_after_the_builder_exists_is_an_error_and_cleanup_still_terminates_it() {
    use amibake::error::{ExitKind, Failure as _};
    use aws_smithy_mocks::mock;
    let mut m = mocks::Mocks::new();
    // An unexpected panic while the builder is waited for (the wait's first SSM call).
    let boom = mock!(aws_sdk_ssm::Client::describe_instance_information)
        .then_output(|| panic!("injected panic: a bug after the builder exists"));
    m.override_ssm(&boom);
    let dir = tempfile::tempdir().unwrap();
    let reporter = mocks::reporter();
    let bake = mocks::bake(m.aws(), mocks::ONE_STEP, &reporter, dir.path()).await;

    let err = bake.run().await.expect_err("the panic fails the bake");
    assert!(err.to_string().contains("injected panic"), "{err}");
    assert_eq!(err.kind(), ExitKind::Failed);
    let clean = bake.cleanup(true).await;
    assert_eq!(m.ec2(mocks::HOME).terminate_builder.num_calls(), 1);
    assert_eq!(m.world().instances[mocks::BUILDER], "terminated");
    assert!(clean);
    let journal = mocks::journal(dir.path());
    assert_eq!(journal.last().unwrap()["event"], "clean", "{journal:?}");
}
