//! EC2 calls amibake makes, by what they act on: `images`, `instances`, `network` (the
//! security group), `inventory` (what sweep and prune look for), `references` (what
//! refers to an image), `account` (enabled regions, the default EBS key) and `allowed`
//! (the Allowed AMIs settings and the facts of an image they judge); tags here.

use std::collections::BTreeMap;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};

use super::AwsError;

mod account;
mod allowed;
mod catalog;
mod disable;
mod images;
mod instances;
mod inventory;
mod network;
mod references;
mod usage;

pub use account::{ebs_default_key, enabled_regions, region_opt_in};
pub use allowed::{AllowedSettings, allowed_images_settings, image_facts};
// revoke and restore
pub use disable::{describe_image_even_disabled, disable_image, enable_image};
pub use images::{
    Copy, ImageInfo, Sharing, copy_image, create_image, delete_image, deprecate_image,
    describe_image, images_tagged, newest_image, share_image,
};
pub use images::{MAX_FINDINGS, image_findings, may_get_image_findings, scan_summary};
pub use images::{describe_own_image, own_images_named};
pub use instances::{
    Launch, RootVolume, instance_state, reboot_instance, run_instance, stop_instance,
    terminate_instance,
};
pub use inventory::{
    InstanceOfImage, LaunchTemplateImage, Tagged, delete_snapshot, instances_of_images,
    instances_tagged, launch_template_image, security_groups_tagged, snapshots_tagged,
};
pub use network::{create_security_group, delete_security_group, subnet_vpc};
pub use references::{ImageReference, MAX_REFERENCES, image_references};
// The fleet report (`status`): the catalog of own images, and usage reports.
pub use catalog::{Listed, MAX_IMAGES, own_images_listed};
pub use usage::{
    IDS_PER_CALL, ImageUsage, MAX_USAGE_ENTRIES, MAX_USAGE_REPORTS, UsageReport,
    create_image_usage_report, image_usage_entries, image_usage_report, image_usage_reports,
};

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
        .map_err(|e| AwsError::call(crate::aws::calls::EC2_CREATE_TAGS, e))
}
