//! What a scan found, in short: counts by severity, the highest, the scan's date, and since
//! when a fix has been available per severity (EC2's `ScanResults` on the image).
//!
//! This is what the manifest, the bake's events, the `amibake:scan` tag and the promotion
//! gate carry; the findings themselves are only reported when a limit fails.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::{Finding, Severity};

/// A scan's summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanSummary {
    /// When Inspector scanned the image (RFC 3339), from its `ScanResults`.
    pub scanned_at: Option<String>,
    /// The highest severity of any finding; `None` when nothing was found.
    pub highest: Option<Severity>,
    /// Findings by severity, every severity listed (0 when none).
    pub counts: BTreeMap<Severity, u32>,
    /// Per severity, since when the oldest fix-available finding has had its fix (RFC
    /// 3339); absent when no finding of that severity has a fix.
    pub fix_available_since: BTreeMap<Severity, String>,
}

impl ScanSummary {
    /// The summary of an image's ec2 `ScanResults` and its findings (the counts).
    pub fn from_ec2(
        results: Option<&aws_sdk_ec2::types::ScanResults>,
        findings: &[Finding],
    ) -> ScanSummary {
        let mut summary = ScanSummary::from_findings(findings);
        let Some(r) = results else {
            return summary;
        };
        summary.scanned_at = r.finding_scan_date().and_then(rfc3339);
        let stated = r
            .highest_finding_severity_label()
            .and_then(|s| Severity::from_label(s.as_str()));
        summary.highest = summary.highest.max(stated);
        let since = [
            (
                Severity::Informational,
                r.informational_fix_available_since(),
            ),
            (Severity::Low, r.low_fix_available_since()),
            (Severity::Medium, r.medium_fix_available_since()),
            (Severity::High, r.high_fix_available_since()),
            (Severity::Critical, r.critical_fix_available_since()),
        ];
        summary.fix_available_since = since
            .into_iter()
            .filter_map(|(s, at)| Some((s, at.and_then(rfc3339)?)))
            .collect();
        summary
    }

    /// Counts and highest severity of `findings` (no date: the image's `ScanResults` have it).
    pub fn from_findings(findings: &[Finding]) -> ScanSummary {
        let mut counts: BTreeMap<Severity, u32> = Severity::ALL.iter().map(|s| (*s, 0)).collect();
        for s in findings.iter().filter_map(|f| f.severity) {
            *counts.entry(s).or_default() += 1;
        }
        ScanSummary {
            scanned_at: None,
            highest: findings.iter().filter_map(|f| f.severity).max(),
            counts,
            fix_available_since: BTreeMap::new(),
        }
    }

    /// The number of findings of `severity` (0 when none were counted).
    pub fn count(&self, severity: Severity) -> u32 {
        self.counts.get(&severity).copied().unwrap_or(0)
    }

    /// The value of the `amibake:scan` tag: `critical=0 high=1 medium=2 low=0
    /// informational=0 highest=high at=2026-12-06T10:00:00Z` (only characters every AWS
    /// service allows in a tag value, at most ~110 of the 256).
    pub fn tag_value(&self) -> String {
        let mut parts: Vec<String> = Severity::ALL
            .iter()
            .rev()
            .map(|s| format!("{s}={}", self.count(*s)))
            .collect();
        parts.push(format!(
            "highest={}",
            self.highest.map_or("none", Severity::as_str)
        ));
        if let Some(at) = &self.scanned_at {
            parts.push(format!("at={at}"));
        }
        parts.join(" ")
    }

    /// Reads a [`ScanSummary::tag_value`] back (without the fix dates, which the tag does
    /// not carry); `None` when it is not one.
    pub fn from_tag_value(value: &str) -> Option<ScanSummary> {
        let mut summary = ScanSummary::default();
        let mut saw_highest = false;
        for part in value.split_whitespace() {
            let (key, v) = part.split_once('=')?;
            match key {
                "highest" => {
                    saw_highest = true;
                    summary.highest = match v {
                        "none" => None,
                        v => Some(Severity::from_label(v)?),
                    }
                }
                "at" => summary.scanned_at = Some(v.to_string()),
                key => {
                    summary
                        .counts
                        .insert(Severity::from_label(key)?, v.parse().ok()?);
                }
            }
        }
        saw_highest.then_some(summary)
    }

    /// `0 critical, 1 high, 2 medium, 0 low, 0 informational; highest high; scanned 2026-…`:
    /// the summary in a sentence.
    pub fn line(&self) -> String {
        let counts: Vec<String> = Severity::ALL
            .iter()
            .rev()
            .map(|s| format!("{} {s}", self.count(*s)))
            .collect();
        let mut line = format!(
            "{}; highest {}",
            counts.join(", "),
            self.highest.map_or("none", Severity::as_str)
        );
        if let Some(at) = &self.scanned_at {
            line.push_str(&format!("; scanned {at}"));
        }
        line
    }
}

/// An AWS time as amibake writes times.
fn rfc3339(t: &aws_smithy_types::DateTime) -> Option<String> {
    SystemTime::try_from(*t).ok().map(crate::run::rfc3339)
}

/// An RFC 3339 time as a clock reading; `None` when it is not one.
pub fn parse_time(s: &str) -> Option<SystemTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(SystemTime::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{ScanResults, SeverityLabel};
    use aws_smithy_types::DateTime;

    fn finding(sev: Severity) -> Finding {
        Finding::new("CVE-1 - p", Some(sev), true, None)
    }

    #[test]
    fn the_summary_reads_scan_results_and_counts_the_findings() {
        let results = ScanResults::builder()
            .highest_finding_severity_label(SeverityLabel::High)
            .finding_scan_date(DateTime::from_secs(1_796_000_000))
            .high_fix_available_since(DateTime::from_secs(1_795_000_000))
            .build();
        let findings = [
            finding(Severity::High),
            finding(Severity::Low),
            finding(Severity::Low),
        ];
        let s = ScanSummary::from_ec2(Some(&results), &findings);
        assert_eq!(s.highest, Some(Severity::High));
        assert_eq!(
            (s.count(Severity::Low), s.count(Severity::Critical)),
            (2, 0)
        );
        assert_eq!(s.counts.len(), 5);
        assert_eq!(s.scanned_at.as_deref(), Some("2026-11-30T00:53:20Z"));
        assert_eq!(
            s.fix_available_since
                .get(&Severity::High)
                .map(String::as_str),
            Some("2026-11-18T11:06:40Z")
        );
    }

    #[test]
    fn a_stated_highest_above_the_findings_read_wins() {
        let results = ScanResults::builder()
            .highest_finding_severity_label(SeverityLabel::Critical)
            .build();
        let s = ScanSummary::from_ec2(Some(&results), &[finding(Severity::Low)]);
        assert_eq!(s.highest, Some(Severity::Critical));
    }

    #[test]
    fn the_tag_value_reads_back_and_fits_a_tag() {
        let mut s = ScanSummary::from_findings(&[finding(Severity::High)]);
        s.scanned_at = Some("2026-12-06T10:00:00Z".into());
        let tag = s.tag_value();
        assert_eq!(
            tag,
            "critical=0 high=1 medium=0 low=0 informational=0 highest=high at=2026-12-06T10:00:00Z"
        );
        assert!(tag.len() <= 256);
        assert_eq!(ScanSummary::from_tag_value(&tag), Some(s));
        assert_eq!(ScanSummary::from_tag_value("highest=severe"), None);
        assert_eq!(ScanSummary::from_tag_value("garbage"), None);
        let clean = ScanSummary::from_findings(&[]);
        assert_eq!(ScanSummary::from_tag_value(&clean.tag_value()), Some(clean));
    }
}
