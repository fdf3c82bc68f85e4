//! Images: describe and find, create, copy, share, deprecate, delete with their snapshots.

use std::collections::BTreeMap;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, LaunchPermission, LaunchPermissionModifications, ResourceType};
use aws_smithy_types::DateTime;

use crate::aws::AwsError;
use crate::image::ImageState;
use crate::scan::{Finding, ScanSummary};

use super::{delete_snapshot, tag_filters, tag_specs};

/// What amibake needs to know about an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    pub id: String,
    pub name: String,
    pub state: ImageState,
    pub state_reason: Option<String>,
    pub root_device_name: Option<String>,
    pub snapshot_ids: Vec<String>,
    /// Whether its snapshots are encrypted (a copy keeps them so).
    pub encrypted: bool,
    pub creation_date: String,
    pub tags: BTreeMap<String, String>,
}

pub(super) fn image_info(img: &aws_sdk_ec2::types::Image) -> ImageInfo {
    ImageInfo {
        id: img.image_id().unwrap_or_default().to_string(),
        name: img.name().unwrap_or_default().to_string(),
        state: ImageState::from(img.state().map(|s| s.as_str()).unwrap_or_default()),
        state_reason: img
            .state_reason()
            .and_then(|r| r.message())
            .map(str::to_string),
        root_device_name: img.root_device_name().map(str::to_string),
        snapshot_ids: img
            .block_device_mappings()
            .iter()
            .filter_map(|m| m.ebs().and_then(|e| e.snapshot_id()))
            .map(str::to_string)
            .collect(),
        encrypted: img
            .block_device_mappings()
            .iter()
            .any(|m| m.ebs().and_then(|e| e.encrypted()) == Some(true)),
        creation_date: img.creation_date().unwrap_or_default().to_string(),
        tags: img
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect(),
    }
}

/// The image with this id, or `None` when EC2 does not know it.
pub async fn describe_image(ec2: &Client, id: &str) -> Result<Option<ImageInfo>, AwsError> {
    match ec2.describe_images().image_ids(id).send().await {
        Ok(out) => Ok(out.images().first().map(image_info)),
        // A malformed or unknown id is an answer, not a failure.
        Err(e) => AwsError::call(crate::aws::calls::EC2_DESCRIBE_IMAGES, e)
            .absent_if(&["InvalidAMIID.NotFound", "InvalidAMIID.Malformed"]),
    }
}

/// The newest image (by creation date) matching owners, a name pattern and an architecture.
pub async fn newest_image(
    ec2: &Client,
    owners: &[String],
    name: &str,
    architecture: &str,
) -> Result<Option<ImageInfo>, AwsError> {
    let out = ec2
        .describe_images()
        .set_owners(Some(owners.to_vec()))
        .filters(Filter::builder().name("name").values(name).build())
        .filters(
            Filter::builder()
                .name("architecture")
                .values(architecture)
                .build(),
        )
        .filters(
            Filter::builder()
                .name("state")
                .values(ImageState::Available.as_str())
                .build(),
        )
        .send()
        .await
        .map_err(|e| AwsError::call(crate::aws::calls::EC2_DESCRIBE_IMAGES, e))?;
    Ok(out
        .images()
        .iter()
        .map(image_info)
        .max_by(|a, b| a.creation_date.cmp(&b.creation_date)))
}

/// This account's images carrying all these tags (any state but deregistered or
/// disabled: EC2 hides a disabled image unless asked).
pub async fn images_tagged(
    ec2: &Client,
    tags: &[(&str, &str)],
) -> Result<Vec<ImageInfo>, AwsError> {
    let out = ec2
        .describe_images()
        .owners("self")
        .set_filters(Some(tag_filters(tags)))
        .send()
        .await
        .map_err(|e| AwsError::call(crate::aws::calls::EC2_DESCRIBE_IMAGES, e))?;
    Ok(out.images().iter().map(image_info).collect())
}

/// Creates an image of a stopped instance, tagging the AMI and its snapshots at creation.
pub async fn create_image(
    ec2: &Client,
    instance_id: &str,
    name: &str,
    description: &str,
    tags: &BTreeMap<String, String>,
) -> Result<String, AwsError> {
    let out = ec2
        .create_image()
        .instance_id(instance_id)
        .name(name)
        .description(description)
        .set_tag_specifications(Some(tag_specs(
            &[ResourceType::Image, ResourceType::Snapshot],
            tags,
        )))
        .send()
        .await
        .map_err(|e| AwsError::call(crate::aws::calls::EC2_CREATE_IMAGE, e))?;
    Ok(out.image_id().unwrap_or_default().to_string())
}

/// What a copy needs.
#[derive(Debug, Clone)]
pub struct Copy {
    pub source_region: String,
    pub source_image_id: String,
    pub name: String,
    pub description: String,
    pub encrypted: bool,
    pub kms_key_id: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub client_token: String,
}

/// Copies an image into the region of `dest` (CopyImage is called in the destination),
/// tagging the new AMI and its new snapshots at creation, so an interrupted copy's
/// snapshots carry the run id for `sweep` too.
pub async fn copy_image(dest: &Client, c: &Copy) -> Result<String, AwsError> {
    let out = dest
        .copy_image()
        .source_region(&c.source_region)
        .source_image_id(&c.source_image_id)
        .name(&c.name)
        .description(&c.description)
        .encrypted(c.encrypted)
        .set_kms_key_id(c.kms_key_id.clone())
        .client_token(&c.client_token)
        .set_tag_specifications(Some(tag_specs(
            &[ResourceType::Image, ResourceType::Snapshot],
            &c.tags,
        )))
        .send()
        .await
        .map_err(|e| AwsError::call(crate::aws::calls::EC2_COPY_IMAGE, e))?;
    Ok(out.image_id().unwrap_or_default().to_string())
}

/// Deregisters an image and deletes its snapshots; what is already gone is fine.
pub async fn delete_image(ec2: &Client, image: &ImageInfo) -> Result<(), AwsError> {
    match ec2.deregister_image().image_id(&image.id).send().await {
        Ok(_) => {}
        Err(e) => {
            let err = AwsError::call(crate::aws::calls::EC2_DEREGISTER_IMAGE, e);
            if !matches!(
                err.code(),
                Some("InvalidAMIID.NotFound" | "InvalidAMIID.Unavailable")
            ) {
                return Err(err);
            }
        }
    }
    for snap in &image.snapshot_ids {
        delete_snapshot(ec2, snap).await?;
    }
    Ok(())
}

/// Who may launch an image besides its owner.
#[derive(Debug, Clone, Default)]
pub struct Sharing {
    pub accounts: Vec<String>,
    pub organizations: Vec<String>,
    pub organizational_units: Vec<String>,
}

impl Sharing {
    /// Shares with nobody.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
            && self.organizations.is_empty()
            && self.organizational_units.is_empty()
    }
}

/// Grants launch permission on the image `id` and create-volume permission on its
/// snapshots.
pub async fn share_image(
    ec2: &Client,
    id: &str,
    snapshot_ids: &[String],
    s: &Sharing,
) -> Result<(), AwsError> {
    let mut perms = Vec::new();
    for a in &s.accounts {
        perms.push(LaunchPermission::builder().user_id(a).build());
    }
    for o in &s.organizations {
        perms.push(LaunchPermission::builder().organization_arn(o).build());
    }
    for ou in &s.organizational_units {
        perms.push(
            LaunchPermission::builder()
                .organizational_unit_arn(ou)
                .build(),
        );
    }
    if perms.is_empty() {
        return Ok(());
    }
    ec2.modify_image_attribute()
        .image_id(id)
        .launch_permission(
            LaunchPermissionModifications::builder()
                .set_add(Some(perms))
                .build(),
        )
        .send()
        .await
        .map_err(|e| AwsError::call(crate::aws::calls::EC2_MODIFY_IMAGE_ATTRIBUTE, e))?;
    if !s.accounts.is_empty() {
        for snap in snapshot_ids {
            ec2.modify_snapshot_attribute()
                .snapshot_id(snap)
                .attribute(aws_sdk_ec2::types::SnapshotAttributeName::CreateVolumePermission)
                .operation_type(aws_sdk_ec2::types::OperationType::Add)
                .set_user_ids(Some(s.accounts.clone()))
                .send()
                .await
                .map_err(|e| AwsError::call(crate::aws::calls::EC2_MODIFY_SNAPSHOT_ATTRIBUTE, e))?;
        }
    }
    Ok(())
}

/// Marks the image deprecated at `at` (it stays launchable, but is hidden from lists).
pub async fn deprecate_image(ec2: &Client, id: &str, at: DateTime) -> Result<(), AwsError> {
    ec2.enable_image_deprecation()
        .image_id(id)
        .deprecate_at(at)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::call(crate::aws::calls::EC2_ENABLE_IMAGE_DEPRECATION, e))
}

/// The image with this id if this account owns it (DescribeImages with Owners=self and an
/// `image-id` filter, which answers an empty list rather than an error for an id that is
/// not this account's); `None` for an image of another account (a public one too) or
/// none at all.
pub async fn describe_own_image(ec2: &Client, id: &str) -> Result<Option<ImageInfo>, AwsError> {
    let images = own_images_where(ec2, "image-id", id).await?;
    Ok(images
        .iter()
        .find(|i| i.image_id() == Some(id))
        .map(image_info))
}

/// The ids of this account's images named exactly `name` (DescribeImages with Owners=self
/// and a `name` filter): CreateImage and CopyImage refuse a name one of them holds.
pub async fn own_images_named(ec2: &Client, name: &str) -> Result<Vec<String>, AwsError> {
    let images = own_images_where(ec2, "name", name).await?;
    Ok(images
        .iter()
        .filter(|i| i.name() == Some(name))
        .filter_map(|i| i.image_id().map(str::to_string))
        .collect())
}

/// This account's images whose `filter` is `value` (DescribeImages with Owners=self).
async fn own_images_where(
    ec2: &Client,
    filter: &str,
    value: &str,
) -> Result<Vec<aws_sdk_ec2::types::Image>, AwsError> {
    let out = ec2
        .describe_images()
        .owners("self")
        .filters(Filter::builder().name(filter).values(value).build())
        .send()
        .await
        .map_err(|e| AwsError::call(crate::aws::calls::EC2_DESCRIBE_IMAGES, e))?;
    Ok(out.images.unwrap_or_default())
}

/// The most findings read from one image: far above a real image's hundreds, low enough
/// that a broken or hostile answer cannot fill the memory.
pub const MAX_FINDINGS: usize = 20_000;

/// Every finding of Inspector's latest scan of `image_id` (GetImageFindings, every page,
/// at most [`MAX_FINDINGS`]).
pub async fn image_findings(ec2: &Client, image_id: &str) -> Result<Vec<Finding>, AwsError> {
    let mut found = Vec::new();
    let mut pages = ec2
        .get_image_findings()
        .image_id(image_id)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| AwsError::call(crate::aws::calls::EC2_GET_IMAGE_FINDINGS, e))?;
        found.extend(page.image_findings().iter().map(Finding::from_ec2));
        if found.len() >= MAX_FINDINGS {
            found.truncate(MAX_FINDINGS);
            break;
        }
    }
    Ok(found)
}

/// The scan summary EC2 keeps on the image (its `ScanResults`), with `findings` counted;
/// `None` when the image has no scan results (never scanned) or EC2 does not know it.
pub async fn scan_summary(
    ec2: &Client,
    image_id: &str,
    findings: &[Finding],
) -> Result<Option<ScanSummary>, AwsError> {
    let out = match ec2.describe_images().image_ids(image_id).send().await {
        Ok(out) => out,
        Err(e) => {
            return AwsError::call(crate::aws::calls::EC2_DESCRIBE_IMAGES, e)
                .absent_if(&["InvalidAMIID.NotFound", "InvalidAMIID.Malformed"]);
        }
    };
    Ok(out
        .images()
        .first()
        .and_then(|img| img.scan_results())
        .map(|r| ScanSummary::from_ec2(Some(r), findings)))
}

/// Whether this caller may call GetImageFindings in the client's region (a DryRun: EC2
/// answers `DryRunOperation` when allowed, `UnauthorizedOperation` when not).
pub async fn may_get_image_findings(ec2: &Client, image_id: &str) -> Result<bool, AwsError> {
    match ec2
        .get_image_findings()
        .image_id(image_id)
        .dry_run(true)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) => {
            let e = AwsError::call(crate::aws::calls::EC2_GET_IMAGE_FINDINGS, e);
            match e.code() {
                Some("DryRunOperation") => Ok(true),
                Some("UnauthorizedOperation") => Ok(false),
                _ => Err(e),
            }
        }
    }
}
