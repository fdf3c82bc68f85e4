//! `amibake revoke` and `amibake restore`: pull a bad image everywhere, and undo it.
//!
//! Revoke, in order: the image and its copies are read and checked as amibake's own
//! (`target`); then every read (`plan`): each region's channels `/amibake/RECIPE/*` that
//! hold the image, with the earlier value each goes back to (its SSM history, newest
//! first, skipping images that cannot launch: `history`), the blast radius (the fleet
//! survey of each region: [`crate::fleet::survey`]) and, with `--roll-back-stacks`, the
//! stacks on the image with their rollback targets. Without `--yes` that plan is printed
//! and nothing changes. With `--yes` (`apply`): the channels move back first (so nothing
//! new promotes or rolls from them), then DisableImage on the image and every copy, then
//! each stack rolls back through the roll code. Nothing is ever deregistered or deleted.
//! Each moved channel records who, when, from which run and why (its description) and
//! `amibake:revoked-from=ID` (a tag), which is how `restore` (`restore`) finds it again.
//!
//! Idempotent: a rerun reads what is done already (disabled images, channels tagged from
//! this image) and does the rest; when nothing is left it says so and exits 0. A failure
//! half way names what was done and what was not.

use crate::aws::poll::{PollError, Schedule};
use crate::aws::{Aws, AwsError};
use crate::error::{ExitKind, Failure, FromAws};
use crate::report::Reporter;

mod apply;
mod event;
mod history;
mod plan;
mod restore;
mod target;

pub use event::RevokeEvent;
pub use history::check_reason;
pub use plan::{ChannelStep, ImageStep, RegionUses, RevokePlan, StackStep};
pub use restore::{RestorePlan, restore};
pub use target::Selection;

/// A channel's new version shows within seconds (SSM validates image ids
/// asynchronously).
const PARAMETER: Schedule = Schedule::new(500, 3_000);

/// What to revoke, and how.
#[derive(Debug, Clone)]
pub struct RevokeRequest {
    pub selection: Selection,
    /// Why (recorded on every channel moved), checked by [`check_reason`].
    pub reason: String,
    /// Act; without it, print the plan and change nothing.
    pub yes: bool,
    /// Roll each stack on the image back to its previous image.
    pub roll_back_stacks: bool,
    /// Who revokes (the channel's record): `GITHUB_ACTOR`, else `USER`.
    pub user: String,
    /// This run's id (the channel's record).
    pub run_id: String,
    /// Multiplies every poll interval.
    pub poll_scale: f64,
    /// How long a channel's new version may take to show.
    pub parameter_timeout: std::time::Duration,
}

impl RevokeRequest {
    pub fn new(selection: Selection, reason: impl Into<String>) -> RevokeRequest {
        RevokeRequest {
            selection,
            reason: reason.into(),
            yes: false,
            roll_back_stacks: false,
            user: crate::promote::current_user(),
            run_id: crate::run::new_run_id(time::OffsetDateTime::now_utc()),
            poll_scale: 1.0,
            parameter_timeout: std::time::Duration::from_secs(2 * 60),
        }
    }
}

/// Why a revoke or restore did not happen (or not all of it).
#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    /// Bad input, found before anything changed (exit 2).
    #[error("{0}")]
    Usage(String),
    /// A write failed part way: what was done, what was not (exit 1).
    #[error(
        "{failed}\ndone: {}\nnot done: {}\nrerun the same command to finish (it skips what is done)",
        list(.done),
        list(.not_done)
    )]
    Partial {
        failed: String,
        done: Vec<String>,
        not_done: Vec<String>,
        #[source]
        source: Box<RevokeError>,
    },
    #[error("{what} timed out after {}s: {hint}", .after.as_secs())]
    Timeout {
        what: String,
        after: std::time::Duration,
        hint: String,
    },
    #[error("rolling back stack {stack} in {region}: {source}")]
    Roll {
        stack: String,
        region: String,
        #[source]
        source: Box<crate::roll::RollError>,
    },
    #[error("{phase}: {}", .source.chain())]
    Aws {
        phase: &'static str,
        #[source]
        source: AwsError,
    },
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "nothing".to_string()
    } else {
        items.join("; ")
    }
}

impl Failure for RevokeError {
    fn kind(&self) -> ExitKind {
        match self {
            RevokeError::Usage(_) => ExitKind::Usage,
            _ => ExitKind::Failed,
        }
    }

    /// A partial run lists what was done and what was not.
    fn detail(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut detail = serde_json::Map::new();
        if let RevokeError::Partial { done, not_done, .. } = self {
            detail.insert("done".into(), done.clone().into());
            detail.insert("not_done".into(), not_done.clone().into());
        }
        detail
    }
}

impl FromAws for RevokeError {
    fn from_aws(phase: &'static str, source: AwsError) -> RevokeError {
        RevokeError::Aws { phase, source }
    }
}

impl RevokeError {
    /// A wait's failure: a timeout says what timed out and what to do.
    fn poll(phase: &'static str, what: String, hint: String) -> impl Fn(PollError) -> RevokeError {
        move |e| match e {
            PollError::Timeout(after) => RevokeError::Timeout {
                what: what.clone(),
                after,
                hint: hint.clone(),
            },
            PollError::Aws(source) => RevokeError::Aws { phase, source },
        }
    }
}

/// Runs a revoke: checks the reason, reads everything (the plan, printed), then, with
/// `--yes`, walks it.
pub async fn revoke(
    aws: &Aws,
    req: &RevokeRequest,
    reporter: &Reporter,
) -> Result<RevokePlan, RevokeError> {
    let mut req = req.clone();
    req.reason = check_reason(&req.reason).map_err(RevokeError::Usage)?;
    let target = target::resolve(aws, aws.region(), &req.selection).await?;
    let plan = plan::plan(aws, &req, &target).await?;
    reporter.emit(RevokeEvent::plan(&plan, !req.yes));
    for warning in plan.warnings() {
        reporter.say(&format!("WARNING: {warning}"));
    }
    if plan.done() {
        reporter.emit(RevokeEvent::done("revoke", &plan.ami, false, true));
        return Ok(plan);
    }
    if !req.yes {
        reporter.emit(RevokeEvent::done("revoke", &plan.ami, true, false));
        return Ok(plan);
    }
    apply::apply(aws, &req, &plan, reporter).await?;
    reporter.emit(RevokeEvent::done("revoke", &plan.ami, false, false));
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_revoke_names_what_was_done_and_what_not_and_how_to_finish() {
        let e = RevokeError::Partial {
            failed: "revoke of ami-b stopped at disable ami-c in us-west-2: boom".into(),
            done: vec!["disable ami-b in eu-west-1".into()],
            not_done: vec!["disable ami-c in us-west-2".into()],
            source: Box::new(RevokeError::Usage("boom".into())),
        };
        let text = e.to_string();
        assert!(
            text.contains("\ndone: disable ami-b in eu-west-1\n"),
            "{text}"
        );
        assert!(
            text.contains("\nnot done: disable ami-c in us-west-2\n"),
            "{text}"
        );
        assert!(text.ends_with("rerun the same command to finish (it skips what is done)"));
        assert_eq!(e.kind(), ExitKind::Failed);
        assert_eq!(e.detail()["not_done"][0], "disable ami-c in us-west-2");
        assert_eq!(RevokeError::Usage("x".into()).kind(), ExitKind::Usage);
    }
}
