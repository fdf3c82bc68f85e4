//! The source image: resolving it, and `--if-changed` finding an image baked from the same inputs.

use crate::aws::ec2::{self, ImageInfo};
use crate::aws::poll;
use crate::aws::ssm;
use crate::manifest::{AmiEntry, Manifest};
use crate::recipe::model::Source;
use crate::tags;

use super::{Bake, BakeError};
use crate::error::FromAws;

impl Bake<'_> {
    /// `--if-changed`: the manifest of an existing image with this input hash, available
    /// in each of `regions` (the home region, then every copy region), and the home
    /// region's image; `None` when any is missing.
    pub(super) async fn existing(
        &self,
        source: &ImageInfo,
        hash: &str,
        regions: &[String],
    ) -> Result<Option<(Manifest, ImageInfo)>, BakeError> {
        let t = self.phase_start(
            "if-changed",
            "looking for an image with the same inputs".to_string(),
        );
        let mut amis = Vec::new();
        let mut home = None;
        let mut baked_by = None;
        for region in regions {
            let ec2 = self.ec2(region)?;
            let wanted = [
                (tags::RECIPE, self.plan.recipe.as_str()),
                (tags::INPUT_HASH, hash),
            ];
            let found = poll::retry(|| ec2::images_tagged(&ec2, &wanted))
                .await
                .map_err(BakeError::aws("if-changed"))?
                .into_iter()
                .filter(|i| i.state.is_available())
                .max_by(|a, b| a.creation_date.cmp(&b.creation_date));
            let Some(image) = found else {
                return Ok(None);
            };
            baked_by = baked_by.or_else(|| image.tags.get(tags::RUN_ID).cloned());
            home = home.or_else(|| Some(image.clone()));
            amis.push(AmiEntry {
                region: region.clone(),
                ami_id: image.id,
                name: image.name,
                snapshot_ids: image.snapshot_ids,
            });
        }
        self.phase_done(
            "if-changed",
            t,
            format!("{} already has input hash {}", amis[0].ami_id, &hash[..12]),
        );
        let manifest = Manifest {
            reused_from_run: Some(baked_by.unwrap_or_default()),
            ..self.manifest(source, hash.to_string(), amis)
        };
        Ok(home.map(|home| (manifest, home)))
    }

    /// Whether the recipe has any available image in the home region (whatever its
    /// inputs): tells a first bake from one whose inputs changed.
    pub(super) async fn any_previous(&self) -> Result<bool, BakeError> {
        let ec2 = self.ec2(self.region())?;
        let wanted = [(tags::RECIPE, self.plan.recipe.as_str())];
        let found = poll::retry(|| ec2::images_tagged(&ec2, &wanted))
            .await
            .map_err(BakeError::aws("if-changed"))?;
        Ok(found.iter().any(|i| i.state.is_available()))
    }

    /// Finds the source image; a missing or unusable one is bad input (nothing created).
    pub(super) async fn resolve_source(&self) -> Result<ImageInfo, BakeError> {
        let t = self.phase_start("source", "resolving the source AMI".to_string());
        let ec2 = self.ec2(self.region())?;
        let image = match &self.plan.source {
            Source::SsmParameter(name) => {
                let ssm = self.ssm()?;
                let id = poll::retry(|| ssm::get_parameter(&ssm, name.as_str()))
                    .await
                    .map_err(BakeError::aws("source"))?
                    .ok_or_else(|| BakeError::Input(format!("source: SSM parameter {name} does not exist in {}", self.region())))?;
                poll::retry(|| ec2::describe_image(&ec2, &id))
                    .await
                    .map_err(BakeError::aws("source"))?
                    .ok_or_else(|| BakeError::Input(format!("source: SSM parameter {name} names {id}, which does not exist in {}", self.region())))?
            }
            Source::Ami(id) => poll::retry(|| ec2::describe_image(&ec2, id.as_str()))
                .await
                .map_err(BakeError::aws("source"))?
                .ok_or_else(|| BakeError::Input(format!("source: AMI {id} does not exist in {} (or is not shared with this account)", self.region())))?,
            Source::Filter(f) => poll::retry(|| ec2::newest_image(&ec2, &f.owners, &f.name, &f.architecture))
                .await
                .map_err(BakeError::aws("source"))?
                .ok_or_else(|| BakeError::Input(format!("source: no available image matches name {:?} owned by {} ({})", f.name, f.owners.join(", "), f.architecture)))?,
        };
        if !image.state.is_available() {
            return Err(BakeError::Input(format!(
                "source: AMI {} is {}, not available",
                image.id, image.state
            )));
        }
        self.phase_done(
            "source",
            t,
            format!("source AMI {} ({})", image.id, image.name),
        );
        Ok(image)
    }
}

pub(super) fn describe_source(source: &Source) -> String {
    match source {
        Source::SsmParameter(p) => format!("ssm_parameter {p}"),
        Source::Ami(id) => format!("ami {id}"),
        Source::Filter(f) => format!("filter {} (owners {})", f.name, f.owners.join(", ")),
    }
}
