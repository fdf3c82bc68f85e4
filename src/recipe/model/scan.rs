//! `image.scan:`: Inspector's on-demand scan of the new image, the limits it must keep for
//! the bake to succeed, and (`require_for`) the environments whose promotion needs a
//! passing scan, with their own limits.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use crate::recipe::types::{Duration, RecipeName, Timeout};
use crate::scan::{ScanLimits, Severity};

/// How long the scan may take unless the recipe says (Inspector scans an AMI in minutes).
pub const DEFAULT_SCAN_TIMEOUT: Timeout = Timeout::from_secs(30 * 60);
/// The oldest scan a promotion accepts unless `require_for` says.
pub const DEFAULT_MAX_SCAN_AGE: Duration = Duration::from_secs(30 * 86_400);

/// `image.scan`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scan {
    /// Any finding above this fails the bake, fix or not; unset: no severity limit.
    #[serde(default)]
    pub max_severity: Option<Severity>,
    /// Per severity: a fix available for longer than this many days fails the bake.
    #[serde(default)]
    pub max_days_since_fix: BTreeMap<Severity, DayLimit>,
    /// The wait for the scan.
    #[serde(default = "default_timeout")]
    pub timeout: Timeout,
    /// Environments (of `promotion:`) whose promotion needs a passing scan.
    #[serde(default)]
    pub require_for: BTreeMap<RecipeName, ScanRequirement>,
}

fn default_timeout() -> Timeout {
    DEFAULT_SCAN_TIMEOUT
}

/// One environment's `require_for` entry: unset keys take the bake's limits.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScanRequirement {
    #[serde(default)]
    pub max_severity: Option<Severity>,
    #[serde(default)]
    pub max_days_since_fix: Option<BTreeMap<Severity, DayLimit>>,
    /// The oldest scan accepted (default 30 days).
    #[serde(default)]
    pub max_scan_age: Option<Duration>,
}

impl Scan {
    /// The limits the bake judges its scan by.
    pub fn limits(&self) -> ScanLimits {
        ScanLimits {
            max_severity: self.max_severity,
            max_days_since_fix: days(&self.max_days_since_fix),
            max_scan_age: None,
        }
    }

    /// The limits a promotion to `env` needs, `None` when `env` needs no scan.
    pub fn limits_for(&self, env: &str) -> Option<ScanLimits> {
        let (_, req) = self.require_for.iter().find(|(e, _)| e.as_str() == env)?;
        Some(ScanLimits {
            max_severity: req.max_severity.or(self.max_severity),
            max_days_since_fix: days(
                req.max_days_since_fix
                    .as_ref()
                    .unwrap_or(&self.max_days_since_fix),
            ),
            max_scan_age: Some(req.max_scan_age.unwrap_or(DEFAULT_MAX_SCAN_AGE).get()),
        })
    }

    /// Every `require_for` environment that `promotion:` does not list, with the message
    /// that says so (the caller locates it).
    pub fn unknown_environments(&self, promotion: &[RecipeName]) -> Vec<(String, String)> {
        self.require_for
            .keys()
            .filter(|env| !promotion.contains(env))
            .map(|env| {
                let listed = if promotion.is_empty() {
                    "the recipe has no `promotion:` list".to_string()
                } else {
                    format!(
                        "`promotion:` lists {}",
                        promotion
                            .iter()
                            .map(|p| format!("`{p}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                (
                    env.to_string(),
                    format!(
                        "`image.scan.require_for.{env}`: no such environment ({listed}); \
                         name an environment of `promotion:` or add it there"
                    ),
                )
            })
            .collect()
    }
}

fn days(limits: &BTreeMap<Severity, DayLimit>) -> BTreeMap<Severity, u32> {
    limits.iter().map(|(s, d)| (*s, d.0)).collect()
}

/// The most days a fix-age limit may say: ten years, past any real use.
pub const MAX_DAY_LIMIT: u32 = 3650;

/// A whole number of days, 0 to [`MAX_DAY_LIMIT`], written as a YAML integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(into = "u32")]
pub struct DayLimit(pub u32);

impl From<DayLimit> for u32 {
    fn from(value: DayLimit) -> u32 {
        value.0
    }
}

impl<'de> Deserialize<'de> for DayLimit {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DayVisitor)
    }
}

struct DayVisitor;

const EXPECTED_DAYS: &str = "expected a whole number of days from 0 to 3650, like `14`";

impl Visitor<'_> for DayVisitor {
    type Value = DayLimit;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECTED_DAYS)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<DayLimit, E> {
        u32::try_from(v)
            .ok()
            .filter(|d| *d <= MAX_DAY_LIMIT)
            .map(DayLimit)
            .ok_or_else(|| E::custom(format!("day limit `{v}` is too large: {EXPECTED_DAYS}")))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<DayLimit, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::custom(format!(
                "negative day limit `{v}`: {EXPECTED_DAYS} (0 fails on any fix available)"
            ))),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<DayLimit, E> {
        Err(E::custom(format!(
            "day limit `{v}` is not a whole number: {EXPECTED_DAYS}"
        )))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<DayLimit, E> {
        let shown: String = v.chars().take(40).collect();
        Err(E::custom(format!(
            "day limit `{shown}` is not a number: {EXPECTED_DAYS}"
        )))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<DayLimit, E> {
        Err(E::custom(format!(
            "day limit `{v}` is not a number: {EXPECTED_DAYS}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(yaml: &str) -> Scan {
        serde_saphyr::from_str(yaml).expect("a scan section")
    }

    #[test]
    fn defaults_are_no_limits_and_a_30_minute_wait() {
        let s = scan("{}");
        assert_eq!(s.timeout, DEFAULT_SCAN_TIMEOUT);
        assert_eq!(s.limits(), ScanLimits::default());
        assert_eq!(s.limits_for("prod"), None);
    }

    #[test]
    fn require_for_takes_the_bakes_limits_for_unset_keys_and_30_days_of_age() {
        let s = scan(
            "max_severity: high\nmax_days_since_fix: {critical: 0, high: 14}\n\
             require_for:\n  prod: {max_severity: medium, max_days_since_fix: {critical: 0}, max_scan_age: 7d}\n  staging: {}\n",
        );
        let prod = s.limits_for("prod").expect("prod is gated");
        assert_eq!(prod.max_severity, Some(Severity::Medium));
        assert_eq!(prod.max_days_since_fix, [(Severity::Critical, 0)].into());
        assert_eq!(
            prod.max_scan_age,
            Some(std::time::Duration::from_secs(7 * 86_400))
        );
        let staging = s.limits_for("staging").expect("staging is gated");
        assert_eq!(staging.max_severity, Some(Severity::High));
        assert_eq!(staging.max_days_since_fix.get(&Severity::High), Some(&14));
        assert_eq!(staging.max_scan_age, Some(DEFAULT_MAX_SCAN_AGE.get()));
        assert_eq!(s.limits().max_scan_age, None);
    }

    #[test]
    fn day_limits_are_whole_non_negative_numbers() {
        let bad = |y: &str| {
            serde_saphyr::from_str::<Scan>(y)
                .expect_err("refused")
                .to_string()
        };
        assert!(bad("max_days_since_fix: {low: -3}").contains("negative day limit `-3`"));
        assert!(bad("max_days_since_fix: {low: 2.5}").contains("not a whole number"));
        assert!(bad("max_days_since_fix: {low: soon}").contains("not a number"));
        assert!(bad("max_days_since_fix: {low: 4000}").contains("too large"));
        assert_eq!(
            scan("max_days_since_fix: {low: 0}")
                .limits()
                .max_days_since_fix,
            [(Severity::Low, 0)].into()
        );
    }

    #[test]
    fn an_environment_outside_promotion_is_named_with_the_list() {
        let s = scan("require_for: {prod: {}, dev: {}}");
        let promotion: Vec<RecipeName> = vec!["dev".to_string().try_into().expect("a name")];
        let found = s.unknown_environments(&promotion);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "prod");
        assert!(
            found[0].1.contains("`promotion:` lists `dev`"),
            "{}",
            found[0].1
        );
        assert!(
            s.unknown_environments(&[])[0]
                .1
                .contains("no `promotion:` list")
        );
    }
}
