//! EC2 calls a bake makes: images, the builder instance, its security group, sharing.

use std::collections::BTreeMap;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, Filter, HttpTokensState, IamInstanceProfileSpecification,
    InstanceMetadataEndpointState, InstanceMetadataOptionsRequest,
    InstanceNetworkInterfaceSpecification, LaunchPermission, LaunchPermissionModifications,
    ResourceType, Tag, TagSpecification, VolumeType,
};
use aws_smithy_types::DateTime;

use super::AwsError;

/// What amibake needs to know about an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    pub id: String,
    pub name: String,
    /// `pending`, `available`, `failed`, …
    pub state: String,
    pub state_reason: Option<String>,
    pub root_device_name: Option<String>,
    pub snapshot_ids: Vec<String>,
    pub creation_date: String,
    pub tags: BTreeMap<String, String>,
}

fn image_info(img: &aws_sdk_ec2::types::Image) -> ImageInfo {
    ImageInfo {
        id: img.image_id().unwrap_or_default().to_string(),
        name: img.name().unwrap_or_default().to_string(),
        state: img
            .state()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
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
        Err(e) => {
            let err = AwsError::call("ec2:DescribeImages", e);
            // A malformed or unknown id is an answer, not a failure.
            if matches!(
                err.code(),
                Some("InvalidAMIID.NotFound" | "InvalidAMIID.Malformed")
            ) {
                Ok(None)
            } else {
                Err(err)
            }
        }
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
        .filters(Filter::builder().name("state").values("available").build())
        .send()
        .await
        .map_err(|e| AwsError::call("ec2:DescribeImages", e))?;
    Ok(out
        .images()
        .iter()
        .map(image_info)
        .max_by(|a, b| a.creation_date.cmp(&b.creation_date)))
}

/// Images carrying all these tags (any state but deregistered).
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
        .map_err(|e| AwsError::call("ec2:DescribeImages", e))?;
    Ok(out.images().iter().map(image_info).collect())
}

/// `tag:K = V` filters, one per pair.
fn tag_filters(tags: &[(&str, &str)]) -> Vec<Filter> {
    tags.iter()
        .map(|(k, v)| {
            Filter::builder()
                .name(format!("tag:{k}"))
                .values(*v)
                .build()
        })
        .collect()
}

/// Tag specifications for these resource types, all with the same tags.
pub fn tag_specs(types: &[ResourceType], tags: &BTreeMap<String, String>) -> Vec<TagSpecification> {
    types
        .iter()
        .map(|t| {
            TagSpecification::builder()
                .resource_type(t.clone())
                .set_tags(Some(to_tags(tags)))
                .build()
        })
        .collect()
}

fn to_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// The VPC of a subnet (a temporary security group must live there).
pub async fn subnet_vpc(ec2: &Client, subnet_id: &str) -> Result<Option<String>, AwsError> {
    let out = ec2
        .describe_subnets()
        .subnet_ids(subnet_id)
        .send()
        .await
        .map_err(|e| AwsError::call("ec2:DescribeSubnets", e))?;
    Ok(out
        .subnets()
        .first()
        .and_then(|s| s.vpc_id())
        .map(str::to_string))
}

/// Creates a security group with no inbound rule (EC2 creates none; we add none). Egress
/// stays open: the SSM agent and the package mirrors are reached outbound.
pub async fn create_security_group(
    ec2: &Client,
    name: &str,
    vpc_id: Option<&str>,
    tags: &BTreeMap<String, String>,
) -> Result<String, AwsError> {
    let out = ec2
        .create_security_group()
        .group_name(name)
        .description("amibake temporary builder group: no inbound rules")
        .set_vpc_id(vpc_id.map(str::to_string))
        .set_tag_specifications(Some(tag_specs(&[ResourceType::SecurityGroup], tags)))
        .send()
        .await
        .map_err(|e| AwsError::call("ec2:CreateSecurityGroup", e))?;
    Ok(out.group_id().unwrap_or_default().to_string())
}

/// Deletes a security group. An instance that is still shutting down keeps it in use
/// (`DependencyViolation`): callers wait for termination first.
pub async fn delete_security_group(ec2: &Client, id: &str) -> Result<(), AwsError> {
    match ec2.delete_security_group().group_id(id).send().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let err = AwsError::call("ec2:DeleteSecurityGroup", e);
            if err.code() == Some("InvalidGroup.NotFound") {
                Ok(())
            } else {
                Err(err)
            }
        }
    }
}

/// How to launch an instance.
#[derive(Debug, Clone)]
pub struct Launch {
    pub image_id: String,
    pub instance_type: String,
    pub instance_profile: String,
    pub subnet_id: Option<String>,
    pub security_group_ids: Vec<String>,
    pub associate_public_ip_address: Option<bool>,
    /// `None`: launch with the image's own block devices (the boot test does: the baked
    /// image is already encrypted).
    pub root_volume: Option<RootVolume>,
    pub tags: BTreeMap<String, String>,
    /// Makes a retried RunInstances return the same instance instead of a second one.
    pub client_token: String,
}

/// The builder's root volume: always encrypted, deleted on termination.
#[derive(Debug, Clone)]
pub struct RootVolume {
    /// From the source image; the override targets it.
    pub device_name: String,
    pub size_gb: u32,
    pub volume_type: String,
    pub kms_key_id: Option<String>,
}

/// Launches one instance: IMDSv2 required, encrypted root volume deleted on termination,
/// tags on the instance and its volumes at creation.
pub async fn run_instance(ec2: &Client, l: &Launch) -> Result<String, AwsError> {
    let profile = if l.instance_profile.starts_with("arn:") {
        IamInstanceProfileSpecification::builder().arn(&l.instance_profile)
    } else {
        IamInstanceProfileSpecification::builder().name(&l.instance_profile)
    }
    .build();
    let mut req = ec2
        .run_instances()
        .image_id(&l.image_id)
        .instance_type(l.instance_type.as_str().into())
        .min_count(1)
        .max_count(1)
        .client_token(&l.client_token)
        .iam_instance_profile(profile)
        .metadata_options(
            InstanceMetadataOptionsRequest::builder()
                .http_tokens(HttpTokensState::Required)
                .http_endpoint(InstanceMetadataEndpointState::Enabled)
                .http_put_response_hop_limit(1)
                .build(),
        )
        .set_block_device_mappings(l.root_volume.as_ref().map(|v| {
            vec![
                BlockDeviceMapping::builder()
                    .device_name(&v.device_name)
                    .ebs(
                        EbsBlockDevice::builder()
                            .volume_size(v.size_gb as i32)
                            .volume_type(VolumeType::from(v.volume_type.as_str()))
                            .encrypted(true)
                            .set_kms_key_id(v.kms_key_id.clone())
                            .delete_on_termination(true)
                            .build(),
                    )
                    .build(),
            ]
        }))
        .set_tag_specifications(Some(tag_specs(
            &[ResourceType::Instance, ResourceType::Volume],
            &l.tags,
        )));
    if let Some(public_ip) = l.associate_public_ip_address {
        // A public-IP choice needs an explicit network interface, which then carries
        // the subnet and groups.
        req = req.network_interfaces(
            InstanceNetworkInterfaceSpecification::builder()
                .device_index(0)
                .associate_public_ip_address(public_ip)
                .set_subnet_id(l.subnet_id.clone())
                .set_groups(Some(l.security_group_ids.clone()))
                .delete_on_termination(true)
                .build(),
        );
    } else {
        req = req
            .set_subnet_id(l.subnet_id.clone())
            .set_security_group_ids(Some(l.security_group_ids.clone()));
    }
    let out = req
        .send()
        .await
        .map_err(|e| AwsError::call("ec2:RunInstances", e))?;
    out.instances()
        .first()
        .and_then(|i| i.instance_id())
        .map(str::to_string)
        .ok_or_else(|| AwsError::local("ec2:RunInstances", None, "the response named no instance"))
}

/// An instance's state name (`pending`, `running`, `stopped`, `terminated`, …), or `None`
/// when EC2 does not show it (yet).
pub async fn instance_state(ec2: &Client, id: &str) -> Result<Option<String>, AwsError> {
    let out = ec2
        .describe_instances()
        .instance_ids(id)
        .send()
        .await
        .map_err(|e| AwsError::call("ec2:DescribeInstances", e))?;
    Ok(out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .find(|i| i.instance_id() == Some(id))
        .and_then(|i| i.state())
        .and_then(|s| s.name())
        .map(|n| n.as_str().to_string()))
}

pub async fn stop_instance(ec2: &Client, id: &str) -> Result<(), AwsError> {
    ec2.stop_instances()
        .instance_ids(id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::call("ec2:StopInstances", e))
}

pub async fn reboot_instance(ec2: &Client, id: &str) -> Result<(), AwsError> {
    ec2.reboot_instances()
        .instance_ids(id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::call("ec2:RebootInstances", e))
}

/// Terminates an instance; one that is already gone counts as terminated.
pub async fn terminate_instance(ec2: &Client, id: &str) -> Result<(), AwsError> {
    match ec2.terminate_instances().instance_ids(id).send().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let err = AwsError::call("ec2:TerminateInstances", e);
            if err.code() == Some("InvalidInstanceID.NotFound") {
                Ok(())
            } else {
                Err(err)
            }
        }
    }
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
        .map_err(|e| AwsError::call("ec2:CreateImage", e))?;
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
        .map_err(|e| AwsError::call("ec2:CopyImage", e))?;
    Ok(out.image_id().unwrap_or_default().to_string())
}

/// Tags existing resources (copies' snapshots, which CopyImage cannot tag itself).
pub async fn create_tags(
    ec2: &Client,
    resources: &[String],
    tags: &BTreeMap<String, String>,
) -> Result<(), AwsError> {
    if resources.is_empty() {
        return Ok(());
    }
    ec2.create_tags()
        .set_resources(Some(resources.to_vec()))
        .set_tags(Some(to_tags(tags)))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::call("ec2:CreateTags", e))
}

/// Deregisters an image and deletes its snapshots; what is already gone is fine.
pub async fn delete_image(ec2: &Client, image: &ImageInfo) -> Result<(), AwsError> {
    match ec2.deregister_image().image_id(&image.id).send().await {
        Ok(_) => {}
        Err(e) => {
            let err = AwsError::call("ec2:DeregisterImage", e);
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
    pub public: bool,
}

/// Grants launch permission on the image and create-volume permission on its snapshots.
pub async fn share_image(ec2: &Client, image: &ImageInfo, s: &Sharing) -> Result<(), AwsError> {
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
    if s.public {
        perms.push(
            LaunchPermission::builder()
                .group(aws_sdk_ec2::types::PermissionGroup::All)
                .build(),
        );
    }
    if perms.is_empty() {
        return Ok(());
    }
    ec2.modify_image_attribute()
        .image_id(&image.id)
        .launch_permission(
            LaunchPermissionModifications::builder()
                .set_add(Some(perms))
                .build(),
        )
        .send()
        .await
        .map_err(|e| AwsError::call("ec2:ModifyImageAttribute", e))?;
    if !s.accounts.is_empty() {
        for snap in &image.snapshot_ids {
            ec2.modify_snapshot_attribute()
                .snapshot_id(snap)
                .attribute(aws_sdk_ec2::types::SnapshotAttributeName::CreateVolumePermission)
                .operation_type(aws_sdk_ec2::types::OperationType::Add)
                .set_user_ids(Some(s.accounts.clone()))
                .send()
                .await
                .map_err(|e| AwsError::call("ec2:ModifySnapshotAttribute", e))?;
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
        .map_err(|e| AwsError::call("ec2:EnableImageDeprecation", e))
}

/// A resource found by its tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged {
    pub id: String,
    /// Instance state name; empty for resources without one.
    pub state: String,
    pub tags: BTreeMap<String, String>,
}

fn tag_map<'a>(tags: impl IntoIterator<Item = &'a Tag>) -> BTreeMap<String, String> {
    tags.into_iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect()
}

/// Every instance matching `filters` that is not terminated, with its state name, across
/// all pages.
async fn live_instances(
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
        let page = page.map_err(|e| AwsError::call("ec2:DescribeInstances", e))?;
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
        .map_err(|e| AwsError::call("ec2:DescribeSecurityGroups", e))?;
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
        .map_err(|e| AwsError::call("ec2:DescribeSnapshots", e))?;
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
            let err = AwsError::call("ec2:DeleteSnapshot", e);
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
            let err = AwsError::call("ec2:DescribeLaunchTemplateVersions", e);
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

/// The regions enabled for this account (DescribeRegions without AllRegions leaves out
/// opt-in regions that are not opted in).
pub async fn enabled_regions(ec2: &Client) -> Result<Vec<String>, AwsError> {
    let out = ec2
        .describe_regions()
        .send()
        .await
        .map_err(|e| AwsError::call("ec2:DescribeRegions", e))?;
    Ok(out
        .regions()
        .iter()
        .filter_map(|r| r.region_name())
        .map(str::to_string)
        .collect())
}
