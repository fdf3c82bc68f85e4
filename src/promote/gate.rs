//! The scan gate: an environment the recipe lists in `image.scan.require_for` takes only
//! an image whose Inspector scan exists, is recent enough (`max_scan_age`) and keeps the
//! environment's limits. The survey reads the scan the home image has (its `ScanResults`
//! and findings, through EC2); the plan refuses before anything changes when it is missing,
//! too old or over the limit. `--rescan` scans the image first and judges the new scan.
//!
//! Only the home region's image is judged: a copy is the same image (Inspector scans
//! what the snapshots hold), and the gate must not depend on which regions were asked for.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::aws::Aws;
use crate::aws::poll::Schedule;
use crate::error::FromAws;
use crate::image::{self, ScanError, Scanned};
use crate::report::Reporter;
use crate::scan::{Finding, ScanLimits, ScanSummary, Violation, worst};

use super::{PromoteError, PromoteEvent, PromoteRequest};

/// How many findings a refusal lists.
const WORST_SHOWN: usize = 10;

/// The environment's requirement, from the recipe: its limits and the rescan's wait.
#[derive(Debug, Clone)]
pub(super) struct Requirement {
    pub limits: ScanLimits,
    pub timeout: Duration,
}

/// The gate as the plan shows it: the limits, the scan the image has and what it breaks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanGate {
    pub limits: ScanLimits,
    /// The scan the home image has now (`None`: never scanned).
    pub found: Option<ScanSummary>,
    /// Each limit the scan breaks, in words (empty: it passes).
    pub violations: Vec<String>,
    /// The worst findings of a scan that breaks a limit (CVE, packages, severity, fix).
    pub worst: Vec<String>,
    /// `--rescan`: the image is scanned again first and the new scan judged.
    pub rescan: bool,
    #[serde(skip)]
    pub(super) timeout: Duration,
    /// Every limit broken is the scan's age (or its missing date): a new scan may pass.
    #[serde(skip)]
    age_only: bool,
}

impl ScanGate {
    /// Reads the scan the home image has and judges it (reads only).
    pub(super) async fn survey(
        aws: &Aws,
        req: &PromoteRequest,
        region: &str,
        ami: &str,
        requirement: Requirement,
    ) -> Result<ScanGate, PromoteError> {
        let ec2c = aws.ec2(region).map_err(PromoteError::aws("scan"))?;
        let found = image::read_scan(&ec2c, ami)
            .await
            .map_err(PromoteError::aws("scan"))?;
        let mut gate = ScanGate {
            limits: requirement.limits,
            found: None,
            violations: Vec::new(),
            worst: Vec::new(),
            rescan: req.rescan,
            timeout: requirement.timeout,
            age_only: false,
        };
        if let Some(scanned) = found {
            gate.judge(scanned);
        }
        Ok(gate)
    }

    /// Takes `scanned` as the image's scan and judges it now.
    fn judge(&mut self, scanned: Scanned) {
        let violations = self.limits.judge(&scanned.summary, SystemTime::now());
        self.worst = if violations.is_empty() {
            Vec::new()
        } else {
            worst(&scanned.findings, WORST_SHOWN)
                .iter()
                .map(Finding::line)
                .collect()
        };
        self.age_only = violations
            .iter()
            .all(|v| matches!(v, Violation::ScanAge { .. } | Violation::NoScanDate));
        self.violations = violations.iter().map(ToString::to_string).collect();
        self.found = Some(scanned.summary);
    }

    /// Why the gate stops the promotion of `ami` to `env`; `None` when the scan passes —
    /// or, with `--rescan`, until the new scan is judged.
    pub(super) fn refusal(&self, ami: &str, env: &str) -> Option<PromoteError> {
        if self.rescan {
            return None;
        }
        self.verdict(ami, env)
    }

    fn verdict(&self, ami: &str, env: &str) -> Option<PromoteError> {
        let Some(found) = &self.found else {
            return Some(PromoteError::ScanGate {
                ami: ami.to_string(),
                env: env.to_string(),
                problem: "Inspector has not scanned it".into(),
                fix: "scan it first: rerun with --rescan".into(),
                scan: None,
                worst: Vec::new(),
            });
        };
        if self.violations.is_empty() {
            return None;
        }
        Some(PromoteError::ScanGate {
            ami: ami.to_string(),
            env: env.to_string(),
            problem: format!(
                "its scan ({}) breaks {env}'s limits: {}",
                found.line(),
                self.violations.join("; ")
            ),
            fix: if self.age_only {
                "scan it again: rerun with --rescan".into()
            } else {
                "bake a new image that picks up the fixes (`amibake bake`), then promote \
                 that; or change image.scan.require_for in the recipe"
                    .into()
            },
            scan: Some(found.clone()),
            worst: self.worst.clone(),
        })
    }

    /// `--rescan`: scans the image again, judges the new scan and refuses (nothing else
    /// changed) when it does not pass.
    pub(super) async fn rescan(
        &mut self,
        aws: &Aws,
        req: &PromoteRequest,
        region: &str,
        ami: &str,
        reporter: &Reporter,
    ) -> Result<(), PromoteError> {
        // A new token per promote: a rescan must not find an earlier run's scan.
        let token = format!(
            "amibake-promote-{}-{ami}",
            crate::run::new_run_id(time::OffsetDateTime::now_utc())
        );
        let schedule = Schedule::IMAGE.scaled(req.poll_scale);
        let scanned = image::scan_image(aws, region, ami, &token, schedule, self.timeout, |s| {
            reporter.say(s)
        })
        .await
        .map_err(|e| match e {
            ScanError::Timeout { scan_id, after, .. } => PromoteError::Timeout {
                what: format!("Inspector's scan {scan_id} of {ami}"),
                after,
                hint: "nothing was changed; raise `image.scan.timeout` or look at the scan \
                       in the Inspector console"
                    .into(),
            },
            ScanError::Failed { image, reason } => PromoteError::ScanFailed { image, reason },
            ScanError::Aws(e) => PromoteError::from_aws("scan", e),
        })?;
        self.judge(scanned);
        self.rescan = false;
        match self.verdict(ami, &req.env) {
            Some(refused) => Err(refused),
            None => Ok(()),
        }
    }

    /// The gate in a line: what it needs, what the image has.
    pub fn summary(&self) -> String {
        let mut needs = Vec::new();
        if let Some(max) = self.limits.max_severity {
            needs.push(format!("max_severity {max}"));
        }
        for (severity, days) in self.limits.max_days_since_fix.iter().rev() {
            needs.push(format!("{severity} fixes within {days} day(s)"));
        }
        if let Some(age) = self.limits.max_scan_age {
            needs.push(format!(
                "a scan at most {} day(s) old",
                age.as_secs() / 86_400
            ));
        }
        let has = match (&self.found, self.violations.is_empty()) {
            (None, _) => "the image has no scan".to_string(),
            (Some(found), true) => format!("passes ({})", found.line()),
            (Some(found), false) => {
                format!("fails ({}): {}", found.line(), self.violations.join("; "))
            }
        };
        let rescan = if self.rescan {
            "; --rescan: the image is scanned again and the new scan judged"
        } else {
            ""
        };
        format!("needs {}; {has}{rescan}", needs.join(", "))
    }

    /// The `scan` event: the scan the gate judged, and that it passed.
    pub(super) fn event(&self, ami: &str, env: &str) -> Option<PromoteEvent> {
        Some(PromoteEvent::Scan {
            ami: ami.to_string(),
            env: env.to_string(),
            summary: self.found.clone()?,
            limits: self.limits.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::Severity;

    fn gate(max_severity: Option<Severity>, max_age_days: u64) -> ScanGate {
        ScanGate {
            limits: ScanLimits {
                max_severity,
                max_days_since_fix: Default::default(),
                max_scan_age: Some(Duration::from_secs(max_age_days * 86_400)),
            },
            found: None,
            violations: Vec::new(),
            worst: Vec::new(),
            rescan: false,
            timeout: Duration::from_secs(60),
            age_only: false,
        }
    }

    fn scanned(days_ago: u64, findings: Vec<Finding>) -> Scanned {
        let mut summary = ScanSummary::from_findings(&findings);
        let at = SystemTime::now() - Duration::from_secs(days_ago * 86_400);
        summary.scanned_at = Some(crate::run::rfc3339(at));
        Scanned {
            scan_id: String::new(),
            summary,
            findings,
        }
    }

    fn refusal(g: &ScanGate) -> String {
        g.refusal("ami-1", "prod").expect("refused").to_string()
    }

    #[test]
    fn a_missing_scan_is_refused_with_rescan_as_the_fix() {
        let g = gate(None, 7);
        let text = refusal(&g);
        assert!(text.contains("has not scanned it"), "{text}");
        assert!(
            text.contains("fix: scan it first: rerun with --rescan"),
            "{text}"
        );
    }

    #[test]
    fn an_old_clean_scan_asks_for_a_rescan_and_a_failing_one_for_a_new_bake() {
        let mut g = gate(Some(Severity::Medium), 7);
        g.judge(scanned(10, Vec::new()));
        let text = refusal(&g);
        assert!(
            text.contains("10 day(s) old") && text.contains("--rescan"),
            "{text}"
        );

        let critical = Finding::new("CVE-2026-9 - openssl", Some(Severity::Critical), true, None);
        let mut g = gate(Some(Severity::Medium), 7);
        g.judge(scanned(1, vec![critical]));
        let text = refusal(&g);
        assert!(text.contains("bake a new image"), "{text}");
        assert!(text.contains("worst findings:\n  CVE-2026-9"), "{text}");
    }

    #[test]
    fn a_recent_scan_within_the_limits_passes_and_rescan_defers_the_verdict() {
        let low = Finding::new("CVE-2026-1 - zlib", Some(Severity::Low), false, None);
        let mut g = gate(Some(Severity::Medium), 7);
        g.judge(scanned(1, vec![low]));
        assert!(g.refusal("ami-1", "prod").is_none());
        assert!(
            g.summary()
                .starts_with("needs max_severity medium, a scan at most 7 day(s) old; passes")
        );

        let mut g = gate(None, 7);
        g.rescan = true;
        assert!(
            g.refusal("ami-1", "prod").is_none(),
            "decided after the rescan"
        );
    }
}
