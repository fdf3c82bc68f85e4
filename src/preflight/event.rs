//! What the preflight tells the user: one `preflight` event per check.

use std::fmt;

use serde::Serialize;

use crate::event::Said;

use super::Finding;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckState {
    Pass,
    /// The command stops (exit 2) after every check ran.
    Fail,
    /// The check could not be settled (a condition amibake cannot judge, a policy it may
    /// not read): a warning, the command goes on.
    Unknown,
}

/// One check's outcome (`{"event":"preflight","check":"key","region":…,"state":"fail",…}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename = "preflight")]
pub struct PreflightEvent {
    /// `region_enabled` or `key`.
    pub check: &'static str,
    pub region: String,
    /// The key the recipe names; absent for the region's default EBS key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub state: CheckState,
    pub text: String,
    pub fix: Option<String>,
}

impl PreflightEvent {
    pub fn of(f: &Finding) -> PreflightEvent {
        PreflightEvent {
            check: f.check.name(),
            region: f.check.region().to_string(),
            key: match &f.check {
                super::Check::Key { key, .. } => key.clone(),
                _ => None,
            },
            state: f.state,
            text: f.text.clone(),
            fix: f.fix.clone(),
        }
    }

    /// The JSON form, as `--json` prints it (without `at`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

impl fmt::Display for PreflightEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            CheckState::Pass => "ok",
            CheckState::Fail => "FAILED",
            CheckState::Unknown => "warning",
        };
        write!(f, "preflight {state}: {}", self.text)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n  fix: {fix}")?;
        }
        Ok(())
    }
}

impl Said for PreflightEvent {}
