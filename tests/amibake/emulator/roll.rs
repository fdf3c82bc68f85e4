//! `amibake roll` and `rollback` end to end against the local emulator (moto +
//! emulator/; see emulator/README.md), on `cfn-templates/asg-rolling.yaml`. Each test
//! uses its own region so emulator knobs and stacks cannot leak between tests.
//!
//! The stacks run one instance: the launch template, its versions and the group's
//! pointer at them are what a roll changes.

use crate::support::emulator;

use crate::support::stacks;

use emulator::events as events_of;
use emulator::*;
use stacks::*;

const TEMPLATE: &str = "cfn-templates/asg-rolling.yaml";

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn create_roll_no_op_plan_and_rollback_move_the_group_between_images() {
    let region = "us-east-2";
    let name = &unique("web-roll");
    let (state, rt, (vpc, subnets), (a, b)) = roll_region(region, serde_json::json!({}));

    // Not a terminal and no --yes: refused before anything is created (exit 2).
    let out = amibake(region, state.path())
        .args(create_args(TEMPLATE, name, AL2023, &vpc, &subnets))
        .output()
        .unwrap();
    expect_exit(&out, 2);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("pass --yes"),
        "{}",
        show(&out)
    );
    assert!(
        rt.block_on(stack(region, name)).is_none(),
        "nothing was created"
    );

    // Create on A, named by the AL2023 SSM parameter (resolved to the concrete id).
    let args = create_args(TEMPLATE, name, AL2023, &vpc, &subnets);
    let out = create_stack(region, state.path(), &args);
    let evs = events_of(&out);
    let done = last(&evs, "done");
    assert_eq!(done["outcome"], "created", "{done}");
    assert_eq!(done["region"], region);
    assert_eq!(done["ami"], a.as_str());
    assert_eq!(done["launch_template_version"], "1");
    assert_eq!(last(&evs, "resolved")["ami"], a.as_str());
    assert!(
        evs.iter()
            .any(|e| e["event"] == "stack_event" && e["status"] == "CREATE_COMPLETE"),
        "the creation's events are streamed: {evs:?}"
    );
    let s = rt.block_on(stack(region, name)).expect("the stack exists");
    assert_eq!(s.status, "CREATE_COMPLETE");
    assert_eq!(s.params["ImageId"], a);
    assert_eq!(s.tags["amibake:image-id"], a);
    assert!(!s.tags.contains_key("amibake:previous-image-id"));
    let group = s.outputs["AsgName"].clone();
    let (lt, version) = rt.block_on(group_launch_template(region, &group));
    assert_eq!(version, "1");
    assert_eq!(rt.block_on(launch_template_image(region, &lt, "1")), a);

    // Roll to B, taken from a bake's manifest for this region.
    let manifest = state.path().join("manifest.json");
    std::fs::write(
        &manifest,
        serde_json::json!({
            "tool": { "name": "amibake", "version": "0.1.0" }, "recipe": "web", "recipe_file": "web.yaml",
            "run_id": "r", "region": "eu-west-1", "input_hash": "h",
            "source_ami": { "id": a, "name": "al2023", "resolved_from": "ami" },
            "amis": [
                { "region": "eu-west-1", "ami_id": "ami-0000000000000eu01", "name": "web", "snapshot_ids": [] },
                { "region": region, "ami_id": b, "name": "web", "snapshot_ids": [] }
            ],
            "started_at": "", "finished_at": "", "duration_seconds": 0.0,
            "phases": [], "steps": [], "validation": []
        })
        .to_string(),
    )
    .unwrap();
    let out = amibake(region, state.path())
        .args(["--json", "roll", "--stack", name, "--manifest"])
        .arg(&manifest)
        .args([
            "--rollback-alarm",
            "arn:aws:cloudwatch:us-east-2:123456789012:alarm:web-5xx",
            "--yes",
        ])
        .output()
        .unwrap();
    expect_exit(&out, 0);
    let evs = events_of(&out);
    let done = last(&evs, "done");
    assert_eq!(done["outcome"], "rolled", "{done}");
    assert_eq!(done["from_ami"], a.as_str());
    assert_eq!(done["to_ami"], b.as_str());
    assert_eq!(done["from_version"], "1");
    assert_eq!(done["to_version"], "2");
    let changed: Vec<&str> = evs
        .iter()
        .filter(|e| e["event"] == "change")
        .map(|e| e["logical_id"].as_str().unwrap())
        .collect();
    assert!(
        changed.contains(&"LaunchTemplate") && changed.contains(&"AutoScalingGroup"),
        "{changed:?}"
    );
    assert!(
        evs.iter()
            .any(|e| e["event"] == "stack_event" && e["status"] == "UPDATE_COMPLETE")
    );
    let s = rt.block_on(stack(region, name)).unwrap();
    assert_eq!(s.status, "UPDATE_COMPLETE");
    assert_eq!(s.params["ImageId"], b);
    assert_eq!(s.outputs["LaunchTemplateVersion"], "2");
    assert_eq!(s.tags["amibake:previous-image-id"], a);
    assert_eq!(s.tags["amibake:image-id"], b);
    let (lt2, version) = rt.block_on(group_launch_template(region, &group));
    assert_eq!(
        (lt2.as_str(), version.as_str()),
        (lt.as_str(), "2"),
        "the group points at the new version"
    );
    assert_eq!(rt.block_on(launch_template_image(region, &lt, "2")), b);

    // B again: nothing to do.
    let out = run_expect(
        region,
        state.path(),
        &["--json", "roll", "--stack", name, "--ami", &b, "--yes"],
        0,
    );
    let done = last(&events_of(&out), "done");
    assert_eq!(done["outcome"], "already_on", "{done}");
    assert_eq!(done["ami"], b.as_str());
    let s = rt.block_on(stack(region, name)).unwrap();
    assert_eq!(s.outputs["LaunchTemplateVersion"], "2");
    assert_eq!(s.tags["amibake:previous-image-id"], a, "the record is kept");

    // --plan back to A: the changes, nothing executed, no change set left.
    let out = run_expect(
        region,
        state.path(),
        &["--json", "roll", "--stack", name, "--ami", &a, "--plan"],
        0,
    );
    let evs = events_of(&out);
    let done = last(&evs, "done");
    assert_eq!(done["outcome"], "planned", "{done}");
    let plan_change_set = last(&evs, "start")["change_set"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!done["changes"].as_array().unwrap().is_empty(), "{done}");
    let s = rt.block_on(stack(region, name)).unwrap();
    assert_eq!(s.params["ImageId"], b);
    assert_eq!(s.outputs["LaunchTemplateVersion"], "2");
    assert!(
        !rt.block_on(change_sets(region, name))
            .contains(&plan_change_set),
        "the plan's change set {plan_change_set} is deleted"
    );

    // rollback: back to A (in plain text this time), the record turned around.
    let out = run_expect(
        region,
        state.path(),
        &["--no-progress", "rollback", "--stack", name, "--yes"],
        0,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "rolled {name}: {b} → {a} (launch template version 2 → 3)"
        )),
        "{}",
        show(&out)
    );
    let s = rt.block_on(stack(region, name)).unwrap();
    assert_eq!(s.params["ImageId"], a);
    assert_eq!(s.tags["amibake:previous-image-id"], b);
    assert_eq!(s.tags["amibake:image-id"], a);
    let (_, version) = rt.block_on(group_launch_template(region, &group));
    assert_eq!(version, "3");
    assert_eq!(rt.block_on(launch_template_image(region, &lt, "3")), a);
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_failing_update_rolls_back_by_itself_and_exits_1_with_the_reason() {
    let region = "ap-northeast-1";
    let name = &unique("web-fail");
    let (state, rt, (vpc, subnets), (a, b)) = roll_region(region, serde_json::json!({}));
    create_stack(
        region,
        state.path(),
        &create_args(TEMPLATE, name, &a, &vpc, &subnets),
    );
    let group = rt.block_on(stack(region, name)).unwrap().outputs["AsgName"].clone();

    // A fresh stack has no previous image: rollback refuses (exit 1).
    let out = amibake(region, state.path())
        .args(["--json", "rollback", "--stack", name, "--yes"])
        .output()
        .unwrap();
    let error = expect_error(&out, 1);
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("has no previous image recorded"),
        "{error}"
    );
    assert_eq!(error["exit_code"], 1);

    // The new instances never signal: CloudFormation rolls back by itself.
    configure(region, serde_json::json!({ "fail_stack_update": true }));
    let out = amibake(region, state.path())
        .args(["--json", "roll", "--stack", name, "--ami", &b, "--yes"])
        .output()
        .unwrap();
    let error = expect_error(&out, 1);
    let evs = events(&out);
    let text = error["error"].as_str().unwrap();
    assert!(
        text.starts_with(&format!("{name} rolled back to {a}: AutoScalingGroup UPDATE_FAILED: Received 0 SUCCESS signal(s)")),
        "{text}"
    );
    assert_eq!(error["exit_code"], 1);
    assert_eq!(error["ami"], a.as_str());
    assert!(
        error["reason"]
            .as_str()
            .unwrap()
            .starts_with("AutoScalingGroup UPDATE_FAILED: Received 0 SUCCESS signal(s)"),
        "{error}"
    );
    assert!(
        evs.iter()
            .any(|e| e["event"] == "stack_event" && e["status"] == "UPDATE_ROLLBACK_COMPLETE")
    );
    let s = rt.block_on(stack(region, name)).unwrap();
    assert_eq!(s.status, "UPDATE_ROLLBACK_COMPLETE");
    assert_eq!(s.params["ImageId"], a, "still on the old image");
    assert!(!s.tags.contains_key("amibake:previous-image-id"));
    let (_, version) = rt.block_on(group_launch_template(region, &group));
    assert_eq!(version, "1", "the group still runs the old version");

    // Once the cause is gone, the same roll goes through.
    configure(region, serde_json::json!({}));
    let out = run_expect(
        region,
        state.path(),
        &["--json", "roll", "--stack", name, "--ami", &b, "--yes"],
        0,
    );
    let done = last(&events_of(&out), "done");
    assert_eq!(done["outcome"], "rolled");
    assert_eq!(done["to_ami"], b.as_str());
}
