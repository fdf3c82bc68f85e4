//! The order check: an image enters an environment only when the one before it holds it
//! (in the manifest's home region), unless `--force`.

use std::path::{Path, PathBuf};

use crate::aws::poll;
use crate::aws::{Aws, ssm};
use crate::event::FromAws;
use crate::manifest::Manifest;
use crate::recipe::{self, MissingSecrets};
use crate::report::Reporter;

use super::target::Target;
use super::{Order, PromoteError, PromoteEvent, PromoteRequest, channel_parameter};

/// The manifest's home region: its `region`, or the first AMI's.
pub(super) fn home_region(manifest: &Manifest) -> Option<String> {
    if manifest.amis.is_empty() {
        return None;
    }
    if !manifest.region.is_empty() && manifest.amis.iter().any(|a| a.region == manifest.region) {
        return Some(manifest.region.clone());
    }
    manifest.amis.first().map(|a| a.region.clone())
}

/// Loads the recipe (offline; secrets get placeholders) for its promotion list.
pub(super) async fn load_order(
    manifest: &Manifest,
    req: &PromoteRequest,
) -> Result<Order, PromoteError> {
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
    Ok(Order {
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
pub(super) fn recipe_path(manifest: &Path, recipe_file: &Path) -> PathBuf {
    if recipe_file.is_absolute() || recipe_file.exists() {
        return recipe_file.to_path_buf();
    }
    match manifest.parent() {
        Some(dir) if dir.join(recipe_file).exists() => dir.join(recipe_file),
        _ => recipe_file.to_path_buf(),
    }
}

/// Refuses unless the environment before the target's holds its image at home; returns
/// whether `--force` overrode a refusal.
pub(super) async fn check_order(
    aws: &Aws,
    req: &PromoteRequest,
    target: &Target,
    reporter: &Reporter,
) -> Result<bool, PromoteError> {
    let order = &target.order;
    let Some(previous) = target.index.checked_sub(1).map(|i| order.envs[i].clone()) else {
        return Ok(false);
    };
    let (home, ami) = (&target.home, &target.home_ami);
    let parameter = channel_parameter(&order.recipe, &previous);
    let ssm_client = aws.ssm(home).map_err(PromoteError::aws("order"))?;
    let holds = poll::retry(|| ssm::get_parameter(&ssm_client, &parameter))
        .await
        .map_err(PromoteError::aws("order"))?;
    if holds.as_deref() == Some(ami.as_str()) {
        reporter.emit(PromoteEvent::Order {
            previous,
            parameter,
            holds,
            ok: true,
            env: req.env.clone(),
            region: home.clone(),
        });
        return Ok(false);
    }
    let refusal = PromoteError::Refused {
        env: req.env.clone(),
        previous,
        parameter,
        region: home.clone(),
        ami: ami.clone(),
        holds,
    };
    if !req.force {
        return Err(refusal);
    }
    reporter.emit(PromoteEvent::Forced {
        warning: refusal.to_string(),
    });
    Ok(true)
}
