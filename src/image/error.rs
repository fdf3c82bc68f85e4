//! What a command that only removes and looks up fails with (`prune`, `sweep`).

use crate::aws::AwsError;
use crate::error::{ExitKind, Failure, FromAws};

/// An AWS call failed in a phase (exit 1). The message is the call's whole chain; the
/// phase is in the JSON `error` event.
#[derive(Debug, thiserror::Error)]
#[error("{}", .source.chain())]
pub struct CallFailed {
    pub phase: &'static str,
    #[source]
    pub source: AwsError,
}

impl Failure for CallFailed {
    fn kind(&self) -> ExitKind {
        ExitKind::Failed
    }

    fn detail(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut detail = serde_json::Map::new();
        detail.insert("phase".into(), self.phase.into());
        detail
    }
}

impl FromAws for CallFailed {
    fn from_aws(phase: &'static str, source: AwsError) -> CallFailed {
        CallFailed { phase, source }
    }
}
