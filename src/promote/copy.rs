//! Copies to `--copy-to` regions, waited for, each reported as it goes.

use std::time::Duration;

use serde_json::json;

use crate::aws::ec2::{self, ImageInfo};
use crate::aws::poll::{self, Schedule};
use crate::aws::{Aws, AwsError};
use crate::report::Reporter;

use super::{COPY_OF_TAG, PromoteError, PromoteRequest};

/// Copies the image to each region (CopyImage calls a second apart, waits in parallel),
/// reusing a copy an earlier promote made. Any failure fails the promotion before a
/// parameter changes.
pub(super) async fn copy_all(
    aws: &Aws,
    req: &PromoteRequest,
    home: &str,
    source: &ImageInfo,
    regions: &[String],
    reporter: &Reporter,
) -> Result<Vec<(String, ImageInfo)>, PromoteError> {
    let encrypted = source_encrypted(aws, home, &source.id).await?;
    let mut waits = Vec::new();
    let mut failures = Vec::new();
    for (i, region) in regions.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(Duration::from_secs(1).mul_f64(req.poll_scale.min(1.0))).await;
        }
        match start_copy(aws, home, source, region, encrypted).await {
            Ok((id, reused)) => {
                report_copy(
                    reporter,
                    region,
                    if reused { "reused" } else { "pending" },
                    Some(&id),
                    None,
                );
                let region = region.clone();
                waits.push(async move {
                    let r = finish_copy(aws, req, &region, &id).await;
                    (region, r)
                });
            }
            Err(e) => {
                report_copy(reporter, region, "failed", None, Some(&e.to_string()));
                failures.push(format!("{region}: {e}"));
            }
        }
    }
    let mut done = Vec::new();
    for (region, result) in futures_util::future::join_all(waits).await {
        match result {
            Ok(info) => {
                report_copy(reporter, &region, "available", Some(&info.id), None);
                done.push((region, info));
            }
            Err(e) => {
                report_copy(reporter, &region, "failed", None, Some(&e.to_string()));
                failures.push(format!("{region}: {e}"));
            }
        }
    }
    if failures.is_empty() {
        Ok(done)
    } else {
        Err(PromoteError::CopiesFailed(failures))
    }
}

pub(super) fn report_copy(
    reporter: &Reporter,
    region: &str,
    state: &str,
    id: Option<&str>,
    error: Option<&str>,
) {
    let text = match (id, error) {
        (_, Some(e)) => format!("copy to {region}: {state}: {e}"),
        (Some(id), None) => format!("copy to {region}: {id} {state}"),
        (None, None) => format!("copy to {region}: {state}"),
    };
    if state == "available" || state == "failed" {
        reporter.unspin(&format!("copy {region}"));
    } else {
        reporter.spin(&format!("copy {region}"), &text);
    }
    reporter.event(
        "copy",
        json!({ "region": region, "state": state, "ami_id": id, "error": error }),
        &text,
    );
}

/// Whether the image's snapshots are encrypted (the copy keeps it so; an unencrypted
/// image stays shareable across accounts).
pub(super) async fn source_encrypted(
    aws: &Aws,
    region: &str,
    id: &str,
) -> Result<bool, PromoteError> {
    let ec2 = aws.ec2(region).map_err(PromoteError::aws("copy"))?;
    let out = ec2
        .describe_images()
        .image_ids(id)
        .send()
        .await
        .map_err(|e| PromoteError::aws("copy")(AwsError::call("ec2:DescribeImages", e)))?;
    Ok(out
        .images()
        .iter()
        .flat_map(|i| i.block_device_mappings())
        .any(|m| m.ebs().and_then(|e| e.encrypted()) == Some(true)))
}

/// Starts a copy, or finds the one an earlier promote started; returns (id, reused).
pub(super) async fn start_copy(
    aws: &Aws,
    home: &str,
    source: &ImageInfo,
    region: &str,
    encrypted: bool,
) -> Result<(String, bool), PromoteError> {
    let dest = aws.ec2(region).map_err(PromoteError::aws("copy"))?;
    let wanted = [(COPY_OF_TAG, source.id.as_str())];
    let earlier = poll::retry(|| ec2::images_tagged(&dest, &wanted))
        .await
        .map_err(PromoteError::aws("copy"))?;
    if let Some(found) = earlier
        .iter()
        .find(|i| i.state == "available" || i.state == "pending")
    {
        return Ok((found.id.clone(), true));
    }
    let mut copy_tags = source.tags.clone();
    copy_tags.insert(COPY_OF_TAG.to_string(), source.id.clone());
    let copy = ec2::Copy {
        source_region: home.to_string(),
        source_image_id: source.id.clone(),
        name: source.name.clone(),
        description: format!("{} from {home}, copied by amibake promote", source.id),
        encrypted,
        kms_key_id: None,
        tags: copy_tags,
        client_token: format!("amibake-promote-{}-{region}", source.id),
    };
    let id = poll::retry(|| ec2::copy_image(&dest, &copy))
        .await
        .map_err(PromoteError::aws("copy"))?;
    Ok((id, false))
}

/// Waits for a copy, then tags its snapshots like the image (CopyImage cannot).
pub(super) async fn finish_copy(
    aws: &Aws,
    req: &PromoteRequest,
    region: &str,
    id: &str,
) -> Result<ImageInfo, PromoteError> {
    let dest = aws.ec2(region).map_err(PromoteError::aws("copy"))?;
    let image = poll::until(
        Schedule::IMAGE.scaled(req.poll_scale),
        req.image_timeout,
        || async {
            match ec2::describe_image(&dest, id).await? {
                Some(i) if matches!(i.state.as_str(), "available" | "failed" | "error") => {
                    Ok(Some(i))
                }
                _ => Ok(None),
            }
        },
    )
    .await
    .map_err(PromoteError::poll(
        "copy",
        format!("copy {id} in {region}"),
        format!("it may still finish: rerun the same promote to pick it up ({COPY_OF_TAG} tag)"),
    ))?;
    if image.state != "available" {
        return Err(PromoteError::CopiesFailed(vec![format!(
            "{region}: {id} is {}: {}",
            image.state,
            image.state_reason.clone().unwrap_or_default()
        )]));
    }
    poll::retry(|| ec2::create_tags(&dest, &image.snapshot_ids, &image.tags))
        .await
        .map_err(PromoteError::aws("copy"))?;
    Ok(image)
}
