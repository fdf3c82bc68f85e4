//! `amibake sweep` against the emulator: what a killed bake leaves behind is found by its
//! tags and removed; successful bakes' images are never touched; a run another runner
//! cannot tell is dead stays while its lease runs.

use crate::support::emulator;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

use emulator::*;
/// Starts a bake whose commands run for a minute, waits until a step runs, kills it with
/// SIGKILL (no cleanup at all), and returns its run id.
fn kill_a_bake_mid_step(region: &str, state: &std::path::Path) -> String {
    configure(
        region,
        serde_json::json!({ "command_in_progress_seconds": 60 }),
    );
    let mut child = amibake(region, state)
        .args(["--json", "bake", "recipes/al2023-tomcat-codedeploy.yaml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut run_id = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let event: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        if event["event"] == "start" {
            run_id = event["run_id"].as_str().map(str::to_string);
        }
        if event["event"] == "step" && event["state"] == "start" {
            break;
        }
    }
    let status = Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    child.wait().unwrap();
    run_id.expect("start event")
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn sweep_removes_everything_a_killed_bake_left() {
    let region = "af-south-1";
    let state = tempfile::tempdir().unwrap();
    let run_id = kill_a_bake_mid_step(region, state.path());
    rt().block_on(async {
        assert_eq!(
            live_instances(region, &run_id).await.len(),
            1,
            "the builder outlived the kill"
        );
        assert_eq!(security_groups(region, &run_id).await.len(), 1);
    });

    let dry = run_expect(
        region,
        state.path(),
        &["--json", "sweep", "--older-than", "0s", "--dry-run"],
        0,
    );
    let listed: Vec<_> = events(&dry)
        .into_iter()
        .filter(|e| e["event"] == "leftover" && e["run_id"] == run_id.as_str())
        .collect();
    let kinds: Vec<&str> = listed.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(
        kinds.contains(&"instance") && kinds.contains(&"security_group"),
        "{kinds:?}"
    );
    assert!(listed.iter().all(|e| e["dry_run"] == true));
    rt().block_on(async {
        assert_eq!(
            live_instances(region, &run_id).await.len(),
            1,
            "a dry run removes nothing"
        );
    });

    run_expect(
        region,
        state.path(),
        &["--json", "sweep", "--older-than", "0s"],
        0,
    );
    rt().block_on(assert_nothing_left(&[region], &run_id, false));
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn sweep_leaves_young_runs_clean_runs_and_complete_images_alone() {
    let region = "me-central-1";
    let state = fresh_state(region, serde_json::json!({}));
    let ok = bake_json(region, state.path(), &repo(BOOT_TEST_RECIPE), &[]);
    expect_exit(&ok, 0);
    let baked = run_id(&events(&ok));
    let killed = kill_a_bake_mid_step(region, state.path());

    // Too young: the killed run is not an hour old.
    let young = run_expect(region, state.path(), &["--json", "sweep"], 0);
    assert!(
        events(&young).iter().all(|e| e["event"] != "leftover"),
        "nothing is an hour old"
    );

    // A fresh state directory: no journals, so only the complete tag protects the image,
    // and the killed run's lease (it died a moment ago) keeps it from another runner.
    let elsewhere = tempfile::tempdir().unwrap();
    let out = run_expect(
        region,
        elsewhere.path(),
        &["--json", "sweep", "--older-than", "0s"],
        0,
    );
    let swept: Vec<String> = events(&out)
        .iter()
        .filter(|e| e["event"] == "leftover")
        .map(|e| e["run_id"].as_str().unwrap().to_string())
        .collect();
    assert!(
        swept.iter().all(|r| *r != baked),
        "the successful bake was swept: {swept:?}"
    );
    assert!(
        swept.iter().all(|r| *r != killed),
        "another runner swept a run whose lease still runs: {swept:?}"
    );

    // Here its journal shows the process is gone: the lease does not keep it.
    run_expect(
        region,
        state.path(),
        &["--json", "sweep", "--older-than", "0s"],
        0,
    );
    rt().block_on(async {
        assert_eq!(
            images(region, &baked).await.len(),
            1,
            "the complete image stays"
        );
        assert!(images("us-west-2", &baked).await.len() == 1, "and its copy");
        assert_nothing_left(&[region], &killed, false).await;
    });
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn sweep_rejects_a_bad_age_before_calling_aws() {
    let state = tempfile::tempdir().unwrap();
    let out = run_expect(
        "eu-west-1",
        state.path(),
        &["sweep", "--older-than", "ten minutes"],
        2,
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid duration"));
}
