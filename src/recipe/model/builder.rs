//! `builder:`: the temporary instance the image is baked on, and its OS family.
//!
//! The OS family is the one setting later stages branch on (package manager, agent
//! package format), so [`Os`] lives here with the instance it describes.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::recipe::types::{InstanceType, Timeout, VolumeSize, VolumeType};

/// The temporary instance the image is baked on.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Builder {
    #[serde(default)]
    pub os: Os,
    #[serde(default = "default_instance_type")]
    pub instance_type: InstanceType,
    /// Must grant AmazonSSMManagedInstanceCore, or the SSM agent never comes online.
    /// Optional: without it the account's Default Host Management Configuration (an SSM
    /// service setting) must give instances SSM access, which `bake` checks first.
    #[serde(default)]
    pub iam_instance_profile: Option<String>,
    #[serde(default)]
    pub subnet_id: Option<String>,
    /// When empty, bake creates a temporary security group with no inbound rule.
    #[serde(default)]
    pub security_group_ids: Vec<String>,
    #[serde(default = "default_volume_size")]
    pub volume_size_gb: VolumeSize,
    #[serde(default = "default_volume_type")]
    pub volume_type: VolumeType,
    /// KMS key for the builder's encrypted root volume; the account default when absent.
    #[serde(default)]
    pub kms_key_id: Option<String>,
    /// Needed in a public subnet without a NAT gateway or VPC endpoints for SSM.
    #[serde(default)]
    pub associate_public_ip_address: Option<bool>,
    /// How long the builder may take to start and register with SSM.
    #[serde(default = "default_ready_timeout")]
    pub ready_timeout: Timeout,
}

fn default_instance_type() -> InstanceType {
    InstanceType::try_from("t3.small".to_string()).expect("valid default")
}
fn default_volume_size() -> VolumeSize {
    VolumeSize::gib(16)
}
fn default_volume_type() -> VolumeType {
    VolumeType::try_from("gp3".to_string()).expect("valid default")
}
fn default_ready_timeout() -> Timeout {
    Timeout::from_secs(600)
}

/// The operating system family of the builder; selects the package manager and the
/// CodeDeploy agent package format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    #[default]
    Al2023,
    Al2,
    Ubuntu,
    Debian,
}

impl Os {
    /// Whether the family uses rpm packages (dnf/yum) rather than deb (apt).
    pub fn is_rpm(self) -> bool {
        matches!(self, Os::Al2023 | Os::Al2)
    }
}

impl fmt::Display for Os {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Os::Al2023 => "al2023",
            Os::Al2 => "al2",
            Os::Ubuntu => "ubuntu",
            Os::Debian => "debian",
        })
    }
}
