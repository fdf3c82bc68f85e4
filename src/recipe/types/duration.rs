//! Durations written with units (`45s`, `1h30m`): [`Duration`], bounded so it can be added
//! to any clock reading, and [`Timeout`], a wait bounded by SSM's own limit on a command.

use std::fmt;
use std::time::Duration as StdDuration;

use serde::{Deserialize, Serialize};

use super::shown;

/// The longest [`Duration`]: 3650 days, within EC2's limit for an image's deprecation
/// time (at most 10 years ahead, EnableImageDeprecation's `DeprecateAt`), the one
/// duration of a recipe that is not a wait. Any duration below it can be added to a
/// clock reading, or scaled a little, without overflowing.
pub const MAX_DURATION_SECS: u64 = 3650 * 86_400;

/// The longest [`Timeout`]: 48 hours, the longest SSM runs a command
/// (`AWS-RunShellScript`'s `executionTimeout` allows 1 to 172800 seconds).
pub const MAX_TIMEOUT_SECS: u64 = 48 * 3600;

/// A duration written with a unit: `45s`, `10m`, `2h`, `90d`, or combined like `1h30m`;
/// from 1 second to [`MAX_DURATION_SECS`].
///
/// Units are required: a bare `600` is ambiguous (seconds? minutes?) and rejected. The
/// upper bound is part of the type, so no caller can forget it: every `Duration` can be
/// added to an `Instant` or a `SystemTime` without overflowing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Duration(StdDuration);

impl Duration {
    /// Builds a duration from whole seconds, [`MAX_DURATION_SECS`] at most (a longer one
    /// is cut to it).
    pub const fn from_secs(secs: u64) -> Self {
        let secs = if secs > MAX_DURATION_SECS {
            MAX_DURATION_SECS
        } else {
            secs
        };
        Self(StdDuration::from_secs(secs))
    }

    /// The duration as a standard library value.
    pub fn get(self) -> StdDuration {
        self.0
    }
}

impl TryFrom<String> for Duration {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        value.parse()
    }
}

impl std::str::FromStr for Duration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let secs = parse_secs(s)?;
        if secs.is_none_or(|secs| secs > MAX_DURATION_SECS) {
            return Err(format!(
                "duration `{}` is too long: expected at most {} (10 years: the furthest ahead \
                 EC2 deprecates an image)",
                shown(s),
                Duration::from_secs(MAX_DURATION_SECS)
            ));
        }
        Ok(Duration::from_secs(secs.unwrap_or(MAX_DURATION_SECS)))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut secs = self.0.as_secs();
        if secs == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
            if secs >= size {
                write!(f, "{}{unit}", secs / size)?;
                secs %= size;
            }
        }
        Ok(())
    }
}

impl From<Duration> for String {
    fn from(value: Duration) -> String {
        value.to_string()
    }
}

/// How long a wait of the recipe may last (a step, a check, the builder's readiness):
/// a [`Duration`] from 1 second to [`MAX_TIMEOUT_SECS`], SSM's own limit on a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Timeout(Duration);

impl Timeout {
    /// Builds a timeout from whole seconds, [`MAX_TIMEOUT_SECS`] at most (a longer one is
    /// cut to it).
    pub const fn from_secs(secs: u64) -> Self {
        let secs = if secs > MAX_TIMEOUT_SECS {
            MAX_TIMEOUT_SECS
        } else {
            secs
        };
        Self(Duration::from_secs(secs))
    }

    /// The timeout as a standard library value.
    pub fn get(self) -> StdDuration {
        self.0.get()
    }
}

impl TryFrom<String> for Timeout {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        value.parse()
    }
}

impl std::str::FromStr for Timeout {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let secs = parse_secs(s)?;
        if secs.is_none_or(|secs| secs > MAX_TIMEOUT_SECS) {
            return Err(format!(
                "timeout `{}` is too long: expected at most 48h (172800s: SSM's limit on a \
                 command, and amibake's on every wait)",
                shown(s),
            ));
        }
        Ok(Timeout::from_secs(secs.unwrap_or(MAX_TIMEOUT_SECS)))
    }
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<Timeout> for String {
    fn from(value: Timeout) -> String {
        value.to_string()
    }
}

impl From<Timeout> for Duration {
    fn from(value: Timeout) -> Duration {
        value.0
    }
}

/// The seconds of a duration written with units, `None` when they are more than a `u64`
/// holds (the caller bounds them, and says a `None` is too long).
fn parse_secs(s: &str) -> Result<Option<u64>, String> {
    let bad = || {
        format!(
            "invalid duration `{}`: expected a number with a unit, like `30s`, `10m`, `2h`, `90d` or `1h30m`",
            shown(s)
        )
    };
    if s.is_empty() {
        return Err(bad());
    }
    let mut total: Option<u64> = Some(0);
    let mut digits = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return Err(bad()),
        };
        if digits.is_empty() {
            return Err(bad());
        }
        // Past a u64 (more digits than it holds, or a product or sum that overflows):
        // too long, whatever follows.
        let n: Option<u64> = digits.parse().ok();
        digits.clear();
        total = n
            .and_then(|n| n.checked_mul(unit))
            .and_then(|v| total?.checked_add(v));
    }
    if !digits.is_empty() || total == Some(0) {
        return Err(bad());
    }
    Ok(total)
}
