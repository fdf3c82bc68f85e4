//! Preflight: before anything is created, can the image, its copies and shares be made?
//!
//! An AMI name this account already holds in the home region or a copy region makes
//! CreateImage or CopyImage fail after the whole build: the preflight first asks each of
//! those regions whether the name is free (`ec2:DescribeImages`, Owners=self, a `name`
//! filter). A copy to a region the account has not enabled, a key missing in a copy region, or a
//! share whose key the other account may not use fails only at the end of a bake (or,
//! for a share, when the other account first launches the image). The preflight asks
//! first: every copy region is enabled (`ec2:DescribeRegions`), the key that encrypts the
//! image in each region exists there, is enabled and symmetric (`kms:DescribeKey`; with no
//! key named, the region's default EBS key, `ec2:GetEbsDefaultKmsKeyId`), and when the
//! image is shared, every account, organization and OU may use that key
//! (`kms:GetKeyPolicy`, `kms:ListGrants`, read by [`policy`]). Every check runs; every
//! failure is reported with its fix. When the recipe scans its image (`image.scan`), the
//! home region must be one Inspector serves (a built-in list, [`crate::scan::regions`]:
//! no call) and the identity must be allowed to read scans and their findings
//! (`inspector2:GetOnDemandScanStatus` of a made-up scan, `ec2:GetImageFindings` with
//! DryRun).
//!
//! What it checks is planned offline ([`Preflight::of`]: `plan` prints it); [`run`]
//! makes the calls (`bake` walks it, `plan --check` runs only it). What can be known
//! without a call costs none: a region AWS launched before 20 March 2019 is enabled in
//! every account and cannot be disabled, and a copy that neither names a key nor is
//! shared uses the region's default EBS key, which nothing in the recipe chose — so a
//! nightly bake that copies to the usual regions pays only its name checks (one
//! DescribeImages per region) for its preflight.

use serde::Serialize;

use crate::recipe::types::Region;

mod event;
pub mod policy;
mod run;
mod scan;

pub use event::{CheckState, PreflightEvent};
pub use run::{Finding, PreflightError, run};

/// What the preflight checks, in order.
#[derive(Debug, Clone, Serialize)]
pub struct Preflight {
    pub checks: Vec<Check>,
    /// Who the image is shared with (the `key` checks' targets).
    pub share_accounts: Vec<String>,
    pub share_organizations: Vec<String>,
    pub share_organizational_units: Vec<String>,
}

/// One check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "check", rename_all = "snake_case")]
pub enum Check {
    /// No image of this account in `region` is named `name` yet (CreateImage at home,
    /// CopyImage in a copy region, would refuse it after the whole build).
    AmiNameFree { region: String, name: String },
    /// The account may use this copy region (`by_default`: a default region, enabled in
    /// every account; no call).
    RegionEnabled { region: String, by_default: bool },
    /// The key that encrypts the image in `region` is usable there (and, when `shared`,
    /// by every share target). `key: None`: the region's default EBS key.
    Key {
        region: String,
        key: Option<String>,
        /// The recipe setting that names the key (`builder.kms_key_id` at home,
        /// `image.kms_key_id` for copies): what a fix changes.
        setting: &'static str,
        shared: bool,
    },
    /// Inspector can scan the new image in `region` (the home region: copies are not
    /// scanned) and this identity may read the scan: `served` is whether Inspector serves
    /// the region (the built-in list; no call when it does not).
    Scan { region: String, served: bool },
}

impl Check {
    /// The check's name in events (`ami_name_free`, `region_enabled`, `key`).
    pub fn name(&self) -> &'static str {
        match self {
            Check::AmiNameFree { .. } => "ami_name_free",
            Check::RegionEnabled { .. } => "region_enabled",
            Check::Key { .. } => "key",
            Check::Scan { .. } => "scan",
        }
    }

    /// The region it is about.
    pub fn region(&self) -> &str {
        match self {
            Check::AmiNameFree { region, .. }
            | Check::RegionEnabled { region, .. }
            | Check::Key { region, .. }
            | Check::Scan { region, .. } => region,
        }
    }

    /// One line for `plan`.
    pub fn describe(&self) -> String {
        match self {
            Check::AmiNameFree { region, name } => {
                format!("no AMI of this account in {region} is named {name} yet")
            }
            Check::RegionEnabled {
                region,
                by_default: true,
            } => format!("copy region {region} is enabled in every account (a default region)"),
            Check::RegionEnabled { region, .. } => {
                format!("copy region {region} is enabled for the account")
            }
            Check::Key {
                region,
                key,
                setting,
                shared,
            } => {
                let key = key.as_deref().map_or_else(
                    || format!("the default EBS key of {region} (no {setting})"),
                    |k| format!("{k} ({setting})"),
                );
                let share = if *shared {
                    ", and every share target may use it"
                } else {
                    ""
                };
                format!("{key} exists in {region}, is enabled and symmetric{share}")
            }
            Check::Scan {
                region,
                served: true,
            } => format!(
                "Inspector serves {region}, and this identity may read its scans and the \
                 image's findings"
            ),
            Check::Scan { region, .. } => format!(
                "Inspector serves {region}: NO, {region} is not in amibake's list of the \
                 regions Inspector serves (of {}), so this check fails (image.scan)",
                crate::scan::regions::SERVED_AS_OF
            ),
        }
    }
}

/// The regions AWS launched before 20 March 2019: enabled in every account, and they
/// cannot be disabled (AWS Account Management, "Enable or disable AWS Regions in your
/// account"). Later regions are opt-in.
const ENABLED_BY_DEFAULT: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "sa-east-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
];

/// Who a bake shares its image with: each must be able to use the key of every region.
pub struct ShareTargets {
    pub accounts: Vec<String>,
    pub organizations: Vec<String>,
    pub organizational_units: Vec<String>,
}

impl Preflight {
    /// The checks of a bake (never none: every bake names an image): the image's name in
    /// the home region and each copy region, each copy region, the key of every
    /// region that gets an image when the recipe names one or the image is shared, and
    /// the scan when `scan` (`image.scan`). The plan passes what they need
    /// (`builder.kms_key_id`, the image's name, `copy_to`, `image.kms_key_id`, the share
    /// targets), so the preflight does not depend on it.
    pub fn of(
        home: &str,
        builder_key: Option<&str>,
        name: &str,
        copy_to: &[Region],
        image_key: Option<&str>,
        shares: ShareTargets,
        scan: bool,
    ) -> Preflight {
        let shared = !shares.accounts.is_empty()
            || !shares.organizations.is_empty()
            || !shares.organizational_units.is_empty();
        let regions = std::iter::once(home).chain(copy_to.iter().map(|r| r.as_str()));
        let mut checks: Vec<Check> = regions
            .map(|region| Check::AmiNameFree {
                region: region.to_string(),
                name: name.to_string(),
            })
            .collect();
        checks.extend(copy_to.iter().map(|r| Check::RegionEnabled {
            region: r.to_string(),
            by_default: ENABLED_BY_DEFAULT.contains(&r.as_str()),
        }));
        let key = |region: &str, key: Option<&str>, setting| {
            (key.is_some() || shared).then(|| Check::Key {
                region: region.to_string(),
                key: key.map(str::to_string),
                setting,
                shared,
            })
        };
        checks.extend(key(home, builder_key, "builder.kms_key_id"));
        checks.extend(
            copy_to
                .iter()
                .filter_map(|r| key(r.as_str(), image_key, "image.kms_key_id")),
        );
        checks.extend(scan.then(|| Check::Scan {
            region: home.to_string(),
            served: crate::scan::regions::served(home),
        }));
        Preflight {
            checks,
            share_accounts: shares.accounts,
            share_organizations: shares.organizations,
            share_organizational_units: shares.organizational_units,
        }
    }

    /// The calls the checks make, each with whether the preflight always makes it
    /// (`false`: only for some keys: none for the AWS managed key `aws/ebs`, the key
    /// policy and grants only for a customer managed key of a shared image). The plan
    /// lists them ([`crate::plan::Calls`]).
    pub fn calls(&self) -> Vec<(&'static str, bool)> {
        use crate::aws::calls;
        let opt_in = |c: &Check| {
            matches!(
                c,
                Check::RegionEnabled {
                    by_default: false,
                    ..
                }
            )
        };
        let key = |c: &Check| matches!(c, Check::Key { .. });
        let default_key = |c: &Check| matches!(c, Check::Key { key: None, .. });
        let shared = |c: &Check| matches!(c, Check::Key { shared: true, .. });
        let name = |c: &Check| matches!(c, Check::AmiNameFree { .. });
        // A region Inspector does not serve fails without a call.
        let scan = |c: &Check| matches!(c, Check::Scan { served: true, .. });
        type Needs = fn(&Check) -> bool;
        let table: [(Needs, &'static str, bool); 8] = [
            (name, calls::EC2_DESCRIBE_IMAGES, true),
            (opt_in, calls::EC2_DESCRIBE_REGIONS, true),
            (default_key, calls::EC2_GET_EBS_DEFAULT_KMS_KEY_ID, true),
            (key, calls::KMS_DESCRIBE_KEY, false),
            (shared, calls::KMS_GET_KEY_POLICY, false),
            (shared, calls::KMS_LIST_GRANTS, false),
            (scan, calls::INSPECTOR2_GET_ON_DEMAND_SCAN_STATUS, true),
            (scan, calls::EC2_GET_IMAGE_FINDINGS, true),
        ];
        table
            .into_iter()
            .filter(|(needs, _, _)| self.checks.iter().any(needs))
            .map(|(_, call, always)| (call, always))
            .collect()
    }

    /// The share targets, as the policy reader names them.
    pub fn targets(&self) -> Vec<policy::Target> {
        let accounts = self
            .share_accounts
            .iter()
            .cloned()
            .map(policy::Target::Account);
        let orgs = (self.share_organizations.iter().cloned()).map(policy::Target::Organization);
        let ous = (self.share_organizational_units.iter().cloned())
            .map(policy::Target::OrganizationalUnit);
        accounts.chain(orgs).chain(ous).collect()
    }
}

#[cfg(test)]
mod scan_tests {
    use super::*;
    use crate::aws::calls;

    fn of(home: &str, scan: bool) -> Preflight {
        let shares = ShareTargets {
            accounts: vec![],
            organizations: vec![],
            organizational_units: vec![],
        };
        Preflight::of(home, None, "n", &[], None, shares, scan)
    }

    #[test]
    fn a_scan_checks_the_home_region_and_reads_a_scan_and_findings() {
        let p = of("us-east-1", true);
        let scan = Check::Scan {
            region: "us-east-1".into(),
            served: true,
        };
        assert_eq!(p.checks.last(), Some(&scan));
        let made = p.calls();
        assert!(made.contains(&(calls::INSPECTOR2_GET_ON_DEMAND_SCAN_STATUS, true)));
        assert!(made.contains(&(calls::EC2_GET_IMAGE_FINDINGS, true)));
        assert!(
            !of("us-east-1", false)
                .checks
                .iter()
                .any(|c| matches!(c, Check::Scan { .. }))
        );
    }

    #[test]
    fn a_region_inspector_does_not_serve_fails_without_a_call() {
        let p = of("ap-southeast-6", true);
        let check = p.checks.last().unwrap();
        assert_eq!(
            check,
            &Check::Scan {
                region: "ap-southeast-6".into(),
                served: false
            }
        );
        assert!(
            check
                .describe()
                .contains(crate::scan::regions::SERVED_AS_OF)
        );
        let made: Vec<_> = p.calls().into_iter().map(|(c, _)| c).collect();
        assert_eq!(made, [calls::EC2_DESCRIBE_IMAGES]);
    }
}
