//! The preflight (the image name, copies, shares and keys) against the local emulator: a bake whose
//! share, copy region or copy key cannot work stops before anything is created (exit 2,
//! the account, region or key named with the fix); `plan --check` runs only the
//! preflight. Each test has its own home region (ones no other test uses: the bakes
//! start from the Ubuntu AMI the emulator seeds in every region).

use crate::support::emulator;

use std::path::{Path, PathBuf};
use std::process::Output;

use emulator::*;

const UBUNTU: &str =
    "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id";
const OTHER_ACCOUNT: &str = "444455556666";

/// A one-step Ubuntu recipe unique to the test, with `builder_extra` under `builder:` and
/// `image_extra` under `image:`.
fn write_recipe(dir: &Path, label: &str, builder_extra: &str, image_extra: &str) -> PathBuf {
    let text = format!(
        "name: {}\nsource:\n  ssm_parameter: {UBUNTU}\nbuilder:\n  os: ubuntu\n  iam_instance_profile: amibake-builder\n{builder_extra}steps:\n  - name: hello\n    shell: echo hello\nimage:\n  name: \"{{{{ recipe }}}}-{{{{ run_id }}}}\"\n{image_extra}",
        unique(label)
    );
    let path = dir.join(format!("{label}.yaml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn plan_check(region: &str, state: &Path, recipe: &Path, json: bool) -> Output {
    let mut cmd = amibake(region, state);
    if json {
        cmd.arg("--json");
    }
    cmd.args(["plan", "--check"]).arg(recipe).output().unwrap()
}

/// The `error` event's text, after asserting the exit code.
fn error_text(out: &Output, code: i32) -> String {
    expect_error(out, code)["error"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Nothing of the run exists and its journal records no resource.
fn nothing_created(region: &str, state: &Path, out: &Output) {
    let evs = events(out);
    let run_id = run_id(&evs);
    let rt = rt();
    assert!(rt.block_on(live_instances(region, &run_id)).is_empty());
    assert!(rt.block_on(security_groups(region, &run_id)).is_empty());
    assert!(rt.block_on(images(region, &run_id)).is_empty());
    assert!(
        evs.iter().all(|e| e["event"] != "resource"),
        "{}",
        show(out)
    );
    let journal = std::fs::read_to_string(state.join("runs").join(format!("{run_id}.jsonl")))
        .unwrap_or_default();
    assert!(
        !journal.contains("\"intent\"") && !journal.contains("\"created\""),
        "{journal}"
    );
}

fn preflight_events(out: &Output) -> Vec<serde_json::Value> {
    events(out)
        .into_iter()
        .filter(|e| e["event"] == "preflight")
        .collect()
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_share_the_key_does_not_allow_stops_the_bake_until_the_key_policy_allows_the_account() {
    let region = "ap-southeast-6";
    let state = fresh_state(region, serde_json::json!({}));
    let alias = format!("alias/{}", unique("pf-share"));
    let key_id = rt().block_on(key_with_alias(region, &alias));
    let builder = format!("  kms_key_id: {alias}\n");
    let share = format!("  share_with: {{ accounts: [\"{OTHER_ACCOUNT}\"] }}\n");
    let recipe = write_recipe(state.path(), "share", &builder, &share);

    let out = bake_json(region, state.path(), &recipe, &[]);
    let text = error_text(&out, 2);
    assert!(text.contains(OTHER_ACCOUNT), "{text}");
    assert!(text.contains(&alias), "{text}");
    assert!(text.contains("put-key-policy"), "{text}");
    assert!(
        text.contains(&format!("arn:aws:iam::{OTHER_ACCOUNT}:root")),
        "{text}"
    );
    nothing_created(region, state.path(), &out);

    let out = plan_check(region, state.path(), &recipe, true);
    expect_exit(&out, 2);
    let checks = preflight_events(&out);
    let key = checks
        .iter()
        .find(|e| e["check"] == "key")
        .expect("a key check");
    assert_eq!(key["state"], "fail");
    assert_eq!(key["key"], alias.as_str());
    assert!(key["fix"].as_str().unwrap().contains("kms:CreateGrant"));
    assert_eq!(last(&events(&out), "error")["failures"][0]["check"], "key");

    // The fix: the statement the failure printed, added to the key policy.
    rt().block_on(allow_account(region, &key_id, OTHER_ACCOUNT));
    let out = plan_check(region, state.path(), &recipe, true);
    expect_exit(&out, 0);
    let checks = preflight_events(&out);
    assert!(checks.iter().all(|e| e["state"] == "pass"), "{checks:?}");

    let out = bake_json(region, state.path(), &recipe, &[]);
    expect_exit(&out, 0);
    assert!(events(&out).iter().any(|e| e["event"] == "share"));
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_copy_to_a_region_not_opted_in_stops_the_bake_before_anything_is_created() {
    let region = "ap-southeast-7";
    let state = fresh_state(
        region,
        serde_json::json!({ "regions_not_opted_in": ["me-south-1"] }),
    );
    let recipe = write_recipe(state.path(), "opt-in", "", "  copy_to: [me-south-1]\n");

    let out = bake_json(region, state.path(), &recipe, &[]);
    let text = error_text(&out, 2);
    assert!(text.contains("me-south-1"), "{text}");
    assert!(text.contains("not-opted-in"), "{text}");
    assert!(
        text.contains("aws account enable-region --region-name me-south-1"),
        "{text}"
    );
    nothing_created(region, state.path(), &out);

    let out = plan_check(region, state.path(), &recipe, false);
    expect_exit(&out, 2);
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("copy region me-south-1 is not enabled"),
        "{text}"
    );
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_copy_key_alias_missing_in_the_destination_stops_the_bake() {
    let region = "mx-central-1";
    let state = fresh_state(region, serde_json::json!({}));
    // The alias exists at home only.
    let alias = format!("alias/{}", unique("pf-copy"));
    rt().block_on(key_with_alias(region, &alias));
    let image = format!("  kms_key_id: {alias}\n  copy_to: [ap-east-2]\n");
    let recipe = write_recipe(state.path(), "copy-key", "", &image);

    let out = bake_json(region, state.path(), &recipe, &[]);
    let text = error_text(&out, 2);
    assert!(
        text.contains(&format!(
            "key {alias} (image.kms_key_id) does not exist in ap-east-2"
        )),
        "{text}"
    );
    assert!(text.contains("create-alias --region ap-east-2"), "{text}");
    nothing_created(region, state.path(), &out);
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn plan_check_runs_only_the_preflight() {
    let region = "ap-east-2";
    let state = fresh_state(region, serde_json::json!({}));
    let recipe = write_recipe(
        state.path(),
        "check",
        "",
        "  copy_to: [us-west-2, me-south-1]\n",
    );

    // Other tests may have launched instances here before (the region is this test's
    // while it runs): what counts is that plan --check adds none.
    let before = reservations(region);
    let out = plan_check(region, state.path(), &recipe, true);
    expect_exit(&out, 0);
    let evs = events(&out);
    let checks = preflight_events(&out);
    let names: Vec<(&str, &str)> = checks
        .iter()
        .map(|e| (e["check"].as_str().unwrap(), e["region"].as_str().unwrap()))
        .collect();
    // The AMI name is free at home and in each copy region; us-west-2 is a default region
    // (no call), me-south-1 an opt-in one (DescribeRegions); the recipe names no key and
    // shares with nobody: no key to check.
    assert_eq!(
        names,
        [
            ("ami_name_free", region),
            ("ami_name_free", "us-west-2"),
            ("ami_name_free", "me-south-1"),
            ("region_enabled", "us-west-2"),
            ("region_enabled", "me-south-1")
        ]
    );
    assert!(checks.iter().all(|e| e["state"] == "pass"), "{checks:?}");
    assert!(
        evs.iter()
            .all(|e| e["event"] == "preflight" || e["event"] == "message"),
        "only the preflight ran: {}",
        show(&out)
    );
    assert_eq!(
        reservations(region),
        before,
        "plan --check launched nothing"
    );

    // A recipe that neither copies nor shares has only its AMI name to check, at home.
    let plain = write_recipe(state.path(), "plain", "", "");
    let out = plan_check(region, state.path(), &plain, true);
    expect_exit(&out, 0);
    let checks = preflight_events(&out);
    assert_eq!(checks.len(), 1, "{}", show(&out));
    assert_eq!(checks[0]["check"], "ami_name_free");
    assert_eq!(checks[0]["state"], "pass");
}

/// The reservations (launches) EC2 shows in `region`, terminated ones too.
fn reservations(region: &str) -> usize {
    rt().block_on(async {
        ec2(region)
            .await
            .describe_instances()
            .send()
            .await
            .expect("DescribeInstances")
            .reservations()
            .len()
    })
}
