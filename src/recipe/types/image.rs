//! What a recipe says about the image and its builder's disk: the root volume's size and
//! type, the image's tags and description, each checked against EC2's limits.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::shown;

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

pub(super) fn check_volume_type(s: &str) -> Result<(), String> {
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
/// adds up to 10 of its own (`Name`, `amibake:*`) besides the agent pin, which it leaves
/// off where it does not fit (`crate::recipe::model` budget.rs: 11 with it).
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
