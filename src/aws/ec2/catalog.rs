//! The account's own images carrying given tags, every page and disabled ones too, with
//! what a fleet report adds to [`ImageInfo`]: the deprecation time. `status` reads the
//! catalog, and `revoke`/`restore` find an image's copies (disabled ones too) in it; the
//! other commands look images up with `images`.

use aws_sdk_ec2::Client;

use crate::aws::AwsError;
use crate::aws::calls::EC2_DESCRIBE_IMAGES;

use super::images::image_info;
use super::{ImageInfo, tag_filters};

/// The most images read for one listing: far above what a recipe keeps in a region, low
/// enough that a broken or hostile answer cannot fill the memory.
pub const MAX_IMAGES: usize = 5_000;
/// Results per DescribeImages page (EC2 allows 5 to 1000).
const PAGE: i32 = 1_000;

/// An image with its deprecation time (RFC 3339), if one is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub info: ImageInfo,
    pub deprecation_time: Option<String>,
}

/// The account's own images with all these tags, disabled ones included (`Owners=self`,
/// `IncludeDisabled`); every page, at most [`MAX_IMAGES`] (the second of the pair says
/// whether more were left out).
pub async fn own_images_listed(
    ec2: &Client,
    tags: &[(&str, &str)],
) -> Result<(Vec<Listed>, bool), AwsError> {
    let mut found = Vec::new();
    let mut pages = ec2
        .describe_images()
        .owners("self")
        .include_disabled(true)
        .set_filters(Some(tag_filters(tags)))
        .max_results(PAGE)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::call(EC2_DESCRIBE_IMAGES, e))?;
        found.extend(page.images().iter().map(|i| Listed {
            info: image_info(i),
            deprecation_time: i.deprecation_time().map(str::to_string),
        }));
        if found.len() >= MAX_IMAGES {
            let more = found.len() > MAX_IMAGES || page.next_token().is_some();
            found.truncate(MAX_IMAGES);
            return Ok((found, more));
        }
    }
    Ok((found, false))
}
