//! The CodeDeploy agent's two release lines, told apart by the pin alone.
//!
//! The 1.x line is a Ruby program behind a SysV init script, installed from the regional
//! bucket's `latest/install` and queried through the package manager (`1.7.1-110`). The
//! 2.x line (2.0.0, 29 July 2026) is one native binary with its own systemd unit, installed
//! from `latestv2/install`, that reports its version itself (`codedeploy-agent --version`,
//! `2.1.0`). Everything amibake does with the agent — install, verify, migrate, check at
//! boot, reset in hygiene — branches on [`AgentLine`].

use super::AgentVersion;

/// Which agent line a pin is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentLine {
    /// `1.x`: Ruby, SysV init script, the package manager knows the version.
    V1,
    /// `2.x` and later: native binary and unit, `--version`, no Ruby.
    V2,
}

impl AgentLine {
    /// How plans and messages name the line.
    pub fn name(self) -> &'static str {
        match self {
            AgentLine::V1 => "1.x",
            AgentLine::V2 => "2.x",
        }
    }
}

/// The newest agent release amibake knows of, and when AWS published it. AWS "actively
/// supports the latest minor version" only: a pin on an older minor line gets a warning.
pub const LATEST_AGENT: &str = "2.1.0";
/// When [`LATEST_AGENT`] was released.
pub const LATEST_AGENT_DATE: &str = "7 September 2026";

impl AgentVersion {
    /// The line this pin is on: a major version of 2 or more is the native line.
    pub fn line(&self) -> AgentLine {
        if self.major_minor().0 >= 2 {
            AgentLine::V2
        } else {
            AgentLine::V1
        }
    }

    /// What the installed agent reports for this pin: a 2.x pin without its build
    /// (`2.1.0-9745926189` → `2.1.0`); a 1.x pin as it is (its package manager's answer).
    pub fn reported(&self) -> &str {
        match self.line() {
            AgentLine::V2 => self.as_str().split('-').next().unwrap_or(self.as_str()),
            AgentLine::V1 => self.as_str(),
        }
    }

    /// The regional bucket's build number of a 2.x pin that names one.
    pub fn build(&self) -> Option<&str> {
        match self.line() {
            AgentLine::V2 => self.as_str().split_once('-').map(|(_, b)| b),
            AgentLine::V1 => None,
        }
    }

    /// The leading `MAJOR.MINOR` numbers (`1.7.1-110` → (1, 7)); a missing minor is 0.
    pub fn major_minor(&self) -> (u64, u64) {
        major_minor(self.as_str())
    }

    /// Why this pin is behind the latest minor line AWS supports, with the fix; `None`
    /// when it is on that line (or newer than amibake knows).
    pub fn behind_latest(&self) -> Option<String> {
        if self.major_minor() >= major_minor(LATEST_AGENT) {
            return None;
        }
        let (major, minor) = self.major_minor();
        let migrate = if self.line() == AgentLine::V1 {
            " (the bake migrates the 1.x agent: stops it, removes it and its Ruby-era state, \
             then installs 2.x)"
        } else {
            ""
        };
        Some(format!(
            "CodeDeploy agent {self} is on the {major}.{minor} line, which AWS no longer \
             supports: it supports the latest minor version only, {} since {LATEST_AGENT_DATE}; \
             pin `version: \"{LATEST_AGENT}\"`{migrate}",
            latest_minor()
        ))
    }
}

/// `2.1` for [`LATEST_AGENT`].
fn latest_minor() -> String {
    let (major, minor) = major_minor(LATEST_AGENT);
    format!("{major}.{minor}")
}

fn major_minor(v: &str) -> (u64, u64) {
    let mut numbers = v
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u64>().unwrap_or(0));
    (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0))
}

/// The pin's own check, run while the YAML is read. A 2.x pin is what the agent reports
/// (`2.1.0`), optionally with the build the regional bucket's package names carry
/// (`2.1.0-9745926189`); a 1.x pin is the package's `VERSION-RELEASE` (`1.7.1-110`).
pub(super) fn check(s: &str) -> Result<(), String> {
    let plain = s.starts_with(|c: char| c.is_ascii_digit())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    let major = major_minor(s).0;
    let v2_ok = major < 2 || {
        let (version, build) = s.split_once('-').unwrap_or((s, "0"));
        let numbers: Vec<&str> = version.split('.').collect();
        numbers.len() == 3
            && numbers
                .iter()
                .chain([&build])
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    };
    if plain && major >= 1 && v2_ok {
        return Ok(());
    }
    Err(format!(
        "invalid CodeDeploy agent version `{}`: expected a 2.x version as the agent reports it, \
         like `{LATEST_AGENT}` (or with the bucket's build, `{LATEST_AGENT}-9745926189`), or a \
         1.x package version like `1.7.1-110`",
        super::shown(s)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(s: &str) -> AgentVersion {
        AgentVersion::try_from(s.to_string()).unwrap()
    }

    #[test]
    fn the_major_version_picks_the_line() {
        assert_eq!(pin("1.7.1-110").line(), AgentLine::V1);
        assert_eq!(pin("1.8.0-25").line(), AgentLine::V1);
        assert_eq!(pin("2.0.0").line(), AgentLine::V2);
        assert_eq!(pin("2.1.0").line(), AgentLine::V2);
        assert_eq!(pin("10.0.0").line(), AgentLine::V2);
    }

    #[test]
    fn a_2x_pin_is_three_numbers_as_the_agent_reports_them_and_maybe_the_build() {
        for bad in [
            "2.1", "2.1.0-", "2.1.0-b1", "2.1.0.0", "2.x.0", "0.9.1", "v2.1.0", "2..0",
        ] {
            let err = AgentVersion::try_from(bad.to_string()).unwrap_err();
            assert!(err.contains(LATEST_AGENT), "{bad}: {err}");
        }
        assert!(AgentVersion::try_from("1.7.1-110".to_string()).is_ok());
        let built = pin("2.1.0-9745926189");
        assert_eq!(
            (built.reported(), built.build()),
            ("2.1.0", Some("9745926189"))
        );
        assert_eq!(
            (pin("2.1.0").reported(), pin("2.1.0").build()),
            ("2.1.0", None)
        );
        assert_eq!(
            (pin("1.7.1-110").reported(), pin("1.7.1-110").build()),
            ("1.7.1-110", None)
        );
        assert!(AgentVersion::try_from("1.6".to_string()).is_ok());
    }

    #[test]
    fn pins_behind_the_latest_minor_line_are_told_the_fix() {
        let old = pin("1.7.1-110").behind_latest().unwrap();
        assert!(
            old.contains("1.7 line") && old.contains("pin `version: \"2.1.0\"`"),
            "{old}"
        );
        assert!(old.contains("migrates the 1.x agent"), "{old}");
        let minor = pin("2.0.1").behind_latest().unwrap();
        assert!(
            minor.contains("2.0 line") && !minor.contains("migrates"),
            "{minor}"
        );
        assert_eq!(pin("2.1.0").behind_latest(), None);
        assert_eq!(pin("2.1.7").behind_latest(), None);
        assert_eq!(pin("2.2.0").behind_latest(), None);
    }
}
