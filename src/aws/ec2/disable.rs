//! Disabled images: DisableImage and EnableImage (revoke and restore), and the reads that
//! still see an image once it is disabled (DescribeImages leaves disabled images out
//! unless asked with IncludeDisabled).

use aws_sdk_ec2::Client;

use crate::aws::AwsError;
use crate::aws::calls::{EC2_DESCRIBE_IMAGES, EC2_DISABLE_IMAGE, EC2_ENABLE_IMAGE};

use super::ImageInfo;
use super::images::image_info;

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

/// The image with this id, disabled or not, or `None` when EC2 does not know it.
pub async fn describe_image_even_disabled(
    ec2: &Client,
    id: &str,
) -> Result<Option<ImageInfo>, AwsError> {
    match ec2
        .describe_images()
        .image_ids(id)
        .include_disabled(true)
        .send()
        .await
    {
        Ok(out) => Ok(out
            .images()
            .iter()
            .find(|i| i.image_id() == Some(id))
            .map(image_info)),
        Err(e) => AwsError::call(EC2_DESCRIBE_IMAGES, e)
            .absent_if(&["InvalidAMIID.NotFound", "InvalidAMIID.Malformed"]),
    }
}
