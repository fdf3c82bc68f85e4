//! What a promotion acts on: the manifest (its home region and image), the environment's
//! place in the recipe's promotion order, the images of the manifest (each checked), and
//! the regions to copy to.

use std::path::{Path, PathBuf};

use crate::aws::Aws;
use crate::aws::ec2::ImageInfo;
use crate::error::FromAws;
use crate::image::{self, Unusable};
use crate::manifest::Manifest;
use crate::recipe::{self, MissingSecrets};
use crate::report::Reporter;

use super::{Order, PromoteError, PromoteRequest, channel_parameter};

/// The manifest and the order, read and checked before anything is called.
pub(super) struct Target {
    pub manifest: Manifest,
    /// The manifest's home region, and its image there.
    pub home: String,
    pub home_ami: String,
    pub order: Order,
    /// The environment's place in the order.
    pub index: usize,
    /// The channel parameter of the environment.
    pub parameter: String,
}

impl Target {
    /// Reads the manifest and the recipe's promotion list; bad input is a usage error.
    pub async fn load(req: &PromoteRequest) -> Result<Target, PromoteError> {
        let manifest = Manifest::read(&req.manifest)
            .await
            .map_err(|e| PromoteError::unreadable_manifest(&req.manifest, e))?;
        let home = home_region(&manifest).ok_or_else(|| {
            PromoteError::Usage(format!(
                "the manifest {} lists no AMI",
                req.manifest.display()
            ))
        })?;
        let home_ami = manifest
            .amis
            .iter()
            .find(|a| a.region == home)
            .map(|a| a.ami_id.clone())
            .unwrap_or_default();
        let order = load_order(&manifest, req).await?;
        let index = env_index(&order, &req.env).map_err(PromoteError::Usage)?;
        let parameter = channel_parameter(&order.recipe, &req.env);
        Ok(Target {
            manifest,
            home,
            home_ami,
            order,
            index,
            parameter,
        })
    }

    /// The `--copy-to` regions the manifest has no AMI in (the others are said and
    /// skipped).
    pub fn copy_regions(&self, req: &PromoteRequest, reporter: &Reporter) -> Vec<String> {
        let mut copies: Vec<String> = Vec::new();
        for region in &req.copy_to {
            if self.manifest.amis.iter().any(|a| &a.region == region) || copies.contains(region) {
                reporter.say(&format!(
                    "the manifest already has an AMI in {region}: not copying"
                ));
            } else {
                copies.push(region.clone());
            }
        }
        copies
    }

    /// The image of every region of the manifest, which must exist and be available.
    pub async fn images(&self, aws: &Aws) -> Result<Vec<(String, ImageInfo)>, PromoteError> {
        let mut images = Vec::new();
        for entry in &self.manifest.amis {
            let (id, region) = (&entry.ami_id, &entry.region);
            let info = image::available(aws, region, id)
                .await
                .map_err(|e| match e {
                    Unusable::Missing => PromoteError::Usage(format!(
                        "AMI {id} of the manifest does not exist in {region} (deregistered?)"
                    )),
                    Unusable::NotAvailable(state) => PromoteError::Usage(format!(
                        "AMI {id} in {region} is {state}, not available"
                    )),
                    Unusable::Aws(e) => PromoteError::from_aws("image", e),
                })?;
            images.push((region.clone(), info));
        }
        Ok(images)
    }
}

/// Where `env` stands in the recipe's promotion list; why it stands nowhere.
fn env_index(order: &Order, env: &str) -> Result<usize, String> {
    let recipe = &order.recipe;
    order.envs.iter().position(|e| e == env).ok_or_else(|| {
        if order.envs.is_empty() {
            format!(
                "recipe {recipe} has no promotion list: add `promotion: [dev, staging, prod]` (your environments, in order) to its recipe"
            )
        } else {
            format!(
                "{env} is not an environment of recipe {recipe}: its promotion list is {}",
                order.envs.join(" → ")
            )
        }
    })
}

/// The manifest's home region: its `region`, or the first AMI's.
fn home_region(manifest: &Manifest) -> Option<String> {
    if manifest.amis.is_empty() {
        return None;
    }
    if !manifest.region.is_empty() && manifest.amis.iter().any(|a| a.region == manifest.region) {
        return Some(manifest.region.clone());
    }
    manifest.amis.first().map(|a| a.region.clone())
}

/// Loads the recipe (offline; secrets get placeholders) for its promotion list.
async fn load_order(manifest: &Manifest, req: &PromoteRequest) -> Result<Order, PromoteError> {
    let path = match &req.recipe_file {
        Some(p) => p.clone(),
        None if manifest.recipe_file.is_empty() => {
            return Err(PromoteError::Usage(format!(
                "the manifest {} names no recipe file: pass --recipe-file",
                req.manifest.display()
            )));
        }
        None => recipe_path(&req.manifest, Path::new(&manifest.recipe_file)),
    };
    let builtins = crate::run::builtins(&manifest.region);
    let inputs = req.inputs.clone();
    let load_path = path.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        recipe::load(&load_path, &inputs, &builtins, MissingSecrets::Placeholder)
    })
    .await
    .map_err(|e| PromoteError::Usage(format!("loading the recipe failed: {e}")))?
    .map_err(|e| {
        PromoteError::Usage(format!(
            "cannot load the recipe for its promotion list (pass --recipe-file to name it): {e}"
        ))
    })?;
    let name = loaded.recipe.name.as_str().to_string();
    if !manifest.recipe.is_empty() && name != manifest.recipe {
        return Err(PromoteError::Usage(format!(
            "{} is recipe {name}, but the manifest {} is of recipe {}",
            path.display(),
            req.manifest.display(),
            manifest.recipe
        )));
    }
    let scan = loaded.recipe.image.scan.as_ref().and_then(|s| {
        Some(super::gate::Requirement {
            limits: s.limits_for(&req.env)?,
            timeout: s.timeout.get(),
        })
    });
    Ok(Order {
        scan,
        recipe: name,
        envs: loaded
            .recipe
            .promotion
            .iter()
            .map(|e| e.as_str().to_string())
            .collect(),
    })
}

/// The manifest's recipe file: as written (relative to the working directory, where the
/// bake ran), else relative to the manifest's directory.
fn recipe_path(manifest: &Path, recipe_file: &Path) -> PathBuf {
    if recipe_file.is_absolute() || recipe_file.exists() {
        return recipe_file.to_path_buf();
    }
    match manifest.parent() {
        Some(dir) if dir.join(recipe_file).exists() => dir.join(recipe_file),
        _ => recipe_file.to_path_buf(),
    }
}
