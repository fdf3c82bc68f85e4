//! `amibake prune` keeps an image that only EC2's DescribeImageReferences sees: a launch
//! template no Auto Scaling group uses, or a plain SSM parameter outside the channels;
//! the reason names the reference. A group's launch template is still named by the group
//! (an older version of it keeps nothing, though EC2 names the template).

use crate::support::emulator;

use emulator::*;

use super::prune::{
    exists, group_on_latest, images_of, launch_template, prune_json, removed, sorted,
    template_version,
};

/// The `kept` event of an image.
fn kept<'a>(events: &'a [serde_json::Value], ami: &str) -> &'a serde_json::Value {
    events
        .iter()
        .find(|e| e["event"] == "kept" && e["ami"] == ami)
        .unwrap_or_else(|| panic!("no kept event for {ami}: {events:#?}"))
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn prune_keeps_images_only_a_launch_template_or_a_plain_parameter_refers_to() {
    let region = "ap-south-1";
    let recipe = &unique("prune-refs");
    configure(region, serde_json::json!({}));
    let rt = rt();
    let (ids, lt, param) = rt.block_on(async {
        // Oldest first: a goes (only an older version of a group's launch template names
        // it), b is a launch template's (no group uses it), c a plain parameter's (not a
        // channel), d is the newest.
        let ids = images_of(region, recipe, 4).await;
        let grouped = launch_template(region, &format!("{recipe}-grouped"), &ids[0]).await;
        template_version(region, &grouped, &ids[3]).await;
        group_on_latest(region, &format!("{recipe}-asg"), &grouped).await;
        let lt = launch_template(region, &format!("{recipe}-spare"), &ids[1]).await;
        let param = format!("/golden/{recipe}/pinned");
        ssm(region)
            .put_parameter()
            .name(&param)
            .value(&ids[2])
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .send()
            .await
            .expect("PutParameter");
        (ids, lt, param)
    });

    let ev = prune_json(region, recipe, "1", &[]);
    assert_eq!(removed(&ev), sorted(vec![ids[0].clone()]), "{ev:#?}");
    let by_lt = &kept(&ev, &ids[1])["reasons"][0];
    assert_eq!(by_lt["kind"], "referenced", "{by_lt}");
    assert_eq!(by_lt["resource_type"], "ec2:LaunchTemplate");
    assert_eq!(by_lt["name"], lt.as_str());
    assert!(
        by_lt["arn"]
            .as_str()
            .is_some_and(|a| a.ends_with(&format!(":launch-template/{lt}"))),
        "{by_lt}"
    );
    let by_param = &kept(&ev, &ids[2])["reasons"][0];
    assert_eq!(by_param["kind"], "referenced", "{by_param}");
    assert_eq!(by_param["resource_type"], "ssm:Parameter");
    assert_eq!(by_param["name"], param.as_str());
    rt.block_on(async {
        assert!(!exists(region, &ids[0]).await);
        for id in &ids[1..] {
            assert!(exists(region, id).await, "{id} was removed");
        }
    });

    // In plain text the reason names the reference.
    let state = tempfile::tempdir().unwrap();
    let text = run_expect(
        region,
        state.path(),
        &["--no-progress", "prune", "--recipe", recipe, "--keep", "1"],
        0,
    );
    let text = String::from_utf8_lossy(&text.stderr);
    for expected in [
        format!("kept {} in {region} (launch template {lt})", ids[1]),
        format!("kept {} in {region} (SSM parameter {param})", ids[2]),
    ] {
        assert!(text.contains(&expected), "missing `{expected}` in:\n{text}");
    }
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn prune_keeps_a_shared_image_another_account_uses_by_its_usage_report() {
    let region = "ap-south-1";
    let recipe = &unique("prune-accounts");
    configure(region, serde_json::json!({}));
    let rt = rt();
    // Oldest first: a has a usage report naming an account that uses it, b one that
    // names only an account with no use left (count 0), c is the newest.
    let ids = rt.block_on(images_of(region, recipe, 3));
    let usage = |account: &str, count: u32| serde_json::json!([{"account_id": account, "resource_type": "ec2:Instance", "usage_count": count}]);
    let body = serde_json::json!({
        "region": region,
        "image_usage": { ids[0].as_str(): usage("111122223333", 2), ids[1].as_str(): usage("444455556666", 0) },
    });
    let (status, text) = http("POST", "/_amibake/config", &body.to_string());
    assert_eq!(status, 200, "{text}");
    let reports = rt.block_on(async {
        let mut reports = Vec::new();
        for id in &ids[..2] {
            reports.push(usage_report(region, id).await);
        }
        reports
    });

    let ev = prune_json(region, recipe, "1", &[]);
    assert_eq!(removed(&ev), sorted(vec![ids[1].clone()]), "{ev:#?}");
    let by_account = &kept(&ev, &ids[0])["reasons"][0];
    assert_eq!(by_account["kind"], "account", "{by_account}");
    assert_eq!(by_account["account_id"], "111122223333");
    assert_eq!(by_account["resource_type"], "ec2:Instance");
    assert_eq!(by_account["usage_count"], 2);
    assert_eq!(by_account["report_id"], reports[0].as_str());
    rt.block_on(async {
        assert!(
            exists(region, &ids[0]).await,
            "the shared image in use stays"
        );
        assert!(!exists(region, &ids[1]).await);
    });
}
