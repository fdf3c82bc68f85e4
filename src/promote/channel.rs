//! Writing the channels: the SSM parameter of each region, with who promoted what and
//! when.

use std::collections::BTreeMap;

use crate::aws::poll;
use crate::aws::{Aws, ssm};
use crate::event::FromAws;
use crate::report::Reporter;
use crate::tags;

use super::copy::Promoting;
use super::target::Target;
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
    fn new(req: &PromoteRequest, target: &Target, marks: Marks) -> Record {
        let run_id = &target.manifest.run_id;
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
        let description = if marks.foreign {
            format!(
                "{description} (FOREIGN IMAGE: not checked as a complete bake of this recipe, --allow-foreign-image)"
            )
        } else {
            description
        };
        let tags = BTreeMap::from([
            (tags::RECIPE.to_string(), target.order.recipe.clone()),
            (ENV_TAG.to_string(), req.env.clone()),
            (tags::RUN_ID.to_string(), run_id.clone()),
            (tags::FOREIGN_IMAGE.to_string(), marks.foreign.to_string()),
        ]);
        Record {
            parameter: target.parameter.clone(),
            description,
            tags,
        }
    }
}

/// Points every region's channel at its image, the home region last (so the next
/// environment's order check passes only once every region is promoted), each reported.
/// Returns the changes in the manifest's order (home first).
pub(super) async fn write_channels(
    aws: &Aws,
    req: &PromoteRequest,
    target: &Target,
    images: &[Promoting],
    marks: Marks,
    reporter: &Reporter,
) -> Result<Vec<RegionChange>, PromoteError> {
    let home = &target.home;
    let mut images: Vec<&Promoting> = images.iter().collect();
    images.sort_by_key(|(ami, _)| ami.region == *home);
    let record = Record::new(req, target, marks);
    let mut regions = Vec::new();
    for (ami, copied) in images {
        let change = RegionChange {
            copied: *copied,
            ..write_channel(aws, req, &record, &ami.region, &ami.ami_id).await?
        };
        reporter.emit(PromoteEvent::Promoted {
            env: req.env.clone(),
            change: change.clone(),
        });
        regions.push(change);
    }
    regions.sort_by_key(|r| r.region != *home);
    Ok(regions)
}

/// Points one region's channel at `ami` (unless it already does), waits until SSM shows
/// the new version, and tags the parameter.
async fn write_channel(
    aws: &Aws,
    req: &PromoteRequest,
    record: &Record,
    region: &str,
    ami: &str,
) -> Result<RegionChange, PromoteError> {
    let parameter = record.parameter.as_str();
    let client = aws.ssm(region).map_err(PromoteError::aws("parameter"))?;
    let old = poll::retry(|| ssm::get_parameter_with_metadata(&client, parameter))
        .await
        .map_err(PromoteError::aws("parameter"))?
        .map(|p| p.value);
    let change = |changed| RegionChange {
        region: region.to_string(),
        parameter: parameter.to_string(),
        old: old.clone(),
        new: ami.to_string(),
        copied: false,
        changed,
    };
    if old.as_deref() == Some(ami) {
        return Ok(change(false));
    }
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
    Ok(change(true))
}
