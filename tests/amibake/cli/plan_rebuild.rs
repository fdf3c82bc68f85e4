//! `plan --if-changed` with `rebuild:` and `--rebuild-for`: the policy the reuse check
//! applies, and the probe's actions exactly where the bake walks them — or none when
//! nothing asks for a probe.

use std::path::{Path, PathBuf};

use crate::support::cli;

use cli::*;
use serde_json::Value;

/// A one-step recipe with `extra` (top level) and `builder` (the builder map).
fn recipe(dir: &Path, builder: &str, extra: &str) -> PathBuf {
    let text = format!(
        "name: rebuild-plan\nsource:\n  ssm_parameter: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64\nbuilder: {{ iam_instance_profile: amibake-builder{builder} }}\nsteps:\n  - shell: \"true\"\nimage:\n  name: \"{{{{ recipe }}}}-{{{{ run_id }}}}\"\n{extra}"
    );
    let path = dir.join("rebuild-plan.yaml");
    std::fs::write(&path, text).expect("write the recipe");
    path
}

/// `amibake plan --json RECIPE FLAGS…`: the one JSON document.
fn plan(recipe: &Path, flags: &[&str]) -> Value {
    let mut args = vec![
        "plan".to_string(),
        "--json".into(),
        recipe.display().to_string(),
    ];
    args.extend(flags.iter().map(|f| f.to_string()));
    let out = amibake(&args);
    expect_exit(&out, 0);
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

fn ids(doc: &Value) -> Vec<String> {
    doc["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| a["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn action<'a>(doc: &'a Value, id: &str) -> &'a Value {
    let actions = doc["actions"].as_array().expect("actions");
    actions
        .iter()
        .find(|a| a["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {doc}"))
}

const PROBE: [&str; 4] = [
    "launch:probe",
    "wait_ready:probe",
    "probe_updates",
    "terminate:probe",
];

#[test]
fn the_probe_comes_after_the_security_group_and_before_the_builder() {
    let dir = tempfile::tempdir().unwrap();
    let r = recipe(dir.path(), "", "rebuild: { updates: security }\n");
    let doc = plan(&r, &["--if-changed"]);
    let ids = ids(&doc);
    let at = |id: &str| {
        ids.iter()
            .position(|i| i == id)
            .unwrap_or_else(|| panic!("{id} in {ids:?}"))
    };
    assert!(at("reuse_check") < at("preflight"));
    assert!(at("preflight") < at("create_security_group"));
    assert_eq!(
        ids[at("create_security_group") + 1..at("launch:builder")],
        PROBE
    );
    let check = action(&doc, "reuse_check");
    assert_eq!(
        (&check["updates"], &check["probe"]),
        (&Value::from("security"), &Value::from(true))
    );
    assert_eq!(action(&doc, "launch:probe")["instance_type"], "t3.micro");
    let probe = action(&doc, "probe_updates");
    assert!(
        probe["script"]["display"]
            .as_str()
            .unwrap()
            .contains("dnf -q updateinfo"),
        "{probe}"
    );
    assert_eq!(
        probe["calls"],
        serde_json::json!(["ssm:GetCommandInvocation", "ssm:SendCommand"])
    );
    assert_eq!(doc["rebuild"]["probe"]["instance_type"], "t3.micro");

    let text = stdout(&amibake([
        "plan".to_string(),
        r.display().to_string(),
        "--if-changed".into(),
    ]));
    assert!(
        text.contains("--if-changed (rebuild for: security)"),
        "{text}"
    );
    assert!(
        text.contains("probe: ask the package manager what is pending"),
        "{text}"
    );
}

#[test]
fn nothing_asks_for_a_probe_without_if_changed_or_beyond_the_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let probing = recipe(dir.path(), "", "rebuild: { updates: any }\n");
    for flags in [
        &[][..],
        &["--if-changed", "--force"],
        &["--if-changed", "--rebuild-for", "inputs"],
    ] {
        let doc = plan(&probing, flags);
        let ids = ids(&doc);
        assert!(
            PROBE.iter().all(|p| !ids.iter().any(|i| i == p)),
            "{flags:?}: {ids:?}"
        );
    }
    assert!(
        plan(&probing, &[]).get("rebuild").is_none(),
        "no policy without --if-changed"
    );
    let forced = plan(&probing, &["--if-changed", "--force"]);
    assert_eq!(forced["rebuild"]["forced"], true);
    assert!(!ids(&forced).contains(&"reuse_check".to_string()));

    // A recipe of inputs only probes when the flag asks for more.
    let inputs = recipe(dir.path(), "", "");
    assert!(!ids(&plan(&inputs, &["--if-changed"])).contains(&"probe_updates".to_string()));
    let asked = plan(&inputs, &["--if-changed", "--rebuild-for", "security"]);
    assert!(ids(&asked).contains(&"probe_updates".to_string()));
    assert_eq!(action(&asked, "probe_updates")["updates"], "security");
}

#[test]
fn the_probe_type_follows_the_builders_architecture_unless_the_recipe_names_one() {
    let dir = tempfile::tempdir().unwrap();
    let arm = recipe(
        dir.path(),
        ", instance_type: m7g.large",
        "rebuild: { updates: security }\n",
    );
    assert_eq!(
        action(&plan(&arm, &["--if-changed"]), "launch:probe")["instance_type"],
        "t4g.micro"
    );
    let named = recipe(
        dir.path(),
        "",
        "rebuild: { updates: security, probe_instance_type: t3.nano }\n",
    );
    assert_eq!(
        action(&plan(&named, &["--if-changed"]), "launch:probe")["instance_type"],
        "t3.nano"
    );
}

#[test]
fn fix_severity_makes_the_reuse_check_read_the_findings() {
    let dir = tempfile::tempdir().unwrap();
    let r = recipe(
        dir.path(),
        "",
        "rebuild: { updates: security, probe: false, fix_severity: high }\n",
    );
    let doc = plan(&r, &["--if-changed"]);
    let check = action(&doc, "reuse_check");
    assert_eq!(check["fix_severity"], "high");
    assert_eq!(
        check["calls"],
        serde_json::json!(["ec2:DescribeImages", "ec2:GetImageFindings"])
    );
    assert_eq!(check["always"], serde_json::json!(["ec2:DescribeImages"]));
    assert!(
        !ids(&doc).contains(&"probe_updates".to_string()),
        "probe: false"
    );
}

#[test]
fn rebuild_for_needs_if_changed() {
    let out = amibake(["plan", AL2023, "--rebuild-for", "security"]);
    expect_exit(&out, 2);
    let out = amibake(["plan", AL2023, "--if-changed", "--rebuild-for", "patches"]);
    expect_exit(&out, 2);
}
