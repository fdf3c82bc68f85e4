//! `rebuild:`: what `bake --if-changed` rebuilds for besides changed inputs.
//!
//! The inputs (rendered recipe, source AMI, amibake's major version) say when a recipe
//! changed; they cannot say when the distribution published fixes for what the image
//! already holds. `updates` asks for that too: a small probe instance launched from the
//! newest image asks the package manager what is pending (`probe`), or the image's
//! vulnerability scan answers without an instance (`fix_severity`). The checks between
//! the keys live in [`Rebuild`]'s conversion from what the file says, so a setting that
//! could never act is an error at the `rebuild:` section, not a silent no-op.

use serde::{Deserialize, Serialize};

use crate::recipe::types::InstanceType;
use crate::scan::Severity;

/// What a rebuild is for (`rebuild.updates`, `bake --rebuild-for`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Updates {
    /// Only changed inputs (the default: as `--if-changed` always did).
    #[default]
    Inputs,
    /// Changed inputs, or pending updates from a security archive.
    Security,
    /// Changed inputs, or any pending update.
    Any,
}

impl Updates {
    pub fn as_str(self) -> &'static str {
        match self {
            Updates::Inputs => "inputs",
            Updates::Security => "security",
            Updates::Any => "any",
        }
    }
}

/// `rebuild:` as the recipe holds it, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "RawRebuild")]
pub struct Rebuild {
    pub updates: Updates,
    /// Whether a probe instance answers (true by default unless `updates` is `inputs`).
    pub probe: bool,
    /// The probe's instance type; `None`: t3.micro, or t4g.micro for an arm64 builder.
    pub probe_instance_type: Option<InstanceType>,
    /// Fix-available findings at or above this in the newest image's scan results mean
    /// "rebuild" without a probe.
    pub fix_severity: Option<Severity>,
}

/// `rebuild:` as written, before the checks between its keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRebuild {
    #[serde(default)]
    updates: Updates,
    #[serde(default)]
    probe: Option<bool>,
    #[serde(default)]
    probe_instance_type: Option<InstanceType>,
    #[serde(default)]
    fix_severity: Option<Severity>,
}

impl TryFrom<RawRebuild> for Rebuild {
    type Error = String;

    fn try_from(raw: RawRebuild) -> Result<Rebuild, String> {
        let pending_matters = raw.updates != Updates::Inputs;
        if !pending_matters {
            if raw.probe == Some(true) || raw.fix_severity.is_some() {
                return Err(
                    "`rebuild.updates: inputs` rebuilds for changed inputs only, so \
                     `probe` and `fix_severity` would never act: set `updates: security` or \
                     `updates: any`, or remove them"
                        .into(),
                );
            }
            if raw.probe_instance_type.is_some() {
                return Err("`rebuild.probe_instance_type` without a probe: set \
                     `updates: security` or `updates: any`, or remove it"
                    .into());
            }
        }
        let probe = raw.probe.unwrap_or(pending_matters);
        if pending_matters && !probe && raw.fix_severity.is_none() {
            return Err(format!(
                "`rebuild.updates: {}` with `probe: false` and no `fix_severity`: nothing \
                 could tell whether updates are pending; keep the probe, or set \
                 `fix_severity` (the image's scan results answer)",
                raw.updates.as_str()
            ));
        }
        if !probe && raw.probe_instance_type.is_some() {
            return Err("`rebuild.probe_instance_type` with `probe: false`: remove one".into());
        }
        Ok(Rebuild {
            updates: raw.updates,
            probe,
            probe_instance_type: raw.probe_instance_type,
            fix_severity: raw.fix_severity,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(yaml: &str) -> Result<Rebuild, String> {
        crate::recipe::yaml::from_str(std::path::Path::new("t.yaml"), yaml)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_default_rebuilds_for_inputs_only_and_probes_nothing() {
        let r = read("{}").unwrap();
        assert_eq!(r, Rebuild::default());
        assert!(!r.probe);
    }

    #[test]
    fn security_probes_unless_told_not_to() {
        let r = read("updates: security").unwrap();
        assert_eq!((r.updates, r.probe), (Updates::Security, true));
        let r = read("{updates: any, probe: false, fix_severity: high}").unwrap();
        assert_eq!((r.probe, r.fix_severity), (false, Some(Severity::High)));
    }

    #[test]
    fn settings_that_could_never_act_are_refused() {
        for yaml in [
            "{updates: inputs, probe: true}",
            "{fix_severity: high}",
            "{probe_instance_type: t3.micro}",
            "{updates: security, probe: false}",
            "{updates: any, probe: false, fix_severity: low, probe_instance_type: t3.micro}",
        ] {
            assert!(read(yaml).is_err(), "{yaml} should be refused");
        }
    }

    #[test]
    fn an_unknown_value_lists_the_known_ones() {
        let e = read("updates: patches").unwrap_err();
        assert!(
            e.contains("inputs") && e.contains("security") && e.contains("any"),
            "{e}"
        );
        let e = read("{updates: any, fix_severity: severe}").unwrap_err();
        for s in ["informational", "low", "medium", "high", "critical"] {
            assert!(e.contains(s), "{e}");
        }
        assert!(read("{updates: any, surprise: 1}").is_err());
    }
}
