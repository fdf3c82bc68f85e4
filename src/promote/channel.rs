//! Writing a channel: the SSM parameter, with who promoted what and when.

use std::collections::BTreeMap;

use crate::aws::poll;
use crate::aws::{Aws, ssm};

use super::{IMAGE_DATA_TYPE, PARAMETER, PromoteError, PromoteRequest, RegionChange};

/// Points one region's channel at `ami` (unless it already does), waits until SSM shows
/// the new version, and tags the parameter.
pub(super) async fn write_channel(
    aws: &Aws,
    req: &PromoteRequest,
    region: &str,
    parameter: &str,
    ami: &str,
    description: &str,
    parameter_tags: &BTreeMap<String, String>,
) -> Result<RegionChange, PromoteError> {
    let client = aws.ssm(region).map_err(PromoteError::aws("parameter"))?;
    let old = poll::retry(|| ssm::get_parameter_with_metadata(&client, parameter))
        .await
        .map_err(PromoteError::aws("parameter"))?;
    let old_value = old.as_ref().map(|p| p.value.clone());
    if old_value.as_deref() == Some(ami) {
        return Ok(RegionChange {
            region: region.to_string(),
            parameter: parameter.to_string(),
            old: old_value,
            new: ami.to_string(),
            copied: false,
            changed: false,
        });
    }
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
    poll::retry(|| ssm::tag_parameter(&client, parameter, parameter_tags))
        .await
        .map_err(PromoteError::aws("parameter"))?;
    Ok(RegionChange {
        region: region.to_string(),
        parameter: parameter.to_string(),
        old: old_value,
        new: ami.to_string(),
        copied: false,
        changed: true,
    })
}
