//! An image's state, typed: what every command asks of it (is it available, is a wait for
//! it over, can a copy be reused) is answered here, not by comparing strings.

use std::fmt;

use serde::Serialize;

/// The state of an AMI, as EC2 names it (`DescribeImages`' `State`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageState {
    Pending,
    Available,
    Failed,
    Error,
    Deregistered,
    Invalid,
    Transient,
    Disabled,
    /// A state this version of amibake does not know (kept as EC2 sent it), or none.
    Other(String),
}

impl ImageState {
    /// EC2's name of the state.
    pub fn as_str(&self) -> &str {
        match self {
            ImageState::Pending => "pending",
            ImageState::Available => "available",
            ImageState::Failed => "failed",
            ImageState::Error => "error",
            ImageState::Deregistered => "deregistered",
            ImageState::Invalid => "invalid",
            ImageState::Transient => "transient",
            ImageState::Disabled => "disabled",
            ImageState::Other(s) => s,
        }
    }

    /// Launchable, shareable, copyable.
    pub fn is_available(&self) -> bool {
        *self == ImageState::Available
    }

    /// A wait for the image is over: it became available, or it never will.
    pub fn is_settled(&self) -> bool {
        matches!(
            self,
            ImageState::Available | ImageState::Failed | ImageState::Error
        )
    }

    /// Available, or on its way there: a copy in this state can be reused.
    pub fn is_live(&self) -> bool {
        matches!(self, ImageState::Available | ImageState::Pending)
    }
}

impl From<&str> for ImageState {
    fn from(s: &str) -> ImageState {
        match s {
            "pending" => ImageState::Pending,
            "available" => ImageState::Available,
            "failed" => ImageState::Failed,
            "error" => ImageState::Error,
            "deregistered" => ImageState::Deregistered,
            "invalid" => ImageState::Invalid,
            "transient" => ImageState::Transient,
            "disabled" => ImageState::Disabled,
            other => ImageState::Other(other.to_string()),
        }
    }
}

impl fmt::Display for ImageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ImageState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each EC2 name maps to its own variant (never `Other`, which would round-trip any
    /// string) and back; an unknown name is `Other`, kept as sent.
    #[test]
    fn ec2_names_map_to_their_variants_and_back() {
        let known = [
            ("pending", ImageState::Pending),
            ("available", ImageState::Available),
            ("failed", ImageState::Failed),
            ("error", ImageState::Error),
            ("deregistered", ImageState::Deregistered),
            ("invalid", ImageState::Invalid),
            ("transient", ImageState::Transient),
            ("disabled", ImageState::Disabled),
        ];
        for (name, variant) in known {
            assert_eq!(ImageState::from(name), variant, "{name}");
            assert_eq!(variant.as_str(), name);
        }
        assert_eq!(
            ImageState::from("frozen"),
            ImageState::Other("frozen".into())
        );
        assert_eq!(
            serde_json::to_value(ImageState::Pending).unwrap(),
            "pending"
        );
    }

    #[test]
    fn a_wait_ends_on_available_failed_or_error() {
        assert!(ImageState::Available.is_settled() && ImageState::Error.is_settled());
        assert!(!ImageState::Pending.is_settled());
        assert!(ImageState::Pending.is_live() && !ImageState::Failed.is_live());
        assert!(ImageState::Available.is_available() && !ImageState::Pending.is_available());
    }
}
