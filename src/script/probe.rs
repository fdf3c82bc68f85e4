//! The update probe: the script a probe instance (launched from the newest image) runs to
//! ask its package manager what is pending, and the reader of what it prints.
//!
//! Both halves of the format live here, so they cannot drift apart. The script prints,
//! on stdout, one tab-separated line per pending update, security ones first:
//!
//! ```text
//! amibake-probe<TAB>counts<TAB>TOTAL<TAB>SECURITY          (first: survives a cut output)
//! amibake-update<TAB>PACKAGE<TAB>INSTALLED<TAB>CANDIDATE<TAB>security|other
//! amibake-release<TAB>system-release<TAB>INSTALLED<TAB>NEWER   (AL2023: a newer release)
//! amibake-probe<TAB>end                                    (last: the list is whole)
//! ```
//!
//! apt: the lists are refreshed (`apt-get update`) and the upgrade simulated
//! (`apt-get -s dist-upgrade`); an update is `security` when its candidate comes from a
//! `*-security` suite or an archive labelled as security. dnf/yum: `updateinfo` lists the
//! security advisories' packages, `check-update` every pending update; on AL2023, whose
//! repositories are locked to a release version, `dnf check-release-update` names a newer
//! release, which carries the fixes: it counts as a security update. The output is read as
//! data: a package name is whatever the field holds, never structure.

use serde::{Deserialize, Serialize};

use crate::recipe::model::Os;

use super::Script;
use super::builder::ScriptBuilder;

/// The first field of the lines the reader looks at.
const PROBE: &str = "amibake-probe";
const UPDATE: &str = "amibake-update";
const RELEASE: &str = "amibake-release";

/// The most updates kept from one output (more is still "pending"; the count says how many).
const MAX_KEPT: usize = 2_000;

/// The probe's script for an OS family.
pub fn probe(os: Os) -> Script {
    let mut s = ScriptBuilder::new("probe: pending updates");
    s.line("out=$(mktemp)");
    s.line("trap 'rm -f \"$out\"' EXIT");
    match os {
        Os::Ubuntu | Os::Debian => apt(&mut s),
        Os::Al2023 | Os::Al2 => rpm(&mut s, os),
    }
    s.mark("report");
    s.lines(&[
        "total=$(grep -c . \"$out\" || true)",
        "security=$(grep -c $'\\tsecurity$' \"$out\" || true)",
        &format!("printf '{PROBE}\\tcounts\\t%s\\t%s\\n' \"$total\" \"$security\""),
        "# security first, so a cut output keeps the ones that matter most",
        "grep $'\\tsecurity$' \"$out\" || true",
        "grep -v $'\\tsecurity$' \"$out\" || true",
        &format!("printf '{PROBE}\\tend\\n'"),
    ]);
    s.finish()
}

fn apt(s: &mut ScriptBuilder) {
    s.line("export DEBIAN_FRONTEND=noninteractive");
    s.mark("refresh the package lists");
    s.line("apt-get update -qq >&2");
    s.mark("simulate the upgrade");
    s.lines(&[
        "# Inst NAME [INSTALLED] (CANDIDATE ORIGIN:VERSION/SUITE[, …] [ARCH]); a new package has no [INSTALLED]",
        "apt-get -s -o Debug::NoLocking=true dist-upgrade | awk '",
        "  $1 == \"Inst\" {",
        "    installed = \"-\"; i = 3",
        "    if (substr($3, 1, 1) == \"[\") { installed = substr($3, 2, length($3) - 2); i = 4 }",
        "    candidate = substr($i, 2); from = \"\"",
        "    for (j = i + 1; j <= NF; j++) from = from \" \" $j",
        "    kind = (from ~ /-security|[Ss]ecurity/) ? \"security\" : \"other\"",
        &format!("    printf \"{UPDATE}\\t%s\\t%s\\t%s\\t%s\\n\", $2, installed, candidate, kind"),
        "  }' >\"$out\"",
    ]);
}

fn rpm(s: &mut ScriptBuilder, os: Os) {
    let (pm, security) = match os {
        Os::Al2 => ("yum", "yum -q updateinfo list security"),
        _ => ("dnf", "dnf -q updateinfo list --updates --security"),
    };
    s.mark("refresh the repository metadata");
    s.line(&format!("{pm} -q makecache >&2"));
    s.mark("security advisories");
    s.lines(&[
        "# ADVISORY SEVERITY NAME-[EPOCH:]VERSION-RELEASE.ARCH: the name without version and release",
        &format!("sec=$({security} | awk 'NF >= 3 {{ print $NF }}' | sed 's/-[^-]*-[^-]*$//' | sort -u)"),
    ]);
    s.mark("pending updates");
    s.lines(&[
        "rc=0",
        &format!("list=$({pm} -q check-update) || rc=$?"),
        "# 100: updates are pending; 0: none; anything else is an error",
        "if [ \"$rc\" -ne 0 ] && [ \"$rc\" -ne 100 ]; then",
        &format!("  echo \"amibake: {pm} check-update failed with exit code $rc\" >&2"),
        "  exit 1",
        "fi",
        "printf '%s\\n' \"$list\" | awk '/^Obsoleting/ { exit } NF == 3 && index($1, \".\") { print $1, $2 }' |",
        "  while read -r name_arch candidate; do",
        "    name=${name_arch%.*}",
        "    installed=$(rpm -q --qf '%{VERSION}-%{RELEASE}\\n' \"$name\" 2>/dev/null | tail -n 1 || true)",
        "    kind=other",
        "    if printf '%s\\n' \"$sec\" | grep -qxF -- \"$name\"; then kind=security; fi",
        &format!("    printf '{UPDATE}\\t%s\\t%s\\t%s\\t%s\\n' \"$name\" \"${{installed:--}}\" \"$candidate\" \"$kind\""),
        "  done >\"$out\"",
    ]);
    if os == Os::Al2023 {
        s.mark("a newer Amazon Linux 2023 release");
        s.lines(&[
            "current=$(rpm -q --qf '%{VERSION}' system-release)",
            "newer=$(dnf check-release-update 2>&1 | grep -o 'releasever=[0-9][0-9.]*' | cut -d= -f2 | sort -V | tail -n 1 || true)",
            "if [ -n \"$newer\" ] && [ \"$newer\" != \"$current\" ]; then",
            &format!("  printf '{RELEASE}\\tsystem-release\\t%s\\t%s\\tsecurity\\n' \"$current\" \"$newer\" >>\"$out\""),
            "fi",
        ]);
    }
}

/// One pending update, as the probe named it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingUpdate {
    pub package: String,
    /// `-` when the upgrade would install it new (a new dependency).
    pub installed: String,
    pub candidate: String,
    /// From a security archive, a security advisory, or a newer AL2023 release.
    pub security: bool,
    /// A newer Amazon Linux 2023 release (`dnf check-release-update`), not a package.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub release: bool,
}

/// What one probe printed, read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeReport {
    /// The updates, security ones first, as printed (at most [`MAX_KEPT`]).
    pub updates: Vec<PendingUpdate>,
    /// The counts line: every pending update, and the security ones.
    pub counts: Option<(u64, u64)>,
    /// Whether the end line came: the list is whole.
    pub complete: bool,
}

impl ProbeReport {
    /// Reads a probe's stdout. Only whole lines count (an output cut mid-line loses its
    /// last one); a line that is not one of the probe's, or not of its shape, is
    /// ignored; fields are data, control characters in them shown as `?`.
    pub fn parse(stdout: &str) -> ProbeReport {
        let whole = match stdout.rfind('\n') {
            Some(i) => &stdout[..i],
            None => "",
        };
        let mut report = ProbeReport::default();
        for line in whole.split('\n') {
            let fields: Vec<&str> = line.trim_end_matches('\r').split('\t').collect();
            match fields.as_slice() {
                [PROBE, "counts", total, security] => {
                    if let (Ok(t), Ok(s)) = (total.parse(), security.parse()) {
                        report.counts = Some((t, s));
                    }
                }
                [PROBE, "end"] => report.complete = true,
                [
                    kind @ (UPDATE | RELEASE),
                    package,
                    installed,
                    candidate,
                    class,
                ] if !package.is_empty()
                    && matches!(*class, "security" | "other")
                    && report.updates.len() < MAX_KEPT =>
                {
                    report.updates.push(PendingUpdate {
                        package: shown(package),
                        installed: shown(installed),
                        candidate: shown(candidate),
                        security: *class == "security",
                        release: *kind == RELEASE,
                    });
                }
                _ => {}
            }
        }
        report
    }

    /// How many updates are pending, and how many of them security ones: the counts line
    /// when it came (it holds those a cut output lost), else the lines read.
    pub fn totals(&self) -> (u64, u64) {
        let read = self.updates.len() as u64;
        let security = self.updates.iter().filter(|u| u.security).count() as u64;
        match self.counts {
            Some((t, s)) => (t.max(read), s.max(security)),
            None => (read, security),
        }
    }
}

/// A field as data: control characters (a terminal's escapes among them) become `?`,
/// and a field longer than any package name is cut.
fn shown(field: &str) -> String {
    field
        .chars()
        .take(256)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const APT: &str = "::amibake:: refresh the package lists\n\
        amibake-probe\tcounts\t2\t1\n\
        amibake-update\tlibssl3\t3.0.11-1~deb12u1\t3.0.11-1~deb12u2\tsecurity\n\
        amibake-update\ttzdata\t2024a-0+deb12u1\t2024b-0+deb12u1\tother\n\
        amibake-probe\tend\n";

    #[test]
    fn reads_each_update_and_which_are_security() {
        let r = ProbeReport::parse(APT);
        assert!(r.complete);
        assert_eq!(r.totals(), (2, 1));
        assert_eq!(r.updates[0].package, "libssl3");
        assert_eq!(r.updates[0].installed, "3.0.11-1~deb12u1");
        assert_eq!(r.updates[0].candidate, "3.0.11-1~deb12u2");
        assert!(r.updates[0].security && !r.updates[1].security);
    }

    #[test]
    fn nothing_pending_is_a_whole_empty_list() {
        let r = ProbeReport::parse("amibake-probe\tcounts\t0\t0\namibake-probe\tend\n");
        assert!(r.complete && r.updates.is_empty());
        assert_eq!(r.totals(), (0, 0));
    }

    /// Recorded shape of the dnf branch on AL2023 (a security advisory, an ordinary
    /// update, a newer release).
    #[test]
    fn reads_the_dnf_branch_with_a_newer_release() {
        let out = "::amibake:: pending updates\n\
            amibake-probe\tcounts\t3\t2\n\
            amibake-update\topenssl-libs\t3.0.8-1.amzn2023.0.11\t1:3.0.8-1.amzn2023.0.12\tsecurity\n\
            amibake-release\tsystem-release\t2023.5.20240624\t2023.6.20241010\tsecurity\n\
            amibake-update\tvim-minimal\t9.0.2153-1.amzn2023\t2:9.1.083-1.amzn2023.0.1\tother\n\
            amibake-probe\tend\n";
        let r = ProbeReport::parse(out);
        assert_eq!(r.totals(), (3, 2));
        let release = r
            .updates
            .iter()
            .find(|u| u.release)
            .expect("the release line");
        assert_eq!(release.candidate, "2023.6.20241010");
        assert!(release.security);
    }

    #[test]
    fn an_output_cut_at_the_limit_keeps_whole_lines_and_the_counts() {
        let mut out = String::from("amibake-probe\tcounts\t900\t900\n");
        for i in 0..900 {
            out.push_str(&format!(
                "amibake-update\tlibpkg{i}\t1.0-{i}\t1.0-{}\tsecurity\n",
                i + 1
            ));
        }
        out.push_str("amibake-probe\tend\n");
        let cut: String = out.chars().take(crate::aws::ssm::OUTPUT_LIMIT).collect();
        let r = ProbeReport::parse(&cut);
        assert!(!r.complete, "the end line was cut");
        assert_eq!(r.totals(), (900, 900));
        let last = r.updates.last().expect("updates");
        assert!(
            out.contains(&format!("\t{}\tsecurity\n", last.candidate)),
            "the cut line was dropped, not read half: {last:?}"
        );
    }

    #[test]
    fn junk_lines_are_ignored_and_odd_names_are_data() {
        let out = "Reading package lists...\n\
            amibake-update\tonly\tthree\n\
            amibake-update\tx\t1\t2\tmaybe\n\
            amibake-update\t\t1\t2\tother\n\
            amibake-update\ta;rm -rf /$(x)`y`\t1\t2\tother\n\
            amibake-update\tesc\u{1b}[31m\t1\t2\tsecurity\n\
            amibake-probe\tcounts\tmany\t0\n\
            amibake-update\tdup\t1\t2\tother\textra\n\
            amibake-probe\tend\n";
        let r = ProbeReport::parse(out);
        let names: Vec<_> = r.updates.iter().map(|u| u.package.as_str()).collect();
        assert_eq!(names, ["a;rm -rf /$(x)`y`", "esc?[31m"]);
        assert_eq!(
            r.counts, None,
            "a counts line that is not numbers is ignored"
        );
        assert!(r.complete);
    }

    #[test]
    fn no_output_is_an_incomplete_empty_report() {
        let r = ProbeReport::parse("");
        assert!(!r.complete && r.updates.is_empty());
        let r = ProbeReport::parse("amibake-probe\tend");
        assert!(!r.complete, "a last line without its newline may be cut");
    }

    #[test]
    fn each_family_gets_its_package_manager() {
        assert!(probe(Os::Debian).text.contains("apt-get -s"));
        assert!(probe(Os::Ubuntu).text.contains("apt-get update"));
        let al2023 = probe(Os::Al2023).text;
        assert!(al2023.contains("dnf -q check-update") && al2023.contains("check-release-update"));
        let al2 = probe(Os::Al2).text;
        assert!(al2.contains("yum -q check-update") && !al2.contains("check-release-update"));
    }
}
