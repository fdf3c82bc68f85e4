//! `amibake status`'s flags on the fleet of [`super::status`]: `--max-age` fails naming
//! the old image in use and not the older unused one; bad input; `--plan` makes no call;
//! `--usage-report` makes a report of each image and shows the accounts it names; `--all`,
//! a disabled image and a deprecation time.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::Filter;
use serde_json::{Value, json};

use crate::support::cli::{expect_exit, show};
use crate::support::emulator::*;

use super::status::{Fleet, SHARED_WITH, described, knobs, status_json};

/// `--max-age`: the old image in use fails it, the older unused one does not.
pub(super) fn max_age(f: &Fleet) {
    let (region, recipe, state, ids, behind) = (f.region, &f.recipe, &f.state, &f.ids, &f.behind);
    let unused = &ids[0];
    let old = &ids[1];
    let new = &ids[2];
    let evs = status_json(
        region,
        state.path(),
        &["--recipe", recipe, "--max-age", "30d"],
        1,
    );
    let error = last(&evs, "error");
    let too_old = error["too_old"].as_array().expect("too_old");
    assert_eq!(too_old.len(), 1, "{error}");
    assert_eq!(too_old[0]["image_id"], old.as_str());
    assert_eq!(too_old[0]["region"], region);
    assert!(too_old[0]["age_seconds"].as_u64().unwrap() >= 45 * 86_400);
    let message = error["error"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "1 image in use older than 30d: {old} in {region}, 45d old, used by "
        )) && message.contains(&format!("(stack {behind})"))
            && !message.contains(unused.as_str()),
        "{message}"
    );
    assert_eq!(last(&evs, "status")["images"][2]["too_old"], true);
    let out = run_expect(
        region,
        state.path(),
        &["status", "--recipe", recipe, "--max-age", "30d"],
        1,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "error: 1 image in use older than 30d: {old} in {region}"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains(unused.as_str()), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l.starts_with(&format!("! {old}"))),
        "the row is marked"
    );
    // Older than all: still only what is in use.
    let evs = status_json(
        region,
        state.path(),
        &["--recipe", recipe, "--max-age", "1s"],
        1,
    );
    let error = last(&evs, "error");
    let named: Vec<&str> = error["too_old"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["image_id"].as_str().unwrap())
        .collect();
    assert_eq!(named, [new.as_str(), old.as_str()]);
    run_expect(
        region,
        state.path(),
        &["status", "--recipe", recipe, "--max-age", "90d"],
        0,
    );
}

/// Bad input: no recipe or `--all`, a bad duration; a recipe without images.
pub(super) fn bad_input(f: &Fleet) {
    let (region, recipe, state) = (f.region, &f.recipe, &f.state);
    let out = amibake(region, state.path())
        .args(["status", "--recipe", recipe, "--max-age", "30x"])
        .output()
        .unwrap();
    expect_exit(&out, 2);
    let out = amibake(region, state.path())
        .args(["status"])
        .output()
        .unwrap();
    expect_exit(&out, 2);
    let nothing = unique("status-none");
    let out = run_expect(region, state.path(), &["status", "--recipe", &nothing], 0);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("no complete images of {nothing} in {region}"),
        "{}",
        show(&out)
    );
}

/// `--plan`: the calls, and none made.
pub(super) fn plan_makes_no_call(f: &Fleet) {
    let (region, recipe, state) = (f.region, &f.recipe, &f.state);
    reset_stats(region);
    let out = run_expect(
        region,
        state.path(),
        &["status", "--recipe", recipe, "--plan"],
        0,
    );
    let plan = String::from_utf8_lossy(&out.stdout);
    for call in [
        "ec2:DescribeImages",
        "ssm:GetParametersByPath",
        "autoscaling:DescribeAutoScalingGroups",
        "ec2:DescribeLaunchTemplateVersions",
        "ec2:DescribeInstances",
        "cloudformation:DescribeStacks",
        "ec2:DescribeImageReferences",
        "ec2:DescribeImageUsageReports",
        "ec2:DescribeImageUsageReportEntries",
    ] {
        assert!(plan.contains(call), "{call} not in:\n{plan}");
    }
    assert!(!plan.contains("ec2:CreateImageUsageReport"), "{plan}");
    let evs = status_json(
        region,
        state.path(),
        &["--recipe", recipe, "--plan", "--usage-report"],
        0,
    );
    let planned = last(&evs, "status_plan");
    assert_eq!(planned["regions"][0]["region"], region);
    assert!(
        planned.to_string().contains("ec2:CreateImageUsageReport"),
        "{planned}"
    );
    assert_eq!(call_counts(region), BTreeMap::new(), "--plan made calls");

    // Without --usage-report it only reads.
    reset_stats(region);
    status_json(region, state.path(), &["--recipe", recipe], 0);
    let made = call_counts(region);
    assert!(!made.is_empty());
    for call in made.keys() {
        let action = call.split_once(':').map_or(call.as_str(), |(_, a)| a);
        assert!(
            ["Describe", "Get", "List"]
                .iter()
                .any(|read| action.starts_with(read)),
            "status made {call}: {made:?}"
        );
    }

    // What the plan lists is what a report calls: no call outside it.
    let listed: Vec<String> = planned["regions"][0]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["calls"].as_array().unwrap().iter())
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    reset_stats(region);
    status_json(
        region,
        state.path(),
        &["--recipe", recipe, "--usage-report"],
        0,
    );
    let made = call_counts(region);
    assert!(
        made.contains_key("ec2:DescribeImageUsageReportEntries"),
        "{made:?}"
    );
    for call in made.keys() {
        assert!(
            listed.contains(call),
            "{call} is not in the plan: {listed:?}"
        );
    }
}

/// `--usage-report`: a fresh report of each image names the other accounts.
pub(super) fn usage_report(f: &Fleet) {
    let (region, recipe, state, ids, report_id) =
        (f.region, &f.recipe, &f.state, &f.ids, &f.report_id);
    let new = &ids[2];
    let newest = &ids[3];
    knobs(
        region,
        json!({
            "usage_report_seconds": 1,
            "image_usage": {
                new.as_str(): [{"account_id": SHARED_WITH, "resource_type": "ec2:Instance", "usage_count": 3}],
                newest.as_str(): [{"account_id": "444455556666", "resource_type": "ec2:LaunchTemplate", "usage_count": 1}],
            },
        }),
    );
    reset_stats(region);
    let evs = status_json(
        region,
        state.path(),
        &["--recipe", recipe, "--usage-report"],
        0,
    );
    for id in ids {
        let states: Vec<&str> = evs
            .iter()
            .filter(|e| e["event"] == "usage_report" && e["image_id"] == id.as_str())
            .map(|e| e["state"].as_str().unwrap())
            .collect();
        assert_eq!(states, ["pending", "available"], "{id}: {evs:#?}");
    }
    assert_eq!(call_counts(region)["ec2:CreateImageUsageReport"], 4);
    let report = last(&evs, "status");
    let shown = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["image_id"] == newest.as_str())
        .unwrap();
    assert_eq!(shown["in_use"], true);
    let fresh = &shown["uses"][0];
    assert_eq!(fresh["kind"], "account", "{shown}");
    assert_eq!(fresh["account_id"], "444455556666");
    assert_eq!(fresh["resource_type"], "ec2:LaunchTemplate");
    assert_ne!(fresh["report_id"], report_id.as_str());
}

/// `--all`, a disabled image and a deprecation time.
pub(super) fn all_disabled_and_deprecated(f: &Fleet) {
    let (region, recipe, state, rt, ids) = (f.region, &f.recipe, &f.state, &f.rt, &f.ids);
    let [unused, old, new, newest] = [&ids[0], &ids[1], &ids[2], &ids[3]];
    let deprecate_at = rt.block_on(async {
        let ec2 = ec2(region).await;
        ec2.disable_image()
            .image_id(unused)
            .send()
            .await
            .expect("DisableImage");
        let at = time::OffsetDateTime::now_utc() + time::Duration::days(30);
        let at = aws_smithy_types::DateTime::from_secs(at.unix_timestamp());
        ec2.enable_image_deprecation()
            .image_id(newest)
            .deprecate_at(at)
            .send()
            .await
            .expect("EnableImageDeprecation");
        let shown = described(region, newest).await;
        shown.deprecation_time().unwrap().to_string()
    });
    let evs = status_json(region, state.path(), &["--all"], 0);
    let all = last(&evs, "status");
    assert_eq!(all["recipe"], Value::Null);
    let mine: Vec<&Value> = all["images"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["recipe"] == recipe.as_str())
        .collect();
    let order: Vec<&str> = mine
        .iter()
        .map(|i| i["image_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        [newest, new, old, unused],
        "the recipe's images, together"
    );
    assert_eq!(
        mine[3]["state"], "disabled",
        "a disabled image is still reported"
    );
    assert_eq!(mine[0]["deprecation_time"], deprecate_at.as_str());
    assert_eq!(
        mine[0]["state"], "available",
        "deprecated only once the time is past"
    );
    assert!(
        all["summary"]["recipes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == recipe.as_str())
    );
    let hidden = rt.block_on(async {
        ec2(region)
            .await
            .describe_images()
            .owners("self")
            .filters(Filter::builder().name("image-id").values(unused).build())
            .send()
            .await
            .expect("DescribeImages")
            .images()
            .len()
    });
    assert_eq!(hidden, 0, "DescribeImages without IncludeDisabled hides it");
    let text = run_expect(region, state.path(), &["status", "--recipe", recipe], 0);
    let text = String::from_utf8_lossy(&text.stdout).replace("\n        ", " ");
    assert!(
        text.contains(&format!("· deprecation {deprecate_at}")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with(&format!("  {unused}")) && l.contains(" disabled ")),
        "{text}"
    );
}
