//! What `roll` tells its user: one variant per kind of event (the JSON `event` field).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::aws::cfn::ResourceChange;
use crate::event::{Progress, Said};
use crate::image::Verdict;

use super::RollOutcome;
use super::policy::Policy;
use crate::aws::asg::Refresh;

/// The label of the roll's spinner.
pub(super) const SPINNER: &str = "roll";
/// The label of an instance refresh's progress bar.
const REFRESH_BAR: &str = "refresh";

/// An event of `roll` and `rollback`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RollEvent {
    /// An SSM parameter named the image: the concrete id it holds.
    Resolved { parameter: String, ami: String },
    /// The stack does not exist: it is created (or, with `--plan`, would be) from
    /// `template` on `ami`; secret-looking parameter values are shown as `***`.
    Create {
        stack: String,
        region: String,
        template: PathBuf,
        ami: String,
        parameters: BTreeMap<String, String>,
        plan: bool,
    },
    /// The account's Allowed AMIs settings judged the image (enabled ones that refuse it
    /// stop the roll instead; disabled ones say nothing). In `audit-mode` a refused image
    /// is a warning and the roll goes on.
    AllowedImages {
        region: String,
        ami: String,
        state: String,
        /// How many criteria the settings hold.
        criteria: usize,
        #[serde(flatten)]
        verdict: Verdict,
    },
    /// The settings could not be read (no ec2:GetAllowedImagesSettings): the roll goes on
    /// unchecked.
    AllowedUnchecked {
        region: String,
        ami: String,
        reason: String,
    },
    /// The stack or its group is busy and the roll waits (`--wait-for-idle`).
    Waiting { stack: String, busy: String },
    /// Neither the stack nor its group is busy any more.
    Idle { stack: String, status: String },
    /// An update begins: the change set `change_set` moves the stack between images.
    Start {
        stack: String,
        stack_id: String,
        region: String,
        from_ami: String,
        to_ami: String,
        change_set: String,
        token: String,
        /// Which update policy replaces the group's instances.
        policy: Policy,
    },
    /// CloudFormation computed the change set: how many resources it changes (each
    /// follows as a `change`).
    ChangeSet { change_set: String, changes: usize },
    /// One resource the change set changes.
    Change(ResourceChange),
    /// A stack event of this roll's operation.
    StackEvent {
        stack: String,
        event_id: String,
        logical_id: String,
        physical_id: Option<String>,
        resource_type: String,
        status: String,
        reason: Option<String>,
        timestamp: Option<String>,
    },
    /// This roll's instance refresh moved on (status, percent complete, instances to
    /// update, a checkpoint or the bake time, why it failed).
    Refresh {
        group: String,
        #[serde(flatten)]
        refresh: Refresh,
    },
    /// The roll ended well (exit 0): how, in the stack's region.
    Done {
        #[serde(flatten)]
        outcome: RollOutcome,
        region: String,
    },
}

impl fmt::Display for RollEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RollEvent::Resolved { parameter, ami } => {
                write!(f, "SSM parameter {parameter} names {ami}")
            }
            RollEvent::Create {
                stack,
                region,
                template,
                ami,
                parameters,
                plan,
            } => {
                let verb = if *plan { "would create" } else { "creating" };
                let shown: Vec<String> =
                    parameters.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(
                    f,
                    "stack {stack} does not exist in {region}: {verb} it from {} on {ami} ({})",
                    template.display(),
                    shown.join(", ")
                )
            }
            RollEvent::AllowedImages {
                region,
                ami,
                state,
                criteria,
                verdict,
            } => match verdict {
                Verdict::Allowed { why, .. } => {
                    write!(f, "Allowed AMIs ({state}) in {region} allow {ami}: {why}")
                }
                Verdict::Unjudged { why } => write!(
                    f,
                    "warning: Allowed AMIs ({state}) in {region}: amibake cannot judge {ami} against its {criteria} criteria: {why}\nthe roll goes on: audit mode does not enforce them"
                ),
                _ => write!(
                    f,
                    "warning: Allowed AMIs ({state}) in {region} would refuse {ami} once enabled (it meets none of {criteria} criteria):{}\nthe roll goes on: audit mode does not enforce them",
                    super::allowed::reasons(verdict)
                ),
            },
            RollEvent::AllowedUnchecked {
                region,
                ami,
                reason,
            } => write!(
                f,
                "warning: could not read the Allowed AMIs settings in {region} ({reason}): rolling {ami} unchecked; if they refuse it, its instances fail to launch during the update (grant ec2:GetAllowedImagesSettings to check first)"
            ),
            RollEvent::Waiting { busy, .. } => write!(f, "{busy}: waiting until it is idle"),
            RollEvent::Idle { stack, .. } => write!(f, "{stack} and its group are idle"),
            RollEvent::Start { .. } => f.write_str(&start_line(self)),
            RollEvent::Refresh { refresh, .. } => f.write_str(&super::refresh::describe(refresh)),
            RollEvent::ChangeSet {
                change_set,
                changes,
            } => write!(f, "change set {change_set}: {changes} change(s)"),
            RollEvent::Change(c) => {
                let replacement = match c.replacement.as_deref() {
                    Some("True") => ", replacement",
                    Some("Conditional") => ", replacement: conditional",
                    Some("False") => ", no replacement",
                    _ => "",
                };
                let (action, id, kind) = (&c.action, &c.logical_id, &c.resource_type);
                write!(f, "  {action} {id} ({kind}){replacement}")
            }
            RollEvent::StackEvent {
                logical_id,
                resource_type,
                status,
                reason,
                ..
            } => {
                write!(f, "{status} {logical_id} ({resource_type})")?;
                match reason.as_deref().filter(|r| !r.is_empty()) {
                    Some(r) => write!(f, ": {r}"),
                    None => Ok(()),
                }
            }
            RollEvent::Done { outcome, .. } => f.write_str(&outcome.summary()),
        }
    }
}

/// The `start` line: the images, the change set and the policy that replaces the group.
fn start_line(e: &RollEvent) -> String {
    let RollEvent::Start {
        stack,
        region,
        from_ami,
        to_ami,
        change_set,
        policy,
        ..
    } = e
    else {
        return String::new();
    };
    let by = match policy {
        Policy::Unspecified => String::new(),
        p => format!(", by {}", p.describe()),
    };
    if from_ami == to_ami {
        format!(
            "{stack} in {region} runs {to_ami} already: checking for other changes (change set {change_set}{by})"
        )
    } else {
        format!("rolling {stack} in {region}: {from_ami} → {to_ami} (change set {change_set}{by})")
    }
}

impl Said for RollEvent {
    /// The roll's spinner: computing the change set (from `start` to `change_set`),
    /// and waiting for a busy stack or group (from `waiting` to `idle`). The polls
    /// between update it without a line of their own.
    fn progress(&self) -> Option<Progress> {
        let message = match self {
            RollEvent::Start { .. } => "computing the change set".to_string(),
            RollEvent::Waiting { busy, .. } => busy.clone(),
            RollEvent::Refresh { refresh, .. } if refresh.is_over() => {
                return Some(Progress::Clear {
                    label: REFRESH_BAR.into(),
                });
            }
            RollEvent::Refresh { refresh, .. } => {
                return Some(Progress::Show {
                    label: REFRESH_BAR.into(),
                    message: super::refresh::describe(refresh),
                });
            }
            RollEvent::ChangeSet { .. } | RollEvent::Idle { .. } | RollEvent::Done { .. } => {
                return Some(Progress::Clear {
                    label: SPINNER.into(),
                });
            }
            _ => return None,
        };
        Some(Progress::Show {
            label: SPINNER.into(),
            message,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn done_carries_the_outcome_and_the_region() {
        let done = RollEvent::Done {
            outcome: RollOutcome::AlreadyOn {
                stack: "web".into(),
                ami: "ami-b".into(),
            },
            region: "eu-west-1".into(),
        };
        assert_eq!(
            serde_json::to_value(&done).unwrap(),
            serde_json::json!({
                "event": "done", "outcome": "already_on", "stack": "web", "ami": "ami-b",
                "region": "eu-west-1",
            })
        );
        assert_eq!(done.to_string(), "web is already on ami-b: nothing to do");
    }

    #[test]
    fn a_change_is_the_resource_change_under_its_kind() {
        let change = RollEvent::Change(ResourceChange {
            logical_id: "AutoScalingGroup".into(),
            physical_id: None,
            resource_type: "AWS::AutoScaling::AutoScalingGroup".into(),
            action: "Modify".into(),
            replacement: Some("Conditional".into()),
            scope: vec!["Properties".into()],
        });
        assert_eq!(
            serde_json::to_value(&change).unwrap(),
            serde_json::json!({
                "event": "change", "logical_id": "AutoScalingGroup", "physical_id": null,
                "resource_type": "AWS::AutoScaling::AutoScalingGroup", "action": "Modify",
                "replacement": "Conditional", "scope": ["Properties"],
            })
        );
        assert_eq!(
            change.to_string(),
            "  Modify AutoScalingGroup (AWS::AutoScaling::AutoScalingGroup), replacement: conditional"
        );
    }

    /// The `start` of web in eu-west-1, ami-a → ami-b, by `policy`.
    fn start(policy: Policy) -> RollEvent {
        RollEvent::Start {
            stack: "web".into(),
            stack_id: "arn".into(),
            region: "eu-west-1".into(),
            from_ami: "ami-a".into(),
            to_ami: "ami-b".into(),
            change_set: "amibake-1".into(),
            token: "amibake-1".into(),
            policy,
        }
    }

    #[test]
    fn the_spinner_runs_from_start_to_change_set() {
        let start = start(Policy::Unspecified);
        assert!(matches!(start.progress(), Some(Progress::Show { .. })));
        let computed = RollEvent::ChangeSet {
            change_set: "amibake-1".into(),
            changes: 2,
        };
        assert!(matches!(computed.progress(), Some(Progress::Clear { .. })));
        assert_eq!(
            start.to_string(),
            "rolling web in eu-west-1: ami-a → ami-b (change set amibake-1)"
        );
    }

    #[test]
    fn a_refresh_shows_its_progress_on_a_bar_until_it_is_over_and_start_names_the_policy() {
        let mut refresh = Refresh {
            id: "r-1".into(),
            status: "InProgress".into(),
            reason: Some("Waiting at checkpoint 50%".into()),
            percent_complete: Some(50),
            instances_to_update: Some(1),
            checkpoints: vec![50, 100],
            bake_time: Some(600),
        };
        let event = RollEvent::Refresh {
            group: "web-asg".into(),
            refresh: refresh.clone(),
        };
        assert_eq!(
            event.to_string(),
            "instance refresh r-1 InProgress, 50% complete, 1 to update: Waiting at checkpoint 50%"
        );
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["event"], "refresh");
        assert_eq!(json["group"], "web-asg");
        assert_eq!(json["percent_complete"], 50);
        assert_eq!(json["instances_to_update"], 1);
        assert!(matches!(event.progress(), Some(Progress::Show { .. })));
        refresh.status = "Successful".into();
        let over = RollEvent::Refresh {
            group: "web-asg".into(),
            refresh,
        };
        assert!(matches!(over.progress(), Some(Progress::Clear { .. })));

        let start = start(Policy::InstanceRefresh);
        assert!(
            start.to_string().ends_with(
                "(change set amibake-1, by instance refresh (AutoScalingInstanceRefresh))"
            )
        );
        assert_eq!(
            serde_json::to_value(&start).unwrap()["policy"],
            "instance_refresh"
        );
    }
}
