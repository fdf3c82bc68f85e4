//! `--if-changed` beyond the inputs (`rebuild:`, `--rebuild-for`): the policy the reuse
//! check applies and the probe's actions.
//!
//! The probe sits between the security group and the builder: the reuse check decides
//! whether it runs (only when the inputs are unchanged and the scan results did not
//! already answer), and after it the bake either ends as a reused one or goes on to bake,
//! the builder reusing the security group. Listing it in the plan even when the walk may
//! skip it keeps `plan` the whole truth of what a bake may do.

use serde::Serialize;

use crate::recipe::model::{Rebuild, Source, Updates};
use crate::recipe::types::{Duration, InstanceType};
use crate::scan::Severity;
use crate::script::Script;

use super::{Action, Plan, Role};

/// How long the probe's package-manager query may run (it refreshes the lists first).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// What `--if-changed` rebuilds for, as the plan holds it (`Plan::rebuild`).
#[derive(Debug, Clone, Serialize)]
pub struct RebuildPlan {
    pub updates: Updates,
    /// `--force`: the run rebuilds without looking (no reuse check).
    pub forced: bool,
    /// Fix-available findings at or above this in the newest image's scan results
    /// rebuild without a probe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix_severity: Option<Severity>,
    /// The probe, when the policy asks for one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe: Option<ProbePlan>,
}

/// The probe instance and what it runs.
#[derive(Debug, Clone, Serialize)]
pub struct ProbePlan {
    pub instance_type: InstanceType,
    pub script: Script,
    pub timeout: Duration,
}

impl RebuildPlan {
    /// The policy of a recipe's `rebuild:` with `--rebuild-for` (which replaces
    /// `rebuild.updates`; the probe then follows the recipe's `probe`, on by default);
    /// `None` without `--if-changed`.
    pub fn new(
        rebuild: &Rebuild,
        builder: &crate::recipe::model::Builder,
        source: &Source,
        if_changed: bool,
        forced: bool,
        rebuild_for: Option<Updates>,
    ) -> Option<RebuildPlan> {
        if !if_changed {
            return None;
        }
        let updates = rebuild_for.unwrap_or(rebuild.updates);
        let beyond_inputs = updates != Updates::Inputs;
        // `rebuild.updates: inputs` turns the probe off by default; a flag asking for more
        // turns it back on, as the recipe's default would.
        let probe = match rebuild.updates {
            Updates::Inputs => beyond_inputs,
            _ => rebuild.probe && beyond_inputs,
        };
        let probe = (probe && !forced).then(|| ProbePlan {
            instance_type: rebuild
                .probe_instance_type
                .clone()
                .unwrap_or_else(|| default_probe_type(builder, source)),
            script: crate::script::probe(builder.os),
            timeout: PROBE_TIMEOUT,
        });
        Some(RebuildPlan {
            updates,
            forced,
            fix_severity: rebuild.fix_severity.filter(|_| beyond_inputs),
            probe,
        })
    }
}

/// t3.micro, or t4g.micro when the builder is an arm64 (Graviton) type or the source
/// filter asks for arm64: the probe boots the same image, so the same architecture.
fn default_probe_type(builder: &crate::recipe::model::Builder, source: &Source) -> InstanceType {
    let arm = is_graviton(builder.instance_type.as_str())
        || matches!(source, Source::Filter(f) if f.architecture == "arm64");
    let name = if arm { "t4g.micro" } else { "t3.micro" };
    InstanceType::try_from(name.to_string()).unwrap_or_else(|_| builder.instance_type.clone())
}

/// Whether an instance type is Graviton (arm64): `a1`, or a `g` among the letters after
/// the generation (`t4g`, `c6gn`, `m7gd`, `g5g`, `im4gn`), not before it (`g5` is x86).
fn is_graviton(instance_type: &str) -> bool {
    let family = instance_type.split('.').next().unwrap_or_default();
    if family == "a1" {
        return true;
    }
    let after = family.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = after.trim_start_matches(|c: char| c.is_ascii_digit());
    suffix.split('-').next().unwrap_or_default().contains('g')
}

impl Plan {
    /// `amibake outdated`: only what decides whether the newest image is behind — the
    /// source, the reuse check (with the scan results), and the probe with what it needs
    /// (the host-management check, the temporary security group) — and the cleanup. No
    /// preflight, builder, image or manifest: nothing is baked.
    pub fn outdated(mut self) -> Plan {
        self.actions.retain(|a| {
            matches!(
                a,
                Action::ResolveSource
                    | Action::ReuseCheck { .. }
                    | Action::CheckHostManagement
                    | Action::CreateSecurityGroup
                    | Action::Launch {
                        role: Role::Probe,
                        ..
                    }
                    | Action::WaitReady {
                        role: Role::Probe,
                        ..
                    }
                    | Action::ProbeUpdates { .. }
                    | Action::Terminate { role: Role::Probe }
                    | Action::Cleanup { .. }
            )
        });
        if self.rebuild.as_ref().is_none_or(|r| r.probe.is_none()) {
            // No probe: nothing needs the host-management check or a security group.
            self.actions.retain(|a| {
                !matches!(a, Action::CheckHostManagement | Action::CreateSecurityGroup)
            });
        }
        self
    }
}

/// The probe's actions (none when the plan has no probe).
pub(super) fn actions(plan: &Plan) -> Vec<Action> {
    let Some(probe) = plan.rebuild.as_ref().and_then(|r| r.probe.as_ref()) else {
        return Vec::new();
    };
    let updates = plan.rebuild.as_ref().map_or(Updates::Any, |r| r.updates);
    vec![
        Action::Launch {
            role: Role::Probe,
            instance_type: probe.instance_type.clone(),
        },
        Action::WaitReady {
            role: Role::Probe,
            timeout: plan.builder.ready_timeout,
        },
        Action::ProbeUpdates {
            script: probe.script.clone(),
            timeout: probe.timeout,
            updates,
        },
        Action::Terminate { role: Role::Probe },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graviton_types_are_told_apart() {
        for arm in [
            "t4g.micro",
            "c6gn.large",
            "m7gd.xlarge",
            "g5g.xlarge",
            "im4gn.large",
            "a1.medium",
        ] {
            assert!(is_graviton(arm), "{arm}");
        }
        for x86 in [
            "t3.micro",
            "g5.xlarge",
            "m7i-flex.large",
            "c5n.large",
            "inf2.xlarge",
        ] {
            assert!(!is_graviton(x86), "{x86}");
        }
    }
}
