//! The image scan (`image.scan`) against the local emulator, whose Inspector scans end
//! with the findings a knob plants (`scan_findings`): a scan within the limits lands in
//! the manifest and on every image's `amibake:scan` tag; a finding over a limit, a failed
//! scan and a scan that outlasts `image.scan.timeout` fail the bake (exit 1, the reason
//! named) and leave nothing, as a failed boot test does. Each test bakes in a region of its
//! own among the scan tests (claimed while it runs), from the Ubuntu AMI the emulator
//! seeds in every region.

use crate::support::emulator;

use std::path::{Path, PathBuf};
use std::process::Output;

use emulator::*;

const UBUNTU: &str =
    "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id";

/// A one-step Ubuntu recipe unique to the test whose `image:` carries `image_extra`
/// (the `scan:` section among it).
fn write_recipe(dir: &Path, label: &str, image_extra: &str) -> PathBuf {
    let text = format!(
        "name: {}\nsource:\n  ssm_parameter: {UBUNTU}\nbuilder:\n  os: ubuntu\n  iam_instance_profile: amibake-builder\nsteps:\n  - name: hello\n    shell: echo hello\nimage:\n  name: \"{{{{ recipe }}}}-{{{{ run_id }}}}\"\n{image_extra}",
        unique(label)
    );
    let path = dir.join(format!("{label}.yaml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// A planted finding: `title` of `severity`, its fix available `fix_days` days ago
/// (`None`: no fix).
fn finding(title: &str, severity: &str, fix_days: Option<u32>) -> serde_json::Value {
    match fix_days {
        Some(days) => serde_json::json!({
            "title": title, "severity": severity, "fix_available": true,
            "fix_available_days_ago": days, "score": 5.0,
        }),
        None => serde_json::json!({ "title": title, "severity": severity, "score": 5.0 }),
    }
}

/// The `error` event's text, after asserting the exit code.
fn error_text(out: &Output, code: i32) -> String {
    expect_error(out, code)["error"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The run of `out` left nothing in `regions`: no instance, security group, image or
/// snapshot, and no manifest.
fn nothing_left(regions: &[&str], state: &Path, out: &Output) {
    let run_id = run_id(&events(out));
    rt().block_on(assert_nothing_left(regions, &run_id, false));
    assert!(
        !state.join("m.json").exists(),
        "a failed bake writes no manifest"
    );
}

/// Whether the bake's plan has the scan action (inside Distribute).
fn plans_scan(out: &Output) -> bool {
    let evs = events(out);
    let plan = last(&evs, "plan");
    plan.to_string().contains("\"id\":\"scan\"")
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_clean_scan_passes_into_the_manifest_and_the_tag_of_every_image() {
    let region = "il-central-1";
    let copy = "me-central-1";
    let state = fresh_state(
        region,
        serde_json::json!({
            "scan_seconds": 2,
            "scan_findings": [
                finding("CVE-2026-0001 - zlib1g", "low", Some(40)),
                finding("CVE-2026-0002 - tar", "low", None),
            ],
        }),
    );
    let recipe = write_recipe(
        state.path(),
        "scan-clean",
        &format!(
            "  copy_to: [{copy}]\n  scan:\n    max_severity: medium\n    max_days_since_fix: {{ critical: 0, high: 14 }}\n"
        ),
    );
    let out = bake_json(region, state.path(), &recipe, &[]);
    expect_exit(&out, 0);
    assert!(plans_scan(&out), "{}", show(&out));
    let run_id = run_id(&events(&out));

    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state.path().join("m.json")).unwrap())
            .unwrap();
    let scan = &m["scan"];
    assert_eq!(scan["highest"], "low", "{m}");
    assert_eq!(scan["counts"]["low"], 2, "{m}");
    assert_eq!(scan["counts"]["critical"], 0, "{m}");
    assert_eq!(scan["counts"]["high"], 0, "{m}");
    let at = scan["scanned_at"].as_str().expect("the scan's date");
    assert!(at.starts_with("20") && at.ends_with('Z'), "{at}");
    assert!(
        scan["fix_available_since"]["low"].is_string(),
        "the low finding's fix date: {m}"
    );

    // Every image of the bake, the copy too, carries the summary.
    let want = format!("critical=0 high=0 medium=0 low=2 informational=0 highest=low at={at}");
    rt().block_on(async {
        for r in [region, copy] {
            let imgs = images(r, &run_id).await;
            assert_eq!(imgs.len(), 1, "one image in {r}: {imgs:?}");
            let tag = imgs[0]
                .tags()
                .iter()
                .find(|t| t.key() == Some("amibake:scan"))
                .and_then(|t| t.value())
                .unwrap_or_else(|| panic!("no amibake:scan tag in {r}: {:?}", imgs[0].tags()));
            assert_eq!(tag, want, "in {r}");
        }
        assert_nothing_left(&[region, copy], &run_id, true).await;
    });
    // The summary is reported as the bake goes: a `scan` event, passed.
    let scan_event = last(&events(&out), "scan");
    assert_eq!(scan_event["passed"], true, "{scan_event}");
    assert_eq!(scan_event["summary"], m["scan"], "{scan_event}");
    assert_eq!(scan_event["violations"], serde_json::json!([]));
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_critical_finding_over_max_severity_fails_the_bake_and_leaves_nothing() {
    let region = "ap-southeast-5";
    let copy = "ap-southeast-4";
    let state = fresh_state(
        region,
        serde_json::json!({
            "scan_findings": [
                finding("CVE-2026-1234 - openssl, libssl3", "critical", Some(3)),
                finding("CVE-2026-2222 - curl", "medium", None),
                finding("CVE-2026-3333 - bash", "low", None),
            ],
        }),
    );
    // The scan fails while the copy is still pending: the cleanup removes it all the same.
    configure(copy, serde_json::json!({ "copy_pending_seconds": 20 }));
    let recipe = write_recipe(
        state.path(),
        "scan-critical",
        &format!("  copy_to: [{copy}]\n  scan:\n    max_severity: high\n"),
    );
    let out = bake_json(region, state.path(), &recipe, &[]);
    let text = error_text(&out, 1);
    assert!(text.contains("max_severity"), "{text}");
    assert!(
        text.contains("CVE-2026-1234 in openssl, libssl3 (critical, fix available)"),
        "{text}"
    );
    // The worst first: the critical before the medium.
    let critical = text.find("CVE-2026-1234").unwrap();
    let medium = text
        .find("CVE-2026-2222 in curl (medium, no fix yet)")
        .expect("the medium finding listed");
    assert!(critical < medium, "{text}");
    let scan_event = last(&events(&out), "scan");
    assert_eq!(scan_event["passed"], false, "{scan_event}");
    assert_eq!(scan_event["summary"]["highest"], "critical", "{scan_event}");
    assert_eq!(
        scan_event["summary"]["counts"]["critical"], 1,
        "{scan_event}"
    );
    nothing_left(&[region, copy], state.path(), &out);
}

/// The scan fails while the copy's CopyImage is still in flight: the bake drops the call
/// without its answer, so the copy's id never arrives, yet EC2 makes the copy. The cleanup
/// finds it by the run's tag and removes it, instead of leaving it for `sweep`.
#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_copy_whose_answer_never_came_is_found_and_removed_after_a_failed_scan() {
    let region = "ap-southeast-5";
    let copy = "ap-southeast-4";
    let state = fresh_state(
        region,
        serde_json::json!({
            "scan_findings": [finding("CVE-2026-1234 - openssl", "critical", Some(3))],
        }),
    );
    // CopyImage is answered (and done) only 3 s after it is asked: long after the scan
    // failed the bake and the copy's call was dropped.
    configure(
        copy,
        serde_json::json!({ "stall_actions": { "CopyImage": 3 } }),
    );
    let recipe = write_recipe(
        state.path(),
        "scan-copy-in-flight",
        &format!("  copy_to: [{copy}]\n  scan:\n    max_severity: high\n"),
    );
    let out = bake_json(region, state.path(), &recipe, &[]);
    let text = error_text(&out, 1);
    assert!(text.contains("max_severity"), "{text}");
    assert!(
        events(&out).iter().all(|e| e["event"] != "left"),
        "the cleanup left something: {}",
        show(&out)
    );
    nothing_left(&[region, copy], state.path(), &out);
    configure(copy, serde_json::json!({}));
}

/// The same for an instance: the boot test's RunInstances is still in flight when the scan
/// fails, so its id never arrives; the cleanup finds the instance by the run's tag and
/// terminates it (a billable instance is never left to `sweep`).
#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_boot_test_instance_whose_answer_never_came_is_found_and_terminated_after_a_failed_scan() {
    let region = "ap-southeast-5";
    let state = fresh_state(
        region,
        serde_json::json!({
            "scan_findings": [finding("CVE-2026-1234 - openssl", "critical", Some(3))],
            // Every launch is answered (and done) 3 s after it is asked: the builder's
            // just waits, the boot test's is dropped when the scan fails.
            "stall_actions": { "RunInstances": 3 },
        }),
    );
    let recipe = write_recipe(
        state.path(),
        "scan-launch-in-flight",
        "  scan:\n    max_severity: high\nboot_test:\n  checks:\n    - { name: boots, run: \"systemctl is-system-running\" }\n",
    );
    let out = bake_json(region, state.path(), &recipe, &[]);
    let text = error_text(&out, 1);
    assert!(text.contains("max_severity"), "{text}");
    let evs = events(&out);
    assert!(
        evs.iter()
            .any(|e| e["event"] == "resource" && e["role"] == "boot-test"),
        "the boot test's instance was found and named: {}",
        show(&out)
    );
    assert!(
        evs.iter().all(|e| e["event"] != "left"),
        "the cleanup left something: {}",
        show(&out)
    );
    nothing_left(&[region], state.path(), &out);
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_failed_scan_is_an_error_naming_the_reason_and_leaves_nothing() {
    let region = "ap-southeast-3";
    let state = fresh_state(
        region,
        serde_json::json!({ "scan_fail_reason": "UNSUPPORTED_OS" }),
    );
    let recipe = write_recipe(state.path(), "scan-failed", "  scan: {}\n");
    let out = bake_json(region, state.path(), &recipe, &[]);
    let text = error_text(&out, 1);
    assert!(text.contains("scan"), "{text}");
    assert!(text.contains("UNSUPPORTED_OS"), "{text}");
    nothing_left(&[region], state.path(), &out);
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_scan_longer_than_its_timeout_is_a_timeout_error_and_leaves_nothing() {
    let region = "eu-south-2";
    let state = fresh_state(region, serde_json::json!({ "scan_seconds": 600 }));
    let recipe = write_recipe(state.path(), "scan-timeout", "  scan: { timeout: 5s }\n");
    let started = std::time::Instant::now();
    let out = bake_json(region, state.path(), &recipe, &[]);
    let text = error_text(&out, 1);
    assert!(text.contains("scan"), "{text}");
    assert!(text.contains("image.scan.timeout"), "{text}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(300),
        "the timeout bounded the wait"
    );
    nothing_left(&[region], state.path(), &out);
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_fix_available_longer_than_max_days_since_fix_fails_the_bake() {
    let region = "ca-west-1";
    let state = fresh_state(
        region,
        serde_json::json!({
            "scan_findings": [
                // Under max_severity, but its fix is 30 days old where 14 are allowed.
                finding("CVE-2026-4444 - sudo", "high", Some(30)),
                // Within its limit (a medium fix may be 60 days old).
                finding("CVE-2026-5555 - less", "medium", Some(10)),
            ],
        }),
    );
    let recipe = write_recipe(
        state.path(),
        "scan-fix-age",
        "  scan:\n    max_severity: critical\n    max_days_since_fix: { high: 14, medium: 60 }\n",
    );
    let out = bake_json(region, state.path(), &recipe, &[]);
    let text = error_text(&out, 1);
    assert!(text.contains("max_days_since_fix"), "{text}");
    assert!(text.contains("high"), "{text}");
    assert!(
        text.contains("CVE-2026-4444 in sudo (high, fix available)"),
        "{text}"
    );
    nothing_left(&[region], state.path(), &out);
}

/// The preflight refused the bake (exit 2) before anything was created: its text, after
/// asserting that the run's journal records no resource and nothing of it exists.
fn refused_before_anything(region: &str, state: &Path, out: &Output) -> String {
    let text = error_text(out, 2);
    let evs = events(out);
    assert!(
        evs.iter().all(|e| e["event"] != "resource"),
        "{}",
        show(out)
    );
    let run_id = run_id(&evs);
    let journal = std::fs::read_to_string(state.join("runs").join(format!("{run_id}.jsonl")))
        .unwrap_or_default();
    assert!(
        !journal.contains("\"intent\"") && !journal.contains("\"created\""),
        "{journal}"
    );
    nothing_left(&[region], state, out);
    text
}

/// The `scan` check among the `preflight` events.
fn scan_check(out: &Output) -> serde_json::Value {
    events(out)
        .into_iter()
        .find(|e| e["event"] == "preflight" && e["check"] == "scan")
        .unwrap_or_else(|| panic!("no scan check: {}", show(out)))
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_scan_in_a_region_inspector_does_not_serve_is_refused_before_anything_is_created() {
    // A region EC2 has and Inspector did not serve when amibake's list was made.
    let region = "ap-southeast-6";
    let state = fresh_state(region, serde_json::json!({}));
    let recipe = write_recipe(state.path(), "scan-unserved", "  scan: {}\n");
    let out = bake_json(region, state.path(), &recipe, &[]);
    let text = refused_before_anything(region, state.path(), &out);
    assert!(
        text.contains("Amazon Inspector does not serve ap-southeast-6"),
        "{text}"
    );
    assert!(text.contains("of 2026-12-06"), "the list's date: {text}");
    assert!(text.contains("remove image.scan"), "{text}");
    assert_eq!(scan_check(&out)["state"], "fail");
    // The plan shows it before any call, and `plan --check` refuses it too.
    let out = amibake(region, state.path())
        .args(["--json", "plan", "--check"])
        .arg(&recipe)
        .output()
        .unwrap();
    expect_exit(&out, 2);
    assert_eq!(scan_check(&out)["state"], "fail");
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_scan_without_inspector_permissions_is_refused_with_the_grant_to_add() {
    let region = "eu-central-2";
    let state = fresh_state(
        region,
        serde_json::json!({ "inspector_access_denied": true }),
    );
    let recipe = write_recipe(state.path(), "scan-denied", "  scan: {}\n");
    let out = bake_json(region, state.path(), &recipe, &[]);
    let text = refused_before_anything(region, state.path(), &out);
    assert!(
        text.contains("inspector2:GetOnDemandScanStatus and ec2:GetImageFindings not allowed"),
        "{text}"
    );
    assert!(text.contains("inspector2:StartOnDemandScan"), "{text}");
    assert!(text.contains("cfn-templates/amibake-iam.yaml"), "{text}");

    // Allowed again, the same recipe bakes.
    configure(region, serde_json::json!({}));
    let out = bake_json(region, state.path(), &recipe, &[]);
    expect_exit(&out, 0);
    assert_eq!(scan_check(&out)["state"], "pass");
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn an_inspector_endpoint_that_never_answers_is_refused_before_anything_is_created() {
    let region = "eu-south-1";
    let state = fresh_state(
        region,
        serde_json::json!({ "inspector_regions_unserved": [region] }),
    );
    let recipe = write_recipe(state.path(), "scan-no-answer", "  scan: {}\n");
    let out = bake_json(region, state.path(), &recipe, &[]);
    let text = refused_before_anything(region, state.path(), &out);
    assert!(
        text.contains("Inspector's endpoint in eu-south-1 did not answer"),
        "{text}"
    );
}
