//! What sweep and prune look for: tagged instances, groups and snapshots, the instances
//! and launch templates that use an image.

use std::collections::BTreeMap;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, Tag};

use crate::aws::AwsError;

use super::tag_filters;

/// A resource found by its tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged {
    pub id: String,
    /// Instance state name; empty for resources without one.
    pub state: String,
    pub tags: BTreeMap<String, String>,
}

pub(super) fn tag_map<'a>(tags: impl IntoIterator<Item = &'a Tag>) -> BTreeMap<String, String> {
    tags.into_iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect()
}

/// Every instance matching `filters` that is not terminated, with its state name, across
/// all pages.
pub(super) async fn live_instances(
    ec2: &Client,
    filters: Vec<Filter>,
) -> Result<Vec<(aws_sdk_ec2::types::Instance, String)>, AwsError> {
    let mut found = Vec::new();
    let mut pages = ec2
        .describe_instances()
        .set_filters(Some(filters))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| AwsError::call(crate::aws::calls::EC2_DESCRIBE_INSTANCES, e))?;
        for i in page.reservations().iter().flat_map(|r| r.instances()) {
            let state = i
                .state()
                .and_then(|s| s.name())
                .map(|n| n.as_str().to_string())
                .unwrap_or_default();
            if state != "terminated" {
                found.push((i.clone(), state));
            }
        }
    }
    Ok(found)
}

/// Instances with these tags that are not terminated.
pub async fn instances_tagged(
    ec2: &Client,
    tags: &[(&str, &str)],
) -> Result<Vec<Tagged>, AwsError> {
    Ok(live_instances(ec2, tag_filters(tags))
        .await?
        .into_iter()
        .map(|(i, state)| Tagged {
            id: i.instance_id().unwrap_or_default().to_string(),
            state,
            tags: tag_map(i.tags()),
        })
        .collect())
}

/// Security groups with these tags.
pub async fn security_groups_tagged(
    ec2: &Client,
    tags: &[(&str, &str)],
) -> Result<Vec<Tagged>, AwsError> {
    let out = ec2
        .describe_security_groups()
        .set_filters(Some(tag_filters(tags)))
        .send()
        .await
        .map_err(|e| AwsError::call(crate::aws::calls::EC2_DESCRIBE_SECURITY_GROUPS, e))?;
    Ok(out
        .security_groups()
        .iter()
        .map(|g| Tagged {
            id: g.group_id().unwrap_or_default().to_string(),
            state: String::new(),
            tags: tag_map(g.tags()),
        })
        .collect())
}

/// This account's snapshots with these tags.
pub async fn snapshots_tagged(
    ec2: &Client,
    tags: &[(&str, &str)],
) -> Result<Vec<Tagged>, AwsError> {
    let out = ec2
        .describe_snapshots()
        .owner_ids("self")
        .set_filters(Some(tag_filters(tags)))
        .send()
        .await
        .map_err(|e| AwsError::call(crate::aws::calls::EC2_DESCRIBE_SNAPSHOTS, e))?;
    Ok(out
        .snapshots()
        .iter()
        .map(|s| Tagged {
            id: s.snapshot_id().unwrap_or_default().to_string(),
            state: s
                .state()
                .map(|st| st.as_str().to_string())
                .unwrap_or_default(),
            tags: tag_map(s.tags()),
        })
        .collect())
}

/// Deletes a snapshot; one that is already gone is fine.
pub async fn delete_snapshot(ec2: &Client, id: &str) -> Result<(), AwsError> {
    match ec2.delete_snapshot().snapshot_id(id).send().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let err = AwsError::call(crate::aws::calls::EC2_DELETE_SNAPSHOT, e);
            if err.code() == Some("InvalidSnapshot.NotFound") {
                Ok(())
            } else {
                Err(err)
            }
        }
    }
}

/// An instance launched from an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceOfImage {
    pub id: String,
    pub image_id: String,
    /// `pending`, `running`, `stopping`, `stopped`, `shutting-down`.
    pub state: String,
}

/// Instances launched from any of these images that are not terminated (a stopped
/// instance still needs its image to start again).
pub async fn instances_of_images(
    ec2: &Client,
    image_ids: &[String],
) -> Result<Vec<InstanceOfImage>, AwsError> {
    let mut found = Vec::new();
    // A filter takes at most 200 values.
    for chunk in image_ids.chunks(200) {
        let filter = Filter::builder()
            .name("image-id")
            .set_values(Some(chunk.to_vec()))
            .build();
        for (i, state) in live_instances(ec2, vec![filter]).await? {
            found.push(InstanceOfImage {
                id: i.instance_id().unwrap_or_default().to_string(),
                image_id: i.image_id().unwrap_or_default().to_string(),
                state,
            });
        }
    }
    Ok(found)
}

/// One version of a launch template and the image it launches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchTemplateImage {
    pub template_id: String,
    pub version: i64,
    /// An AMI id, `resolve:ssm:<parameter>`, or `None` when the version names no image.
    pub image_id: Option<String>,
}

/// The image of a launch template version (`$Latest`, `$Default` or a number), found by
/// template id or name; `None` when the template or version does not exist.
pub async fn launch_template_image(
    ec2: &Client,
    template_id: Option<&str>,
    template_name: Option<&str>,
    version: &str,
) -> Result<Option<LaunchTemplateImage>, AwsError> {
    let out = ec2
        .describe_launch_template_versions()
        .set_launch_template_id(template_id.map(str::to_string))
        .set_launch_template_name(if template_id.is_some() {
            None
        } else {
            template_name.map(str::to_string)
        })
        .versions(version)
        .send()
        .await;
    match out {
        Ok(out) => Ok(out
            .launch_template_versions()
            .first()
            .map(|v| LaunchTemplateImage {
                template_id: v.launch_template_id().unwrap_or_default().to_string(),
                version: v.version_number().unwrap_or_default(),
                image_id: v
                    .launch_template_data()
                    .and_then(|d| d.image_id())
                    .map(str::to_string),
            })),
        Err(e) => {
            let err = AwsError::call(crate::aws::calls::EC2_DESCRIBE_LAUNCH_TEMPLATE_VERSIONS, e);
            if err.code().is_some_and(|c| {
                c.starts_with("InvalidLaunchTemplateId.")
                    || c.starts_with("InvalidLaunchTemplateName.")
            }) {
                Ok(None)
            } else {
                Err(err)
            }
        }
    }
}
