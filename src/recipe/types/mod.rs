//! Validated scalar types of the recipe.
//!
//! Each type checks its value while the YAML is deserialized (`try_from = "String"`), so a
//! bad value is reported by the YAML layer with the line and column of the scalar that
//! holds it — the user sees `recipe.yaml:12:9: … expected …`, not a bare message.
//!
//! Here: the names and identifiers (checked strings); in `duration`, durations and
//! timeouts; in `image`, the builder's volume and the image's tags and description.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Declares a newtype over `String` that is validated on deserialization (the caller's
/// scope provides `fmt`, `Serialize` and `Deserialize`).
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

/// For other modules' checked strings (`recipe::model::path`).
pub(crate) use checked_string;

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
    /// A CodeDeploy agent version: `2.1.0` (the 2.x line) or `1.7.1-110` (the 1.x line).
    AgentVersion,
    agent::check
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

/// A value as a message shows it: at most 40 characters, so a hostile megabyte-long value
/// does not become a megabyte-long error.
fn shown(s: &str) -> String {
    if s.chars().count() <= 40 {
        return s.to_string();
    }
    let head: String = s.chars().take(40).collect();
    format!("{head}…")
}

mod agent;
mod duration;
mod image;

pub use agent::{AgentLine, LATEST_AGENT, LATEST_AGENT_DATE};

pub use duration::{Duration, MAX_DURATION_SECS, MAX_TIMEOUT_SECS, Timeout};
pub use image::{
    MAX_IMAGE_TAGS, MAX_STANDARD_VOLUME_GIB, MAX_VOLUME_GIB, VolumeSize, VolumeType,
    check_image_description, check_image_tags,
};

#[cfg(test)]
mod tests;
