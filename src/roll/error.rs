//! Why a roll did not end well, and what each failure tells the command line.

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::aws::AwsError;
use crate::aws::poll::PollError;
use crate::error::{ExitKind, Failure, FromAws};
use crate::tags;

/// Why a roll did not end well.
#[derive(Debug, thiserror::Error)]
pub enum RollError {
    /// Bad input or usage, found before anything changed (exit 2).
    #[error("{0}")]
    Usage(String),
    /// CloudFormation rejected the request (a `ValidationError`): nothing changed (exit 2).
    #[error("CloudFormation rejected the {what}: {}", .source.chain())]
    Rejected {
        what: &'static str,
        #[source]
        source: AwsError,
    },
    /// The account's enabled Allowed AMIs settings refuse the image (or this version
    /// cannot judge it): EC2 would refuse its launch during the update. Nothing changed.
    #[error("{0}")]
    NotAllowed(Box<super::allowed::Refusal>),
    #[error(
        "{what}: not rolling now (deploying while the group scales skips the new instances); pass --wait-for-idle to wait until it is idle"
    )]
    Busy { what: String },
    #[error("stack {stack} is {status}: {hint}")]
    Unusable {
        stack: String,
        status: String,
        hint: String,
    },
    #[error(
        "stack {stack} has no previous image recorded (no {} tag): only a stack amibake rolled from one image to another can be rolled back",
        tags::PREVIOUS_IMAGE
    )]
    NoPrevious { stack: String },
    #[error("declined: {0}")]
    Declined(String),
    #[error("change set {name} failed: {reason}")]
    ChangeSetFailed { name: String, reason: String },
    #[error("{stack} rolled back to {ami}: {reason}")]
    RolledBack {
        stack: String,
        /// The image the stack is on again.
        ami: String,
        /// The first failure among this roll's stack events.
        reason: String,
    },
    #[error(
        "{stack} is UPDATE_ROLLBACK_FAILED: the rollback could not restore {}; first failure: {reason}\nfix the cause, then continue the rollback:\n  {command}",
        .resources.join(", ")
    )]
    RollbackFailed {
        stack: String,
        /// The resources whose rollback failed (logical ids).
        resources: Vec<String>,
        reason: String,
        /// `aws cloudformation continue-update-rollback --stack-name … --region …`
        command: String,
    },
    #[error("{stack} ended {status}: {reason}{}", hint_line(.hint))]
    Failed {
        stack: String,
        status: String,
        reason: String,
        hint: String,
    },
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

fn hint_line(hint: &str) -> String {
    if hint.is_empty() {
        String::new()
    } else {
        format!("\n{hint}")
    }
}

impl Failure for RollError {
    /// Bad input when nothing changed (CloudFormation rejected the request as made).
    fn kind(&self) -> ExitKind {
        match self {
            RollError::Usage(_) | RollError::Rejected { .. } | RollError::NotAllowed(_) => {
                ExitKind::Usage
            }
            RollError::Interrupted => ExitKind::Interrupted,
            _ => ExitKind::Failed,
        }
    }

    /// What a script needs to act on a failed update: why it failed, the image a
    /// rolled-back stack is on again, and for a failed rollback the resources to fix and
    /// the command that continues it.
    fn detail(&self) -> Map<String, Value> {
        let detail = match self {
            RollError::RollbackFailed {
                resources,
                reason,
                command,
                ..
            } => json!({ "resources": resources, "reason": reason, "command": command }),
            RollError::RolledBack { reason, ami, .. } => json!({ "reason": reason, "ami": ami }),
            RollError::NotAllowed(r) => json!({
                "ami": r.ami,
                "allowed_images": { "state": r.state, "criteria": r.criteria, "verdict": r.verdict },
            }),
            RollError::ChangeSetFailed { reason, .. } | RollError::Failed { reason, .. } => {
                json!({ "reason": reason })
            }
            _ => return Map::new(),
        };
        match detail {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }
}

impl FromAws for RollError {
    fn from_aws(phase: &'static str, source: AwsError) -> RollError {
        RollError::Aws { phase, source }
    }
}

impl RollError {
    /// A `ValidationError` means CloudFormation refused the request as made.
    pub(super) fn rejected(
        what: &'static str,
        phase: &'static str,
    ) -> impl Fn(AwsError) -> RollError {
        move |source| {
            if source.code() == Some("ValidationError") {
                RollError::Rejected { what, source }
            } else {
                RollError::from_aws(phase, source)
            }
        }
    }

    /// A wait that ended without its answer: `what` took too long (`hint` says what it
    /// was still waiting for), or a call of `phase` failed.
    pub(super) fn waited(
        error: PollError,
        phase: &'static str,
        what: String,
        hint: String,
    ) -> Self {
        match error {
            PollError::Timeout(after) => RollError::Timeout { what, after, hint },
            PollError::Aws(source) => RollError::from_aws(phase, source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_kinds() {
        assert_eq!(RollError::Usage("x".into()).kind(), ExitKind::Usage);
        assert_eq!(RollError::Interrupted.kind(), ExitKind::Interrupted);
        let busy = RollError::Busy {
            what: "busy".into(),
        };
        assert_eq!(busy.kind(), ExitKind::Failed);
        let stack = "s".into();
        assert_eq!(RollError::NoPrevious { stack }.kind(), ExitKind::Failed);
    }

    #[test]
    fn a_failed_rollback_tells_a_script_what_to_fix_and_how_to_continue() {
        let err = RollError::RollbackFailed {
            stack: "web".into(),
            resources: vec!["AutoScalingGroup".into()],
            reason: "no signals".into(),
            command: "aws cloudformation continue-update-rollback".into(),
        };
        let Value::Object(expected) = json!({
            "resources": ["AutoScalingGroup"], "reason": "no signals",
            "command": "aws cloudformation continue-update-rollback",
        }) else {
            unreachable!()
        };
        assert_eq!(err.detail(), expected);
        assert!(RollError::Interrupted.detail().is_empty());
    }
}
