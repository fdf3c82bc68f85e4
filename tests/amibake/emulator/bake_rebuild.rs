//! `bake --if-changed` beyond the inputs (`rebuild:`, `--rebuild-for`) over HTTP: the
//! probe launched from the newest image and its answer (the emulator's `pending_updates`
//! knob stands for the package manager), the newest image's scan results, and the
//! `rebuild_decision` every run reports.
//!
//! Each test first bakes the recipe plainly (the newest image), then runs `--if-changed`
//! with the same recipe, so the inputs are unchanged and the policy decides.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::emulator::*;

/// The probe tests' region, and the scan tests' (each test claims its region).
const PROBE_REGION: &str = "af-south-1";
const SCAN_REGION: &str = "eu-south-2";

/// A one-step recipe of its own name, its images named by run id, with `extra` (top-level
/// YAML: `rebuild:`, `image:` additions come through `image_extra`).
fn recipe(dir: &Path, label: &str, image_extra: &str, extra: &str) -> PathBuf {
    let text = format!(
        "name: {}\nsource:\n  ssm_parameter: {AL2023}\nbuilder: {{ iam_instance_profile: amibake-builder }}\nsteps:\n  - shell: \"true\"\nimage:\n  name: \"{{{{ recipe }}}}-{{{{ run_id }}}}\"\n{image_extra}{extra}",
        unique(label)
    );
    let path = dir.join(format!("{label}.yaml"));
    std::fs::write(&path, text).expect("write the recipe");
    path
}

/// A plain bake of `recipe` (the newest image the next run judges); its run id.
fn first_bake(region: &str, state: &Path, recipe: &Path) -> String {
    let out = bake_json(region, state, recipe, &[]);
    expect_exit(&out, 0);
    run_id(&events(&out))
}

/// `bake --if-changed EXTRA… RECIPE`.
fn if_changed(region: &str, state: &Path, recipe: &Path, extra: &[&str]) -> Output {
    let mut flags = vec!["--if-changed"];
    flags.extend(extra);
    bake_json(region, state, recipe, &flags)
}

/// The run's `rebuild_decision` event (exactly one).
fn decision(out: &Output) -> serde_json::Value {
    let found: Vec<_> = events(out)
        .into_iter()
        .filter(|e| e["event"] == "rebuild_decision")
        .collect();
    assert_eq!(found.len(), 1, "one rebuild_decision: {}", show(out));
    found[0].clone()
}

/// The roles of the instances the run launched (its `resource` events).
fn launched(out: &Output) -> Vec<String> {
    events(out)
        .iter()
        .filter(|e| e["event"] == "resource" && e["kind"] == "instance" && e["state"].is_null())
        .map(|e| e["role"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn manifest(state: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(state.join("m.json")).expect("the manifest");
    serde_json::from_str(&text).expect("manifest JSON")
}

fn update(package: &str, security: bool) -> serde_json::Value {
    serde_json::json!({
        "package": package, "installed": "1.0-1", "candidate": "1.0-2", "security": security
    })
}

const SECURITY: &str = "rebuild: { updates: security }\n";

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_current_image_launches_only_the_probe_and_leaves_nothing() {
    let state = fresh_state(PROBE_REGION, serde_json::json!({}));
    let recipe = recipe(state.path(), "probe-current", "", SECURITY);
    let first = first_bake(PROBE_REGION, state.path(), &recipe);

    let out = if_changed(PROBE_REGION, state.path(), &recipe, &[]);
    expect_exit(&out, 0);
    assert_eq!(launched(&out), ["probe"], "only the probe: {}", show(&out));
    let d = decision(&out);
    assert_eq!(d["reason"], "current", "{d}");
    assert_eq!(d["updates"], serde_json::json!([]));
    let m = manifest(state.path());
    assert_eq!(m["reused_from_run"], first.as_str(), "the reused manifest");
    assert_eq!(m["rebuild"]["reason"], "current");
    let run = run_id(&events(&out));
    rt().block_on(assert_nothing_left(&[PROBE_REGION], &run, false));
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn pending_security_updates_rebuild_and_say_which_packages() {
    let state = fresh_state(PROBE_REGION, serde_json::json!({}));
    let recipe = recipe(state.path(), "probe-pending", "", SECURITY);
    let first = first_bake(PROBE_REGION, state.path(), &recipe);
    let pending = [update("libssl3", true), update("tzdata", false)];
    configure(
        PROBE_REGION,
        serde_json::json!({ "pending_updates": pending }),
    );

    let out = if_changed(PROBE_REGION, state.path(), &recipe, &[]);
    expect_exit(&out, 0);
    assert_eq!(launched(&out), ["probe", "builder"], "{}", show(&out));
    let d = decision(&out);
    assert_eq!(d["reason"], "updates-pending", "{d}");
    let named: Vec<_> = d["updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["package"].as_str().unwrap(),
                u["security"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(named, [("libssl3", true), ("tzdata", false)]);
    let m = manifest(state.path());
    assert!(m.get("reused_from_run").is_none(), "a new image: {m}");
    assert_ne!(m["run_id"], first.as_str());
    assert_eq!(m["rebuild"]["reason"], "updates-pending");
    assert_eq!(m["rebuild"]["updates"][0]["package"], "libssl3");
    assert_eq!(m["rebuild"]["updates"][0]["candidate"], "1.0-2");

    let run = run_id(&events(&out));
    rt().block_on(assert_nothing_left(&[PROBE_REGION], &run, true));

    // The text output says it too (still pending on the new image: the knob answers).
    let text = amibake(PROBE_REGION, state.path())
        .args(["bake", "--if-changed"])
        .arg(&recipe)
        .arg("--manifest")
        .arg(state.path().join("text.json"))
        .output()
        .unwrap();
    expect_exit(&text, 0);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&text.stdout),
        String::from_utf8_lossy(&text.stderr)
    );
    assert!(
        said.contains("rebuild (updates-pending)")
            && said.contains("libssl3 1.0-1 → 1.0-2 (security)"),
        "{said}"
    );
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_security_policy_stays_current_with_only_other_updates_pending() {
    let state = fresh_state(PROBE_REGION, serde_json::json!({}));
    let recipe = recipe(state.path(), "probe-other", "", SECURITY);
    first_bake(PROBE_REGION, state.path(), &recipe);
    let pending = [update("tzdata", false)];
    configure(
        PROBE_REGION,
        serde_json::json!({ "pending_updates": pending }),
    );

    let out = if_changed(PROBE_REGION, state.path(), &recipe, &[]);
    expect_exit(&out, 0);
    assert_eq!(launched(&out), ["probe"], "{}", show(&out));
    let d = decision(&out);
    assert_eq!(d["reason"], "current", "{d}");
    assert_eq!(d["updates"][0]["package"], "tzdata");
    let run = run_id(&events(&out));
    rt().block_on(assert_nothing_left(&[PROBE_REGION], &run, false));

    // `any` counts it: --rebuild-for overrides the recipe's policy.
    let out = if_changed(
        PROBE_REGION,
        state.path(),
        &recipe,
        &["--rebuild-for", "any"],
    );
    expect_exit(&out, 0);
    assert_eq!(decision(&out)["reason"], "updates-pending");
    assert_eq!(launched(&out), ["probe", "builder"], "{}", show(&out));
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn rebuild_for_overrides_the_recipes_policy() {
    let state = fresh_state(PROBE_REGION, serde_json::json!({}));
    // The recipe rebuilds for its inputs only (no `rebuild:`).
    let recipe = recipe(state.path(), "probe-override", "", "");
    first_bake(PROBE_REGION, state.path(), &recipe);
    let pending = [update("openssl", true)];
    configure(
        PROBE_REGION,
        serde_json::json!({ "pending_updates": pending }),
    );

    let out = if_changed(PROBE_REGION, state.path(), &recipe, &[]);
    expect_exit(&out, 0);
    assert_eq!(decision(&out)["reason"], "current", "inputs only: no probe");
    assert!(launched(&out).is_empty(), "{}", show(&out));

    let out = if_changed(
        PROBE_REGION,
        state.path(),
        &recipe,
        &["--rebuild-for", "security"],
    );
    expect_exit(&out, 0);
    let d = decision(&out);
    assert_eq!(d["reason"], "updates-pending", "{d}");
    assert_eq!(d["updates"][0]["package"], "openssl");
    assert_eq!(launched(&out), ["probe", "builder"], "{}", show(&out));

    // And back: `--rebuild-for inputs` on a probing recipe launches nothing.
    let probing = recipe_with(&recipe, SECURITY);
    first_bake(PROBE_REGION, state.path(), &probing);
    let out = if_changed(
        PROBE_REGION,
        state.path(),
        &probing,
        &["--rebuild-for", "inputs"],
    );
    expect_exit(&out, 0);
    assert_eq!(decision(&out)["reason"], "current");
    assert!(launched(&out).is_empty(), "{}", show(&out));
}

/// `recipe` with `extra` appended, as a file of its own.
fn recipe_with(recipe: &Path, extra: &str) -> PathBuf {
    let text = std::fs::read_to_string(recipe).unwrap() + extra;
    let path = recipe.with_extension("more.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_fix_available_finding_rebuilds_with_no_probe() {
    let findings = serde_json::json!([
        {"title": "CVE-2026-1111 - openssl, libssl3", "severity": "high", "fix_available": true, "fix_available_days_ago": 3},
        {"title": "CVE-2026-2222 - zlib", "severity": "critical", "fix_available": false}
    ]);
    let state = fresh_state(
        SCAN_REGION,
        serde_json::json!({ "scan_findings": findings }),
    );
    let rebuild = "rebuild: { updates: security, fix_severity: high }\n";
    let recipe = recipe(state.path(), "scan-fix", "  scan: {}\n", rebuild);
    first_bake(SCAN_REGION, state.path(), &recipe);

    let out = if_changed(SCAN_REGION, state.path(), &recipe, &[]);
    expect_exit(&out, 0);
    assert_eq!(launched(&out), ["builder"], "no probe: {}", show(&out));
    let d = decision(&out);
    assert_eq!(d["reason"], "scan-fix-available", "{d}");
    let ids: Vec<_> = d["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        ids,
        ["CVE-2026-1111"],
        "only the fix-available one at or above high"
    );
    assert_eq!(
        manifest(state.path())["rebuild"]["reason"],
        "scan-fix-available"
    );
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn clean_scan_results_without_a_probe_are_current_and_launch_nothing() {
    // A medium fix is below `fix_severity: high`.
    let findings = serde_json::json!([
        {"title": "CVE-2026-3333 - curl", "severity": "medium", "fix_available": true}
    ]);
    let state = fresh_state(
        SCAN_REGION,
        serde_json::json!({ "scan_findings": findings }),
    );
    let rebuild = "rebuild: { updates: security, probe: false, fix_severity: high }\n";
    let recipe = recipe(state.path(), "scan-clean", "  scan: {}\n", rebuild);
    let first = first_bake(SCAN_REGION, state.path(), &recipe);
    // Even with a security update pending: nothing asks the package manager.
    configure(
        SCAN_REGION,
        serde_json::json!({ "pending_updates": [update("openssl", true)] }),
    );

    let out = if_changed(SCAN_REGION, state.path(), &recipe, &[]);
    expect_exit(&out, 0);
    assert!(launched(&out).is_empty(), "{}", show(&out));
    let d = decision(&out);
    assert_eq!(d["reason"], "current", "{d}");
    let m = manifest(state.path());
    assert_eq!(m["reused_from_run"], first.as_str());
    let run = run_id(&events(&out));
    rt().block_on(assert_nothing_left(&[SCAN_REGION], &run, false));
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn every_if_changed_run_says_why_it_rebuilt() {
    let state = fresh_state(SCAN_REGION, serde_json::json!({}));
    let recipe = recipe(state.path(), "why", "", SECURITY);
    // No image yet.
    let out = if_changed(SCAN_REGION, state.path(), &recipe, &[]);
    expect_exit(&out, 0);
    assert_eq!(decision(&out)["reason"], "no-previous-image");
    assert_eq!(
        launched(&out),
        ["builder"],
        "no probe without an image: {}",
        show(&out)
    );
    // Changed inputs: no probe either.
    let text = std::fs::read_to_string(&recipe).unwrap();
    let changed = recipe.with_extension("changed.yaml");
    std::fs::write(
        &changed,
        text.replace("- shell: \"true\"", "- shell: \"true; true\""),
    )
    .unwrap();
    let out = if_changed(SCAN_REGION, state.path(), &changed, &[]);
    expect_exit(&out, 0);
    assert_eq!(decision(&out)["reason"], "inputs-changed");
    assert_eq!(launched(&out), ["builder"], "{}", show(&out));
    // --force.
    let out = if_changed(SCAN_REGION, state.path(), &recipe, &["--force"]);
    expect_exit(&out, 0);
    assert_eq!(decision(&out)["reason"], "forced");
}

/// `amibake --json outdated EXTRA… RECIPE`.
fn outdated(region: &str, state: &Path, recipe: &Path, extra: &[&str]) -> Output {
    amibake(region, state)
        .args(["--json", "outdated"])
        .args(extra)
        .arg(recipe)
        .output()
        .expect("run amibake")
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn outdated_answers_with_its_exit_code_and_bakes_nothing() {
    let state = fresh_state(PROBE_REGION, serde_json::json!({}));
    // No `rebuild:`: outdated asks about security updates.
    let recipe = recipe(state.path(), "outdated", "", "");
    let none = outdated(PROBE_REGION, state.path(), &recipe, &[]);
    expect_exit(&none, 3);
    assert_eq!(decision(&none)["reason"], "no-previous-image");
    assert!(launched(&none).is_empty(), "{}", show(&none));
    first_bake(PROBE_REGION, state.path(), &recipe);

    let current = outdated(PROBE_REGION, state.path(), &recipe, &[]);
    expect_exit(&current, 0);
    assert_eq!(decision(&current)["reason"], "current");
    assert_eq!(launched(&current), ["probe"], "{}", show(&current));
    let run = run_id_of(&current);
    rt().block_on(assert_nothing_left(&[PROBE_REGION], &run, false));

    configure(
        PROBE_REGION,
        serde_json::json!({ "pending_updates": [update("libssl3", true), update("tzdata", false)] }),
    );
    let behind = outdated(PROBE_REGION, state.path(), &recipe, &[]);
    expect_exit(&behind, 3);
    let d = decision(&behind);
    assert_eq!(d["reason"], "updates-pending", "{d}");
    assert_eq!(d["updates"][0]["package"], "libssl3");
    assert_eq!(
        launched(&behind),
        ["probe"],
        "only the probe: {}",
        show(&behind)
    );
    let run = run_id_of(&behind);
    rt().block_on(assert_nothing_left(&[PROBE_REGION], &run, false));

    // Only other updates pending: current for security, behind for any.
    configure(
        PROBE_REGION,
        serde_json::json!({ "pending_updates": [update("tzdata", false)] }),
    );
    expect_exit(&outdated(PROBE_REGION, state.path(), &recipe, &[]), 0);
    expect_exit(
        &outdated(
            PROBE_REGION,
            state.path(),
            &recipe,
            &["--rebuild-for", "any"],
        ),
        3,
    );
    expect_exit(
        &outdated(
            PROBE_REGION,
            state.path(),
            &recipe,
            &["--rebuild-for", "inputs"],
        ),
        2,
    );
}

/// The run id of a run that announces none (`outdated`): the one the probe's launch
/// journaled, from the run's resource tags.
fn run_id_of(out: &Output) -> String {
    let instance = events(out)
        .into_iter()
        .find(|e| e["event"] == "resource" && e["role"] == "probe")
        .and_then(|e| e["id"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no probe launched: {}", show(out)));
    rt().block_on(async {
        let ec2 = ec2(PROBE_REGION).await;
        let out = ec2
            .describe_instances()
            .instance_ids(&instance)
            .send()
            .await
            .expect("DescribeInstances");
        let tags = out.reservations()[0].instances()[0].tags().to_vec();
        tags.iter()
            .find(|t| t.key() == Some("amibake:run-id"))
            .and_then(|t| t.value().map(str::to_string))
            .expect("the probe's amibake:run-id tag")
    })
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_failing_probe_fails_the_bake_and_leaves_nothing() {
    let state = fresh_state(PROBE_REGION, serde_json::json!({}));
    let recipe = recipe(state.path(), "probe-fails", "", SECURITY);
    first_bake(PROBE_REGION, state.path(), &recipe);
    configure(
        PROBE_REGION,
        serde_json::json!({ "fail_command_matching": "amibake step: probe: pending updates" }),
    );
    let out = if_changed(PROBE_REGION, state.path(), &recipe, &[]);
    expect_exit(&out, 1);
    let error = last(&events(&out), "error");
    assert!(
        error["error"]
            .as_str()
            .unwrap_or_default()
            .contains("probe: pending updates"),
        "the error names the probe: {error}"
    );
    assert_eq!(launched(&out), ["probe"], "no builder after a failed probe");
    let run = run_id(&events(&out));
    rt().block_on(assert_nothing_left(&[PROBE_REGION], &run, false));
}
