//! `amibake status`: the fleet report. For a recipe (or every amibake recipe) in each
//! region asked: its complete images, what uses each ([`crate::fleet`]'s survey, the
//! same prune keeps by and revoke prints), how old each is, how many builds it is behind
//! the newest and behind each channel, its deprecation, pin and scan tags; and with
//! `--max-age`, which image in use is too old (exit 1 naming each).
//!
//! It reads only. The one write is `--usage-report`, on request: a fresh usage report of
//! each image (CreateImageUsageReport), waited for a bounded time, so the report can name
//! the other accounts that use a shared image. `--plan` prints the calls and makes none.
//!
//! Here: the options, the failures and [`status`] region by region; `read` makes the
//! calls, `report` shapes what they return (pure), `summary` counts it, `text` the
//! table, `event` the events.

use std::time::{Duration, SystemTime};

use crate::aws::Aws;
use crate::error::{ExitKind, Failure};
use crate::report::Reporter;

mod event;
mod read;
mod report;
mod summary;
mod text;

pub use event::{PlannedPart, RegionCalls, StatusEvent};
pub use report::{ChannelPosition, ImageStatus, Pin, Relation, short_age};
pub use summary::{Summary, TooOld};

/// What to report.
#[derive(Debug, Clone)]
pub struct StatusOptions {
    /// One recipe's images; `None`: every image amibake made (`--all`), by recipe.
    pub recipe: Option<String>,
    /// The home region first, then each `--also-region`.
    pub regions: Vec<String>,
    /// Images in use older than this fail the report (exit 1).
    pub max_age: Option<Duration>,
    /// Make a fresh usage report of each image first (the only write), waiting at most
    /// `usage_report_wait` for each.
    pub usage_report: bool,
    pub usage_report_wait: Duration,
    /// The scale of the usage report's poll interval (`AMIBAKE_POLL_SCALE`).
    pub poll_scale: f64,
}

/// What `status` fails with.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// An AWS call failed (exit 1): the report would be a guess.
    #[error("{phase} in {region}: {}", .source.chain())]
    Aws {
        phase: &'static str,
        region: String,
        #[source]
        source: crate::aws::AwsError,
    },
    /// `--usage-report`: a report did not become available in time, or ended in error.
    #[error("the usage report {report_id} of {image_id} in {region} {why}")]
    UsageReport {
        region: String,
        image_id: String,
        report_id: String,
        why: String,
    },
    /// `--max-age`: images in use are older than the limit (exit 1, each named).
    #[error("{} in use older than {}: {}", plural(.0.len(), "image"), .1, names(.0))]
    TooOld(Vec<TooOld>, String),
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn names(too_old: &[TooOld]) -> String {
    too_old
        .iter()
        .map(TooOld::text)
        .collect::<Vec<_>>()
        .join("; ")
}

impl Failure for StatusError {
    fn kind(&self) -> ExitKind {
        ExitKind::Failed
    }

    fn detail(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut detail = serde_json::Map::new();
        match self {
            StatusError::Aws { phase, region, .. } => {
                detail.insert("phase".into(), (*phase).into());
                detail.insert("region".into(), region.as_str().into());
            }
            StatusError::UsageReport {
                region,
                image_id,
                report_id,
                ..
            } => {
                detail.insert("region".into(), region.as_str().into());
                detail.insert("image_id".into(), image_id.as_str().into());
                detail.insert("report_id".into(), report_id.as_str().into());
            }
            StatusError::TooOld(too_old, _) => {
                detail.insert(
                    "too_old".into(),
                    serde_json::to_value(too_old).unwrap_or_default(),
                );
            }
        }
        detail
    }
}

/// The report of every region the options name.
#[derive(Debug, Clone)]
pub struct Report {
    pub images: Vec<ImageStatus>,
    pub summary: Summary,
}

impl Report {
    /// `--max-age`: the images in use that are older, each named; `Ok` when none is.
    pub fn judged(&self, options: &StatusOptions) -> Result<(), StatusError> {
        if self.summary.too_old.is_empty() {
            return Ok(());
        }
        let limit = options
            .max_age
            .map(|d| crate::recipe::types::Duration::from_secs(d.as_secs()).to_string())
            .unwrap_or_default();
        Err(StatusError::TooOld(self.summary.too_old.clone(), limit))
    }

    /// The table and the summary line, as `status` prints them without `--json`.
    pub fn text(&self) -> String {
        text::render(&self.images, &self.summary)
    }

    /// The one `status` event of `--json`.
    pub fn event(&self, options: &StatusOptions) -> StatusEvent {
        StatusEvent::report(options, &self.images, &self.summary)
    }
}

/// Reads every region the options name, in turn, and shapes the report (progress goes
/// to `reporter`; the report itself is the caller's to show).
pub async fn status(
    aws: &Aws,
    options: &StatusOptions,
    reporter: &Reporter,
) -> Result<Report, StatusError> {
    let mut images = Vec::new();
    for region in &options.regions {
        let listed = read::region(aws, region, options, reporter).await?;
        let now = SystemTime::now();
        for (recipe, found) in listed.recipes {
            images.extend(report::shape(
                &recipe,
                region,
                found,
                &listed.uses,
                options.max_age,
                now,
            ));
        }
    }
    let summary = Summary::of(options, &images);
    Ok(Report { images, summary })
}

/// `--plan`: the calls a report makes in each region, made by none.
pub fn plan(options: &StatusOptions) -> StatusEvent {
    StatusEvent::StatusPlan {
        recipe: options.recipe.clone(),
        regions: options
            .regions
            .iter()
            .map(|r| read::calls(r, options))
            .collect(),
    }
}
