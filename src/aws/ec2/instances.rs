//! The builder and boot-test instances: launch (IMDSv2, encrypted root, tags at creation),
//! state, stop, reboot, terminate.

use std::collections::BTreeMap;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, HttpTokensState, IamInstanceProfileSpecification,
    InstanceMetadataEndpointState, InstanceMetadataOptionsRequest,
    InstanceNetworkInterfaceSpecification, ResourceType, VolumeType,
};

use crate::aws::AwsError;

use super::tag_specs;

/// How to launch an instance.
#[derive(Debug, Clone)]
pub struct Launch {
    pub image_id: String,
    pub instance_type: String,
    /// `None`: no instance profile (the account's Default Host Management Configuration
    /// gives SSM access).
    pub instance_profile: Option<String>,
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
    let profile = l.instance_profile.as_deref().map(|p| {
        let spec = IamInstanceProfileSpecification::builder();
        if p.starts_with("arn:") {
            spec.arn(p)
        } else {
            spec.name(p)
        }
        .build()
    });
    let mut req = ec2
        .run_instances()
        .image_id(&l.image_id)
        .instance_type(l.instance_type.as_str().into())
        .min_count(1)
        .max_count(1)
        .client_token(&l.client_token)
        .set_iam_instance_profile(profile)
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
                            // At most 16384 (the recipe's limit); never wrapped negative.
                            .volume_size(i32::try_from(v.size_gb).unwrap_or(i32::MAX))
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
        .map_err(|e| AwsError::call(crate::aws::calls::EC2_RUN_INSTANCES, e))?;
    out.instances()
        .first()
        .and_then(|i| i.instance_id())
        .map(str::to_string)
        .ok_or_else(|| {
            AwsError::local(
                crate::aws::calls::EC2_RUN_INSTANCES,
                None,
                "the response named no instance",
            )
        })
}

/// An instance's state name (`pending`, `running`, `stopped`, `terminated`, …), or `None`
/// when EC2 does not show it (yet).
pub async fn instance_state(ec2: &Client, id: &str) -> Result<Option<String>, AwsError> {
    let out = ec2
        .describe_instances()
        .instance_ids(id)
        .send()
        .await
        .map_err(|e| AwsError::call(crate::aws::calls::EC2_DESCRIBE_INSTANCES, e))?;
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
        .map_err(|e| AwsError::call(crate::aws::calls::EC2_STOP_INSTANCES, e))
}

pub async fn reboot_instance(ec2: &Client, id: &str) -> Result<(), AwsError> {
    ec2.reboot_instances()
        .instance_ids(id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::call(crate::aws::calls::EC2_REBOOT_INSTANCES, e))
}

/// Terminates an instance; one that is already gone counts as terminated.
pub async fn terminate_instance(ec2: &Client, id: &str) -> Result<(), AwsError> {
    match ec2.terminate_instances().instance_ids(id).send().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let err = AwsError::call(crate::aws::calls::EC2_TERMINATE_INSTANCES, e);
            if err.code() == Some("InvalidInstanceID.NotFound") {
                Ok(())
            } else {
                Err(err)
            }
        }
    }
}
