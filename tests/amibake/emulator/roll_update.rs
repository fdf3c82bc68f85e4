//! `amibake roll` watched while the update takes time, against the local emulator with
//! `stack_update_seconds` set (emulator/README.md), for both templates: the rolling
//! update (`cfn-templates/asg-rolling.yaml`) and the instance refresh
//! (`cfn-templates/asg-instance-refresh.yaml`). For each: create, update old → new (the
//! stack events released over the update, and for the refresh its progress), no-op, an
//! update that fails and rolls back (exit 1, the stack on the old image), `rollback`,
//! Ctrl-C during an update (the cancel command printed, exit 130), and the refusal while
//! an update (and its refresh) runs. Each template has its own region.

use crate::support::emulator;
use crate::support::stacks;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use emulator::events as events_of;
use emulator::*;
use stacks::*;

const ROLLING: &str = "cfn-templates/asg-rolling.yaml";
const REFRESH: &str = "cfn-templates/asg-instance-refresh.yaml";

/// How long an update takes in the emulator.
const UPDATE_SECONDS: u64 = 3;

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn the_rolling_update_is_watched_while_it_takes_time() {
    updates_over_time(ROLLING, "eu-west-3", false);
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn the_instance_refresh_is_watched_while_it_takes_time() {
    updates_over_time(REFRESH, "ap-northeast-3", true);
}

fn updates_over_time(template: &str, region: &str, refresh: bool) {
    let name = &unique("web-slow");
    let timing = serde_json::json!({ "stack_update_seconds": UPDATE_SECONDS });
    let (state, rt, (vpc, subnets), (a, b)) = roll_region(region, timing.clone());
    let roll = |args: &[&str]| {
        amibake(region, state.path())
            .arg("--json")
            .args(args)
            .output()
            .unwrap()
    };

    // Create on A.
    create_stack(
        region,
        state.path(),
        &create_args(template, name, &a, &vpc, &subnets),
    );

    // A → B: the update takes its time, and the roll shows it happening.
    let started = Instant::now();
    let out = roll(&["roll", "--stack", name, "--ami", &b, "--yes"]);
    expect_exit(&out, 0);
    assert!(started.elapsed() >= Duration::from_secs(UPDATE_SECONDS));
    let evs = events_of(&out);
    let policy = if refresh {
        "instance_refresh"
    } else {
        "rolling_update"
    };
    assert_eq!(last(&evs, "start")["policy"], policy);
    let statuses = stack_statuses(&evs);
    let at = |s: &str| statuses.iter().position(|x| x == s);
    // Both seen, in-progress first (an Option compare would hold with in-progress unseen).
    match (at("UPDATE_IN_PROGRESS"), at("UPDATE_COMPLETE")) {
        (Some(progress), Some(complete)) => assert!(progress < complete, "{statuses:?}"),
        seen => panic!(
            "both UPDATE_IN_PROGRESS and UPDATE_COMPLETE expected, saw {seen:?}: {statuses:?}"
        ),
    }
    if refresh {
        let refreshes: Vec<&serde_json::Value> =
            evs.iter().filter(|e| e["event"] == "refresh").collect();
        assert!(refreshes.len() >= 2, "the refresh is followed: {evs:?}");
        assert_eq!(refreshes.last().unwrap()["status"], "Successful");
        assert_eq!(refreshes.last().unwrap()["percent_complete"], 100);
    }
    let done = last(&evs, "done");
    assert_eq!(done["outcome"], "rolled", "{done}");
    assert_eq!(done["to_ami"], b.as_str());
    assert_eq!(
        rt.block_on(stack(region, name)).unwrap().params["ImageId"],
        b
    );

    // B again: nothing to do.
    let out = roll(&["roll", "--stack", name, "--ami", &b, "--yes"]);
    expect_exit(&out, 0);
    assert_eq!(last(&events_of(&out), "done")["outcome"], "already_on");

    // B → A fails and rolls back over time: exit 1, still on B.
    let mut failing = timing.clone();
    if refresh {
        failing["fail_instance_refresh"] = "web-5xx".into();
    } else {
        failing["fail_stack_update"] = true.into();
    }
    configure(region, failing);
    let out = roll(&["roll", "--stack", name, "--ami", &a, "--yes"]);
    expect_exit(&out, 1);
    let evs = events_of(&out);
    let statuses = stack_statuses(&evs);
    assert!(
        statuses.contains(&"UPDATE_ROLLBACK_IN_PROGRESS".to_string())
            && statuses.last().map(String::as_str) == Some("UPDATE_ROLLBACK_COMPLETE"),
        "{statuses:?}"
    );
    let error = last(&evs, "error");
    assert_eq!(error["ami"], b.as_str(), "{error}");
    if refresh {
        assert!(
            error["reason"].as_str().unwrap().contains("web-5xx"),
            "the alarm that fired: {error}"
        );
    }
    assert_eq!(
        rt.block_on(stack(region, name)).unwrap().params["ImageId"],
        b
    );
    configure(region, timing.clone());

    // rollback: back to A, the image B replaced.
    let out = roll(&["rollback", "--stack", name, "--yes"]);
    expect_exit(&out, 0);
    assert_eq!(last(&events_of(&out), "done")["to_ami"], a.as_str());

    // While an update (and its refresh) runs, another roll is refused.
    let mut running = spawn_roll(region, state.path(), name, &b);
    wait_for_status(&rt, region, name, "UPDATE_IN_PROGRESS");
    let out = roll(&["roll", "--stack", name, "--ami", &b, "--yes"]);
    let error = expect_error(&out, 1);
    let text = error["error"].as_str().unwrap();
    assert!(
        text.contains("UPDATE_IN_PROGRESS") || text.contains("instance refresh"),
        "{text}"
    );
    assert!(running.wait().unwrap().success(), "the first roll goes on");

    // Ctrl-C during an update: the cancel command, exit 130.
    configure(
        region,
        serde_json::json!({ "stack_update_seconds": 4 * UPDATE_SECONDS }),
    );
    let mut child = spawn_roll(region, state.path(), name, &a);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.contains("\"stack_event\"") && line.contains("UPDATE_IN_PROGRESS") {
            break;
        }
    }
    let pid = child.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status();
    assert!(sent.unwrap().success());
    // What it prints after the interrupt, read to its end.
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    let out = child.wait_with_output().unwrap();
    expect_exit(&out, 130);
    let all = format!(
        "{}\n{}",
        rest.join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        all.contains(&format!("cancel-update-stack --stack-name {name}")),
        "{all}"
    );
    // The hint comes before the `error` event: a failed run's last line.
    let ended: serde_json::Value =
        serde_json::from_str(rest.last().map_or("", String::as_str)).expect("JSON lines");
    assert_eq!(ended["event"], "error", "{all}");
    assert_eq!(ended["exit_code"], 130, "{all}");
    wait_for_settled(&rt, region, name);
}

/// A roll onto `ami` with `--yes`, its JSON events piped.
fn spawn_roll(region: &str, state: &std::path::Path, name: &str, ami: &str) -> Child {
    amibake(region, state)
        .args(["--json", "roll", "--stack", name, "--ami", ami, "--yes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The stack's own statuses among the events, in order.
fn stack_statuses(evs: &[serde_json::Value]) -> Vec<String> {
    evs.iter()
        .filter(|e| {
            e["event"] == "stack_event" && e["resource_type"] == "AWS::CloudFormation::Stack"
        })
        .map(|e| e["status"].as_str().unwrap().to_string())
        .collect()
}

fn wait_for_status(rt: &tokio::runtime::Runtime, region: &str, name: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while rt.block_on(stack(region, name)).unwrap().status != want {
        assert!(Instant::now() < deadline, "the stack never became {want}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_for_settled(rt: &tokio::runtime::Runtime, region: &str, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while rt
        .block_on(stack(region, name))
        .unwrap()
        .status
        .ends_with("_IN_PROGRESS")
    {
        assert!(Instant::now() < deadline, "the stack never settled");
        std::thread::sleep(Duration::from_millis(200));
    }
}
