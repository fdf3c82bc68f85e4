//! Writing the channels: the SSM parameter of each region, with who promoted what and
//! when.

use std::collections::BTreeMap;

use crate::aws::poll;
use crate::aws::{Aws, ssm};
use crate::error::FromAws;
use crate::report::Reporter;
use crate::tags;

use super::plan::PromotePlan;
use super::{
    ENV_TAG, IMAGE_DATA_TYPE, PARAMETER, PromoteError, PromoteEvent, PromoteRequest, RegionChange,
};

/// What every region's channel records: the parameter, who promoted from which run and
/// when (its description), and its tags.
struct Record {
    parameter: String,
    description: String,
    tags: BTreeMap<String, String>,
}

/// What a promotion records on every channel it writes beyond who, what and when.
#[derive(Debug, Clone, Copy)]
pub(super) struct Marks {
    /// The order check was skipped and would have refused.
    pub forced: bool,
    /// `--allow-foreign-image` let an image through the guard.
    pub foreign: bool,
}

impl Record {
    fn new(req: &PromoteRequest, plan: &PromotePlan, marks: Marks) -> Record {
        let run_id = &plan.run_id;
        let description = format!(
            "promoted by {} at {} from run {run_id}{}",
            req.user,
            crate::run::rfc3339(std::time::SystemTime::now()),
            if marks.forced {
                " (forced past the order check)"
            } else {
                ""
            },
        );
        let scan = scan_record(plan);
        let description = match &scan {
            Some(tag) => format!("{description}; scan: {tag}"),
            None => description,
        };
        let description = if marks.foreign {
            format!(
                "{description} (FOREIGN IMAGE: not checked as a complete bake of this recipe, --allow-foreign-image)"
            )
        } else {
            description
        };
        let mut tags = BTreeMap::from([
            (tags::RECIPE.to_string(), plan.recipe.clone()),
            (ENV_TAG.to_string(), req.env.clone()),
            (tags::RUN_ID.to_string(), run_id.clone()),
            (tags::FOREIGN_IMAGE.to_string(), marks.foreign.to_string()),
        ]);
        if let Some(scan) = scan {
            tags.insert(tags::SCAN.to_string(), scan);
        }
        Record {
            parameter: plan.parameter.clone(),
            description,
            tags,
        }
    }
}

/// The scan summary a channel records (the `amibake:scan` tag's form): the scan the gate
/// judged, else the one the bake tagged the home image with; `None` when neither exists.
fn scan_record(plan: &PromotePlan) -> Option<String> {
    if let Some(found) = plan.scan.as_ref().and_then(|g| g.found.as_ref()) {
        return Some(found.tag_value());
    }
    let home = plan.regions.iter().find(|r| r.region == plan.home_region)?;
    let tagged = home.image.as_ref()?.tags.get(tags::SCAN)?;
    // Only a value that reads back as a summary: a tag is not trusted as text.
    crate::scan::ScanSummary::from_tag_value(tagged).map(|s| s.tag_value())
}

/// What a region's channel holds now (`None`: the parameter does not exist).
pub(super) async fn read(
    aws: &Aws,
    parameter: &str,
    region: &str,
) -> Result<Option<String>, PromoteError> {
    let client = aws.ssm(region).map_err(PromoteError::aws("parameter"))?;
    Ok(
        poll::retry(|| ssm::get_parameter_with_metadata(&client, parameter))
            .await
            .map_err(PromoteError::aws("parameter"))?
            .map(|p| p.value),
    )
}

/// Points every region's channel at its image, in the plan's order (the home region last,
/// so the next environment's order check passes only once every region is promoted),
/// each reported. Returns the changes in the manifest's order (home first).
pub(super) async fn write_channels(
    aws: &Aws,
    req: &PromoteRequest,
    plan: &PromotePlan,
    marks: Marks,
    reporter: &Reporter,
) -> Result<Vec<RegionChange>, PromoteError> {
    let record = Record::new(req, plan, marks);
    let mut regions = Vec::new();
    for region in &plan.regions {
        let ami = region.new.clone().unwrap_or_default();
        let change = RegionChange {
            region: region.region.clone(),
            parameter: record.parameter.clone(),
            old: region.old.clone(),
            new: ami,
            copied: region.copy.is_some(),
            changed: !region.unchanged,
        };
        if change.changed {
            write_channel(aws, req, &record, &change).await?;
        }
        reporter.emit(PromoteEvent::Promoted {
            env: req.env.clone(),
            change: change.clone(),
        });
        regions.push(change);
    }
    regions.sort_by_key(|r| r.region != plan.home_region);
    Ok(regions)
}

/// Points one region's channel at the change's image, waits until SSM shows the new
/// version, and tags the parameter.
async fn write_channel(
    aws: &Aws,
    req: &PromoteRequest,
    record: &Record,
    change: &RegionChange,
) -> Result<(), PromoteError> {
    let (region, ami) = (change.region.as_str(), change.new.as_str());
    let parameter = record.parameter.as_str();
    let client = aws.ssm(region).map_err(PromoteError::aws("parameter"))?;
    let description = &record.description;
    let version =
        poll::retry(|| ssm::put_parameter(&client, parameter, ami, description, IMAGE_DATA_TYPE))
            .await
            .map_err(PromoteError::aws("parameter"))?;
    // SSM checks an aws:ec2:image value asynchronously: the new version is readable only
    // once the image is accepted.
    poll::until(
        PARAMETER.scaled(req.poll_scale),
        req.parameter_timeout,
        || async {
            Ok(ssm::get_parameter_with_metadata(&client, parameter)
                .await?
                .filter(|p| p.version >= version && p.value == ami)
                .map(|_| ()))
        },
    )
    .await
    .map_err(PromoteError::poll(
        "parameter",
        format!("{parameter} in {region}"),
        format!(
            "SSM did not show version {version} = {ami}: it refuses an aws:ec2:image value that is not an available AMI of {region}"
        ),
    ))?;
    poll::retry(|| ssm::tag_parameter(&client, parameter, &record.tags))
        .await
        .map_err(PromoteError::aws("parameter"))?;
    Ok(())
}
