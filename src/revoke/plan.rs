//! The revoke's plan: every read before anything changes, and what it decided — the
//! channels to move and to what, the images to disable, the blast radius (the fleet
//! survey of each region), the stacks to roll back. The dry run prints it; `--yes`
//! walks it (`apply`), so what the dry run shows is what runs.

use serde::Serialize;

use crate::aws::ec2::{self, ImageInfo};
use crate::aws::{Aws, cfn, poll, ssm};
use crate::error::FromAws;
use crate::fleet::Use;
use crate::image::ImageState;
use crate::tags;

use super::history::earlier_values;
use super::target::Target;
use super::{RevokeError, RevokeRequest};

/// An image to disable (or to enable, for restore).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageStep {
    pub region: String,
    pub ami: String,
    /// Its state when read.
    pub state: String,
    /// Nothing to do: already disabled (revoke) or enabled (restore).
    pub done: bool,
}

impl ImageStep {
    /// The step for one image of the target: `done` when it is already disabled and
    /// `disabling` (revoke), or already enabled and not (restore).
    pub fn of(image: &super::target::RegionImage, disabling: bool) -> Self {
        let disabled = image.image.state == ImageState::Disabled;
        ImageStep {
            region: image.region.clone(),
            ami: image.ami.clone(),
            state: image.image.state.as_str().to_string(),
            done: disabled == disabling,
        }
    }
}

/// A channel to move: from the revoked image back to an earlier one (revoke), or forward
/// to the image again (restore).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelStep {
    pub region: String,
    pub parameter: String,
    pub env: String,
    pub from: String,
    pub to: String,
    /// Nothing to do: an earlier revoke moved it already.
    pub done: bool,
}

/// What uses one region's image: the fleet survey, printed as the blast radius.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegionUses {
    pub region: String,
    pub ami: String,
    pub uses: Vec<Use>,
}

/// A stack on the revoked image that `--roll-back-stacks` rolls back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackStep {
    pub region: String,
    pub stack: String,
    /// Its `amibake:previous-image-id`, resolved: what `rollback` goes back to.
    pub to: String,
}

/// Everything revoke read and decided.
#[derive(Debug, Clone, Serialize)]
pub struct RevokePlan {
    pub ami: String,
    pub recipe: String,
    pub reason: String,
    pub channels: Vec<ChannelStep>,
    pub images: Vec<ImageStep>,
    pub blast_radius: Vec<RegionUses>,
    pub stacks: Vec<StackStep>,
}

impl RevokePlan {
    /// Everything is revoked already: a rerun has nothing to do.
    pub fn done(&self) -> bool {
        self.channels.iter().all(|c| c.done)
            && self.images.iter().all(|i| i.done)
            && self.stacks.is_empty()
    }
}

impl RevokePlan {
    /// What the blast radius means once the images are disabled: groups that launch from
    /// one cannot launch new instances (scale-out, replacements) until rolled onto another
    /// image, and stacks on one stay there unless rolled back. Empty when nothing uses them
    /// that way, or when `--roll-back-stacks` rolls every such stack back.
    pub fn warnings(&self) -> Vec<String> {
        let mut said = Vec::new();
        for r in &self.blast_radius {
            let rolled = |stack: &str| {
                self.stacks
                    .iter()
                    .any(|s| s.region == r.region && s.stack == stack)
            };
            let groups: Vec<String> = r
                .uses
                .iter()
                .filter(|u| matches!(u, Use::Asg { .. } | Use::LaunchConfiguration { .. }))
                .map(Use::text)
                .collect();
            let stacks: Vec<&str> = r
                .uses
                .iter()
                .filter_map(|u| match u {
                    Use::StackImage { stack } if !rolled(stack) => Some(stack.as_str()),
                    _ => None,
                })
                .collect();
            if !stacks.is_empty() {
                said.push(format!(
                    "stacks on {} in {}: {}; disabled, it cannot launch their new instances: pass --roll-back-stacks, or roll them onto another image (amibake roll --stack NAME --ami GOOD)",
                    r.ami,
                    r.region,
                    stacks.join(", ")
                ));
            } else if !groups.is_empty() && self.stacks.iter().all(|s| s.region != r.region) {
                said.push(format!(
                    "{} in {} launch from {}: disabled, it cannot launch their new instances (scale-out, replacements) until they move to another image",
                    groups.join("; "),
                    r.region,
                    r.ami
                ));
            }
        }
        said
    }
}

/// Reads everything the revoke needs and decides; bad input (no channel holds the image,
/// a channel with no earlier value, a stack whose rollback target is revoked) is refused
/// here, before anything changes.
pub async fn plan(
    aws: &Aws,
    req: &RevokeRequest,
    target: &Target,
) -> Result<RevokePlan, RevokeError> {
    let mut channels = Vec::new();
    for image in &target.images {
        channels.extend(region_channels(aws, target, &image.region, &image.ami).await?);
    }
    if channels.is_empty() {
        let (recipe, ami) = (&target.recipe, &target.ami);
        return Err(RevokeError::Usage(format!(
            "no channel of recipe {recipe} (/amibake/{recipe}/*) holds {ami} or its copies in {}: revoke moves channels back and would move none; nothing changed. To stop launches from the image anyway: aws ec2 disable-image --image-id {ami}; to retire old images: amibake prune",
            regions(target)
        )));
    }
    let images = target
        .images
        .iter()
        .map(|i| ImageStep::of(i, true))
        .collect();
    let mut blast_radius = Vec::new();
    for image in &target.images {
        let uses = crate::fleet::survey(
            aws,
            &image.region,
            &target.recipe,
            std::slice::from_ref(&image.image),
        )
        .await
        .map_err(RevokeError::aws("blast radius"))?;
        blast_radius.push(RegionUses {
            region: image.region.clone(),
            ami: image.ami.clone(),
            uses: uses.of(&image.ami).to_vec(),
        });
    }
    let stacks = if req.roll_back_stacks {
        stacks(aws, target, &blast_radius).await?
    } else {
        Vec::new()
    };
    Ok(RevokePlan {
        ami: target.ami.clone(),
        recipe: target.recipe.clone(),
        reason: req.reason.clone(),
        channels,
        images,
        blast_radius,
        stacks,
    })
}

fn regions(target: &Target) -> String {
    let r: Vec<&str> = target.images.iter().map(|i| i.region.as_str()).collect();
    r.join(", ")
}

/// The recipe's channels of a region that hold `ami` (each with the earlier value it goes
/// back to), and those an earlier revoke of `ami` moved already (tagged
/// `amibake:revoked-from`).
async fn region_channels(
    aws: &Aws,
    target: &Target,
    region: &str,
    ami: &str,
) -> Result<Vec<ChannelStep>, RevokeError> {
    let client = aws.ssm(region).map_err(RevokeError::aws("channels"))?;
    let prefix = crate::promote::channel_parameter(&target.recipe, "");
    let all = poll::retry(|| ssm::parameters_by_path(&client, &prefix))
        .await
        .map_err(RevokeError::aws("channels"))?;
    let mut steps = Vec::new();
    for (parameter, value) in all {
        let env = parameter
            .strip_prefix(&prefix)
            .unwrap_or(&parameter)
            .to_string();
        if value == ami {
            let to = earlier_image(aws, target, region, &parameter, ami).await?;
            steps.push(ChannelStep {
                region: region.to_string(),
                parameter,
                env,
                from: ami.to_string(),
                to,
                done: false,
            });
            continue;
        }
        let tagged = poll::retry(|| ssm::parameter_tags(&client, &parameter))
            .await
            .map_err(RevokeError::aws("channels"))?;
        if tagged.get(tags::REVOKED_FROM).map(String::as_str) == Some(ami) {
            steps.push(ChannelStep {
                region: region.to_string(),
                parameter,
                env,
                from: ami.to_string(),
                to: value,
                done: true,
            });
        }
    }
    Ok(steps)
}

/// The value a channel held before `ami`: the newest earlier value that is still an
/// available image of the region and not one revoke disables.
async fn earlier_image(
    aws: &Aws,
    target: &Target,
    region: &str,
    parameter: &str,
    ami: &str,
) -> Result<String, RevokeError> {
    let ssm_client = aws.ssm(region).map_err(RevokeError::aws("history"))?;
    let ec2_client = aws.ec2(region).map_err(RevokeError::aws("history"))?;
    let history = poll::retry(|| ssm::parameter_history(&ssm_client, parameter))
        .await
        .map_err(RevokeError::aws("history"))?;
    let mut skipped = Vec::new();
    for value in earlier_values(&history, ami) {
        let found = poll::retry(|| ec2::describe_image_even_disabled(&ec2_client, &value))
            .await
            .map_err(RevokeError::aws("history"))?;
        let usable = found
            .as_ref()
            .is_some_and(|i: &ImageInfo| i.state.is_available())
            && !target.ids().contains(&value.as_str());
        if usable {
            return Ok(value);
        }
        let state = found.map_or("gone".to_string(), |i| i.state.as_str().to_string());
        skipped.push(format!("{value} ({state})"));
    }
    Err(RevokeError::Usage(format!(
        "channel {parameter} in {region} holds {ami} and its history has no earlier value to move back to{}: promote a good image to it first (amibake promote --manifest GOOD --to ENV --force), then revoke; nothing changed",
        if skipped.is_empty() {
            String::new()
        } else {
            format!(" (only {}, which cannot launch)", skipped.join(", "))
        }
    )))
}

/// The stacks on a revoked image (the survey's `image of stack`), each with what
/// `rollback` would go back to; a stack whose rollback target is missing or revoked
/// itself is refused.
async fn stacks(
    aws: &Aws,
    target: &Target,
    radius: &[RegionUses],
) -> Result<Vec<StackStep>, RevokeError> {
    let mut steps = Vec::new();
    let mut refused = Vec::new();
    for r in radius {
        let on_it: Vec<&str> = r
            .uses
            .iter()
            .filter_map(|u| match u {
                Use::StackImage { stack } => Some(stack.as_str()),
                _ => None,
            })
            .collect();
        if on_it.is_empty() {
            continue;
        }
        let cfn_client = aws.cfn(&r.region).map_err(RevokeError::aws("stacks"))?;
        let ssm_client = aws.ssm(&r.region).map_err(RevokeError::aws("stacks"))?;
        let all = poll::retry(|| cfn::stacks_with_tags(&cfn_client))
            .await
            .map_err(RevokeError::aws("stacks"))?;
        for stack in on_it {
            let previous = all
                .iter()
                .find(|(name, _)| name == stack)
                .and_then(|(_, t)| t.get(tags::PREVIOUS_IMAGE).cloned());
            let previous = match previous {
                Some(p) => match p.strip_prefix("resolve:ssm:").unwrap_or(&p) {
                    param if param.starts_with('/') => {
                        poll::retry(|| ssm::get_parameter(&ssm_client, param))
                            .await
                            .map_err(RevokeError::aws("stacks"))?
                    }
                    id => Some(id.to_string()),
                },
                None => None,
            };
            match previous {
                Some(to) if !target.ids().contains(&to.as_str()) => steps.push(StackStep {
                    region: r.region.clone(),
                    stack: stack.to_string(),
                    to,
                }),
                Some(to) => refused.push(format!(
                    "stack {stack} in {}: its rollback target {to} is a revoked image",
                    r.region
                )),
                None => refused.push(format!(
                    "stack {stack} in {}: no {} recorded, nothing to roll back to",
                    r.region,
                    tags::PREVIOUS_IMAGE
                )),
            }
        }
    }
    if !refused.is_empty() {
        return Err(RevokeError::Usage(format!(
            "--roll-back-stacks cannot roll back {}; roll it onto a good image first (amibake roll --stack NAME --ami GOOD), or revoke without --roll-back-stacks; nothing changed",
            refused.join("; ")
        )));
    }
    Ok(steps)
}
