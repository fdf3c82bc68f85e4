//! `amibake promote --plan` against the local emulator: the plan only reads (the emulator
//! counts every call by region; nothing changes), and the plan it prints is what the
//! real promote then does — the same channel values, the copy, the shares, and no call
//! that is not in a step's list. Regions of its own (us-gov-west-1, us-gov-east-1: no
//! other test uses them, so the emulator's per-region counts are this test's).

use crate::support::emulator;
use crate::support::promotion::{self, Manifest};

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;

use emulator::events as events_of;
use emulator::*;
use serde_json::Value;

const HOME: &str = "us-gov-west-1";
const FAR: &str = "us-gov-east-1";
const ACCOUNT: &str = "111122223333";

/// An image of this account in HOME that looks like a complete bake of `recipe` (a copy
/// of an Amazon image, tagged at creation as a bake tags it).
async fn baked(recipe: &str) -> String {
    let amazon = ec2(HOME)
        .await
        .describe_images()
        .owners("amazon")
        .send()
        .await
        .expect("DescribeImages")
        .images()
        .iter()
        .find_map(|i| i.image_id().map(str::to_string))
        .expect("an Amazon image");
    tagged_copy(HOME, &amazon, &unique(recipe), &complete_tags(recipe)).await
}

/// A recipe with `promotion: [dev, staging]` and a manifest of `ami` in HOME.
fn files(dir: &Path, name: &str, ami: &str) -> PathBuf {
    let recipe = promotion::write_recipe(
        dir,
        name,
        "{ ami: ami-0123456789abcdef0 }",
        "x-{{ timestamp }}",
        "[dev, staging]",
    );
    let manifest = Manifest {
        recipe: name,
        recipe_file: &recipe,
        run_id: "run-plan",
        region: HOME,
        ami,
        name: "x",
    };
    manifest.write(dir.join("m.json"))
}

/// `amibake --json promote` in HOME.
fn promote(state: &Path, manifest: &Path, env: &str, extra: &[&str]) -> Output {
    promote_json(HOME, state, manifest, env, extra)
}

/// The calls the emulator has counted, by region then `service:Action`.
type Calls = BTreeMap<String, BTreeMap<String, u64>>;

fn calls() -> Calls {
    [HOME, FAR]
        .iter()
        .map(|r| (r.to_string(), call_counts(r)))
        .collect()
}

/// The calls made between two counts, by region.
fn made(before: &Calls, after: &Calls) -> BTreeMap<String, BTreeSet<String>> {
    after
        .iter()
        .map(|(region, counts)| {
            let made = counts
                .iter()
                .filter(|(call, n)| before[region].get(*call).copied().unwrap_or(0) < **n)
                .map(|(call, _)| call.clone())
                .collect();
            (region.clone(), made)
        })
        .collect()
}

/// A plan's calls for a region, of its read steps or of all of them.
fn planned(plan: &Value, region: &str, writes_too: bool) -> BTreeSet<String> {
    let region = plan["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["region"] == region)
        .unwrap_or_else(|| panic!("{region} in {plan}"));
    region["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| writes_too || s["write"] == false)
        .flat_map(|s| s["calls"].as_array().unwrap().iter())
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

/// What the emulator holds that a promote could change: the channel in each region, the
/// copies of `ami` in FAR, and who may launch `ami`.
fn world(name: &str, env: &str, ami: &str) -> Value {
    rt().block_on(async {
        let mut channels = Vec::new();
        for r in [HOME, FAR] {
            let p = parameter(r, &format!("/amibake/{name}/{env}")).await;
            channels.push(p.and_then(|p| p.value));
        }
        let copies = copies_of(FAR, ami).await;
        let launch = ec2(HOME)
            .await
            .describe_image_attribute()
            .image_id(ami)
            .attribute(aws_sdk_ec2::types::ImageAttributeName::LaunchPermission)
            .send()
            .await
            .expect("DescribeImageAttribute")
            .launch_permissions()
            .iter()
            .filter_map(|p| p.user_id().map(str::to_string))
            .collect::<Vec<_>>();
        serde_json::json!({ "channels": channels, "copies": copies, "launch": launch })
    })
}

/// The one `plan` event of a `--plan` run that exited 0.
fn plan_of(out: &Output) -> Value {
    expect_exit(out, 0);
    let evs = events_of(out);
    let plans: Vec<&Value> = evs.iter().filter(|e| e["event"] == "plan").collect();
    assert_eq!(plans.len(), 1, "{evs:?}");
    plans[0].clone()
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn the_plan_changes_nothing_and_promote_then_does_what_it_said() {
    configure(HOME, serde_json::json!({}));
    let state = fresh_state(FAR, serde_json::json!({}));
    let dir = state.path();
    let name = unique("promo-plan");
    let ami = rt().block_on(baked(&name));
    let manifest = files(dir, &name, &ami);
    let args = ["--copy-to", FAR, "--share-with", ACCOUNT];

    // staging before dev: the plan says promote would refuse, and exits 0.
    let world_before = world(&name, "dev", &ami);
    let before = calls();
    let refused = plan_of(&promote(dir, &manifest, "staging", &["--plan"]));
    assert_eq!(refused["verdict"]["refuses"], true, "{refused}");
    assert_eq!(refused["verdict"]["exit_code"], 1, "{refused}");
    assert_eq!(refused["order"]["passes"], false, "{refused}");

    // dev, with a copy and a share: read only, nothing changed.
    let plan = plan_of(&promote(
        dir,
        &manifest,
        "dev",
        &[&args[..], &["--dry-run"]].concat(),
    ));
    let seen = made(&before, &calls());
    for region in [HOME, FAR] {
        let reads = planned(&plan, region, false);
        assert!(
            seen[region].is_subset(&reads),
            "{region}: {seen:?} not in {reads:?}"
        );
    }
    assert_eq!(
        world(&name, "dev", &ami),
        world_before,
        "--plan changed nothing"
    );
    assert_eq!(plan["verdict"]["refuses"], false, "{plan}");

    // The real promote does what the plan said, with no call outside the plan's steps.
    let before = calls();
    let out = promote(dir, &manifest, "dev", &args);
    expect_exit(&out, 0);
    let seen = made(&before, &calls());
    for region in [HOME, FAR] {
        let all = planned(&plan, region, true);
        assert!(
            seen[region].is_subset(&all),
            "{region}: {seen:?} not in {all:?}"
        );
    }
    assert!(seen[FAR].contains("ec2:CopyImage") && seen[HOME].contains("ssm:PutParameter"));
    let done = last(&events_of(&out), "done");
    let copy_id = done["regions"][1]["new"].as_str().unwrap().to_string();
    for (planned, did) in plan["regions"].as_array().unwrap().iter().zip(
        [1, 0].map(|i| &done["regions"][i]), // the plan writes home last; done lists it first
    ) {
        assert_eq!(planned["region"], did["region"]);
        assert_eq!(planned["old"], did["old"]);
        assert_eq!(planned["unchanged"], !did["changed"].as_bool().unwrap());
        if planned["copy"].is_null() {
            assert_eq!(planned["new"], did["new"]);
        } else {
            assert!(planned["new"].is_null() && planned["copy"]["source"] == ami.as_str());
        }
    }
    let after = world(&name, "dev", &ami);
    assert_eq!(after["channels"], serde_json::json!([ami, copy_id]));
    assert_eq!(after["copies"], serde_json::json!([copy_id]));
    assert_eq!(after["launch"], serde_json::json!([ACCOUNT]));

    // Planned again: the copy is reused, both channels unchanged, no write step.
    let again = plan_of(&promote(
        dir,
        &manifest,
        "dev",
        &[&args[..], &["--plan"]].concat(),
    ));
    let far = &again["regions"][0];
    assert_eq!(far["copy"]["reuse"], copy_id.as_str(), "{again}");
    for region in again["regions"].as_array().unwrap() {
        assert_eq!(region["unchanged"], true, "{region}");
        let writes: Vec<&Value> = (region["steps"].as_array().unwrap().iter())
            .filter(|s| s["write"] == true && s["step"] != "share")
            .collect();
        assert!(writes.is_empty(), "{writes:?}");
    }
}
