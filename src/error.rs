//! How a command fails: the kind of ending each failure is, the one place its exit code
//! is decided, and the traits every command's error implements.
//!
//! The exit codes are part of the contract (docs/commands.md): 0 done, 1 the pipeline
//! failed, 2 bad input or usage (nothing was created), 130 interrupted. Errors say which
//! [`ExitKind`] they are; only [`ExitKind::code`] turns that into a number, and only the
//! command line's `fail` prints a failure (one `error` event, or one `error:` line).

use std::process::ExitCode;

use crate::event::{ErrorEvent, Event};

/// How a command that did not succeed ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// The pipeline failed: a step, a check, an AWS call, a rollback happened, a refusal.
    Failed,
    /// Bad input or usage, found before anything was created or changed.
    Usage,
    /// Stopped by SIGINT, SIGTERM or SIGHUP (after cleanup).
    Interrupted,
    /// `amibake outdated`: the newest image is behind, a rebuild is due (updates or
    /// fixes pending, changed inputs, or no image yet). Not a failure: an answer.
    Outdated,
}

impl ExitKind {
    /// The process exit code of this ending.
    pub fn code(self) -> u8 {
        match self {
            ExitKind::Failed => 1,
            ExitKind::Usage => 2,
            ExitKind::Interrupted => 130,
            ExitKind::Outdated => 3,
        }
    }

    /// How several commands of one process end together (several bakes): interrupted
    /// wins, then a failed pipeline, then bad input found late; done only when all are.
    pub fn worst(outcomes: &[Outcome]) -> Outcome {
        [ExitKind::Interrupted, ExitKind::Failed, ExitKind::Usage]
            .into_iter()
            .find(|kind| outcomes.contains(&Err(*kind)))
            .map_or(Ok(()), Err)
    }
}

/// How a command ended: done, or how it failed (after saying why).
pub type Outcome = Result<(), ExitKind>;

/// The process exit status of an outcome.
pub fn exit_status(outcome: Outcome) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(kind) => ExitCode::from(kind.code()),
    }
}

/// What every command's error tells the command line: which kind of ending it is and,
/// for `--json`, the fields a script acts on.
pub trait Failure: std::error::Error {
    fn kind(&self) -> ExitKind;

    /// Fields of the JSON `error` event beyond `error` and `exit_code`.
    fn detail(&self) -> serde_json::Map<String, serde_json::Value> {
        serde_json::Map::new()
    }

    /// The `error` event of this failure.
    fn event(&self) -> Event {
        Event::from(ErrorEvent {
            error: self.to_string(),
            exit_code: self.kind().code(),
            detail: self.detail(),
        })
    }
}

/// A failure that is its message and kind alone: what the command line meets outside
/// any command's own error (the AWS configuration, the runtime, a run journal that cannot
/// be written, an interrupt), with the error it comes from as its source.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Stop {
    pub kind: ExitKind,
    pub message: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Stop {
    pub fn new(kind: ExitKind, message: impl Into<String>) -> Stop {
        Stop {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// The same, caused by `source`.
    pub fn with_source(
        kind: ExitKind,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Stop {
        Stop {
            source: Some(Box::new(source)),
            ..Stop::new(kind, message)
        }
    }

    /// The user stopped the command (SIGINT, SIGTERM or SIGHUP).
    pub fn interrupted() -> Stop {
        Stop::new(ExitKind::Interrupted, "interrupted")
    }
}

impl Failure for Stop {
    fn kind(&self) -> ExitKind {
        self.kind
    }
}

/// An error type with a variant for a failed AWS call in a named phase.
pub trait FromAws: Sized {
    fn from_aws(phase: &'static str, source: crate::aws::AwsError) -> Self;

    /// `map_err(E::aws("launch"))`: the AWS error as the source of this phase's error.
    fn aws(phase: &'static str) -> impl Fn(crate::aws::AwsError) -> Self {
        move |source| Self::from_aws(phase, source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_documented_code() {
        let codes = [ExitKind::Failed, ExitKind::Usage, ExitKind::Interrupted].map(ExitKind::code);
        assert_eq!(codes, [1, 2, 130]);
    }

    #[test]
    fn the_worst_ending_wins() {
        use ExitKind::*;
        assert_eq!(ExitKind::worst(&[Ok(()), Ok(())]), Ok(()));
        assert_eq!(
            ExitKind::worst(&[Ok(()), Err(Usage), Err(Failed)]),
            Err(Failed)
        );
        assert_eq!(
            ExitKind::worst(&[Err(Failed), Err(Interrupted), Ok(())]),
            Err(Interrupted)
        );
        assert_eq!(ExitKind::worst(&[Ok(()), Err(Usage)]), Err(Usage));
        assert_eq!(ExitKind::worst(&[]), Ok(()));
    }

    #[test]
    fn the_error_event_carries_the_code_of_the_kind() {
        let json = Stop::new(ExitKind::Usage, "bad").event().to_json();
        assert_eq!(json["event"], "error");
        assert_eq!(json["error"], "bad");
        assert_eq!(json["exit_code"], 2);
    }
}
