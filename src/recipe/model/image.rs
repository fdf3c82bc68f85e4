//! `image:`: the image to create, where it is copied, who may launch it, and what the
//! hygiene script cleans from the builder before the stop.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::recipe::types::{AccountId, AmiName, Duration, Region};

use super::Scan;

/// The image to create and where it goes.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    pub name: AmiName,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default = "super::yes")]
    pub encrypted: bool,
    /// KMS key for the copies in other regions. The home-region image inherits the
    /// builder volume's key (`builder.kms_key_id`).
    #[serde(default)]
    pub kms_key_id: Option<String>,
    #[serde(default)]
    pub copy_to: Vec<Region>,
    #[serde(default)]
    pub share_with: ShareWith,
    /// Kept only to refuse it: `validate` rejects `public: true` (every amibake image is
    /// encrypted, and AWS does not make such images public); no image is ever made public.
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub deprecate_after: Option<Duration>,
    /// What the hygiene script cleans before the stop (everything by default).
    #[serde(default)]
    pub hygiene: Hygiene,
    /// Inspector's on-demand scan of the new image, and its limits (none by default).
    #[serde(default)]
    pub scan: Option<Scan>,
}

/// Who may launch the image besides this account.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ShareWith {
    #[serde(default)]
    pub accounts: Vec<AccountId>,
    #[serde(default)]
    pub organizations: Vec<String>,
    #[serde(default)]
    pub organizational_units: Vec<String>,
}

impl ShareWith {
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
            && self.organizations.is_empty()
            && self.organizational_units.is_empty()
    }
}

/// `image.hygiene`: each part of the last-command clean-up can be turned off.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Hygiene {
    /// Stop, disable-then-enable the CodeDeploy agent; remove its deployment root and state.
    pub codedeploy_agent: bool,
    /// `cloud-init clean --logs`, so cloud-init runs again on first boot.
    pub cloud_init: bool,
    /// Remove SSH host keys and every `authorized_keys`.
    pub ssh_keys: bool,
    /// Empty `/etc/machine-id`.
    pub machine_id: bool,
    /// Clear the package manager's caches and history.
    pub package_cache: bool,
    /// Remove shell histories.
    pub history: bool,
    /// Empty `/tmp` and `/var/tmp`.
    pub tmp: bool,
}

impl Default for Hygiene {
    fn default() -> Self {
        Hygiene {
            codedeploy_agent: true,
            cloud_init: true,
            ssh_keys: true,
            machine_id: true,
            package_cache: true,
            history: true,
            tmp: true,
        }
    }
}
