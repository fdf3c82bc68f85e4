//! The calls of a report, region by region: the images (one paginated DescribeImages,
//! disabled ones included), with `--usage-report` a fresh usage report of each (the only
//! write, waited for a bounded time), then the fleet survey of all of them at once.
//! `calls` lists the same calls for `--plan`.

use std::collections::BTreeMap;

use crate::aws::ec2::{self, Listed};
use crate::aws::poll::{self, PollError, Schedule};
use crate::aws::{Aws, AwsError, calls};
use crate::fleet::Uses;
use crate::report::Reporter;
use crate::tags;

use super::event::{RegionCalls, StatusEvent};
use super::{StatusError, StatusOptions};

/// A region's complete images by recipe, and what uses them.
pub(super) struct Region {
    pub recipes: BTreeMap<String, Vec<Listed>>,
    pub uses: Uses,
}

/// Reads one region.
pub(super) async fn region(
    aws: &Aws,
    region: &str,
    options: &StatusOptions,
    reporter: &Reporter,
) -> Result<Region, StatusError> {
    let failed = |phase: &'static str| {
        move |source: AwsError| StatusError::Aws {
            phase,
            region: region.to_string(),
            source,
        }
    };
    let ec2_client = aws.ec2(region).map_err(failed("images"))?;
    let filter = match &options.recipe {
        Some(recipe) => vec![(tags::RECIPE, recipe.as_str()), (tags::COMPLETE, "true")],
        None => vec![
            (tags::CREATED_BY, tags::CREATED_BY_VALUE),
            (tags::COMPLETE, "true"),
        ],
    };
    let (listed, more) = poll::retry(|| ec2::own_images_listed(&ec2_client, &filter))
        .await
        .map_err(failed("images"))?;
    if more {
        reporter.emit(StatusEvent::Truncated {
            region: region.to_string(),
            shown: listed.len(),
        });
    }
    let mut recipes: BTreeMap<String, Vec<Listed>> = BTreeMap::new();
    for image in listed {
        let recipe = image
            .info
            .tags
            .get(tags::RECIPE)
            .cloned()
            .unwrap_or_default();
        recipes.entry(recipe).or_default().push(image);
    }
    let infos: Vec<ec2::ImageInfo> = recipes.values().flatten().map(|l| l.info.clone()).collect();
    if infos.is_empty() {
        return Ok(Region {
            recipes: BTreeMap::new(),
            uses: Uses::default(),
        });
    }
    if options.usage_report {
        for image in &infos {
            usage_report(&ec2_client, region, &image.id, options, reporter).await?;
        }
    }
    let names: Vec<String> = recipes.keys().cloned().collect();
    let uses = crate::fleet::survey_recipes(aws, region, &names, &infos)
        .await
        .map_err(failed("references"))?;
    Ok(Region { recipes, uses })
}

/// `--usage-report`: a fresh usage report of `image_id` (one client token for the call and
/// its retries, so a retried call makes no second report), followed until it is
/// available, at most `options.usage_report_wait`.
async fn usage_report(
    ec2_client: &aws_sdk_ec2::Client,
    region: &str,
    image_id: &str,
    options: &StatusOptions,
    reporter: &Reporter,
) -> Result<(), StatusError> {
    let failed = |source: AwsError| StatusError::Aws {
        phase: "usage report",
        region: region.to_string(),
        source,
    };
    // Made once per report asked for: a retry of the call returns the same report, a
    // new run asks for a new one.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let token = format!("amibake-status-{}-{now}", std::process::id());
    let report_id = poll::retry(|| ec2::create_image_usage_report(ec2_client, image_id, &token))
        .await
        .map_err(failed)?;
    reporter.emit(StatusEvent::UsageReport {
        region: region.to_string(),
        image_id: image_id.to_string(),
        report_id: report_id.clone(),
        state: "pending".to_string(),
    });
    let schedule = Schedule::new(2_000, 15_000).scaled(options.poll_scale);
    let waited = poll::until(schedule, options.usage_report_wait, || async {
        let report = ec2::image_usage_report(ec2_client, &report_id).await?;
        Ok(report.filter(|r| r.state != "pending"))
    })
    .await;
    let unavailable = |why: String| StatusError::UsageReport {
        region: region.to_string(),
        image_id: image_id.to_string(),
        report_id: report_id.clone(),
        why,
    };
    match waited {
        Ok(r) if r.state == "available" => {
            reporter.emit(StatusEvent::UsageReport {
                region: region.to_string(),
                image_id: image_id.to_string(),
                report_id: report_id.clone(),
                state: r.state,
            });
            Ok(())
        }
        Ok(r) => Err(unavailable(format!(
            "ended {}{}",
            r.state,
            r.state_reason
                .map(|why| format!(": {why}"))
                .unwrap_or_default()
        ))),
        Err(PollError::Timeout(t)) => Err(unavailable(format!(
            "was not available after {}s (run status again later without --usage-report: it reads the newest available report)",
            t.as_secs()
        ))),
        Err(PollError::Aws(e)) => Err(failed(e)),
    }
}

/// The calls a report makes in `region`, by part.
pub(super) fn calls(region: &str, options: &StatusOptions) -> RegionCalls {
    let mut parts: Vec<(String, Vec<String>)> = vec![(
        match &options.recipe {
            Some(r) => format!("images: own, tagged amibake:recipe={r} and amibake:complete=true, disabled ones too"),
            None => "images: own, tagged amibake:created-by=amibake and amibake:complete=true, disabled ones too".to_string(),
        },
        vec![calls::EC2_DESCRIBE_IMAGES.to_string()],
    )];
    if options.usage_report {
        parts.push((
            "--usage-report: a fresh usage report of each image (the only write), followed until available".to_string(),
            vec![
                calls::EC2_CREATE_IMAGE_USAGE_REPORT.to_string(),
                calls::EC2_DESCRIBE_IMAGE_USAGE_REPORTS.to_string(),
            ],
        ));
    }
    parts.extend(crate::fleet::CALLS.iter().map(|(what, called)| {
        (
            what.to_string(),
            called.iter().map(|c| c.to_string()).collect(),
        )
    }));
    RegionCalls {
        region: region.to_string(),
        parts: parts
            .into_iter()
            .map(|(what, calls)| super::event::PlannedPart { what, calls })
            .collect(),
    }
}
