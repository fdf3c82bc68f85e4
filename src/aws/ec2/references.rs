//! What refers to an image: DescribeImageReferences (the resources of this account and
//! region that name an AMI). Kept apart from `images` because it answers "may this image
//! go?", not "what is this image?".

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{ImageReferenceResourceType, ResourceTypeRequest};

use crate::aws::AwsError;
use crate::aws::calls::EC2_DESCRIBE_IMAGE_REFERENCES;

/// The most references read for one call: far above what a recipe's images have, low
/// enough that a broken or hostile answer cannot fill the memory.
pub const MAX_REFERENCES: usize = 10_000;

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
/// instances in every state) that refers to any of `ids`; a call per 200 ids, every page,
/// at most [`MAX_REFERENCES`] in all.
pub async fn image_references(
    ec2: &Client,
    ids: &[String],
    resource_types: &[&str],
) -> Result<Vec<ImageReference>, AwsError> {
    let mut found = Vec::new();
    if ids.is_empty() {
        return Ok(found);
    }
    // One call per batch of ids (EC2 takes at most 200 values a list).
    for batch in ids.chunks(super::IDS_PER_CALL) {
        let mut request = ec2
            .describe_image_references()
            .set_image_ids(Some(batch.to_vec()));
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
                return Ok(found);
            }
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
