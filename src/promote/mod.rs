//! `promote`: moves a baked image into an environment's channel.
//!
//! A channel is the SSM parameter `/amibake/<recipe>/<env>` (data type `aws:ec2:image`)
//! in each region the image lives in; `roll --channel ENV --recipe NAME` reads it. The
//! recipe's `promotion` list orders the environments: an image enters ENV only when it is
//! what the environment before ENV holds (in the manifest's home region), unless
//! `--force`. Order of business: read the manifest and the recipe's promotion list →
//! the order check (nothing changes when it refuses) → the image exists in every region
//! of the manifest → copies to `--copy-to` regions (waited for) → sharing → the
//! parameters, the home region last, so the next environment's check passes only once
//! every region is promoted.
//!
//! Here: the request, outcome, errors and [`promote`] itself; `order` (the order
//! check), `copy` (copies to `--copy-to` regions) and `channel` (writing a parameter).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use crate::aws::ec2::{self, ImageInfo};
use crate::aws::poll::{self, PollError, Schedule};
use crate::aws::{Aws, AwsError};
use crate::manifest::Manifest;
use crate::recipe::VarInputs;
use crate::report::Reporter;
use crate::tags;

mod channel;
mod copy;
mod event;
mod order;
pub use event::PromoteEvent;

use channel::write_channel;
use copy::copy_all;
use order::{check_order, home_region, load_order};

/// Tag on a copy `promote` made: the AMI id it copies (finds the copy again on a rerun).
pub const COPY_OF_TAG: &str = tags::COPY_OF;
/// Tag on a channel parameter: the environment.
pub const ENV_TAG: &str = tags::ENV;
/// The data type that makes SSM check the value is an AMI of the region.
pub const IMAGE_DATA_TYPE: &str = "aws:ec2:image";

/// A parameter's new version shows within seconds (SSM validates image ids
/// asynchronously).
const PARAMETER: Schedule = Schedule::new(500, 3_000);

/// The SSM parameter of a channel.
pub fn channel_parameter(recipe: &str, env: &str) -> String {
    format!("/amibake/{recipe}/{env}")
}

/// What to promote where.
#[derive(Debug, Clone)]
pub struct PromoteRequest {
    /// A bake's manifest: the recipe, its file, the AMI in each region.
    pub manifest: PathBuf,
    /// The environment to promote to.
    pub env: String,
    /// Regions to copy the image to first (and promote there too).
    pub copy_to: Vec<String>,
    /// Accounts to share every region's image with (launch and create-volume permission).
    pub share_with: Vec<String>,
    /// Skip the order check.
    pub force: bool,
    /// The recipe file (default: the manifest's `recipe_file`).
    pub recipe_file: Option<PathBuf>,
    /// `--var`/`--var-file`, so the recipe renders.
    pub inputs: VarInputs,
    /// Who promotes (recorded in the parameter's description).
    pub user: String,
    /// Multiplies every poll interval (the emulator needs no multi-second pauses).
    pub poll_scale: f64,
    pub image_timeout: Duration,
    pub parameter_timeout: Duration,
}

impl PromoteRequest {
    pub fn new(manifest: impl Into<PathBuf>, env: impl Into<String>) -> PromoteRequest {
        PromoteRequest {
            manifest: manifest.into(),
            env: env.into(),
            copy_to: Vec::new(),
            share_with: Vec::new(),
            force: false,
            recipe_file: None,
            inputs: VarInputs::default(),
            user: current_user(),
            poll_scale: 1.0,
            image_timeout: Duration::from_secs(90 * 60),
            parameter_timeout: Duration::from_secs(2 * 60),
        }
    }
}

/// Who runs this: `GITHUB_ACTOR` in GitHub Actions, else `USER`/`USERNAME`.
pub fn current_user() -> String {
    ["GITHUB_ACTOR", "USER", "USERNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "unknown".to_string())
}

/// One region's channel, before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegionChange {
    pub region: String,
    pub parameter: String,
    /// The value before (`None`: the parameter did not exist).
    pub old: Option<String>,
    pub new: String,
    /// The image was copied into this region by this promote.
    pub copied: bool,
    /// The parameter was written (false: it already held the image).
    pub changed: bool,
}

impl RegionChange {
    /// `dev: ami-old → ami-new in us-east-1`.
    pub fn line(&self, env: &str) -> String {
        if !self.changed {
            return format!("{env}: {} in {} already (unchanged)", self.new, self.region);
        }
        format!(
            "{env}: {} → {} in {}",
            self.old.as_deref().unwrap_or("(new)"),
            self.new,
            self.region
        )
    }
}

/// How a promotion ended well.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PromoteOutcome {
    pub recipe: String,
    pub env: String,
    /// The image in the manifest's home region.
    pub ami: String,
    pub home_region: String,
    /// The order check was skipped (`--force`) and would have refused.
    pub forced: bool,
    pub regions: Vec<RegionChange>,
}

impl PromoteOutcome {
    pub fn summary(&self) -> String {
        let changed = self.regions.iter().filter(|r| r.changed).count();
        format!(
            "promoted {} to {} ({}) in {} region(s){}",
            self.ami,
            self.env,
            self.recipe,
            self.regions.len(),
            if changed < self.regions.len() {
                format!(", {} unchanged", self.regions.len() - changed)
            } else {
                String::new()
            }
        )
    }
}

/// Why a promotion did not happen (or not everywhere).
#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    /// Bad input, found before anything changed (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The order check refused: nothing changed (exit 1).
    #[error(
        "refusing to promote {ami} to {env}: {previous} (the environment before it) {}; promote it to {previous} first, or pass --force",
        match .holds { Some(v) => format!("holds {v} in {region} ({parameter})"), None => format!("has no channel in {region} ({parameter} does not exist)") }
    )]
    Refused {
        env: String,
        previous: String,
        parameter: String,
        region: String,
        ami: String,
        holds: Option<String>,
    },
    #[error("copy failed: {}", .0.join("; "))]
    CopiesFailed(Vec<String>),
    #[error("{what} timed out after {}s: {hint}", .after.as_secs())]
    Timeout {
        what: String,
        after: Duration,
        hint: String,
    },
    #[error("{phase}: {}", .source.chain())]
    Aws {
        phase: &'static str,
        #[source]
        source: AwsError,
    },
    #[error("interrupted")]
    Interrupted,
}

impl PromoteError {
    /// The process exit code (the README's contract): 2 bad input, 130 interrupted, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            PromoteError::Usage(_) => 2,
            PromoteError::Interrupted => 130,
            _ => 1,
        }
    }

    fn aws(phase: &'static str) -> impl Fn(AwsError) -> PromoteError {
        move |source| PromoteError::Aws { phase, source }
    }

    fn poll(phase: &'static str, what: String, hint: String) -> impl Fn(PollError) -> PromoteError {
        move |e| match e {
            PollError::Timeout(after) => PromoteError::Timeout {
                what: what.clone(),
                after,
                hint: hint.clone(),
            },
            PollError::Aws(source) => PromoteError::Aws { phase, source },
        }
    }
}

/// The recipe's name and promotion list, from the manifest and the recipe file.
#[derive(Debug, Clone)]
struct Order {
    recipe: String,
    envs: Vec<String>,
}

/// Runs a promotion.
pub async fn promote(
    aws: &Aws,
    req: &PromoteRequest,
    reporter: &Reporter,
) -> Result<PromoteOutcome, PromoteError> {
    let manifest = Manifest::read(&req.manifest).await.map_err(|e| {
        PromoteError::Usage(format!(
            "cannot read the manifest {}: {e}",
            req.manifest.display()
        ))
    })?;
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
    let recipe = order.recipe.clone();
    let env = req.env.as_str();
    let index = order.envs.iter().position(|e| e == env).ok_or_else(|| {
        PromoteError::Usage(if order.envs.is_empty() {
            format!(
                "recipe {recipe} has no promotion list: add `promotion: [dev, staging, prod]` (your environments, in order) to its recipe"
            )
        } else {
            format!(
                "{env} is not an environment of recipe {recipe}: its promotion list is {}",
                order.envs.join(" → ")
            )
        })
    })?;

    // The regions: the manifest's, then copies to regions it lacks.
    let mut copies: Vec<String> = Vec::new();
    for region in &req.copy_to {
        if manifest.amis.iter().any(|a| &a.region == region) || copies.contains(region) {
            reporter.say(&format!(
                "the manifest already has an AMI in {region}: not copying"
            ));
        } else {
            copies.push(region.clone());
        }
    }
    let parameter = channel_parameter(&recipe, env);
    let mut all_regions: Vec<String> = manifest.amis.iter().map(|a| a.region.clone()).collect();
    all_regions.extend(copies.iter().cloned());
    reporter.event(
        "start",
        json!({
            "recipe": recipe, "env": env, "ami": home_ami, "region": home,
            "parameter": parameter, "regions": all_regions, "run_id": manifest.run_id,
        }),
        &format!(
            "promoting {home_ami} ({recipe}, run {}) to {env} in {}",
            manifest.run_id,
            all_regions.join(", ")
        ),
    );

    // The order: the environment before this one must hold this image (at home).
    let forced = check_order(aws, req, &order, index, &home, &home_ami, reporter).await?;

    // Every region's image exists and is available.
    let mut images: Vec<(String, ImageInfo, bool)> = Vec::new();
    for entry in &manifest.amis {
        let ec2 = aws.ec2(&entry.region).map_err(PromoteError::aws("image"))?;
        let info = poll::retry(|| ec2::describe_image(&ec2, &entry.ami_id))
            .await
            .map_err(PromoteError::aws("image"))?
            .ok_or_else(|| {
                PromoteError::Usage(format!(
                    "AMI {} of the manifest does not exist in {} (deregistered?)",
                    entry.ami_id, entry.region
                ))
            })?;
        if info.state != "available" {
            return Err(PromoteError::Usage(format!(
                "AMI {} in {} is {}, not available",
                entry.ami_id, entry.region, info.state
            )));
        }
        images.push((entry.region.clone(), info, false));
    }

    // Copies, then sharing.
    if !copies.is_empty() {
        let source = images
            .iter()
            .find(|(r, _, _)| *r == home)
            .map(|(_, i, _)| i.clone())
            .ok_or_else(|| {
                PromoteError::Usage(format!("the manifest has no AMI in its region {home}"))
            })?;
        for (region, info) in copy_all(aws, req, &home, &source, &copies, reporter).await? {
            images.push((region, info, true));
        }
    }
    if !req.share_with.is_empty() {
        let sharing = ec2::Sharing {
            accounts: req.share_with.clone(),
            ..ec2::Sharing::default()
        };
        for (region, info, _) in &images {
            let ec2 = aws.ec2(region).map_err(PromoteError::aws("share"))?;
            poll::retry(|| ec2::share_image(&ec2, info, &sharing))
                .await
                .map_err(PromoteError::aws("share"))?;
            reporter.event(
                "share",
                json!({ "region": region, "ami_id": info.id, "accounts": req.share_with }),
                &format!(
                    "shared {} in {region} with {}",
                    info.id,
                    req.share_with.join(", ")
                ),
            );
        }
    }

    // The parameters: the home region last.
    images.sort_by_key(|(r, _, _)| *r == home);
    let description = format!(
        "promoted by {} at {} from run {}{}",
        req.user,
        now_rfc3339(),
        manifest.run_id,
        if forced {
            " (forced past the order check)"
        } else {
            ""
        }
    );
    let parameter_tags = BTreeMap::from([
        (tags::RECIPE.to_string(), recipe.clone()),
        (ENV_TAG.to_string(), env.to_string()),
        (tags::RUN_ID.to_string(), manifest.run_id.clone()),
    ]);
    let mut regions = Vec::new();
    for (region, info, copied) in &images {
        let change = write_channel(
            aws,
            req,
            region,
            &parameter,
            &info.id,
            &description,
            &parameter_tags,
        )
        .await?;
        let change = RegionChange {
            copied: *copied,
            ..change
        };
        reporter.event(
            "promoted",
            json!({
                "env": env, "region": change.region, "parameter": change.parameter,
                "old": change.old, "new": change.new, "changed": change.changed,
                "copied": change.copied,
            }),
            &change.line(env),
        );
        regions.push(change);
    }
    // Report in the manifest's order (home first).
    regions.sort_by_key(|r| r.region != home);
    Ok(PromoteOutcome {
        recipe,
        env: env.to_string(),
        ami: home_ami,
        home_region: home,
        forced,
        regions,
    })
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_parameters_are_named_by_recipe_and_env() {
        assert_eq!(channel_parameter("web", "prod"), "/amibake/web/prod");
    }

    #[test]
    fn region_lines_show_old_and_new() {
        let mut c = RegionChange {
            region: "us-east-1".into(),
            parameter: "/amibake/web/dev".into(),
            old: Some("ami-old".into()),
            new: "ami-new".into(),
            copied: false,
            changed: true,
        };
        assert_eq!(c.line("dev"), "dev: ami-old → ami-new in us-east-1");
        c.old = None;
        assert_eq!(c.line("dev"), "dev: (new) → ami-new in us-east-1");
    }

    #[test]
    fn a_refusal_names_what_the_previous_environment_holds() {
        let e = PromoteError::Refused {
            env: "prod".into(),
            previous: "staging".into(),
            parameter: "/amibake/web/staging".into(),
            region: "eu-west-1".into(),
            ami: "ami-new".into(),
            holds: Some("ami-old".into()),
        };
        let text = e.to_string();
        assert!(
            text.contains("staging") && text.contains("ami-old"),
            "{text}"
        );
        assert!(text.contains("--force"), "{text}");
        assert_eq!(e.exit_code(), 1);
        assert_eq!(PromoteError::Usage("x".into()).exit_code(), 2);
        assert_eq!(PromoteError::Interrupted.exit_code(), 130);
    }
}
