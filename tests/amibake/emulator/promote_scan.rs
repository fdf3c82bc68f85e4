//! `promote`'s scan gate end to end against the local emulator: an environment in the
//! recipe's `image.scan.require_for` takes only an image whose Inspector scan exists and
//! keeps its limits; `--rescan` scans first; the channel records the scan. The images are
//! tagged copies that look baked (as in `promote.rs`); the emulator's Inspector plants the
//! `scan_findings` knob's findings when a scan ends.

use crate::support::emulator;
use crate::support::promotion::Manifest;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use emulator::events as events_of;
use emulator::promote_json as promote;
use emulator::*;

use super::promote::channel;

const RUN_ID: &str = "20260101-000000-abc123";

/// A recipe promoted through dev and prod whose prod needs a scan with nothing above
/// medium (and dev none).
fn write_recipe(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(format!("{name}.yaml"));
    let text = format!(
        "name: {name}\nsource: {{ ssm_parameter: {AL2023} }}\n\
         builder: {{ iam_instance_profile: amibake-builder }}\n\
         steps:\n  - shell: \"true\"\n\
         image:\n  name: \"{{{{ recipe }}}}-{{{{ timestamp }}}}\"\n  scan:\n    timeout: 2m\n\
         \x20   require_for:\n      prod: {{ max_severity: medium, max_scan_age: 7d }}\n\
         promotion: [dev, prod]\n"
    );
    std::fs::write(&path, text).expect("write the recipe");
    path
}

/// One image of this account in `region` that looks like a complete bake of a new
/// recipe, with its recipe file and manifest: (recipe name, image, manifest).
fn baked(region: &str, dir: &Path) -> (String, String, PathBuf) {
    let name = unique("gate");
    let recipe = write_recipe(dir, &name);
    let ami = rt().block_on(async {
        let (a, _) = two_amis(region).await;
        tagged_copy(region, &a, &unique(&name), &complete_tags(&name)).await
    });
    let manifest = Manifest {
        recipe: &name,
        recipe_file: &recipe,
        run_id: RUN_ID,
        region,
        ami: &ami,
        name: "x",
    }
    .write(dir.join("manifest.json"));
    (name, ami, manifest)
}

/// Sets the findings the next scan in `region` plants (keeps the other knobs).
fn plant(region: &str, findings: serde_json::Value) {
    let body = serde_json::json!({ "region": region, "scan_findings": findings });
    let (status, text) = http("POST", "/_amibake/config", &body.to_string());
    assert_eq!(status, 200, "emulator config rejected: {text}");
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn prod_refuses_an_unscanned_or_failing_image_and_takes_a_rescanned_clean_one() {
    let region = "ca-west-1";
    let state = fresh_state(region, serde_json::json!({}));
    let dir = state.path();
    let (name, ami, manifest) = baked(region, dir);
    let rt = rt();

    // dev needs no scan: promoted as before, and its record carries no scan.
    let out = promote(region, dir, &manifest, "dev", &[]);
    expect_exit(&out, 0);
    let dev = rt.block_on(channel(region, &name, "dev")).expect("dev");
    assert!(!dev.description.contains("scan:"), "{dev:?}");

    // --rescan for an environment without a gate is bad input.
    let out = promote(region, dir, &manifest, "dev", &["--rescan"]);
    let err = expect_error(&out, 2);
    assert!(
        err["error"].as_str().unwrap().contains("needs no scan"),
        "{err}"
    );

    // prod, never scanned: refused with the fix, nothing written; --force does not lift it.
    for extra in [&[][..], &["--force"][..]] {
        let out = promote(region, dir, &manifest, "prod", extra);
        let err = expect_error(&out, 1);
        let text = err["error"].as_str().unwrap();
        assert!(
            text.contains("has not scanned it") && text.contains("--rescan"),
            "{err}"
        );
        assert_eq!(err["refused"], true, "{err}");
        assert!(rt.block_on(channel(region, &name, "prod")).is_none());
    }

    // The plan shows the gate's reads and its verdict, and changes nothing.
    let out = promote(region, dir, &manifest, "prod", &["--plan"]);
    expect_exit(&out, 0);
    let plan = last(&events_of(&out), "plan");
    assert_eq!(plan["verdict"]["refuses"], true, "{plan}");
    assert_eq!(plan["scan"]["found"], serde_json::Value::Null, "{plan}");
    let steps = plan["regions"][0]["steps"].to_string();
    assert!(
        steps.contains("scan gate") && steps.contains("ec2:GetImageFindings"),
        "{steps}"
    );

    // --rescan finds a critical finding: refused, the worst finding named, nothing written.
    plant(
        region,
        serde_json::json!([
            {"title": "CVE-2026-1111 - openssl, libssl3", "severity": "critical",
             "fix_available": true, "fix_available_days_ago": 3, "score": 9.8},
            {"title": "CVE-2026-2222 - zlib", "severity": "low"},
        ]),
    );
    let out = promote(region, dir, &manifest, "prod", &["--rescan"]);
    let err = expect_error(&out, 1);
    let text = err["error"].as_str().unwrap();
    assert!(
        text.contains("CVE-2026-1111")
            && text.contains("openssl")
            && text.contains("critical")
            && text.contains("max_severity: medium")
            && text.contains("bake a new image"),
        "{err}"
    );
    assert!(rt.block_on(channel(region, &name, "prod")).is_none());

    // Without --rescan the image's scan is now the failing one: refused the same way.
    let out = promote(region, dir, &manifest, "prod", &[]);
    let err = expect_error(&out, 1);
    assert!(
        err["error"].as_str().unwrap().contains("CVE-2026-1111"),
        "{err}"
    );

    // A clean rescan passes: the channel records the scan (description and tag).
    plant(
        region,
        serde_json::json!([{"title": "CVE-2026-2222 - zlib", "severity": "low"}]),
    );
    let plan = last(
        &events_of(&promote(
            region,
            dir,
            &manifest,
            "prod",
            &["--rescan", "--plan"],
        )),
        "plan",
    );
    let before = call_counts(region);
    let out = promote(region, dir, &manifest, "prod", &["--rescan", "--force"]);
    expect_exit(&out, 0);
    // Every call the promote made is one of a planned step's, the rescan's included.
    let planned: BTreeSet<String> = plan["regions"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["calls"].as_array().unwrap().iter())
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let made: BTreeSet<String> = call_counts(region)
        .into_iter()
        .filter(|(call, n)| before.get(call).copied().unwrap_or(0) < *n)
        .map(|(call, _)| call)
        .collect();
    assert!(
        made.is_subset(&planned) && made.contains("inspector2:StartOnDemandScan"),
        "{made:?} not in {planned:?}"
    );
    let evs = events_of(&out);
    let scan = last(&evs, "scan");
    assert_eq!(scan["summary"]["highest"], "low", "{scan}");
    let prod = rt.block_on(channel(region, &name, "prod")).expect("prod");
    assert_eq!(prod.value, ami);
    assert!(
        prod.description
            .contains("scan: critical=0 high=0 medium=0 low=1"),
        "{prod:?}"
    );
    assert!(
        prod.tags["amibake:scan"].contains("highest=low"),
        "{prod:?}"
    );
}
