//! One vulnerability Inspector found in an image (ec2 `GetImageFindings`), read
//! defensively: its title is text a scanner wrote, not structure we trust.

use serde::{Deserialize, Serialize};

use super::Severity;

/// The longest title, id or package name kept: a finding is shown in one line of an
/// error, and a hostile or broken answer must not make that line a megabyte.
const MAX_TEXT: usize = 200;
/// The most packages kept from one title.
const MAX_PACKAGES: usize = 20;

/// A finding, as amibake reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The vulnerability id the title starts with (`CVE-2026-1234`, `GHSA-…`), when it
    /// has one.
    pub id: Option<String>,
    /// The packages the title names after ` - ` (`openssl`, `libssl3`).
    pub packages: Vec<String>,
    /// `None` for a label this version does not know.
    pub severity: Option<Severity>,
    pub fix_available: bool,
    /// Inspector's score (CVSS based), when it gave one.
    pub score: Option<f64>,
    /// The title as Inspector wrote it (cut to 200 characters).
    pub title: String,
}

impl Finding {
    /// Reads one ec2 `ImageFinding`.
    pub fn from_ec2(f: &aws_sdk_ec2::types::ImageFinding) -> Finding {
        Finding::new(
            f.title().unwrap_or_default(),
            f.severity_label()
                .and_then(|s| Severity::from_label(s.as_str())),
            f.fix_available().unwrap_or(false),
            f.score(),
        )
    }

    /// A finding from its title and attributes; the id and packages come from the title.
    pub fn new(
        title: &str,
        severity: Option<Severity>,
        fix_available: bool,
        score: Option<f64>,
    ) -> Finding {
        let (id, packages) = parse_title(title);
        Finding {
            id,
            packages,
            severity,
            fix_available,
            score: score.filter(|s| s.is_finite()),
            title: cut(title.trim()),
        }
    }

    /// `CVE-2026-1234 (critical, fix available) openssl, libssl3`: one line of a report.
    pub fn line(&self) -> String {
        let severity = self.severity.map_or("unknown severity", Severity::as_str);
        let fix = if self.fix_available {
            "fix available"
        } else {
            "no fix yet"
        };
        let what = match (&self.id, self.packages.is_empty()) {
            (Some(id), false) => format!("{id} in {}", self.packages.join(", ")),
            (Some(id), true) => id.clone(),
            (None, _) => self.title.clone(),
        };
        format!("{what} ({severity}, {fix})")
    }
}

/// The id and packages of an Inspector title, `"CVE-2026-1234 - openssl, libssl3"`. A
/// title of another shape keeps both empty (the title itself still says what it is).
pub fn parse_title(title: &str) -> (Option<String>, Vec<String>) {
    let Some((id, rest)) = title.trim().split_once(" - ") else {
        return (None, Vec::new());
    };
    let id = id.trim();
    let plausible = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    if !plausible {
        return (None, Vec::new());
    }
    let packages = rest
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .take(MAX_PACKAGES)
        .map(cut)
        .collect();
    (Some(id.to_string()), packages)
}

/// The `n` worst findings: highest severity first, then those with a fix, then the
/// highest score.
pub fn worst(findings: &[Finding], n: usize) -> Vec<Finding> {
    let mut sorted: Vec<&Finding> = findings.iter().collect();
    sorted.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(b.fix_available.cmp(&a.fix_available))
            .then(b.score.unwrap_or(0.0).total_cmp(&a.score.unwrap_or(0.0)))
    });
    sorted.into_iter().take(n).cloned().collect()
}

/// Text from a finding as data: cut to [`MAX_TEXT`] characters, control characters (a
/// terminal's escapes among them) shown as `?`.
fn cut(s: &str) -> String {
    s.chars()
        .take(MAX_TEXT)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inspector_title_gives_the_cve_and_its_packages() {
        let (id, packages) = parse_title("CVE-2026-1234 - openssl, libssl3");
        assert_eq!(id.as_deref(), Some("CVE-2026-1234"));
        assert_eq!(packages, ["openssl", "libssl3"]);
    }

    #[test]
    fn a_title_of_another_shape_gives_nothing_rather_than_a_guess() {
        assert_eq!(parse_title("openssl is out of date"), (None, vec![]));
        assert_eq!(parse_title(" - openssl"), (None, vec![]));
        assert_eq!(parse_title("two words - openssl"), (None, vec![]));
        let (id, packages) = parse_title("GHSA-abcd-1234 -  , ,");
        assert_eq!((id.as_deref(), packages.len()), (Some("GHSA-abcd-1234"), 0));
    }

    #[test]
    fn terminal_escapes_in_a_title_are_shown_not_obeyed() {
        let f = Finding::new(
            "CVE-2026-7 - ev\u{1b}[2Jil, libx\u{7}",
            Some(Severity::High),
            true,
            None,
        );
        assert!(!f.title.chars().any(char::is_control), "{:?}", f.title);
        assert!(!f.line().chars().any(char::is_control), "{:?}", f.line());
        assert!(
            f.packages.iter().all(|p| !p.chars().any(char::is_control)),
            "{:?}",
            f.packages
        );
    }

    #[test]
    fn a_huge_title_is_cut() {
        let title = format!("CVE-1 - {}", "p,".repeat(100_000));
        let f = Finding::new(&title, Some(Severity::Low), false, Some(f64::NAN));
        assert_eq!(f.title.chars().count(), 200);
        assert_eq!(f.packages.len(), 20);
        assert_eq!(f.score, None);
    }

    #[test]
    fn the_worst_come_first_by_severity_then_fix_then_score() {
        let f = |t: &str, s, fix, score| Finding::new(t, s, fix, Some(score));
        let all = [
            f("CVE-1 - a", Some(Severity::High), false, 9.0),
            f("CVE-2 - b", Some(Severity::Critical), false, 9.0),
            f("CVE-3 - c", Some(Severity::High), true, 7.0),
            f("CVE-4 - d", None, true, 10.0),
            f("CVE-5 - e", Some(Severity::High), true, 8.0),
        ];
        let ids: Vec<_> = worst(&all, 4).into_iter().filter_map(|f| f.id).collect();
        assert_eq!(ids, ["CVE-2", "CVE-5", "CVE-3", "CVE-1"]);
    }

    #[test]
    fn a_line_names_cve_packages_severity_and_fix() {
        let f = Finding::new(
            "CVE-2026-1 - openssl, libssl3",
            Some(Severity::Critical),
            true,
            None,
        );
        assert_eq!(
            f.line(),
            "CVE-2026-1 in openssl, libssl3 (critical, fix available)"
        );
    }
}
