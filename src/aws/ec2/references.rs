//! What refers to an image and who uses it: DescribeImageReferences (the resources of
//! this account and region that name an AMI), DisableImage / EnableImage, and image
//! usage reports (which other accounts use a shared AMI). Kept apart from `images` because
//! these answer "may this image go?", not "what is this image?".

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    ImageReferenceResourceType, ImageUsageResourceTypeRequest, ResourceTypeRequest,
};

use crate::aws::AwsError;
use crate::aws::calls::{
    EC2_CREATE_IMAGE_USAGE_REPORT, EC2_DESCRIBE_IMAGE_REFERENCES,
    EC2_DESCRIBE_IMAGE_USAGE_REPORT_ENTRIES, EC2_DESCRIBE_IMAGE_USAGE_REPORTS, EC2_DISABLE_IMAGE,
    EC2_ENABLE_IMAGE,
};

/// The most references read for one call: far above what a recipe's images have, low
/// enough that a broken or hostile answer cannot fill the memory.
pub const MAX_REFERENCES: usize = 10_000;

/// The most usage-report entries read from one report, for the same reason.
pub const MAX_USAGE_ENTRIES: usize = 10_000;

/// A resource that refers to an image, as EC2 names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReference {
    pub image_id: String,
    /// `ec2:LaunchTemplate`, `ec2:Instance`, `ssm:Parameter`, `imagebuilder:ImageRecipe`, …
    pub resource_type: String,
    pub arn: String,
}

impl ImageReference {
    /// The resource's own name from its ARN: `lt-0abc`, `i-0abc`, `/amibake/web/prod`.
    pub fn resource_name(&self) -> String {
        let tail = self.arn.splitn(6, ':').nth(5).unwrap_or(&self.arn);
        match tail.split_once('/') {
            Some(("parameter", name)) => format!("/{}", name.trim_start_matches('/')),
            Some((_, name)) => name.to_string(),
            None => tail.to_string(),
        }
    }
}

/// Every resource of these types (`ec2:LaunchTemplate`, `ssm:Parameter`, …; none: every
/// supported type, with EC2's defaults: the latest 10 versions of a launch template,
/// instances in every state) that refers to any of `ids`; every page, at most
/// [`MAX_REFERENCES`].
pub async fn image_references(
    ec2: &Client,
    ids: &[String],
    resource_types: &[&str],
) -> Result<Vec<ImageReference>, AwsError> {
    let mut found = Vec::new();
    if ids.is_empty() {
        return Ok(found);
    }
    let mut request = ec2
        .describe_image_references()
        .set_image_ids(Some(ids.to_vec()));
    if resource_types.is_empty() {
        request = request.include_all_resource_types(true);
    }
    for t in resource_types {
        request = request.resource_types(
            ResourceTypeRequest::builder()
                .resource_type(ImageReferenceResourceType::from(*t))
                .build(),
        );
    }
    let mut pages = request.into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::call(EC2_DESCRIBE_IMAGE_REFERENCES, e))?;
        found.extend(page.image_references().iter().map(|r| {
            ImageReference {
                image_id: r.image_id().unwrap_or_default().to_string(),
                resource_type: r
                    .resource_type()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
                arn: r.arn().unwrap_or_default().to_string(),
            }
        }));
        if found.len() >= MAX_REFERENCES {
            found.truncate(MAX_REFERENCES);
            break;
        }
    }
    Ok(found)
}

/// Disables an image: it can no longer launch, its launch permissions go, and
/// DescribeImages leaves it out unless asked to include disabled images.
pub async fn disable_image(ec2: &Client, image_id: &str) -> Result<(), AwsError> {
    ec2.disable_image()
        .image_id(image_id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::call(EC2_DISABLE_IMAGE, e))
}

/// Enables a disabled image again (its launch permissions are not restored).
pub async fn enable_image(ec2: &Client, image_id: &str) -> Result<(), AwsError> {
    ec2.enable_image()
        .image_id(image_id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::call(EC2_ENABLE_IMAGE, e))
}

/// Starts a usage report of a shared image over instances and launch templates in the
/// accounts it is shared with; returns the report id (`amiur-…`). `token` makes a retry
/// return the same report.
pub async fn create_image_usage_report(
    ec2: &Client,
    image_id: &str,
    token: &str,
) -> Result<String, AwsError> {
    let out = ec2
        .create_image_usage_report()
        .image_id(image_id)
        .resource_types(
            ImageUsageResourceTypeRequest::builder()
                .resource_type("ec2:Instance")
                .build(),
        )
        .resource_types(
            ImageUsageResourceTypeRequest::builder()
                .resource_type("ec2:LaunchTemplate")
                .build(),
        )
        .client_token(token)
        .send()
        .await
        .map_err(|e| AwsError::call(EC2_CREATE_IMAGE_USAGE_REPORT, e))?;
    Ok(out.report_id().unwrap_or_default().to_string())
}

/// A usage report's state (`pending`, `available`, `error`) and, in `error`, why; `None`
/// when EC2 does not know the report.
pub async fn image_usage_report_state(
    ec2: &Client,
    report_id: &str,
) -> Result<Option<(String, Option<String>)>, AwsError> {
    let out = ec2
        .describe_image_usage_reports()
        .report_ids(report_id)
        .send()
        .await
        .map_err(|e| AwsError::call(EC2_DESCRIBE_IMAGE_USAGE_REPORTS, e))?;
    Ok(out.image_usage_reports().first().map(|r| {
        (
            r.state().unwrap_or_default().to_string(),
            r.state_reason().map(str::to_string),
        )
    }))
}

/// One account's use of an image, by resource type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUsage {
    pub account_id: String,
    pub resource_type: String,
    pub usage_count: i64,
}

/// The entries of an available usage report (every page, at most [`MAX_USAGE_ENTRIES`]).
pub async fn image_usage_entries(
    ec2: &Client,
    report_id: &str,
) -> Result<Vec<ImageUsage>, AwsError> {
    let mut found = Vec::new();
    let mut pages = ec2
        .describe_image_usage_report_entries()
        .report_ids(report_id)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::call(EC2_DESCRIBE_IMAGE_USAGE_REPORT_ENTRIES, e))?;
        found.extend(
            page.image_usage_report_entries()
                .iter()
                .map(|e| ImageUsage {
                    account_id: e.account_id().unwrap_or_default().to_string(),
                    resource_type: e.resource_type().unwrap_or_default().to_string(),
                    usage_count: e.usage_count().unwrap_or_default(),
                }),
        );
        if found.len() >= MAX_USAGE_ENTRIES {
            found.truncate(MAX_USAGE_ENTRIES);
            break;
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(arn: &str) -> ImageReference {
        ImageReference {
            image_id: "ami-1".into(),
            resource_type: String::new(),
            arn: arn.into(),
        }
    }

    #[test]
    fn resource_names_come_from_the_arn() {
        assert_eq!(
            reference("arn:aws:ec2:eu-west-3:123456789012:launch-template/lt-0abc").resource_name(),
            "lt-0abc"
        );
        assert_eq!(
            reference("arn:aws:ec2:eu-west-3:123456789012:instance/i-0abc").resource_name(),
            "i-0abc"
        );
        assert_eq!(
            reference("arn:aws:ssm:eu-west-3:123456789012:parameter/golden/web").resource_name(),
            "/golden/web"
        );
        assert_eq!(reference("odd").resource_name(), "odd");
    }
}
