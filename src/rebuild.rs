//! Why `bake --if-changed` rebuilt or not: the decision every such run reports (the
//! `rebuild_decision` event, the manifest's `rebuild`), whichever source made it — the
//! input hash, the newest image's scan results, or the update probe.
//!
//! The decision is data the walk hands on; what leads to it lives with the walk
//! (`bake/probe.rs`), what the plan promises (the policy, the probe's actions) in
//! `plan/probe.rs`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::scan::Finding;
use crate::script::PendingUpdate;

/// Why the run rebuilt, or did not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// No image of the recipe has these inputs (rendered recipe, source AMI, amibake's
    /// major version) in every region.
    InputsChanged,
    /// The probe found updates pending that the policy rebuilds for.
    UpdatesPending,
    /// The newest image's scan results hold fix-available findings at or above
    /// `rebuild.fix_severity`.
    ScanFixAvailable,
    /// Nothing to do: the newest image is reused.
    Current,
    /// `--force`: rebuilt without looking.
    Forced,
    /// The recipe has no image yet.
    NoPreviousImage,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::InputsChanged => "inputs-changed",
            Reason::UpdatesPending => "updates-pending",
            Reason::ScanFixAvailable => "scan-fix-available",
            Reason::Current => "current",
            Reason::Forced => "forced",
            Reason::NoPreviousImage => "no-previous-image",
        }
    }

    /// Whether the run goes on to bake.
    pub fn rebuilds(self) -> bool {
        self != Reason::Current
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The decision of one `--if-changed` run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub reason: Reason,
    /// The newest image of the recipe (home region) the decision looked at, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The pending updates the probe named (security ones first): those a rebuild picks
    /// up, or, when current, those the policy does not rebuild for.
    #[serde(default)]
    pub updates: Vec<PendingUpdate>,
    /// `scan-fix-available`: the findings with a fix at or above the severity asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// The sentence that says why.
    pub why: String,
}

impl Decision {
    pub fn new(reason: Reason, image: Option<&str>, why: String) -> Decision {
        Decision {
            reason,
            image: image.map(str::to_string),
            updates: Vec::new(),
            findings: Vec::new(),
            why,
        }
    }
}

/// How many updates or findings a line names before "and N more".
const SHOWN: usize = 10;

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            Reason::Current => write!(f, "current: {}", self.why)?,
            reason => write!(f, "rebuild ({reason}): {}", self.why)?,
        }
        for u in self.updates.iter().take(SHOWN) {
            let kind = if u.security { "security" } else { "other" };
            write!(
                f,
                "\n  {} {} → {} ({kind})",
                u.package, u.installed, u.candidate
            )?;
        }
        for finding in self.findings.iter().take(SHOWN) {
            write!(f, "\n  {}", finding.line())?;
        }
        let more =
            self.updates.len().saturating_sub(SHOWN) + self.findings.len().saturating_sub(SHOWN);
        if more > 0 {
            write!(f, "\n  and {more} more")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_each_update_and_whether_it_is_a_security_one() {
        let mut d = Decision::new(Reason::UpdatesPending, Some("ami-1"), "2 pending".into());
        d.updates.push(PendingUpdate {
            package: "libssl3".into(),
            installed: "1".into(),
            candidate: "2".into(),
            security: true,
            release: false,
        });
        let line = d.to_string();
        assert!(
            line.starts_with("rebuild (updates-pending): 2 pending"),
            "{line}"
        );
        assert!(line.contains("libssl3 1 → 2 (security)"), "{line}");
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["reason"], "updates-pending");
        assert_eq!(json["updates"][0]["security"], true);
    }
}
