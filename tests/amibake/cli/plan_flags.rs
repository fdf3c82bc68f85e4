//! `plan` takes the flags of `bake` that change what the bake's closing actions do —
//! `--on-error` (the cleanup after a failure) and `--manifest` (where the manifest goes) —
//! and shows them: in the text plan and on the `--json` plan's actions.

use crate::support::cli;

use cli::*;
use serde_json::Value;

/// `amibake plan --json AL2023 EXTRA…`: the action named `name` of the one JSON document.
fn action(extra: &[&str], name: &str) -> Value {
    let mut args = vec!["plan", "--json", AL2023];
    args.extend(extra);
    let out = amibake(&args);
    expect_exit(&out, 0);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    let actions = doc["actions"].as_array().expect("`actions` is an array");
    let found = actions.iter().find(|a| a["action"] == name);
    found
        .unwrap_or_else(|| panic!("no {name} action in {doc}"))
        .clone()
}

/// `amibake plan AL2023 EXTRA…`: the text plan.
fn text(extra: &[&str]) -> String {
    let mut args = vec!["plan", AL2023];
    args.extend(extra);
    let out = amibake(&args);
    expect_exit(&out, 0);
    stdout(&out)
}

/// Asserts the text plan says `what`.
fn expect_says(plan: &str, what: &str) {
    assert!(plan.contains(what), "the plan should say {what:?}:\n{plan}");
}

#[test]
fn by_default_the_plan_cleans_up_after_a_failure_and_writes_amibake_manifest_json() {
    assert_eq!(action(&[], "cleanup")["on_error"], "cleanup");
    let write = action(&[], "write_manifest");
    assert_eq!(write["manifest"], "amibake-manifest.json");
    let plan = text(&[]);
    expect_says(&plan, "write the manifest to amibake-manifest.json");
    expect_says(
        &plan,
        "after a failure, terminate the instances and deregister the images",
    );
}

#[test]
fn manifest_is_where_the_plan_writes_the_manifest() {
    let write = action(&["--manifest", "out/web.json"], "write_manifest");
    assert_eq!(write["manifest"], "out/web.json");
    let plan = text(&["--manifest", "out/web.json"]);
    expect_says(&plan, "write the manifest to out/web.json");
}

#[test]
fn on_error_keep_is_what_the_plans_cleanup_does_after_a_failure() {
    let cleanup = action(&["--on-error", "keep"], "cleanup");
    assert_eq!(cleanup["on_error"], "keep");
    // Kept images are neither deregistered nor their snapshots deleted.
    let calls: Vec<&str> = cleanup["calls"]
        .as_array()
        .expect("`calls` is an array")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for kept in ["ec2:DeregisterImage", "ec2:DeleteSnapshot"] {
        assert!(!calls.contains(&kept), "{kept} in {calls:?}");
    }
    let plan = text(&["--on-error", "keep"]);
    expect_says(
        &plan,
        "after a failure (--on-error keep), keep the instances, the images and the temporary security group",
    );
}
