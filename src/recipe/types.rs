//! Validated scalar types of the recipe.
//!
//! Each type checks its value while the YAML is deserialized (`try_from = "String"`), so a
//! bad value is reported by the YAML layer with the line and column of the scalar that
//! holds it — the user sees `recipe.yaml:12:9: … expected …`, not a bare message.

use std::fmt;
use std::time::Duration as StdDuration;

use serde::{Deserialize, Serialize};

/// Declares a newtype over `String` that is validated on deserialization.
macro_rules! checked_string {
    ($(#[$doc:meta])* $name:ident, $check:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(value: String) -> Result<Self, String> {
                $check(&value)?;
                Ok(Self(value))
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl $name {
            /// The validated value.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

checked_string!(
    /// A recipe name: `[a-z0-9-]`, 1–63 characters, starting and ending with a letter or
    /// digit. It names AMIs, tags, SSM channel parameters and journal files.
    RecipeName,
    check_recipe_name
);
checked_string!(
    /// An AMI id such as `ami-0123456789abcdef0`.
    AmiId,
    check_ami_id
);
checked_string!(
    /// An AWS region code such as `us-west-2`.
    Region,
    check_region
);
checked_string!(
    /// A 12-digit AWS account id.
    AccountId,
    check_account_id
);
checked_string!(
    /// An EC2 instance type such as `t3.small`.
    InstanceType,
    check_instance_type
);
checked_string!(
    /// A systemd unit name such as `codedeploy-agent.service`.
    UnitName,
    check_unit_name
);
checked_string!(
    /// A package name for dnf, yum or apt (optionally with a version pin).
    PackageName,
    check_package_name
);
checked_string!(
    /// A CodeDeploy agent version such as `1.7.1-110`.
    AgentVersion,
    check_agent_version
);
checked_string!(
    /// The URL of a package file: `https://`, `http://` or `file:///`, ending `.deb` or
    /// `.rpm`; empty means none.
    PackageUrl,
    check_package_url
);
checked_string!(
    /// An octal file mode such as `0644`.
    FileMode,
    check_file_mode
);
checked_string!(
    /// A file owner as `user` or `user:group`.
    FileOwner,
    check_file_owner
);
checked_string!(
    /// An AMI name after rendering: 3–128 characters of letters, digits and `()[] ./-'@_`.
    AmiName,
    check_ami_name
);
checked_string!(
    /// A command line for a check: anything but blank.
    Command,
    check_command
);
checked_string!(
    /// An SSM parameter name such as `/aws/service/ami-amazon-linux-latest/…`.
    SsmParameterName,
    check_ssm_parameter_name
);

fn check_ami_name(s: &str) -> Result<(), String> {
    let ok = (3..=128).contains(&s.chars().count()) && alnum_or(s, b"()[] ./-'@_");
    require(ok, || {
        format!(
            "invalid image name `{s}`: expected 3-128 characters of letters, digits and ()[] ./-'@_ (EC2's rule)"
        )
    })
}

fn check_command(s: &str) -> Result<(), String> {
    require(!s.trim().is_empty(), || {
        "empty command: expected a command line to run".to_string()
    })
}

fn check_recipe_name(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    require(ok, || {
        format!(
            "invalid recipe name `{s}`: expected 1-63 characters of a-z, 0-9 and `-`, \
             starting and ending with a letter or digit"
        )
    })
}

fn check_ami_id(s: &str) -> Result<(), String> {
    let hex = s.strip_prefix("ami-").unwrap_or("");
    let ok = matches!(hex.len(), 8 | 17) && hex.bytes().all(|b| b.is_ascii_hexdigit());
    require(ok, || {
        format!("invalid AMI id `{s}`: expected `ami-` and 8 or 17 hex digits")
    })
}

fn check_region(s: &str) -> Result<(), String> {
    // e.g. us-east-1, eu-central-2, us-gov-west-1, ap-southeast-4
    let parts: Vec<&str> = s.split('-').collect();
    let ok = parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok();
    require(ok, || {
        format!("invalid region `{s}`: expected a region code like `us-west-2`")
    })
}

fn check_account_id(s: &str) -> Result<(), String> {
    let ok = s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit());
    require(ok, || {
        format!("invalid account id `{s}`: expected 12 digits (quote it in YAML)")
    })
}

fn check_instance_type(s: &str) -> Result<(), String> {
    let ok = s.split_once('.').is_some_and(|(family, size)| {
        !family.is_empty() && !size.is_empty() && alnum_or(family, b"-") && alnum_or(size, b"")
    });
    require(ok, || {
        format!("invalid instance type `{s}`: expected a family and a size like `t3.small`")
    })
}

fn check_unit_name(s: &str) -> Result<(), String> {
    const KINDS: [&str; 8] = [
        ".service", ".target", ".socket", ".timer", ".mount", ".path", ".slice", ".scope",
    ];
    let ok = KINDS.iter().any(|k| s.len() > k.len() && s.ends_with(k)) && alnum_or(s, b":_.@-\\");
    require(ok, || {
        format!(
            "invalid systemd unit `{s}`: expected a unit name like `tomcat.service` or `cloud-init.target`"
        )
    })
}

fn check_package_name(s: &str) -> Result<(), String> {
    let ok = !s.is_empty() && !s.starts_with('-') && alnum_or(s, b"._+:~=*-");
    require(ok, || {
        format!("invalid package name `{s}`: expected letters, digits and `._+:~=*-` only")
    })
}

fn check_agent_version(s: &str) -> Result<(), String> {
    let ok = s.starts_with(|c: char| c.is_ascii_digit()) && alnum_or(s, b"._-");
    require(ok, || {
        format!("invalid CodeDeploy agent version `{s}`: expected a version like `1.7.1-110`")
    })
}

fn check_package_url(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Ok(()); // the regional bucket, so a recipe var can default to it
    }
    let scheme_ok = ["https://", "http://", "file:///"]
        .iter()
        .any(|p| s.starts_with(p) && s.len() > p.len());
    let plain = s
        .bytes()
        .all(|b| b.is_ascii_graphic() && !b"'\"`$\\<>|;&".contains(&b));
    let package = s.ends_with(".deb") || s.ends_with(".rpm");
    require(scheme_ok && plain && package, || {
        format!(
            "invalid package_url `{s}`: expected an https://, http:// or file:/// URL of the \
             agent's .deb or .rpm, without spaces or shell characters"
        )
    })
}

fn check_file_mode(s: &str) -> Result<(), String> {
    let ok = (3..=4).contains(&s.len()) && s.bytes().all(|b| (b'0'..=b'7').contains(&b));
    require(ok, || {
        format!("invalid file mode `{s}`: expected an octal mode like \"0644\" (quoted)")
    })
}

fn check_file_owner(s: &str) -> Result<(), String> {
    let valid = |p: &str| !p.is_empty() && !p.starts_with('-') && alnum_or(p, b"._-");
    let ok = match s.split_once(':') {
        Some((user, group)) => valid(user) && valid(group),
        None => valid(s),
    };
    require(ok, || {
        format!("invalid owner `{s}`: expected `user` or `user:group`")
    })
}

fn check_ssm_parameter_name(s: &str) -> Result<(), String> {
    let ok = !s.is_empty() && s.len() <= 2048 && alnum_or(s, b"/_.-");
    require(ok, || {
        format!(
            "invalid SSM parameter name `{s}`: expected a name like `/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64`"
        )
    })
}

/// `Ok` when `ok`; else the message `bad` builds, which says what was expected.
fn require(ok: bool, bad: impl FnOnce() -> String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(bad()) }
}

/// Whether every byte of `s` is an ASCII letter, an ASCII digit or one of `extra`.
fn alnum_or(s: &str, extra: &[u8]) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
}

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

/// A value as a message shows it: at most 40 characters, so a hostile megabyte-long value
/// does not become a megabyte-long error.
fn shown(s: &str) -> String {
    if s.chars().count() <= 40 {
        return s.to_string();
    }
    let head: String = s.chars().take(40).collect();
    format!("{head}…")
}

/// The largest root volume amibake's builder may ask for, in GiB: gp2's and gp3's limit
/// (EBS; `standard` allows 1024).
pub const MAX_VOLUME_GIB: u32 = 16_384;

/// The largest `standard` (magnetic) volume, in GiB.
pub const MAX_STANDARD_VOLUME_GIB: u32 = 1024;

/// The size of the builder's root volume in GiB: 1 to [`MAX_VOLUME_GIB`].
///
/// Read from any YAML number (or none), so a negative, fractional or 30-digit size gets
/// the same message as `0`, at the same place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(into = "u32")]
pub struct VolumeSize(u32);

impl VolumeSize {
    /// Builds a size in GiB, clamped to 1 ..= [`MAX_VOLUME_GIB`].
    pub const fn gib(n: u32) -> Self {
        Self(if n == 0 {
            1
        } else if n > MAX_VOLUME_GIB {
            MAX_VOLUME_GIB
        } else {
            n
        })
    }

    /// The size in GiB.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl VolumeSize {
    /// A size written as `shown` (the value as the recipe has it, for the message).
    fn checked(n: Option<u32>, shown: &dyn fmt::Display) -> Result<Self, String> {
        match n {
            Some(n @ 1..=MAX_VOLUME_GIB) => Ok(Self(n)),
            _ => Err(format!(
                "invalid volume size `{shown}`: expected 1 to {MAX_VOLUME_GIB} GiB (EBS's limit \
                 for gp2 and gp3 volumes), a whole number"
            )),
        }
    }
}

impl<'de> Deserialize<'de> for VolumeSize {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{Error, Visitor};
        struct Size;
        impl Visitor<'_> for Size {
            type Value = VolumeSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a volume size in GiB, 1 to {MAX_VOLUME_GIB}")
            }
            fn visit_u64<E: Error>(self, n: u64) -> Result<VolumeSize, E> {
                VolumeSize::checked(u32::try_from(n).ok(), &n).map_err(E::custom)
            }
            fn visit_i64<E: Error>(self, n: i64) -> Result<VolumeSize, E> {
                VolumeSize::checked(u32::try_from(n).ok(), &n).map_err(E::custom)
            }
            fn visit_u128<E: Error>(self, n: u128) -> Result<VolumeSize, E> {
                VolumeSize::checked(u32::try_from(n).ok(), &n).map_err(E::custom)
            }
            fn visit_i128<E: Error>(self, n: i128) -> Result<VolumeSize, E> {
                VolumeSize::checked(u32::try_from(n).ok(), &n).map_err(E::custom)
            }
            fn visit_f64<E: Error>(self, n: f64) -> Result<VolumeSize, E> {
                VolumeSize::checked(None, &n).map_err(E::custom)
            }
            fn visit_str<E: Error>(self, s: &str) -> Result<VolumeSize, E> {
                VolumeSize::checked(None, &shown(s)).map_err(E::custom)
            }
            fn visit_bool<E: Error>(self, b: bool) -> Result<VolumeSize, E> {
                VolumeSize::checked(None, &b).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Size)
    }
}

impl From<VolumeSize> for u32 {
    fn from(value: VolumeSize) -> u32 {
        value.0
    }
}

impl fmt::Display for VolumeSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

checked_string!(
    /// An EBS volume type the builder can boot from without further settings: `gp3`,
    /// `gp2` or `standard`.
    VolumeType,
    check_volume_type
);

fn check_volume_type(s: &str) -> Result<(), String> {
    let why = match s {
        "gp3" | "gp2" | "standard" => return Ok(()),
        "st1" | "sc1" => "EBS cannot boot from HDD volumes",
        "io1" | "io2" => "provisioned-IOPS volumes need an IOPS setting the builder does not have",
        _ => "not an EBS volume type",
    };
    Err(format!(
        "invalid volume type `{}`: {why}; expected `gp3`, `gp2` or `standard`",
        shown(s)
    ))
}

/// The most tags a recipe may give its image: EC2 allows 50 per resource, and amibake
/// adds up to 10 of its own (`Name`, `amibake:*`).
pub const MAX_IMAGE_TAGS: usize = 40;

/// What is wrong with an image's tags, if anything: more than [`MAX_IMAGE_TAGS`], a key of
/// more than 128 characters or a value of more than 256 (EC2's limits), or a key in a
/// namespace that is not the recipe's (`aws:` is AWS's, `amibake:` amibake's: a recipe
/// could otherwise mark an unfinished image complete).
pub fn check_image_tags(tags: &std::collections::BTreeMap<String, String>) -> Option<String> {
    if tags.len() > MAX_IMAGE_TAGS {
        return Some(format!(
            "`image.tags` has {} tags: expected at most {MAX_IMAGE_TAGS} (EC2 allows 50 per \
             image, and amibake adds up to 10 of its own)",
            tags.len()
        ));
    }
    tags.iter().find_map(|(key, value)| {
        let reserved = ["aws:", "amibake:"]
            .into_iter()
            .find(|p| key.to_ascii_lowercase().starts_with(p));
        if let Some(prefix) = reserved {
            Some(format!(
                "tag key `{}` is reserved: keys starting `{prefix}` belong to {}; rename it",
                shown(key),
                if prefix == "aws:" { "AWS" } else { "amibake" }
            ))
        } else if key.is_empty() || key.chars().count() > 128 {
            Some(format!(
                "tag key `{}` is {} characters: expected 1 to 128 (EC2's limit)",
                shown(key),
                key.chars().count()
            ))
        } else if value.chars().count() > 256 {
            Some(format!(
                "the value of tag `{}` is {} characters: expected at most 256 (EC2's limit)",
                shown(key),
                value.chars().count()
            ))
        } else {
            None
        }
    })
}

/// What is wrong with an image's description, if anything: EC2 takes at most 255
/// characters.
pub fn check_image_description(description: &str) -> Option<String> {
    let n = description.chars().count();
    (n > 255).then(|| {
        format!("`image.description` is {n} characters: expected at most 255 (EC2's limit)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_print_back() {
        for (text, secs, shown) in [
            ("45s", 45, "45s"),
            ("10m", 600, "10m"),
            ("1h30m", 5400, "1h30m"),
            ("90d", 90 * 86_400, "90d"),
            ("2w", 14 * 86_400, "14d"),
        ] {
            let d: Duration = text.parse().unwrap();
            assert_eq!(d.get().as_secs(), secs, "{text}");
            assert_eq!(d.to_string(), shown);
        }
    }

    #[test]
    fn durations_without_unit_or_zero_are_rejected() {
        for text in ["", "600", "10x", "m", "0s", "1h3", "99999999999999999999d"] {
            assert!(
                text.parse::<Duration>().is_err(),
                "{text} should be rejected"
            );
        }
    }

    #[test]
    fn durations_stop_at_ec2_s_ten_years_and_timeouts_at_ssm_s_48_hours() {
        assert_eq!(
            "3650d".parse::<Duration>().unwrap().get().as_secs(),
            MAX_DURATION_SECS
        );
        assert_eq!(
            "48h".parse::<Timeout>().unwrap().get().as_secs(),
            MAX_TIMEOUT_SECS
        );
        assert_eq!("172800s".parse::<Timeout>().unwrap().to_string(), "2d");
        for (text, says) in [
            ("3651d", "at most 3650d"),
            ("5000000000d", "at most 3650d"),
            ("18446744073709551615s", "at most 3650d"),
            ("18446744073709551616s", "at most 3650d"),
            ("99999999999999999999d", "at most 3650d"),
            (&format!("{}s", "9".repeat(5000)), "too long"),
        ] {
            let err = text.parse::<Duration>().unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
            assert!(err.len() < 200, "the message shows a long value cut: {err}");
        }
        for text in ["48h1s", "3d", "18446744073709551615s", "1w"] {
            let err = text.parse::<Timeout>().unwrap_err();
            assert!(err.contains("at most 48h") && err.contains("SSM"), "{err}");
        }
    }

    #[test]
    fn the_unchecked_constructors_saturate_at_the_limits() {
        assert_eq!(
            Duration::from_secs(u64::MAX).get().as_secs(),
            MAX_DURATION_SECS
        );
        assert_eq!(
            Timeout::from_secs(u64::MAX).get().as_secs(),
            MAX_TIMEOUT_SECS
        );
        assert_eq!(VolumeSize::gib(u32::MAX).get(), MAX_VOLUME_GIB);
        assert_eq!(VolumeSize::gib(0).get(), 1);
        // So adding any of them to a clock reading cannot overflow.
        let now = std::time::SystemTime::now();
        assert!(
            now.checked_add(Duration::from_secs(u64::MAX).get())
                .is_some()
        );
    }

    #[test]
    fn volume_sizes_and_types_follow_ebs() {
        let size = |yaml: &str| {
            crate::recipe::yaml::from_str::<VolumeSize>(std::path::Path::new("t"), yaml)
        };
        assert_eq!(size("16384").unwrap().get(), 16_384);
        assert_eq!(size("1").unwrap().get(), 1);
        for bad in [
            "0",
            "16385",
            "-1",
            "4294967296",
            "1.5",
            "99999999999999999999999",
            "x",
        ] {
            let err = size(bad).expect_err(bad);
            assert!(err.message.contains("1 to 16384 GiB"), "{bad}: {err}");
        }
        for ok in ["gp3", "gp2", "standard"] {
            assert!(check_volume_type(ok).is_ok(), "{ok}");
        }
        for bad in ["st1", "sc1", "io1", "io2", "gp4", ""] {
            assert!(
                check_volume_type(bad).unwrap_err().contains("`gp3`"),
                "{bad}"
            );
        }
    }

    #[test]
    fn image_tags_and_description_follow_ec2() {
        use std::collections::BTreeMap;
        let tags = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(check_image_tags(&tags(&[("Team", "platform")])), None);
        let many: BTreeMap<String, String> = (0..41)
            .map(|i| (format!("k{i}"), "v".to_string()))
            .collect();
        assert!(check_image_tags(&many).unwrap().contains("at most 40"));
        let long_key = "k".repeat(129);
        let long_value = "v".repeat(257);
        for (pairs, says) in [
            (tags(&[(&long_key, "v")]), "1 to 128"),
            (tags(&[("k", &long_value)]), "at most 256"),
            (tags(&[("aws:cloudformation:stack-name", "x")]), "reserved"),
            (tags(&[("amibake:complete", "true")]), "belong to amibake"),
        ] {
            let err = check_image_tags(&pairs).unwrap();
            assert!(err.contains(says), "{err}");
        }
        assert_eq!(check_image_description(&"d".repeat(255)), None);
        assert!(
            check_image_description(&"d".repeat(256))
                .unwrap()
                .contains("at most 255")
        );
    }

    #[test]
    fn recipe_names_follow_the_contract() {
        for ok in ["web-tomcat", "a", "al2023-base-2"] {
            assert!(check_recipe_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Web",
            "web_tomcat",
            "-web",
            "web-",
            "w e b",
            &"x".repeat(64),
        ] {
            assert!(check_recipe_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn identifiers_are_checked() {
        assert!(check_ami_id("ami-0123456789abcdef0").is_ok());
        assert!(check_ami_id("ami-12345678").is_ok());
        assert!(check_ami_id("ami-xyz").is_err());
        assert!(check_region("us-west-2").is_ok());
        assert!(check_region("us-gov-west-1").is_ok());
        assert!(check_region("uswest2").is_err());
        assert!(check_account_id("111122223333").is_ok());
        assert!(check_account_id("1111").is_err());
        assert!(check_instance_type("t3.small").is_ok());
        assert!(check_instance_type("t3").is_err());
        assert!(check_unit_name("codedeploy-agent.service").is_ok());
        assert!(check_unit_name("codedeploy-agent").is_err());
        assert!(check_unit_name("x.service; rm -rf /").is_err());
        assert!(check_package_name("java-17-amazon-corretto-headless").is_ok());
        assert!(check_package_name("tomcat9 && curl").is_err());
        assert!(check_file_mode("0644").is_ok());
        assert!(check_file_mode("0944").is_err());
        assert!(check_file_owner("root:root").is_ok());
        assert!(check_file_owner("root;id").is_err());
    }
}
