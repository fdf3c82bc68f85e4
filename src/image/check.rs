//! An AMI id resolved to an image that exists and is available in its region.

use aws_sdk_ec2::Client;

use crate::aws::ec2::{self, ImageInfo};
use crate::aws::{Aws, AwsError, poll};

use super::ImageState;

/// Why an AMI cannot be used. Each command words it its own way (a manifest's image, a
/// source image, the image a roll moves to).
#[derive(Debug, thiserror::Error)]
pub enum Unusable {
    /// EC2 does not know the id in the region (never existed, deregistered, or not
    /// shared with this account).
    #[error("does not exist")]
    Missing,
    /// It exists, but is not available.
    #[error("is {0}, not available")]
    NotAvailable(ImageState),
    #[error(transparent)]
    Aws(#[from] AwsError),
}

/// The image `id` in `region`, which must exist and be available.
pub async fn available(aws: &Aws, region: &str, id: &str) -> Result<ImageInfo, Unusable> {
    let ec2 = aws.ec2(region)?;
    let image = describe(&ec2, id).await?.ok_or(Unusable::Missing)?;
    if !image.state.is_available() {
        return Err(Unusable::NotAvailable(image.state));
    }
    Ok(image)
}

/// The image `id`, or `None` when EC2 does not know it (throttling retried).
pub async fn describe(ec2: &Client, id: &str) -> Result<Option<ImageInfo>, AwsError> {
    poll::retry(|| ec2::describe_image(ec2, id)).await
}
