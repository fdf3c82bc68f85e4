//! `sweep` never removes a live run (a lease the bake keeps fresh decides, not age) and
//! covers every region a run used.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::recipe;
use crate::support::emulator::*;

/// A bake running in the background, its events read up to the first that `until` accepts.
struct Running {
    child: Child,
    run_id: String,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

fn start_bake(
    region: &str,
    state: &Path,
    recipe: &Path,
    until: impl Fn(&serde_json::Value) -> bool,
) -> Running {
    start_bake_with(region, state, recipe, &[], until)
}

/// [`start_bake`] with `extra` arguments to `bake`.
fn start_bake_with(
    region: &str,
    state: &Path,
    recipe: &Path,
    extra: &[&str],
    until: impl Fn(&serde_json::Value) -> bool,
) -> Running {
    let mut child = bake_command(region, state, recipe, extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut run_id = None;
    for line in lines.by_ref() {
        let Ok(event) = serde_json::from_str::<serde_json::Value>(&line.unwrap()) else {
            continue;
        };
        if event["event"] == "start" {
            run_id = event["run_id"].as_str().map(str::to_string);
        }
        if until(&event) {
            return Running {
                child,
                run_id: run_id.expect("a start event first"),
                lines,
            };
        }
    }
    let _ = child.wait();
    panic!("the bake ended before the awaited event");
}

/// A bake in `region` whose step runs for `seconds`, read up to the step's start; its
/// state directory, and another runner's.
fn mid_step(
    region: &str,
    label: &str,
    seconds: u64,
) -> (Running, tempfile::TempDir, tempfile::TempDir) {
    let (state, other_runner) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let recipe = recipe(state.path(), label, &[]);
    configure(
        region,
        serde_json::json!({ "command_in_progress_seconds": seconds }),
    );
    let bake = start_bake(region, state.path(), &recipe, step_started);
    (bake, state, other_runner)
}

fn step_started(e: &serde_json::Value) -> bool {
    e["event"] == "step" && e["state"] == "start"
}

fn kill(mut running: Running) -> String {
    let status = Command::new("kill")
        .args(["-KILL", &running.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    running.child.wait().unwrap();
    running.run_id
}

fn sweep(region: &str, state: &Path, extra: &[&str]) -> std::process::Output {
    amibake(region, state)
        .args(["--json", "sweep"])
        .args(extra)
        .output()
        .unwrap()
}

fn leftovers_of<'e>(events: &'e [serde_json::Value], run_id: &str) -> Vec<&'e serde_json::Value> {
    events
        .iter()
        .filter(|e| e["event"] == "leftover" && e["run_id"] == run_id)
        .collect()
}

/// Asserts the sweep `out` removed the run's instance and its security group.
fn assert_swept_instance_and_group(out: &std::process::Output, run_id: &str) {
    let kinds: Vec<String> = leftovers_of(&events(out), run_id)
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        kinds.contains(&"instance".to_string()) && kinds.contains(&"security_group".to_string()),
        "{kinds:?}: {}",
        show(out)
    );
}

/// Moves the lease of everything the run left in `region` an hour into the past: what a
/// run whose process died long ago looks like.
async fn expire_lease(region: &str, run_id: &str) {
    let mut ids: Vec<String> = live_instances(region, run_id).await;
    ids.extend(security_groups(region, run_id).await);
    ids.extend(
        images(region, run_id)
            .await
            .iter()
            .filter_map(|i| i.image_id().map(str::to_string)),
    );
    ids.extend(snapshots(region, run_id).await);
    if ids.is_empty() {
        return;
    }
    let an_hour_ago = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let value = an_hour_ago
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    ec2(region)
        .await
        .create_tags()
        .set_resources(Some(ids))
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("amibake:lease-until")
                .value(value)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_sweep_with_a_short_older_than_from_another_runner_leaves_a_live_bake_alone() {
    let region = "eu-west-3";
    let (mut bake, _state, other_runner) = mid_step(region, "lease-live", 20);

    let out = sweep(region, other_runner.path(), &["--older-than", "1s"]);
    configure(region, serde_json::json!({}));
    expect_exit(&out, 0);
    let evs = events(&out);
    let swept = leftovers_of(&evs, &bake.run_id);
    assert!(swept.is_empty(), "sweep removed the live bake's {swept:?}");
    let kept = evs
        .iter()
        .find(|e| e["event"] == "kept" && e["run_id"] == bake.run_id.as_str())
        .unwrap_or_else(|| panic!("no `kept` event for the live run: {}", show(&out)));
    assert_eq!(kept["reason"], "lease", "{kept}");

    let rest: Vec<serde_json::Value> = bake
        .lines
        .by_ref()
        .filter_map(|l| serde_json::from_str(&l.ok()?).ok())
        .collect();
    let status = bake.child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "the bake failed after the sweep: {:?}",
        rest.iter().find(|e| e["event"] == "error")
    );
    rt().block_on(assert_nothing_left(&[region], &bake.run_id, true));
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_run_whose_lease_ran_out_is_swept() {
    let region = "ca-central-1";
    let (bake, _state, other_runner) = mid_step(region, "lease-out", 60);
    let run_id = kill(bake);
    configure(region, serde_json::json!({}));

    // Killed a moment ago: its lease still runs, and another runner cannot tell it is dead.
    let fresh = sweep(region, other_runner.path(), &["--older-than", "0s"]);
    expect_exit(&fresh, 0);
    assert!(
        leftovers_of(&events(&fresh), &run_id).is_empty(),
        "{}",
        show(&fresh)
    );
    rt().block_on(async {
        assert_eq!(live_instances(region, &run_id).await.len(), 1);
        expire_lease(region, &run_id).await;
    });

    let out = sweep(region, other_runner.path(), &["--older-than", "0s"]);
    expect_exit(&out, 0);
    assert_swept_instance_and_group(&out, &run_id);
    rt().block_on(assert_nothing_left(&[region], &run_id, false));
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn sweep_finds_a_leftover_copy_in_a_journaled_region_and_with_all_regions() {
    // `--all-regions` reads every region: alone, so that it neither meets other tests'
    // resources nor adds its requests to the counts of their regions.
    crate::support::emulator::claim_alone();
    let (home, far) = ("ap-southeast-3", "ap-southeast-7");
    let (state, other_runner) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let recipe = recipe(state.path(), "lease-copy", &[far]);
    configure(home, serde_json::json!({}));
    let copying = |e: &serde_json::Value| e["event"] == "copy" && e["region"] == far;
    let run_id = kill(start_bake(home, state.path(), &recipe, copying));
    rt().block_on(async {
        assert_eq!(images(far, &run_id).await.len(), 1, "the copy exists");
        expire_lease(home, &run_id).await;
        expire_lease(far, &run_id).await;
    });

    // Another runner, no journal: only --all-regions reaches the copy's region.
    let all = sweep(
        home,
        other_runner.path(),
        &["--all-regions", "--older-than", "0s", "--dry-run"],
    );
    expect_exit(&all, 0);
    let evs = events(&all);
    assert!(
        leftovers_of(&evs, &run_id)
            .iter()
            .any(|e| e["region"] == far && e["kind"] == "image"),
        "--all-regions did not list the copy in {far}: {}",
        show(&all)
    );

    // The runner that baked: its journal names the copy's region.
    let out = sweep(home, state.path(), &["--older-than", "0s"]);
    expect_exit(&out, 0);
    rt().block_on(assert_nothing_left(&[home, far], &run_id, false));
}

/// A nightly job cancelled while its probe asks for pending updates (a CI job killed at
/// that moment): the probe instance and the security group are the run's leftovers, and
/// the runner's own sweep removes them at once (its journal shows the run ended).
#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_nightly_job_killed_during_its_probe_leaves_only_what_sweep_removes() {
    let region = "ap-northeast-2";
    let state = fresh_state(region, serde_json::json!({}));
    let recipe = recipe(state.path(), "probe-kill", &[]);
    let text = std::fs::read_to_string(&recipe).unwrap() + "rebuild: { updates: security }\n";
    std::fs::write(&recipe, text).unwrap();
    expect_exit(&bake_json(region, state.path(), &recipe, &[]), 0);

    configure(
        region,
        serde_json::json!({ "command_in_progress_seconds": 60 }),
    );
    let probing = start_bake_with(region, state.path(), &recipe, &["--if-changed"], |e| {
        e["event"] == "phase" && e["phase"] == "probe" && e["state"] == "start"
    });
    let run_id = kill(probing);
    configure(region, serde_json::json!({}));
    rt().block_on(async {
        assert_eq!(
            live_instances(region, &run_id).await.len(),
            1,
            "the probe instance outlived the killed run"
        );
    });

    let out = sweep(region, state.path(), &["--older-than", "0s"]);
    expect_exit(&out, 0);
    assert_swept_instance_and_group(&out, &run_id);
    rt().block_on(assert_nothing_left(&[region], &run_id, false));
}
