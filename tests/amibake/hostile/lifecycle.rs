//! See tests/amibake/hostile/mod.rs. The lifecycle around a bake, as a second CI runner,
//! a shared account and a hurried user meet it: `sweep` never removes a live run (a lease
//! the bake keeps fresh decides, not age) and covers every region a run used (`sweep`);
//! `promote` publishes only this recipe's complete images of this account (`promote`);
//! `prune` keeps every stack's rollback target; a taken AMI name and an unwritable
//! manifest stop a bake before it creates anything (both here).

mod promote;
mod sweep;

use std::path::{Path, PathBuf};

use crate::support::emulator::*;
use crate::support::stacks;

/// tests/fixtures/boot-test.yaml under a name of its own, its copies going to `copy_to`.
fn recipe(dir: &Path, label: &str, copy_to: &[&str]) -> PathBuf {
    let path = unique_boot_test_recipe(dir, label);
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "copy_to: [us-west-2]",
        &format!("copy_to: [{}]", copy_to.join(", ")),
    );
    let text = if copy_to.is_empty() {
        text.replace("  copy_to: []\n", "")
    } else {
        text
    };
    std::fs::write(&path, text).unwrap();
    path
}

/// An image of this account in `region` (a copy of an Amazon image), with these tags,
/// given at creation (the IAM policy the emulator enforces allows no other way).
async fn own_image(region: &str, tags: &[(&str, &str)]) -> String {
    let (amazon, _) = two_amis(region).await;
    tagged_copy(region, &amazon, &unique("own"), tags).await
}

// ---- 12. prune keeps every stack's rollback target ----------------------------------

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn prune_keeps_a_stacks_previous_image_so_rollback_still_works() {
    let region = "eu-north-1";
    let state = fresh_state(region, serde_json::json!({}));
    let recipe = unique("prune-rollback");
    let stack = unique("web-prod");
    let rt = rt();
    let (vpc, subnets) = rt.block_on(stacks::default_network(region));
    let complete = complete_tags(&recipe);
    let previous = rt.block_on(own_image(region, &complete));
    let args = stacks::create_args(
        "cfn-templates/asg-rolling.yaml",
        &stack,
        &previous,
        &vpc,
        &subnets,
    );
    stacks::create_stack(region, state.path(), &args);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let current = rt.block_on(own_image(region, &complete));
    run_expect(
        region,
        state.path(),
        &["roll", "--stack", &stack, "--ami", &current, "--yes"],
        0,
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let newest = rt.block_on(own_image(region, &complete));

    let out = run_expect(
        region,
        state.path(),
        &[
            "--json",
            "prune",
            "--recipe",
            &recipe,
            "--keep",
            "1",
            "--older-than",
            "0s",
        ],
        0,
    );
    let evs = events(&out);
    let removed: Vec<&str> = evs
        .iter()
        .filter(|e| e["event"] == "remove")
        .filter_map(|e| e["ami"].as_str())
        .collect();
    assert!(
        !removed.contains(&previous.as_str()),
        "prune removed {previous}, the rollback target of {stack}: {}",
        show(&out)
    );
    let kept = evs
        .iter()
        .find(|e| e["event"] == "kept" && e["ami"] == previous.as_str())
        .unwrap_or_else(|| panic!("{}", show(&out)));
    assert!(
        kept["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == "rollback_target" && r["stack"] == stack.as_str()),
        "{kept}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&newest),
        "{}",
        show(&out)
    );

    // The rollback after the prune.
    run_expect(
        region,
        state.path(),
        &["--json", "rollback", "--stack", &stack, "--yes"],
        0,
    );
}

// ---- 14. a taken AMI name and an unwritable manifest stop a bake before it creates ---

/// The bake created nothing: no resource event, and no instance, group or image of its
/// run anywhere it could have made one.
fn assert_created_nothing(out: &std::process::Output, regions: &[&str]) {
    let evs = events(out);
    let made: Vec<&serde_json::Value> = evs.iter().filter(|e| e["event"] == "resource").collect();
    assert!(made.is_empty(), "the bake created {made:?}: {}", show(out));
    // No start event: the bake stopped before it had a run, so nothing is tagged with one.
    if evs.iter().any(|e| e["event"] == "start") {
        let run_id = run_id(&evs);
        rt().block_on(assert_nothing_left(regions, &run_id, false));
    }
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_bake_whose_ami_name_is_taken_fails_before_creating_anything() {
    let (home, far) = ("ap-northeast-3", "eu-west-2");
    let state = fresh_state(home, serde_json::json!({}));
    for (taken_in, label) in [(home, "taken-home"), (far, "taken-far")] {
        let recipe = recipe(state.path(), label, &[far]);
        let name = unique(label);
        let text = std::fs::read_to_string(&recipe)
            .unwrap()
            .replace("\"{{ recipe }}-{{ run_id }}\"", &format!("\"{name}\""));
        std::fs::write(&recipe, text).unwrap();
        let taken = rt().block_on(async {
            let (amazon, _) = two_amis(taken_in).await;
            tagged_copy(taken_in, &amazon, &name, &[]).await
        });
        let out = bake_json(home, state.path(), &recipe, &[]);
        expect_exit(&out, 2);
        let text = show(&out);
        assert!(
            text.contains(&name) && text.contains(taken_in) && text.contains(&taken),
            "the error names the AMI, its region and the image holding the name: {text}"
        );
        assert_created_nothing(&out, &[home, far]);
    }
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn an_unwritable_manifest_directory_fails_the_bake_before_creating_anything() {
    let region = "ap-northeast-3";
    let state = fresh_state(region, serde_json::json!({}));
    let recipe = recipe(state.path(), "manifest-dir", &[]);
    let missing = state.path().join("no-such-dir").join("m.json");
    let out = amibake(region, state.path())
        .args(["--json", "bake"])
        .arg(&recipe)
        .arg("--manifest")
        .arg(&missing)
        .output()
        .unwrap();
    expect_exit(&out, 2);
    assert!(
        show(&out).contains("no-such-dir"),
        "the error names the manifest path: {}",
        show(&out)
    );
    assert_created_nothing(&out, &[region]);
}
