//! The limits an image's scan must keep, in the terms of EC2's Allowed AMIs scan-result
//! condition (`MaximumSeverityLabel`, `MaxDaysSince<Severity>FixAvailable`, the scan's age),
//! and the judgement of a summary against them.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::{ScanSummary, Severity, parse_time};

const DAY: u64 = 86_400;

/// What a scan must keep to pass.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScanLimits {
    /// Any finding above this fails, fix or not; `None`: no limit.
    pub max_severity: Option<Severity>,
    /// Per severity: a fix available for longer than this many days fails.
    pub max_days_since_fix: BTreeMap<Severity, u32>,
    /// The promotion gate's: a scan older than this fails; `None`: any age.
    pub max_scan_age: Option<Duration>,
}

/// One limit a scan broke, and by how much.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "limit", rename_all = "snake_case")]
pub enum Violation {
    /// Findings of `severity`, above `max_severity`.
    Severity {
        max_severity: Severity,
        severity: Severity,
        /// How many; `None` when only the image's `ScanResults` said so.
        count: Option<u32>,
    },
    /// A fix for a finding of `severity` has been available for `days` (since `since`),
    /// past `max_days`.
    FixAge {
        severity: Severity,
        max_days: u32,
        days: u64,
        since: String,
    },
    /// The scan is `age_days` old, past `max_days` (promotion).
    ScanAge {
        max_days: u64,
        age_days: u64,
        scanned_at: String,
    },
    /// A limit needs the scan's date and the scan has none (or an unreadable one).
    NoScanDate,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::Severity {
                max_severity,
                severity,
                count,
            } => {
                let n = count.map_or("some".to_string(), |n| n.to_string());
                write!(
                    f,
                    "{n} {severity} finding(s), above `max_severity: {max_severity}`"
                )
            }
            Violation::FixAge {
                severity,
                max_days,
                days,
                since,
            } => write!(
                f,
                "a fix for a {severity} finding has been available for {days} day(s) (since \
                 {since}), {} past `max_days_since_fix.{severity}: {max_days}`",
                plural_days(days.saturating_sub(u64::from(*max_days)).max(1))
            ),
            Violation::ScanAge {
                max_days,
                age_days,
                scanned_at,
            } => write!(
                f,
                "the scan is {age_days} day(s) old (scanned {scanned_at}), {} past \
                 `max_scan_age: {max_days}d`",
                plural_days(age_days.saturating_sub(*max_days).max(1))
            ),
            Violation::NoScanDate => f.write_str(
                "the scan has no date: its age cannot be checked (scan the image again)",
            ),
        }
    }
}

fn plural_days(n: u64) -> String {
    if n == 1 {
        "1 day".into()
    } else {
        format!("{n} days")
    }
}

impl ScanLimits {
    /// Every limit `summary` breaks at `now`; empty when it passes.
    ///
    /// A fix-age limit of `N` days fails once a fix has been available for more than `N`
    /// whole days' time (so `0` fails on any fix available at all, as Allowed AMIs reads
    /// it); a date in the future counts as now.
    pub fn judge(&self, summary: &ScanSummary, now: SystemTime) -> Vec<Violation> {
        let mut found = Vec::new();
        if let Some(max) = self.max_severity {
            for severity in Severity::ALL.into_iter().rev().filter(|s| *s > max) {
                let count = summary.count(severity);
                if count > 0 {
                    found.push(Violation::Severity {
                        max_severity: max,
                        severity,
                        count: Some(count),
                    });
                } else if summary.highest == Some(severity) {
                    found.push(Violation::Severity {
                        max_severity: max,
                        severity,
                        count: None,
                    });
                }
            }
        }
        for (severity, max_days) in self.max_days_since_fix.iter().rev() {
            let Some(since) = summary.fix_available_since.get(severity) else {
                continue;
            };
            // An unreadable date is as old as can be: failing closed is the safe side.
            let age = parse_time(since)
                .map_or(Duration::MAX, |t| now.duration_since(t).unwrap_or_default());
            if age > Duration::from_secs(u64::from(*max_days) * DAY) {
                found.push(Violation::FixAge {
                    severity: *severity,
                    max_days: *max_days,
                    days: age.as_secs() / DAY,
                    since: since.clone(),
                });
            }
        }
        if let Some(max_age) = self.max_scan_age {
            match summary
                .scanned_at
                .as_deref()
                .and_then(|at| Some((at, parse_time(at)?)))
            {
                None => found.push(Violation::NoScanDate),
                Some((at, t)) => {
                    let age = now.duration_since(t).unwrap_or_default();
                    if age > max_age {
                        found.push(Violation::ScanAge {
                            max_days: max_age.as_secs().div_ceil(DAY),
                            age_days: age.as_secs() / DAY,
                            scanned_at: at.to_string(),
                        });
                    }
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::Finding;

    fn at(s: &str) -> SystemTime {
        parse_time(s).expect("a time")
    }

    fn summary(findings: &[Severity]) -> ScanSummary {
        let findings: Vec<Finding> = findings
            .iter()
            .map(|s| Finding::new("CVE-1 - p", Some(*s), true, None))
            .collect();
        let mut s = ScanSummary::from_findings(&findings);
        s.scanned_at = Some("2026-12-01T00:00:00Z".into());
        s
    }

    #[test]
    fn findings_above_max_severity_fail_and_say_how_many() {
        let limits = ScanLimits {
            max_severity: Some(Severity::Medium),
            ..ScanLimits::default()
        };
        let now = at("2026-12-06T00:00:00Z");
        assert!(
            limits
                .judge(&summary(&[Severity::Medium, Severity::Low]), now)
                .is_empty()
        );
        let found = limits.judge(
            &summary(&[Severity::Critical, Severity::High, Severity::High]),
            now,
        );
        assert_eq!(
            found,
            [
                Violation::Severity {
                    max_severity: Severity::Medium,
                    severity: Severity::Critical,
                    count: Some(1)
                },
                Violation::Severity {
                    max_severity: Severity::Medium,
                    severity: Severity::High,
                    count: Some(2)
                },
            ]
        );
        assert_eq!(
            found[1].to_string(),
            "2 high finding(s), above `max_severity: medium`"
        );
    }

    #[test]
    fn a_stated_highest_without_counts_still_fails() {
        let limits = ScanLimits {
            max_severity: Some(Severity::High),
            ..ScanLimits::default()
        };
        let s = ScanSummary {
            highest: Some(Severity::Critical),
            ..ScanSummary::default()
        };
        let found = limits.judge(&s, SystemTime::now());
        assert!(
            matches!(found[..], [Violation::Severity { count: None, .. }]),
            "{found:?}"
        );
    }

    #[test]
    fn a_fix_available_longer_than_the_limit_fails_and_zero_means_any() {
        let limits = ScanLimits {
            max_days_since_fix: [(Severity::Critical, 0), (Severity::High, 14)].into(),
            ..ScanLimits::default()
        };
        let mut s = summary(&[Severity::High, Severity::Critical]);
        s.fix_available_since = [
            (Severity::High, "2026-11-25T00:00:00Z".to_string()),
            (Severity::Critical, "2026-12-05T23:00:00Z".to_string()),
        ]
        .into();
        // High: 11 days, within 14; critical: one hour, past 0.
        let found = limits.judge(&s, at("2026-12-06T00:00:00Z"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(matches!(
            found[0],
            Violation::FixAge {
                severity: Severity::Critical,
                days: 0,
                ..
            }
        ));
        // High: 20 days, 6 past 14.
        let found = limits.judge(&s, at("2026-12-15T00:00:00Z"));
        let high = found
            .iter()
            .find(|v| {
                matches!(
                    v,
                    Violation::FixAge {
                        severity: Severity::High,
                        ..
                    }
                )
            })
            .expect("high fails");
        assert!(high.to_string().contains("20 day(s)"), "{high}");
        assert!(
            high.to_string()
                .contains("6 days past `max_days_since_fix.high: 14`"),
            "{high}"
        );
    }

    #[test]
    fn no_fix_available_passes_every_fix_age_limit_and_an_unreadable_date_fails() {
        let limits = ScanLimits {
            max_days_since_fix: [(Severity::Critical, 0)].into(),
            ..ScanLimits::default()
        };
        let mut s = summary(&[Severity::Critical]);
        assert!(limits.judge(&s, SystemTime::now()).is_empty());
        s.fix_available_since = [(Severity::Critical, "yesterday".to_string())].into();
        assert_eq!(limits.judge(&s, SystemTime::now()).len(), 1);
    }

    #[test]
    fn a_scan_older_than_max_scan_age_fails_and_one_without_a_date_too() {
        let limits = ScanLimits {
            max_scan_age: Some(Duration::from_secs(7 * DAY)),
            ..ScanLimits::default()
        };
        let s = summary(&[]);
        assert!(limits.judge(&s, at("2026-12-08T00:00:00Z")).is_empty());
        let found = limits.judge(&s, at("2026-12-10T00:00:00Z"));
        assert_eq!(
            found,
            [Violation::ScanAge {
                max_days: 7,
                age_days: 9,
                scanned_at: "2026-12-01T00:00:00Z".into()
            }]
        );
        assert!(
            found[0]
                .to_string()
                .contains("2 days past `max_scan_age: 7d`")
        );
        let undated = ScanSummary::default();
        assert_eq!(
            limits.judge(&undated, SystemTime::now()),
            [Violation::NoScanDate]
        );
    }

    #[test]
    fn no_limits_pass_anything() {
        let s = summary(&[Severity::Critical]);
        assert!(
            ScanLimits::default()
                .judge(&s, SystemTime::now())
                .is_empty()
        );
    }
}
