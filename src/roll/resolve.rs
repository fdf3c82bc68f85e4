//! The image a roll moves to: a manifest entry for the region, a promotion channel, or an
//! SSM parameter, resolved to a concrete id that exists.

use std::path::Path;

use crate::aws::poll;
use crate::aws::ssm;
use crate::error::FromAws;
use crate::manifest::Manifest;

use super::{Roll, RollError, RollEvent};
use crate::image::{self, Unusable};

impl Roll<'_> {
    /// The bake's AMI in this region.
    pub(super) async fn manifest_ami(&self, path: &Path) -> Result<String, RollError> {
        let manifest = Manifest::read(path).await.map_err(|e| {
            RollError::Usage(format!("cannot read the manifest {}: {e}", path.display()))
        })?;
        let region = self.region();
        let ami = manifest
            .amis
            .iter()
            .find(|a| a.region == region)
            .map(|a| a.ami_id.clone())
            .ok_or_else(|| {
                let regions: Vec<&str> = manifest.amis.iter().map(|a| a.region.as_str()).collect();
                RollError::Usage(format!(
                    "the manifest {} has no AMI in {region} (it has {}); bake with --copy-to {region} or promote the image there",
                    path.display(),
                    if regions.is_empty() {
                        "none".to_string()
                    } else {
                        regions.join(", ")
                    }
                ))
            })?;
        self.resolve_ami(&ami).await
    }

    /// The AMI an environment's channel holds in this region.
    pub(super) async fn channel_ami(&self, recipe: &str, env: &str) -> Result<String, RollError> {
        let region = self.region().to_string();
        let name = crate::promote::channel_parameter(recipe, env);
        let ssm = self.aws.ssm(&region).map_err(RollError::aws("image"))?;
        let exists = poll::retry(|| ssm::get_parameter(&ssm, &name))
            .await
            .map_err(RollError::aws("image"))?
            .is_some();
        if !exists {
            return Err(RollError::Usage(format!(
                "channel {env} of recipe {recipe} is not set in {region} (no SSM parameter {name}): promote an image first (amibake promote --manifest FILE --to {env}), or check --recipe, --channel and --region"
            )));
        }
        self.resolve_ami(&name).await
    }

    /// A concrete AMI id that exists and is available in this region: an SSM parameter
    /// (`/…` or `resolve:ssm:/…`) is read first.
    pub(super) async fn resolve_ami(&self, given: &str) -> Result<String, RollError> {
        let region = self.region().to_string();
        let id = match ssm_parameter_name(given) {
            Some(name) => {
                let ssm = self.aws.ssm(&region).map_err(RollError::aws("image"))?;
                let value = poll::retry(|| ssm::get_parameter(&ssm, name))
                    .await
                    .map_err(RollError::aws("image"))?
                    .ok_or_else(|| {
                        RollError::Usage(format!("SSM parameter {name} does not exist in {region}"))
                    })?;
                if !value.starts_with("ami-") {
                    return Err(RollError::Usage(format!(
                        "SSM parameter {name} holds {value:?}, not an AMI id"
                    )));
                }
                self.reporter.emit(RollEvent::Resolved {
                    parameter: name.to_string(),
                    ami: value.clone(),
                });
                value
            }
            None => given.to_string(),
        };
        if !id.starts_with("ami-") {
            return Err(RollError::Usage(format!(
                "{given} is neither an AMI id (ami-…) nor an SSM parameter (/… or resolve:ssm:/…)"
            )));
        }
        match image::available(&self.aws, &region, &id).await {
            Ok(_) => Ok(id),
            Err(Unusable::Missing) => Err(RollError::Usage(format!(
                "AMI {id} does not exist in {region} (or is not shared with this account){}",
                self.hidden_hint().await
            ))),
            Err(Unusable::NotAvailable(state)) => Err(RollError::Usage(format!(
                "AMI {id} is {state}, not available"
            ))),
            Err(Unusable::Aws(e)) => Err(RollError::aws("image")(e)),
        }
    }
}

/// The SSM parameter an AMI argument names, if it names one.
pub(super) fn ssm_parameter_name(given: &str) -> Option<&str> {
    given
        .strip_prefix("resolve:ssm:")
        .or_else(|| given.starts_with('/').then_some(given))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssm_parameter_names_are_recognised() {
        assert_eq!(ssm_parameter_name("ami-0123456789abcdef0"), None);
        assert_eq!(ssm_parameter_name("/golden/web"), Some("/golden/web"));
        assert_eq!(
            ssm_parameter_name("resolve:ssm:/golden/web:3"),
            Some("/golden/web:3")
        );
    }
}
