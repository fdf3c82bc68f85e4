//! Account settings of a region: which regions the account may use, and the key EBS
//! encrypts with when none is named.

use std::collections::BTreeMap;

use aws_sdk_ec2::Client;

use crate::aws::AwsError;

/// Every region AWS knows, with the account's opt-in status for it (`opt-in-not-required`,
/// `opted-in`, `not-opted-in`), from DescribeRegions with AllRegions.
pub async fn region_opt_in(ec2: &Client) -> Result<BTreeMap<String, String>, AwsError> {
    Ok(describe_regions(ec2, true).await?.into_iter().collect())
}

/// The regions enabled for this account (DescribeRegions without AllRegions leaves out
/// opt-in regions that are not opted in).
pub async fn enabled_regions(ec2: &Client) -> Result<Vec<String>, AwsError> {
    Ok(describe_regions(ec2, false)
        .await?
        .into_iter()
        .map(|(name, _)| name)
        .collect())
}

/// DescribeRegions, once for both questions: each region's name with its opt-in status.
async fn describe_regions(ec2: &Client, all: bool) -> Result<Vec<(String, String)>, AwsError> {
    let out = ec2
        .describe_regions()
        // (Without AllRegions the call leaves out opt-in regions not opted in.)
        .set_all_regions(all.then_some(true))
        .send()
        .await
        .map_err(|e| AwsError::call(crate::aws::calls::EC2_DESCRIBE_REGIONS, e))?;
    Ok(out
        .regions()
        .iter()
        .filter_map(|r| {
            let name = r.region_name()?.to_string();
            Some((name, r.opt_in_status().unwrap_or_default().to_string()))
        })
        .collect())
}

/// The key EBS uses in this region when a call names none (an ARN; the alias ARN of
/// `aws/ebs` unless the account changed it).
pub async fn ebs_default_key(ec2: &Client) -> Result<String, AwsError> {
    let out = ec2
        .get_ebs_default_kms_key_id()
        .send()
        .await
        .map_err(|e| AwsError::call(crate::aws::calls::EC2_GET_EBS_DEFAULT_KMS_KEY_ID, e))?;
    Ok(out.kms_key_id().unwrap_or_default().to_string())
}
