//! What `promote` tells its user: one variant per kind of event (the JSON `event` field).
//! Copies and shares are the image layer's ([`crate::image::ImageEvent`]).

use std::fmt;

use serde::Serialize;

use crate::event::Said;

use super::{PromoteOutcome, PromotePlan, RegionChange};

/// An event of `promote`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum PromoteEvent {
    /// The promotion started: the image at home, where it goes.
    Start {
        recipe: String,
        env: String,
        ami: String,
        region: String,
        parameter: String,
        /// The manifest's regions, then the copies'.
        regions: Vec<String>,
        run_id: String,
    },
    /// The order check passed: the environment before holds the image at home.
    Order {
        previous: String,
        parameter: String,
        holds: Option<String>,
        ok: bool,
        env: String,
        region: String,
    },
    /// The scan gate passed: the scan judged and the environment's limits.
    Scan {
        ami: String,
        env: String,
        summary: crate::scan::ScanSummary,
        limits: crate::scan::ScanLimits,
    },
    /// `--force` overrode the order check's refusal.
    Forced { warning: String },
    /// One region's channel points at the image (or already did).
    Promoted {
        env: String,
        #[serde(flatten)]
        change: RegionChange,
    },
    /// The promotion is done.
    Done(PromoteOutcome),
    /// `--plan`: what the promotion would do (nothing was changed).
    Plan(Box<PromotePlan>),
}

impl fmt::Display for PromoteEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PromoteEvent::Start {
                recipe,
                env,
                ami,
                regions,
                run_id,
                ..
            } => write!(
                f,
                "promoting {ami} ({recipe}, run {run_id}) to {env} in {}",
                regions.join(", ")
            ),
            PromoteEvent::Scan {
                ami, env, summary, ..
            } => write!(
                f,
                "the scan of {ami} passes {env}'s limits: {}",
                summary.line()
            ),
            PromoteEvent::Order {
                previous,
                holds,
                env,
                region,
                ..
            } => write!(
                f,
                "{previous} holds {} in {region}: {env} may follow",
                holds.as_deref().unwrap_or_default()
            ),
            PromoteEvent::Forced { warning } => write!(f, "warning: --force: {warning}"),
            PromoteEvent::Promoted { env, change } => f.write_str(&change.line(env)),
            PromoteEvent::Done(outcome) => f.write_str(&outcome.summary()),
            PromoteEvent::Plan(plan) => plan.fmt(f),
        }
    }
}

/// No spinner: the copies' bars are the image layer's.
impl Said for PromoteEvent {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;

    #[test]
    fn a_promoted_region_keeps_its_json_fields_and_line() {
        let event = Event::from(PromoteEvent::Promoted {
            env: "dev".into(),
            change: RegionChange {
                region: "us-east-1".into(),
                parameter: "/amibake/web/dev".into(),
                old: None,
                new: "ami-new".into(),
                copied: true,
                changed: true,
            },
        });
        assert_eq!(
            event.to_json(),
            serde_json::json!({
                "event": "promoted", "env": "dev", "region": "us-east-1",
                "parameter": "/amibake/web/dev", "old": null, "new": "ami-new",
                "changed": true, "copied": true,
            })
        );
        assert_eq!(event.to_string(), "dev: (new) → ami-new in us-east-1");
    }

    #[test]
    fn done_is_the_outcome_tagged() {
        let outcome = PromoteOutcome {
            recipe: "web".into(),
            env: "dev".into(),
            ami: "ami-1".into(),
            home_region: "us-east-1".into(),
            forced: false,
            regions: Vec::new(),
        };
        let event = Event::from(PromoteEvent::Done(outcome.clone()));
        let mut expected = serde_json::to_value(&outcome).unwrap();
        expected["event"] = "done".into();
        assert_eq!(event.to_json(), expected);
        assert_eq!(event.to_string(), outcome.summary());
    }
}
