//! The typed recipe: what a rendered recipe file deserializes into.
//!
//! Every struct denies unknown keys, so a typo is an error with a location rather than a
//! silently ignored setting. Defaults live next to the field they belong to, and the
//! The recipe reference (docs/recipe.md) documents the same values.
//!
//! This file holds the top level, [`Recipe`]; each part of it has a file of its own, in
//! the order a recipe is written, and is re-exported here so `recipe::model::…` names
//! every type:
//!
//! - `source.rs`: `source:`, the base image, and how its one kind key is read;
//! - `builder.rs`: `builder:`, the temporary instance and its OS family;
//! - `steps.rs`: `steps:`, a step and its kind, and how a step's keys are read;
//! - `actions.rs`: the body of each step kind (`packages:`, `file:`, …);
//! - `checks.rs`: `validate:` and `boot_test:`, commands whose output is checked;
//! - `image.rs`: `image:`, what is created, where it is copied and who may use it;
//! - `scan.rs`: `image.scan:`, the image's vulnerability scan and its limits;
//! - `rebuild.rs`: `rebuild:`, what `bake --if-changed` rebuilds for (pending updates);
//! - `budget.rs`: the image's tag budget, and the agent pin (`amibake:agent`) where it fits.

mod actions;
mod budget;
mod builder;
mod checks;
mod image;
pub mod path;
mod rebuild;
mod scan;
mod source;
mod steps;

use std::collections::BTreeMap;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

use super::types::RecipeName;

pub use actions::{
    CodedeployAgent, FileSpec, Packages, ParamValue, Reboot, SsmDocument, SystemdOverride,
    WaitCloudInit,
};
pub use budget::EC2_MAX_TAGS;
pub use builder::{Builder, Os};
pub use checks::{BootTest, Check};
pub use image::{Hygiene, Image, ShareWith};
pub use rebuild::{Rebuild, Updates};
pub use scan::{
    DEFAULT_MAX_SCAN_AGE, DEFAULT_SCAN_TIMEOUT, DayLimit, MAX_DAY_LIMIT, Scan, ScanRequirement,
};
pub use source::{ImageFilter, Source};
pub use steps::{Action, MAX_RETRIES, STEP_KINDS, Step};

/// A whole recipe after rendering.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    pub name: RecipeName,
    /// Already consumed by rendering; kept so the key is accepted and documented.
    #[serde(default, skip_serializing)]
    pub vars: BTreeMap<String, serde::de::IgnoredAny>,
    /// The environment variables the recipe may read as `{{ env.NAME }}`; already
    /// consumed by rendering, kept so the key is accepted and checked.
    #[serde(default, skip_serializing)]
    pub env: Vec<String>,
    pub source: Source,
    pub builder: Builder,
    #[serde(deserialize_with = "non_empty_steps")]
    pub steps: Vec<Step>,
    #[serde(default)]
    pub validate: Vec<Check>,
    #[serde(default)]
    pub boot_test: Option<BootTest>,
    pub image: Image,
    /// Environments in promotion order, e.g. `[dev, staging, prod]`.
    #[serde(default)]
    pub promotion: Vec<RecipeName>,
    /// What `bake --if-changed` rebuilds for besides changed inputs.
    #[serde(default)]
    pub rebuild: Rebuild,
}

fn non_empty_steps<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Step>, D::Error> {
    let steps = Vec::<Step>::deserialize(deserializer)?;
    if steps.is_empty() {
        return Err(de::Error::custom(
            "`steps` is empty: expected at least one step",
        ));
    }
    Ok(steps)
}

/// The default of the switches that are on unless turned off (`enabled`, `encrypted`).
fn yes() -> bool {
    true
}

/// Something in a valid recipe the user should change: it still bakes, and `validate`
/// and `plan` say it, with the fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecipeWarning {
    /// Where: `step 3 (codedeploy_agent)`.
    pub at: String,
    pub message: String,
}

impl std::fmt::Display for RecipeWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

impl Recipe {
    /// The recipe's warnings, in step order: an agent pin behind the latest minor line AWS
    /// supports; then `rebuild.fix_severity` without `image.scan`; then image tags that
    /// leave no room for the agent pin's tag.
    pub fn warnings(&self) -> Vec<RecipeWarning> {
        let mut warnings: Vec<RecipeWarning> = self
            .steps
            .iter()
            .enumerate()
            .filter_map(|(i, step)| match &step.action {
                Action::CodedeployAgent(a) => {
                    a.version.behind_latest().map(|message| RecipeWarning {
                        at: format!("step {} ({})", i + 1, step.display_name()),
                        message,
                    })
                }
                _ => None,
            })
            .collect();
        if self.rebuild.fix_severity.is_some() && self.image.scan.is_none() {
            warnings.push(RecipeWarning {
                at: "rebuild.fix_severity".into(),
                message: "reads the newest image's Inspector scan results, but without \
                          `image.scan` amibake never scans its images: only an image scanned \
                          otherwise (`promote --rescan`, Inspector's continuous scanning) has \
                          any, else the probe decides; fix: add `image.scan: {}`"
                    .into(),
            });
        }
        warnings.extend(self.agent_tag_warning());
        warnings
    }
}
