//! The account's Allowed AMIs settings and whether an image meets them, judged the way EC2
//! documents it, so `roll` can refuse an image EC2 would refuse to launch minutes later.
//!
//! EC2's rules: images the account owns are always allowed; any other image is allowed when
//! it meets at least one criterion, and it meets a criterion when every condition the
//! criterion gives holds (a list condition holds when any of its values matches). What this
//! version cannot read (a provider or severity it does not know, a state it does not know)
//! makes the image unjudged, which the roll treats as refused when the settings are
//! enforced: failing closed is the safe side. This module is pure: the settings and the
//! image's facts come from `crate::aws::ec2::allowed`.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::scan::{ScanLimits, ScanSummary, parse_time};

const DAY: u64 = 86_400;

/// The providers EC2 names by alias (an image's `ImageOwnerAlias`).
const ALIASES: [&str; 3] = ["amazon", "aws-marketplace", "aws-backup-vault"];

/// The state of the settings in a region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AllowedState {
    /// Every image is allowed.
    Disabled,
    /// Every image is allowed; EC2 marks those that would not be (`ImageAllowed`).
    AuditMode,
    /// Only images that meet the criteria can be seen and launched.
    Enabled,
}

impl AllowedState {
    /// The state EC2 names; `None` for one this version does not know.
    pub fn from_name(name: &str) -> Option<AllowedState> {
        match name {
            "disabled" | "" => Some(AllowedState::Disabled),
            "audit-mode" => Some(AllowedState::AuditMode),
            "enabled" => Some(AllowedState::Enabled),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            AllowedState::Disabled => "disabled",
            AllowedState::AuditMode => "audit-mode",
            AllowedState::Enabled => "enabled",
        }
    }
}

/// One criterion: every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Criterion {
    /// `amazon`, `aws-marketplace`, `aws-backup-vault`, `none` or account ids.
    pub providers: Vec<String>,
    /// Names with `*` and `?` wildcards.
    pub names: Vec<String>,
    pub product_codes: Vec<String>,
    pub max_days_since_created: Option<u32>,
    pub max_days_since_deprecated: Option<u32>,
    pub scan: Option<ScanCondition>,
    pub watermarks: Vec<WatermarkFilter>,
    /// Values this version cannot judge (an unknown severity label…), named.
    pub unknown: Vec<String>,
}

/// The scan-result condition: `max_severity` and the fix ages in `limits`, and the scan's
/// age. An image Inspector never scanned does not meet it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScanCondition {
    pub limits: ScanLimits,
    pub max_days_since_scan: Option<u32>,
}

/// A watermark filter: every field given must match the same watermark.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WatermarkFilter {
    pub key: Option<String>,
    pub source_region: Option<String>,
    pub max_days_since_source_created: Option<u32>,
    pub max_days_since_watermarked: Option<u32>,
}

/// A watermark an image carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Watermark {
    pub key: String,
    pub source_region: String,
    pub source_created: Option<String>,
    pub created: Option<String>,
}

/// What the criteria look at in an image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageFacts {
    pub id: String,
    pub owner_id: String,
    pub owner_alias: Option<String>,
    /// The caller's account owns it (Allowed AMIs never restricts those).
    pub own: bool,
    pub name: String,
    pub creation_date: String,
    pub deprecation_time: Option<String>,
    pub product_codes: Vec<String>,
    /// `None`: Inspector never scanned it.
    pub scan: Option<ScanSummary>,
    pub watermarks: Vec<Watermark>,
    /// EC2's own verdict (`ImageAllowed`), when it gives one.
    pub image_allowed: Option<bool>,
}

/// Whether the image meets the settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Allowed: `criterion` (1-based) is the first it meets; `None` when it is the
    /// account's own image, or EC2 says so itself.
    Allowed {
        criterion: Option<usize>,
        why: String,
    },
    /// It meets no criterion: per criterion (1-based), the conditions it fails.
    Refused { failures: Vec<Failed> },
    /// This version cannot tell (a value it does not know, or EC2 disagrees with it).
    Unjudged { why: String },
}

/// The conditions of one criterion an image fails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failed {
    pub criterion: usize,
    pub conditions: Vec<String>,
}

/// Judges `image` against `criteria` at `now`.
pub fn judge(criteria: &[Criterion], image: &ImageFacts, now: SystemTime) -> Verdict {
    if image.own {
        return Verdict::Allowed {
            criterion: None,
            why: format!(
                "this account owns it ({}): Allowed AMIs never restricts an account's own images",
                image.owner_id
            ),
        };
    }
    let mut failures = Vec::new();
    let mut unknown = Vec::new();
    for (i, c) in criteria.iter().enumerate() {
        let n = i + 1;
        match failed_conditions(c, image, now) {
            Ok(conditions) if conditions.is_empty() && image.image_allowed == Some(false) => {
                unknown.push(format!(
                    "criterion {n}: it allows the image as amibake reads it, but EC2 marks the image not allowed (ImageAllowed: false), so the settings hold a condition this amibake cannot read"
                ));
            }
            Ok(conditions) if conditions.is_empty() => {
                return Verdict::Allowed {
                    criterion: Some(n),
                    why: format!("it meets criterion {n}"),
                };
            }
            Ok(conditions) => failures.push(Failed {
                criterion: n,
                conditions,
            }),
            Err(what) => unknown.push(format!("criterion {n}: {what}")),
        }
    }
    if image.image_allowed == Some(true) {
        return Verdict::Allowed {
            criterion: None,
            why: "EC2 marks it allowed (ImageAllowed: true)".into(),
        };
    }
    if !unknown.is_empty() {
        return Verdict::Unjudged {
            why: format!(
                "this amibake cannot judge {} (fails closed)",
                unknown.join("; ")
            ),
        };
    }
    Verdict::Refused { failures }
}

/// The conditions of `c` the image fails (empty: it meets `c`); `Err` names what this
/// version cannot judge.
fn failed_conditions(
    c: &Criterion,
    image: &ImageFacts,
    now: SystemTime,
) -> Result<Vec<String>, String> {
    if let Some(u) = c.unknown.first() {
        return Err(u.clone());
    }
    let mut failed = Vec::new();
    if !c.providers.is_empty() && !provider_matches(&c.providers, image)? {
        failed.push(format!(
            "ImageProviders {}: the image's owner is {}{} (fix: share it from an allowed account, or add {} to ImageProviders)",
            list(&c.providers),
            image.owner_id,
            image
                .owner_alias
                .as_deref()
                .map(|a| format!(" ({a})"))
                .unwrap_or_default(),
            image.owner_id
        ));
    }
    if !c.names.is_empty() && !c.names.iter().any(|p| wildcard(p, &image.name)) {
        failed.push(format!(
            "ImageNames {}: the image is named {:?} (fix: bake with a name one of them matches, or add a pattern for it)",
            list(&c.names),
            image.name
        ));
    }
    if !c.product_codes.is_empty()
        && !c
            .product_codes
            .iter()
            .any(|p| image.product_codes.contains(p))
    {
        failed.push(format!(
            "MarketplaceProductCodes {}: the image carries {} (fix: roll a Marketplace image with one of them)",
            list(&c.product_codes),
            if image.product_codes.is_empty() {
                "none".to_string()
            } else {
                list(&image.product_codes)
            }
        ));
    }
    if let Some(max) = c.max_days_since_created {
        let age = age_days(&image.creation_date, now);
        if age.is_none_or(|d| d > u64::from(max)) {
            failed.push(format!(
                "CreationDateCondition MaximumDaysSinceCreated {max}: the image was created {} (fix: bake a new image)",
                days_ago(&image.creation_date, age)
            ));
        }
    }
    if let (Some(max), Some(at)) = (c.max_days_since_deprecated, &image.deprecation_time) {
        let deprecated = parse_time(at).is_none_or(|t| t <= now);
        let age = age_days(at, now);
        let over = if max == 0 {
            deprecated
        } else {
            age.is_none_or(|d| d > u64::from(max))
        };
        if deprecated && over {
            failed.push(format!(
                "DeprecationTimeCondition MaximumDaysSinceDeprecated {max}: the image was deprecated {} (fix: roll a newer image)",
                days_ago(at, age)
            ));
        }
    }
    if let Some(scan) = &c.scan {
        failed.extend(scan_failures(scan, image, now));
    }
    if !c.watermarks.is_empty()
        && !c.watermarks.iter().any(|f| {
            image
                .watermarks
                .iter()
                .any(|w| watermark_matches(f, w, now))
        })
    {
        failed.push(format!(
            "ImageWatermarks ({} filter(s)): no watermark of the image matches one (it carries {})",
            c.watermarks.len(),
            if image.watermarks.is_empty() {
                "none".to_string()
            } else {
                let keys: Vec<String> = image.watermarks.iter().map(|w| w.key.clone()).collect();
                list(&keys)
            }
        ));
    }
    Ok(failed)
}

/// Whether a provider value names the image's owner; `Err` for a value EC2 did not
/// document when this was written.
fn provider_matches(providers: &[String], image: &ImageFacts) -> Result<bool, String> {
    let mut matched = false;
    for p in providers {
        let known = ALIASES.contains(&p.as_str())
            || p == "none"
            || (p.len() == 12 && p.bytes().all(|b| b.is_ascii_digit()));
        if !known {
            return Err(format!("the image provider {p:?}"));
        }
        // `none`: the account's own images only, which are allowed before any criterion.
        matched |= *p == image.owner_id || image.owner_alias.as_deref() == Some(p.as_str());
    }
    Ok(matched)
}

/// The scan-result condition's failures: no scan at all, a scan too old, a severity or a
/// fix age over its limit.
fn scan_failures(scan: &ScanCondition, image: &ImageFacts, now: SystemTime) -> Vec<String> {
    let fix = "fix: rebuild with the fixes (amibake bake --if-changed), or scan the image again";
    let Some(summary) = &image.scan else {
        return vec![format!(
            "ScanResultCondition: Inspector never scanned the image (fix: bake with image.scan, or scan it)"
        )];
    };
    let mut failed: Vec<String> = scan
        .limits
        .judge(summary, now)
        .iter()
        .map(|v| format!("ScanResultCondition: {v} ({fix})"))
        .collect();
    if let Some(max) = scan.max_days_since_scan {
        let at = summary.scanned_at.as_deref().unwrap_or_default();
        let age = age_days(at, now);
        if age.is_none_or(|d| d > u64::from(max)) {
            failed.push(format!(
                "ScanResultCondition MaxDaysSinceLastFindingScan {max}: the image was scanned {} ({fix})",
                days_ago(at, age)
            ));
        }
    }
    failed
}

fn watermark_matches(f: &WatermarkFilter, w: &Watermark, now: SystemTime) -> bool {
    let within = |max: Option<u32>, at: &Option<String>| {
        max.is_none_or(|m| {
            at.as_deref()
                .and_then(|a| age_days(a, now))
                .is_some_and(|d| d <= u64::from(m))
        })
    };
    f.key.as_deref().is_none_or(|k| wildcard(k, &w.key))
        && f.source_region
            .as_deref()
            .is_none_or(|r| wildcard(r, &w.source_region))
        && within(f.max_days_since_source_created, &w.source_created)
        && within(f.max_days_since_watermarked, &w.created)
}

/// Whole days from `at` (RFC 3339) to `now`; `None` when `at` is unreadable (treated as
/// too old). A time in the future is 0 days old.
fn age_days(at: &str, now: SystemTime) -> Option<u64> {
    let t = parse_time(at)?;
    Some(now.duration_since(t).unwrap_or(Duration::ZERO).as_secs() / DAY)
}

fn days_ago(at: &str, age: Option<u64>) -> String {
    match age {
        Some(d) => format!("{at} ({d} days ago)"),
        None => format!("at an unreadable time {at:?}"),
    }
}

/// `*` any run of characters, `?` one character, as EC2 matches image names.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn list(values: &[String]) -> String {
    format!("[{}]", values.join(", "))
}

#[cfg(test)]
mod tests;
