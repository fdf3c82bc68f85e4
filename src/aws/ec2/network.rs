//! The builder's network: its subnet's VPC and the temporary security group.

use std::collections::BTreeMap;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::ResourceType;

use crate::aws::AwsError;

use super::tag_specs;

/// The VPC of a subnet (a temporary security group must live there).
pub async fn subnet_vpc(ec2: &Client, subnet_id: &str) -> Result<Option<String>, AwsError> {
    let out = ec2
        .describe_subnets()
        .subnet_ids(subnet_id)
        .send()
        .await
        .map_err(|e| AwsError::call(crate::aws::calls::EC2_DESCRIBE_SUBNETS, e))?;
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
        .map_err(|e| AwsError::call(crate::aws::calls::EC2_CREATE_SECURITY_GROUP, e))?;
    Ok(out.group_id().unwrap_or_default().to_string())
}

/// Deletes a security group. An instance that is still shutting down keeps it in use
/// (`DependencyViolation`): callers wait for termination first.
pub async fn delete_security_group(ec2: &Client, id: &str) -> Result<(), AwsError> {
    match ec2.delete_security_group().group_id(id).send().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let err = AwsError::call(crate::aws::calls::EC2_DELETE_SECURITY_GROUP, e);
            if err.code() == Some("InvalidGroup.NotFound") {
                Ok(())
            } else {
                Err(err)
            }
        }
    }
}
