//! `promote`: moves a baked image into an environment's channel.
//!
//! A channel is the SSM parameter `/amibake/<recipe>/<env>` (data type `aws:ec2:image`)
//! in each region the image lives in; `roll --channel ENV --recipe NAME` reads it. The
//! recipe's `promotion` list orders the environments: an image enters ENV only when it is
//! what the environment before ENV holds (in the manifest's home region), unless
//! `--force`. Order of business: [`plan`] reads everything first — the manifest and the
//! recipe's promotion list, the order check, the image in every region of the manifest,
//! the guard (each image is this account's, tagged as a complete bake of this recipe;
//! `--allow-foreign-image` lets another through, loudly), copies an earlier promote left
//! in `--copy-to` regions, every region's channel — and [`walk`] then acts on that plan:
//! its refusal (nothing changes), else copies (waited for) → sharing → the parameters,
//! the home region last, so the next environment's check passes only once every region
//! is promoted. `promote --plan` prints the plan and stops.
//!
//! Here: the request, outcome, errors, [`promote`] and [`walk`]; `plan` (the plan and its
//! text), `survey` (reads to compute it), `order` (the order check), `target` (the
//! manifest, its images and the regions to copy to), `guard`, `copy` (copies and sharing)
//! and `channel` (the parameters); `calls` declares the AWS calls of each step, which the
//! plan lists.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::aws::poll::{PollError, Schedule};
use crate::aws::{Aws, AwsError};
use crate::error::{ExitKind, Failure, FromAws};
use crate::recipe::VarInputs;
use crate::report::Reporter;
use crate::tags;

mod calls;
mod channel;
mod copy;
mod event;
mod gate;
mod guard;
mod order;
mod plan;
mod survey;
mod target;
pub use event::PromoteEvent;
pub use gate::ScanGate;
pub use order::OrderCheck;
pub use plan::{CopyPlan, PromotePlan, RegionPlan, Step, Verdict};
pub use survey::plan;

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
    /// Promote an image that is not this recipe's complete bake in this account (warned
    /// about, recorded on the channel).
    pub allow_foreign_image: bool,
    /// The recipe file (default: the manifest's `recipe_file`).
    pub recipe_file: Option<PathBuf>,
    /// `--var`/`--var-file`, so the recipe renders.
    pub inputs: VarInputs,
    /// Who promotes (recorded in the parameter's description).
    pub user: String,
    /// Scan the home image with Inspector first, and judge the new scan (an environment
    /// of `image.scan.require_for`).
    pub rescan: bool,
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
            allow_foreign_image: false,
            recipe_file: None,
            inputs: VarInputs::default(),
            rescan: false,
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
    /// The scan gate refused: the image's scan is missing, too old or over the
    /// environment's limits (exit 1, nothing changed).
    #[error(
        "refusing to promote {ami} to {env}: {problem}; nothing was changed; fix: {fix}{}",
        worst_lines(.worst)
    )]
    ScanGate {
        ami: String,
        env: String,
        problem: String,
        fix: String,
        scan: Option<crate::scan::ScanSummary>,
        worst: Vec<String>,
    },
    /// `--rescan`: Inspector could not scan the image.
    #[error("Inspector's scan of {image} failed: {reason}; nothing was changed")]
    ScanFailed { image: String, reason: String },
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

impl Failure for PromoteError {
    /// A refusal (the order check, the guard) fails the promotion; it is not bad input.
    fn kind(&self) -> ExitKind {
        match self {
            PromoteError::Usage(_) => ExitKind::Usage,
            PromoteError::Interrupted => ExitKind::Interrupted,
            _ => ExitKind::Failed,
        }
    }

    /// A refusal names the environment before and what it holds.
    fn detail(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut detail = serde_json::Map::new();
        if let PromoteError::Refused {
            previous, holds, ..
        } = self
        {
            detail.insert("refused".into(), true.into());
            detail.insert("previous".into(), previous.clone().into());
            detail.insert("holds".into(), holds.clone().into());
        }
        if let PromoteError::ScanGate { scan, worst, .. } = self {
            detail.insert("refused".into(), true.into());
            detail.insert(
                "scan".into(),
                serde_json::to_value(scan).unwrap_or_default(),
            );
            detail.insert("worst".into(), worst.clone().into());
        }
        detail
    }
}

impl FromAws for PromoteError {
    fn from_aws(phase: &'static str, source: AwsError) -> PromoteError {
        PromoteError::Aws { phase, source }
    }
}

impl PromoteError {
    /// A manifest that cannot be read or is not a manifest: bad input, before anything.
    pub fn unreadable_manifest(path: &Path, e: impl std::fmt::Display) -> PromoteError {
        PromoteError::Usage(format!("cannot read the manifest {}: {e}", path.display()))
    }

    /// A wait's failure: a timeout says what timed out and what to do about it.
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

/// The worst findings a scan refusal lists, one per line.
fn worst_lines(worst: &[String]) -> String {
    if worst.is_empty() {
        return String::new();
    }
    format!("\nworst findings:\n  {}", worst.join("\n  "))
}

/// The recipe's name and promotion list, from the manifest and the recipe file, and what
/// the environment needs of the image's scan.
#[derive(Debug, Clone)]
struct Order {
    recipe: String,
    envs: Vec<String>,
    /// `image.scan.require_for` of the environment (`None`: no scan needed).
    scan: Option<gate::Requirement>,
}

/// Runs a promotion: computes its plan (reading only), then walks it.
pub async fn promote(
    aws: &Aws,
    req: &PromoteRequest,
    reporter: &Reporter,
) -> Result<PromoteOutcome, PromoteError> {
    let plan = plan(aws, req, reporter).await?;
    walk(aws, req, plan, reporter).await
}

/// Walks a plan: its refusal (nothing changes), else the copies and sharing, then the
/// channels, in the plan's order.
pub async fn walk(
    aws: &Aws,
    req: &PromoteRequest,
    mut plan: PromotePlan,
    reporter: &Reporter,
) -> Result<PromoteOutcome, PromoteError> {
    reporter.emit(plan.start());
    if let Some(refused) = plan.refusal(req) {
        return Err(refused);
    }
    let forced = order::report(&plan.order, req, reporter);
    guard::warn(&plan.foreign, reporter);
    if let Some(gate) = &mut plan.scan {
        if gate.rescan {
            let home = plan.home_region.clone();
            gate.rescan(aws, req, &home, &plan.ami, reporter).await?;
        }
        if let Some(event) = gate.event(&plan.ami, &req.env) {
            reporter.emit(event);
        }
    }
    copy::copy_and_share(aws, req, &mut plan.regions, reporter).await?;
    let marks = channel::Marks {
        forced,
        foreign: !plan.foreign.is_empty(),
    };
    let regions = channel::write_channels(aws, req, &plan, marks, reporter).await?;
    Ok(PromoteOutcome {
        recipe: plan.recipe,
        env: req.env.clone(),
        ami: plan.ami,
        home_region: plan.home_region,
        forced,
        regions,
    })
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
        assert_eq!(e.kind(), ExitKind::Failed);
        assert_eq!(PromoteError::Usage("x".into()).kind(), ExitKind::Usage);
        assert_eq!(PromoteError::Interrupted.kind(), ExitKind::Interrupted);
    }
}
