//! `promote` against aws-smithy-mocks clients: what the emulator cannot produce — SSM
//! validating an `aws:ec2:image` value asynchronously (the new version shows late, or
//! never), and a copy that fails — run under paused tokio time, with the events each
//! promotion emitted kept in memory.

use crate::support::promote_mocks::*;

use std::time::Duration;

use amibake::error::{ExitKind, Failure};
use amibake::promote::{PromoteError, PromoteRequest, plan, promote};
use aws_smithy_mocks::mock;

#[tokio::test(start_paused = true)]
async fn a_channel_counts_as_promoted_only_once_ssm_shows_the_validated_version() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = files(dir.path());
    let (ssm, ec2) = (ssm_rules(Some(3)), ec2_rules());
    let req = PromoteRequest::new(&manifest, "dev");
    let reporter = reporter();
    let outcome = promote(&aws(&ssm, &ec2), &req, &reporter)
        .await
        .expect("promoted");
    assert_eq!(outcome.regions.len(), 1);
    let change = &outcome.regions[0];
    assert_eq!(change.old.as_deref(), Some(OLD));
    assert_eq!(change.new, AMI);
    assert!(change.changed);
    assert_eq!(ssm.put.num_calls(), 1);
    // One read before the write, then reads until version 4 showed (the fourth).
    assert_eq!(ssm.get.num_calls(), 5);
    assert_eq!(ssm.tag.num_calls(), 1, "tagged once the value is in");
    // dev is the first environment: no order check, and no copy.
    let events = reporter.recorded();
    assert_eq!(events.kinds(), ["start", "promoted"]);
    let promoted = events.of_kind("promoted")[0];
    assert_eq!(promoted["old"], OLD);
    assert_eq!(promoted["new"], AMI);
    assert_eq!(promoted["changed"], true);
    assert_eq!(events.text[1], format!("dev: {OLD} → {AMI} in {HOME}"));
}

#[tokio::test(start_paused = true)]
async fn a_value_ssm_never_accepts_times_out_with_exit_1_and_is_not_tagged() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = files(dir.path());
    let (ssm, ec2) = (ssm_rules(None), ec2_rules());
    let mut req = PromoteRequest::new(&manifest, "dev");
    req.parameter_timeout = Duration::from_secs(30);
    let err = promote(&aws(&ssm, &ec2), &req, &reporter())
        .await
        .expect_err("SSM never showed the new version");
    assert!(
        matches!(&err, PromoteError::Timeout { hint, .. } if hint.contains("aws:ec2:image")),
        "{err}"
    );
    assert_eq!(err.kind(), ExitKind::Failed);
    assert_eq!(ssm.tag.num_calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_failed_copy_fails_the_promotion_before_any_channel_changes() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = files(dir.path());
    let (ssm, ec2) = (ssm_rules(Some(0)), ec2_rules());
    let mut req = PromoteRequest::new(&manifest, "dev");
    req.copy_to = vec![FAR.to_string()];
    let reporter = reporter();
    let err = promote(&aws(&ssm, &ec2), &req, &reporter)
        .await
        .expect_err("the copy failed");
    assert!(
        matches!(&err, PromoteError::CopiesFailed(f) if f[0].starts_with(FAR)),
        "{err}"
    );
    assert_eq!(err.kind(), ExitKind::Failed);
    assert_eq!(ec2.copy.num_calls(), 1);
    assert_eq!(ssm.put.num_calls(), 0, "no channel changed");
    let events = reporter.recorded();
    let copies = events.of_kind("copy");
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert_eq!(copies[0]["region"], FAR);
    assert_eq!(copies[0]["state"], "failed");
    assert!(
        copies[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("not enabled")),
        "{copies:?}"
    );
    assert!(events.of_kind("promoted").is_empty());
}

#[tokio::test(start_paused = true)]
async fn prod_is_refused_when_dev_holds_another_image_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = files(dir.path());
    let (ssm, ec2) = (ssm_rules(Some(0)), ec2_rules());
    let req = PromoteRequest::new(&manifest, "prod");
    let reporter = reporter();
    let err = promote(&aws(&ssm, &ec2), &req, &reporter)
        .await
        .expect_err("dev holds OLD");
    assert!(
        matches!(&err, PromoteError::Refused { previous, holds, .. } if previous == "dev" && holds.as_deref() == Some(OLD)),
        "{err}"
    );
    assert_eq!(err.kind(), ExitKind::Failed);
    assert_eq!(ssm.put.num_calls(), 0);
    assert_eq!(ssm.tag.num_calls(), 0);
    assert_eq!(ec2.copy.num_calls(), 0, "refused before any write");
    let events = reporter.recorded();
    assert_eq!(events.kinds(), ["start"], "no order event, no copy");
    assert!(events.of_kind("copy").is_empty());
    let detail = err.detail();
    assert_eq!(detail["refused"], true);
    assert_eq!(detail["previous"], "dev");
    assert_eq!(detail["holds"], OLD);
}

#[tokio::test(start_paused = true)]
async fn prod_follows_dev_when_dev_holds_the_image_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = files(dir.path());
    let (ssm, ec2) = (ssm_store(&[("/amibake/web/dev", AMI)]), ec2_rules());
    let req = PromoteRequest::new(&manifest, "prod");
    let reporter = reporter();
    let outcome = promote(&aws(&ssm, &ec2), &req, &reporter)
        .await
        .expect("dev holds AMI");
    assert!(!outcome.forced);
    assert_eq!(outcome.regions[0].old, None);
    let events = reporter.recorded();
    assert_eq!(events.kinds(), ["start", "order", "promoted"]);
    let order = events.of_kind("order")[0];
    assert_eq!(order["previous"], "dev");
    assert_eq!(order["parameter"], "/amibake/web/dev");
    assert_eq!(order["holds"], AMI);
    assert_eq!(order["ok"], true);
    assert_eq!(
        events.text[1],
        format!("dev holds {AMI} in {HOME}: prod may follow")
    );
}

#[tokio::test(start_paused = true)]
async fn a_copy_is_reported_pending_then_available_and_its_channel_set() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = files(dir.path());
    let ssm = ssm_store(&[]);
    let describe = mock!(aws_sdk_ec2::Client::describe_images).then_compute_output(|req| {
        let out = aws_sdk_ec2::operation::describe_images::DescribeImagesOutput::builder();
        match asked_for(req) {
            Some(id) if id == AMI || id == COPY => out.images(available(id)).build(),
            // No earlier copy is tagged.
            _ => out.build(),
        }
    });
    let copy = mock!(aws_sdk_ec2::Client::copy_image)
        .match_requests(|req| {
            req.source_image_id() == Some(AMI)
                && req.source_region() == Some(HOME)
                && req
                    .tag_specifications()
                    .iter()
                    .flat_map(|t| t.tags())
                    .any(|t| t.key() == Some("amibake:copy-of") && t.value() == Some(AMI))
        })
        .then_output(|| {
            aws_sdk_ec2::operation::copy_image::CopyImageOutput::builder()
                .image_id(COPY)
                .build()
        });
    let aws = clients(&[&ssm.get, &ssm.put, &ssm.tag], &[&describe, &copy]);
    let mut req = PromoteRequest::new(&manifest, "dev");
    req.copy_to = vec![FAR.to_string()];
    let reporter = reporter();
    let outcome = promote(&aws, &req, &reporter).await.expect("promoted");
    assert_eq!(copy.num_calls(), 1);
    let regions: Vec<(&str, &str, bool)> = outcome
        .regions
        .iter()
        .map(|r| (r.region.as_str(), r.new.as_str(), r.copied))
        .collect();
    assert_eq!(regions, [(HOME, AMI, false), (FAR, COPY, true)]);
    let events = reporter.recorded();
    let copies: Vec<(&str, &str)> = events
        .of_kind("copy")
        .iter()
        .map(|e| (e["state"].as_str().unwrap(), e["ami_id"].as_str().unwrap()))
        .collect();
    assert_eq!(copies, [("pending", COPY), ("available", COPY)]);
    assert!(
        events
            .text
            .contains(&format!("copy to {FAR}: {COPY} pending"))
    );
    assert_eq!(
        events.kinds(),
        ["start", "copy", "copy", "promoted", "promoted"],
        "the copy is done before any channel changes"
    );
    let promoted = events.of_kind("promoted");
    assert_eq!(promoted[0]["region"], FAR, "the home region goes last");
    assert_eq!(promoted[1]["region"], HOME);
}

#[tokio::test(start_paused = true)]
async fn the_plan_only_reads_and_shows_old_to_new_and_the_order_checks_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = files(dir.path());
    let (ssm, ec2) = (ssm_rules(Some(0)), ec2_rules());
    let mut req = PromoteRequest::new(&manifest, "prod");
    req.copy_to = vec![FAR.to_string()];
    req.share_with = vec!["111122223333".to_string()];
    let reporter = reporter();
    let plan = plan(&aws(&ssm, &ec2), &req, &reporter)
        .await
        .expect("a plan even though promote would refuse");
    // Only reads reached the mocks (a share would have found no rule and failed).
    assert_eq!(ssm.put.num_calls(), 0);
    assert_eq!(ssm.tag.num_calls(), 0);
    assert_eq!(ec2.copy.num_calls(), 0);
    assert!(ssm.get.num_calls() > 0 && ec2.describe.num_calls() > 0);
    assert!(!plan.order.passes);
    assert_eq!(plan.order.holds.as_deref(), Some(OLD));
    assert!(plan.verdict.refuses);
    assert_eq!(plan.verdict.exit_code, Some(1));
    let reason = plan.verdict.reason.clone().unwrap();
    assert!(
        reason.contains("refusing to promote") && reason.contains(OLD),
        "{reason}"
    );
    let regions: Vec<(&str, Option<&str>, Option<&str>)> = plan
        .regions
        .iter()
        .map(|r| (r.region.as_str(), r.old.as_deref(), r.new.as_deref()))
        .collect();
    assert_eq!(
        regions,
        [(FAR, Some(OLD), None), (HOME, Some(OLD), Some(AMI))]
    );
    let far = &plan.regions[0];
    let copy = far.copy.as_ref().expect("a copy to FAR");
    assert_eq!((copy.source.as_str(), copy.reuse.as_deref()), (AMI, None));
    assert_eq!(far.share_with, ["111122223333"]);
    let calls = |r: &amibake::promote::RegionPlan, write: bool| -> Vec<&str> {
        r.steps
            .iter()
            .filter(|s| s.write == write)
            .flat_map(|s| s.calls.iter().copied())
            .collect()
    };
    assert!(
        calls(far, true).contains(&"ec2:CopyImage"),
        "{:?}",
        far.steps
    );
    assert!(calls(far, true).contains(&"ec2:ModifyImageAttribute"));
    assert!(calls(&plan.regions[1], true).contains(&"ssm:PutParameter"));
    assert!(
        calls(far, false)
            .iter()
            .all(|c| c.contains(":Describe") || c.contains(":Get"))
    );
    let text = amibake::event::Event::from(amibake::promote::PromoteEvent::Plan(Box::new(plan)))
        .to_string();
    assert!(
        text.contains(&format!("{HOME}: channel {OLD} → {AMI}")),
        "{text}"
    );
    assert!(text.contains("promote would refuse (exit 1)"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn the_real_promote_walks_the_plan_it_computes() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = files(dir.path());
    let ssm = ssm_store(&[(PARAM, OLD)]);
    let ec2 = ec2_rules();
    let req = PromoteRequest::new(&manifest, "dev");
    let aws = aws(&ssm, &ec2);
    let planned = plan(&aws, &req, &reporter()).await.expect("planned");
    assert_eq!(ssm.put.num_calls(), 0);
    assert!(!planned.verdict.refuses);
    let outcome = promote(&aws, &req, &reporter()).await.expect("promoted");
    let did: Vec<(&str, Option<&str>, &str, bool)> = outcome
        .regions
        .iter()
        .map(|r| {
            (
                r.region.as_str(),
                r.old.as_deref(),
                r.new.as_str(),
                r.changed,
            )
        })
        .collect();
    let said: Vec<(&str, Option<&str>, &str, bool)> = planned
        .regions
        .iter()
        .map(|r| {
            (
                r.region.as_str(),
                r.old.as_deref(),
                r.new.as_deref().unwrap(),
                !r.unchanged,
            )
        })
        .collect();
    assert_eq!(did, said);
    assert_eq!(ssm.put.num_calls(), 1);
}
