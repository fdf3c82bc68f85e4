//! What a revoke or restore acts on: the image (`--ami` in the home region, or each
//! region's image of `--manifest`) and its copies in each `--also-region`, every one
//! checked as amibake's own before anything else is read.
//!
//! How `--ami` finds copies: only in the regions `--also-region` names (an image carries
//! no list of where it was copied), as this account's images tagged
//! `amibake:copy-of=ID` (what `promote --copy-to` made) or with the image's own
//! `amibake:run-id` and `amibake:recipe` (what the bake's `copy_to` made). A named region
//! without a copy is bad input. Disabled images are seen too (DescribeImages with
//! IncludeDisabled), so a rerun finds what an earlier run disabled.

use std::path::PathBuf;

use serde::Serialize;

use crate::aws::ec2::{self, ImageInfo};
use crate::aws::{Aws, poll};
use crate::error::FromAws;
use crate::manifest::Manifest;
use crate::tags;

use super::RevokeError;

/// Which image: `--ami` (in the home region) or `--manifest`, and the regions to look for
/// copies in.
#[derive(Debug, Clone)]
pub struct Selection {
    pub ami: Option<String>,
    pub manifest: Option<PathBuf>,
    pub also_regions: Vec<String>,
}

/// One region's image of the revoke.
#[derive(Debug, Clone, Serialize)]
pub struct RegionImage {
    pub region: String,
    pub ami: String,
    #[serde(skip)]
    pub image: ImageInfo,
}

/// The image and every copy, checked.
#[derive(Debug, Clone)]
pub struct Target {
    /// The image revoked (the home region's): what the channels record.
    pub ami: String,
    pub recipe: String,
    /// The home region's image first, then each copy.
    pub images: Vec<RegionImage>,
}

impl Target {
    /// Every image id of the target (the image and its copies).
    pub fn ids(&self) -> Vec<&str> {
        self.images.iter().map(|i| i.ami.as_str()).collect()
    }
}

/// Reads and checks the selection's images in `home` and its copies; bad input (an
/// unknown image, a region the manifest does not name, an image amibake did not bake)
/// is a usage error, found before anything changes.
pub async fn resolve(aws: &Aws, home: &str, sel: &Selection) -> Result<Target, RevokeError> {
    let mut images = Vec::new();
    match (&sel.ami, &sel.manifest) {
        (Some(ami), None) => images.push(image(aws, home, ami, "").await?),
        (None, Some(path)) => {
            let manifest = Manifest::read(path).await.map_err(|e| {
                RevokeError::Usage(format!("cannot read the manifest {}: {e}", path.display()))
            })?;
            let regions: Vec<&str> = manifest.amis.iter().map(|a| a.region.as_str()).collect();
            if !regions.contains(&home) {
                return Err(RevokeError::Usage(format!(
                    "the manifest {} has no image in {home} (it names {}): pass --region with one of them, or use --ami ID --region {home}; nothing changed",
                    path.display(),
                    if regions.is_empty() {
                        "no region".to_string()
                    } else {
                        regions.join(", ")
                    }
                )));
            }
            let mut entries = manifest.amis.clone();
            entries.sort_by_key(|a| a.region != home);
            for a in &entries {
                images.push(image(aws, &a.region, &a.ami_id, " of the manifest").await?);
            }
        }
        _ => {
            return Err(RevokeError::Usage(
                "name the image with --ami ID or --manifest FILE (one of them)".into(),
            ));
        }
    }
    let first = images[0].clone();
    let recipe = first
        .image
        .tags
        .get(tags::RECIPE)
        .cloned()
        .unwrap_or_default();
    let ami = first.ami.clone();
    for region in &sel.also_regions {
        if images.iter().any(|i| &i.region == region) {
            continue;
        }
        let found = copies(aws, region, &first.image).await?;
        if found.is_empty() {
            return Err(RevokeError::Usage(format!(
                "--also-region {region}: no copy of {ami} there (an image of this account tagged {}={ami}, or with its {} and {}); nothing changed",
                tags::COPY_OF,
                tags::RUN_ID,
                tags::RECIPE
            )));
        }
        for image in found {
            check(region, &image, &recipe)?;
            images.push(RegionImage {
                region: region.clone(),
                ami: image.id.clone(),
                image,
            });
        }
    }
    Ok(Target {
        ami,
        recipe,
        images,
    })
}

/// One image, which must exist and be amibake's.
async fn image(aws: &Aws, region: &str, id: &str, of: &str) -> Result<RegionImage, RevokeError> {
    let client = aws.ec2(region).map_err(RevokeError::aws("image"))?;
    let found = poll::retry(|| ec2::describe_image_even_disabled(&client, id))
        .await
        .map_err(RevokeError::aws("image"))?;
    let Some(image) = found else {
        return Err(RevokeError::Usage(format!(
            "AMI {id}{of} does not exist in {region} (an unknown image, or deregistered; is the region right?); nothing changed"
        )));
    };
    let recipe = image.tags.get(tags::RECIPE).cloned().unwrap_or_default();
    check(region, &image, &recipe)?;
    Ok(RegionImage {
        region: region.to_string(),
        ami: image.id.clone(),
        image,
    })
}

/// The guard: only images amibake baked (tagged `amibake:created-by=amibake` and with a
/// recipe) are revoked or restored; what the user did not bake is refused.
fn check(region: &str, image: &ImageInfo, recipe: &str) -> Result<(), RevokeError> {
    let id = &image.id;
    let created = image.tags.get(tags::CREATED_BY).map(String::as_str);
    if created != Some(tags::CREATED_BY_VALUE) {
        return Err(RevokeError::Usage(format!(
            "refusing AMI {id} in {region}: it is not tagged {}={} (amibake did not bake it, or it is not this account's); revoke and restore act only on amibake's own images. To disable another image: aws ec2 disable-image --image-id {id} --region {region}; nothing changed",
            tags::CREATED_BY,
            tags::CREATED_BY_VALUE
        )));
    }
    match image.tags.get(tags::RECIPE) {
        Some(r) if !r.is_empty() && (recipe.is_empty() || r == recipe) => Ok(()),
        Some(r) => Err(RevokeError::Usage(format!(
            "refusing AMI {id} in {region}: it is an image of recipe {r}, not {recipe}; nothing changed"
        ))),
        None => Err(RevokeError::Usage(format!(
            "refusing AMI {id} in {region}: it has no {} tag, so its channels are unknown; nothing changed",
            tags::RECIPE
        ))),
    }
}

/// The copies of `source` in `region`: tagged `amibake:copy-of` with its id, or with its
/// run id and recipe (a bake's copies carry the image's tags).
async fn copies(
    aws: &Aws,
    region: &str,
    source: &ImageInfo,
) -> Result<Vec<ImageInfo>, RevokeError> {
    let client = aws.ec2(region).map_err(RevokeError::aws("copies"))?;
    let by_copy_of = [(tags::COPY_OF, source.id.as_str())];
    let mut found = own_images(&client, &by_copy_of).await?;
    if let (Some(run), Some(recipe)) =
        (source.tags.get(tags::RUN_ID), source.tags.get(tags::RECIPE))
    {
        let by_run = [
            (tags::RUN_ID, run.as_str()),
            (tags::RECIPE, recipe.as_str()),
        ];
        let same_run = own_images(&client, &by_run).await?;
        for image in same_run {
            // A copy of another image of the same run (promote's copy of a copy) is not one.
            let other = image
                .tags
                .get(tags::COPY_OF)
                .is_some_and(|of| *of != source.id);
            if !other && !found.iter().any(|f| f.id == image.id) {
                found.push(image);
            }
        }
    }
    found.retain(|i| i.id != source.id);
    found.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(found)
}

/// This account's images with all these tags, disabled ones too (a rerun finds what it
/// disabled): the fleet report's paged and bounded listing.
async fn own_images(
    client: &aws_sdk_ec2::Client,
    tags: &[(&str, &str)],
) -> Result<Vec<ImageInfo>, RevokeError> {
    let (listed, _more) = poll::retry(|| ec2::own_images_listed(client, tags))
        .await
        .map_err(RevokeError::aws("copies"))?;
    Ok(listed.into_iter().map(|l| l.info).collect())
}
