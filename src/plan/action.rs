//! The order of a bake, written once: the list of actions `plan` prints and `bake` walks.
//!
//! Every action carries what it needs to run — instance type, script, timeout — so the bake
//! decides nothing the plan did not show. The copies and the boot test run side by side
//! ([`Action::Distribute`]); everything else runs in list order.

use std::path::PathBuf;

use serde::Serialize;

use crate::preflight::Preflight;
use crate::recipe::types::{Duration, InstanceType, Region};
use crate::script::{RenderedStep, Script};

use super::{BootTestPlan, Overrides, Plan, PlannedCheck};

/// How long the builder may take to stop before the image is made.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// How long an image (or a copy) may take to become available.
pub const IMAGE_TIMEOUT: Duration = Duration::from_secs(90 * 60);
/// How long the image hygiene script may run.
pub const HYGIENE_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// Which instance an action addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The instance the steps run on; its stopped volume becomes the image.
    Builder,
    /// The instance launched from the new image to prove it boots right.
    BootTest,
    /// `--if-changed` with `rebuild.updates` beyond inputs: the small instance launched
    /// from the newest image to ask its package manager what is pending.
    Probe,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Builder => "builder",
            Role::BootTest => "boot-test",
            Role::Probe => "probe",
        }
    }
}

/// Which checks: on the builder before the image, or on the boot-test instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckPhase {
    Validate,
    BootTest,
}

impl CheckPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckPhase::Validate => "validate",
            CheckPhase::BootTest => "boot-test",
        }
    }
}

/// What happens to the builder and a half-made image when a bake fails (`--on-error`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum OnError {
    /// Terminate instances, delete the security group, deregister images (default).
    #[default]
    Cleanup,
    /// Leave them for debugging and print how to open a session.
    Keep,
}

/// One thing a bake does.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// `--history ssm`: read how long this recipe's waits took from its SSM parameter
    /// (a read that fails only means cold waits).
    ReadHistory { parameter: String },
    /// Find the source AMI (the plan's `source`) and check it is available.
    ResolveSource,
    /// `--if-changed`: look in each region for an available image of this recipe with the
    /// same input hash. When every region has one the bake ends here, writing that
    /// image's manifest, and launches nothing — unless `updates` asks more of it: then
    /// the newest image's scan results (`fix_severity`) or the probe decide
    /// ([`super::probe`]).
    ReuseCheck {
        regions: Vec<String>,
        updates: crate::recipe::model::Updates,
        #[serde(skip_serializing_if = "Option::is_none")]
        fix_severity: Option<crate::scan::Severity>,
        /// Whether the probe's actions follow (run when the reuse check leaves it to them).
        probe: bool,
    },
    /// No instance profile named: check the account's Default Host Management
    /// Configuration gives the instances SSM access, before anything is created.
    CheckHostManagement,
    /// Before anything is created, check that the image's name is free in every region it
    /// goes to (always), every copy region is enabled, every key is usable where it
    /// encrypts, and every share target may use it ([`crate::preflight`]).
    Preflight(Preflight),
    /// A security group with no inbound rule, for the builder and the boot test.
    CreateSecurityGroup,
    /// Launch an instance: the builder from the source AMI, the boot test from the new one.
    Launch {
        role: Role,
        instance_type: InstanceType,
    },
    /// Wait until the instance runs and its SSM agent is Online.
    WaitReady { role: Role, timeout: Duration },
    /// One of the recipe's steps on the builder.
    Step {
        index: usize,
        total: usize,
        step: RenderedStep,
    },
    /// Checks judged on their output; all run, all must pass.
    Checks {
        phase: CheckPhase,
        checks: Vec<PlannedCheck>,
    },
    /// The last command on the builder before it stops (`image.hygiene`).
    Hygiene { script: Script, timeout: Duration },
    /// On the probe instance: ask the package manager what is pending; the pending
    /// updates `updates` counts rebuild, none end the bake as a reused one once the probe
    /// is terminated.
    ProbeUpdates {
        script: Script,
        timeout: Duration,
        updates: crate::recipe::model::Updates,
    },
    /// On the boot-test instance: wait until cloud-init and the boot are done.
    WaitForBoot { script: Script, timeout: Duration },
    /// Stop the builder, so that the image is made of a quiet disk.
    StopBuilder { timeout: Duration },
    /// Create the image (the plan's `image`) and wait until it is available.
    CreateImage { timeout: Duration },
    /// Set the image's deprecation time.
    Deprecate { after: Duration },
    /// Terminate an instance that has served its purpose (stop paying for it now).
    Terminate { role: Role },
    /// The copies, the boot test and the scan, side by side: any failing fails the bake.
    Distribute {
        copies: Vec<Action>,
        boot_test: Vec<Action>,
        /// [`Action::Scan`] when the recipe asks for it.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        scan: Vec<Action>,
    },
    /// Inspector's on-demand scan of the home-region image, its findings judged against
    /// `limits` (`image.scan`).
    Scan {
        timeout: Duration,
        limits: crate::scan::ScanLimits,
    },
    /// Copy the image to a region and wait until the copy is available.
    Copy { region: Region, timeout: Duration },
    /// Grant launch permission on every image and its snapshots.
    Share,
    /// Tag every image `amibake:complete=true`: from now on `sweep` leaves it alone.
    MarkComplete,
    /// Delete the temporary security group (and, after a failure, what the bake left,
    /// unless `on_error` keeps it). Performed on every path, after a failure or an
    /// interrupt too.
    Cleanup { on_error: OnError },
    /// `--history ssm`: write what the waits took back to the parameter read (on every
    /// path; nothing when nothing changed).
    WriteHistory { parameter: String },
    /// Write the manifest to `manifest` (only after success).
    WriteManifest { manifest: PathBuf },
}

impl Action {
    /// A name for this action, unique within its plan: what the `--json` plan calls it and
    /// what the walk tags each AWS request made while performing it with, so that the calls
    /// a bake makes can be checked, action by action, against the plan's lists.
    pub fn id(&self) -> String {
        match self {
            Action::ReadHistory { .. } => "read_history".into(),
            Action::ResolveSource => "resolve_source".into(),
            Action::ReuseCheck { .. } => "reuse_check".into(),
            Action::CheckHostManagement => "check_host_management".into(),
            Action::Preflight(_) => "preflight".into(),
            Action::CreateSecurityGroup => "create_security_group".into(),
            Action::Launch { role, .. } => format!("launch:{}", role.as_str()),
            Action::WaitReady { role, .. } => format!("wait_ready:{}", role.as_str()),
            Action::Step { index, .. } => format!("step:{index}"),
            Action::Checks { phase, .. } => format!("checks:{}", phase.as_str()),
            Action::Hygiene { .. } => "hygiene".into(),
            Action::WaitForBoot { .. } => "wait_for_boot".into(),
            Action::ProbeUpdates { .. } => "probe_updates".into(),
            Action::StopBuilder { .. } => "stop_builder".into(),
            Action::CreateImage { .. } => "create_image".into(),
            Action::Deprecate { .. } => "deprecate".into(),
            Action::Terminate { role } => format!("terminate:{}", role.as_str()),
            Action::Distribute { .. } => "distribute".into(),
            Action::Scan { .. } => "scan".into(),
            Action::Copy { region, .. } => format!("copy:{region}"),
            Action::Share => "share".into(),
            Action::MarkComplete => "mark_complete".into(),
            Action::Cleanup { .. } => "cleanup".into(),
            Action::WriteHistory { .. } => "write_history".into(),
            Action::WriteManifest { .. } => "write_manifest".into(),
        }
    }

    /// Whether the action closes the bake: performed on every path once the walk has
    /// ended (the cleanup and the history write after a failure too; the manifest only
    /// after success).
    pub fn closes(&self) -> bool {
        matches!(
            self,
            Action::Cleanup { .. } | Action::WriteHistory { .. } | Action::WriteManifest { .. }
        )
    }

    /// The phase an action belongs to: its time is reported and kept in the manifest under
    /// this name. `None`: quick bookkeeping outside any phase.
    pub fn phase(&self) -> Option<&'static str> {
        Some(match self {
            Action::CreateSecurityGroup
            | Action::Launch {
                role: Role::Builder,
                ..
            } => "launch",
            Action::WaitReady {
                role: Role::Builder,
                ..
            } => "ready",
            Action::Step { .. } => "steps",
            Action::Checks {
                phase: CheckPhase::Validate,
                ..
            } => "validate",
            Action::Hygiene { .. } => "hygiene",
            Action::StopBuilder { .. }
            | Action::CreateImage { .. }
            | Action::Deprecate { .. }
            | Action::Terminate {
                role: Role::Builder,
            } => "image",
            Action::Distribute { .. } => "distribute",
            _ => return None,
        })
    }
}

/// The actions of a plan, in order.
pub(super) fn actions(plan: &Plan, overrides: &Overrides) -> Vec<Action> {
    let history = overrides
        .history_prefix
        .as_deref()
        .map(|prefix| crate::aws::history::account::parameter_name(prefix, &plan.recipe));
    let mut list: Vec<Action> = history
        .iter()
        .map(|parameter| Action::ReadHistory {
            parameter: parameter.clone(),
        })
        .collect();
    list.push(Action::ResolveSource);
    if overrides.reuse {
        let copies = plan.image.copy_to.iter().map(|r| r.to_string());
        let rebuild = plan.rebuild.as_ref();
        list.push(Action::ReuseCheck {
            regions: std::iter::once(plan.region.clone()).chain(copies).collect(),
            updates: rebuild.map(|r| r.updates).unwrap_or_default(),
            fix_severity: rebuild.and_then(|r| r.fix_severity),
            probe: rebuild.is_some_and(|r| r.probe.is_some()),
        });
    }
    list.extend(builder_actions(plan));
    list.extend(image_actions(plan));
    list.push(Action::MarkComplete);
    list.push(Action::Cleanup {
        on_error: overrides.on_error,
    });
    list.extend(history.map(|parameter| Action::WriteHistory { parameter }));
    list.push(Action::WriteManifest {
        manifest: overrides.manifest.clone(),
    });
    list
}

/// From the checks before anything is created to the builder ready for its image.
fn builder_actions(plan: &Plan) -> Vec<Action> {
    let mut list = Vec::new();
    if plan.builder.iam_instance_profile.is_none() {
        list.push(Action::CheckHostManagement);
    }
    let image = &plan.image;
    list.push(Action::Preflight(Preflight::of(
        &plan.region,
        plan.builder.kms_key_id.as_deref(),
        &image.name,
        &image.copy_to,
        image.kms_key_id.as_deref(),
        crate::preflight::ShareTargets {
            accounts: image.share_accounts.iter().map(|a| a.to_string()).collect(),
            organizations: image.share_organizations.clone(),
            organizational_units: image.share_organizational_units.clone(),
        },
        image.scan.is_some(),
    )));
    if plan.builder.security_group_ids.is_empty() {
        list.push(Action::CreateSecurityGroup);
    }
    list.extend(super::probe::actions(plan));
    list.push(Action::Launch {
        role: Role::Builder,
        instance_type: plan.builder.instance_type.clone(),
    });
    list.push(Action::WaitReady {
        role: Role::Builder,
        timeout: plan.builder.ready_timeout,
    });
    let total = plan.steps.len();
    list.extend(plan.steps.iter().enumerate().map(|(i, step)| Action::Step {
        index: i + 1,
        total,
        step: step.clone(),
    }));
    if !plan.validate.is_empty() {
        list.push(Action::Checks {
            phase: CheckPhase::Validate,
            checks: plan.validate.clone(),
        });
    }
    if let Some(script) = &plan.hygiene {
        list.push(Action::Hygiene {
            script: script.clone(),
            timeout: HYGIENE_TIMEOUT,
        });
    }
    list
}

/// The image: made, deprecated, copied and boot-tested side by side, shared.
fn image_actions(plan: &Plan) -> Vec<Action> {
    let mut list = vec![
        Action::StopBuilder {
            timeout: STOP_TIMEOUT,
        },
        Action::CreateImage {
            timeout: IMAGE_TIMEOUT,
        },
    ];
    if let Some(after) = plan.image.deprecate_after {
        list.push(Action::Deprecate { after });
    }
    list.push(Action::Terminate {
        role: Role::Builder,
    });
    let copies: Vec<Action> = plan
        .image
        .copy_to
        .iter()
        .map(|region| Action::Copy {
            region: region.clone(),
            timeout: IMAGE_TIMEOUT,
        })
        .collect();
    let boot_test = plan
        .boot_test
        .as_ref()
        .map(|bt| boot_test_actions(bt, plan.builder.ready_timeout))
        .unwrap_or_default();
    let scan: Vec<Action> = plan
        .image
        .scan
        .iter()
        .map(|s| Action::Scan {
            timeout: s.timeout.into(),
            limits: s.limits(),
        })
        .collect();
    if !copies.is_empty() || !boot_test.is_empty() || !scan.is_empty() {
        list.push(Action::Distribute {
            copies,
            boot_test,
            scan,
        });
    }
    if plan.image.shares() {
        list.push(Action::Share);
    }
    list
}

fn boot_test_actions(bt: &BootTestPlan, ready_timeout: Duration) -> Vec<Action> {
    let mut list = vec![
        Action::Launch {
            role: Role::BootTest,
            instance_type: bt.instance_type.clone(),
        },
        Action::WaitReady {
            role: Role::BootTest,
            timeout: ready_timeout,
        },
        Action::WaitForBoot {
            script: bt.wait.clone(),
            timeout: bt.wait_timeout,
        },
    ];
    if !bt.checks.is_empty() {
        list.push(Action::Checks {
            phase: CheckPhase::BootTest,
            checks: bt.checks.clone(),
        });
    }
    list.push(Action::Terminate {
        role: Role::BootTest,
    });
    list
}
