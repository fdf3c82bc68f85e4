//! The AWS calls of each action, written once: `plan` prints them (the `api:` lines and
//! the `--json` plan's `calls` and `always`), and a test compares them, action by action,
//! with the calls a bake on the emulator made. Every name comes from
//! [`crate::aws::calls`], the constants the wrappers that make the calls tag their errors
//! with.
//!
//! The list is what the code of the action may call: retries, polls (the waits ask
//! again and again) and the calls a failure path makes (cleanup deletes snapshots only
//! after a failure) included. `always` is what a successful run of the action calls at
//! least once, in a bake that walks every action: when a bake ends early (`--if-changed`
//! reusing an image), the cleanup has no security group to delete and makes none of its
//! calls. An action's lists include those of the actions nested in it
//! ([`Action::Distribute`]).

use serde::Serialize;

use crate::aws::calls::*;
use crate::recipe::model::Source;
use crate::script::StepCommand;

use super::Plan;
use super::action::{Action, OnError};

/// The calls of one action, each sorted and without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Calls {
    /// Every call the action may make.
    pub calls: Vec<&'static str>,
    /// The calls a successful run of the action always makes (a subset of `calls`), in a
    /// bake that walks every action (a reused image's cleanup makes none).
    pub always: Vec<&'static str>,
}

impl Calls {
    /// Calls made on every successful run.
    fn always(mut self, calls: &[&'static str]) -> Calls {
        self.always.extend(calls);
        self.may(calls)
    }

    /// Calls made only sometimes (a poll that asks now and then, a failure path).
    fn may(mut self, calls: &[&'static str]) -> Calls {
        self.calls.extend(calls);
        self
    }

    /// Both lists of `self` and `other`.
    fn and(self, other: Calls) -> Calls {
        self.always(&other.always).may(&other.calls)
    }

    fn sorted(mut self) -> Calls {
        for list in [&mut self.calls, &mut self.always] {
            list.sort_unstable();
            list.dedup();
        }
        self
    }
}

/// A command over SSM and its polling to the end.
const COMMAND: &[&str] = &[SSM_SEND_COMMAND, SSM_GET_COMMAND_INVOCATION];

impl Action {
    /// The AWS calls this action makes in `plan` (whose source, subnet and deprecation
    /// decide some of them).
    pub fn calls(&self, plan: &Plan) -> Calls {
        let none = Calls::default();
        match self {
            Action::ReadHistory { .. } => none.always(&[SSM_GET_PARAMETER]),
            // A new parameter is created with its tags (PutParameter's Tags); an unchanged
            // history is not written at all.
            Action::WriteHistory { .. } => none.may(&[SSM_PUT_PARAMETER]),
            // With `fix_severity`, the newest image's scan results too (its findings only
            // when it has been scanned).
            Action::ReuseCheck { fix_severity, .. } => match fix_severity {
                Some(_) => none
                    .always(&[EC2_DESCRIBE_IMAGES])
                    .may(&[EC2_GET_IMAGE_FINDINGS]),
                None => none.always(&[EC2_DESCRIBE_IMAGES]),
            },
            Action::ResolveSource => match &plan.source {
                Source::SsmParameter(_) => none.always(&[SSM_GET_PARAMETER, EC2_DESCRIBE_IMAGES]),
                Source::Ami(_) | Source::Filter(_) => none.always(&[EC2_DESCRIBE_IMAGES]),
            },
            Action::CheckHostManagement => none.always(&[SSM_GET_SERVICE_SETTING]),
            Action::Preflight(p) => {
                p.calls()
                    .into_iter()
                    .fold(none, |c, (call, always)| match always {
                        true => c.always(&[call]),
                        false => c.may(&[call]),
                    })
            }
            Action::CreateSecurityGroup => match plan.builder.subnet_id {
                Some(_) => none.always(&[EC2_DESCRIBE_SUBNETS, EC2_CREATE_SECURITY_GROUP]),
                None => none.always(&[EC2_CREATE_SECURITY_GROUP]),
            },
            Action::Launch { .. } => none.always(&[EC2_RUN_INSTANCES]),
            // SSM is asked every time, EC2 now and then (did the instance die?) and once
            // more on a timeout.
            Action::WaitReady { .. } => none
                .always(&[SSM_DESCRIBE_INSTANCE_INFORMATION])
                .may(&[EC2_DESCRIBE_INSTANCES]),
            Action::Step { step, .. } => match &step.command {
                StepCommand::Reboot { .. } => none
                    .always(&[EC2_REBOOT_INSTANCES, SSM_DESCRIBE_INSTANCE_INFORMATION])
                    .always(COMMAND),
                StepCommand::Shell { .. } | StepCommand::Document { .. } => none.always(COMMAND),
            },
            Action::Checks { checks, .. } if checks.is_empty() => none,
            Action::Checks { .. }
            | Action::Hygiene { .. }
            | Action::WaitForBoot { .. }
            | Action::ProbeUpdates { .. } => none.always(COMMAND),
            Action::StopBuilder { .. } => {
                none.always(&[EC2_STOP_INSTANCES, EC2_DESCRIBE_INSTANCES])
            }
            Action::CreateImage { .. } => none.always(&[EC2_CREATE_IMAGE, EC2_DESCRIBE_IMAGES]),
            Action::Deprecate { .. } => none.always(&[EC2_ENABLE_IMAGE_DEPRECATION]),
            Action::Terminate { .. } => none.always(&[EC2_TERMINATE_INSTANCES]),
            Action::Distribute {
                copies,
                boot_test,
                scan,
            } => copies
                .iter()
                .chain(boot_test)
                .chain(scan)
                .fold(none, |c, a| c.and(a.calls(plan))),
            Action::Scan { .. } => none.always(&[
                INSPECTOR2_START_ON_DEMAND_SCAN,
                INSPECTOR2_GET_ON_DEMAND_SCAN_STATUS,
                EC2_GET_IMAGE_FINDINGS,
                EC2_DESCRIBE_IMAGES,
            ]),
            // Tagged at creation (TagSpecifications): no CreateTags.
            Action::Copy { .. } => {
                let copy = none.always(&[EC2_COPY_IMAGE, EC2_DESCRIBE_IMAGES]);
                match plan.image.deprecate_after {
                    Some(_) => copy.always(&[EC2_ENABLE_IMAGE_DEPRECATION]),
                    None => copy,
                }
            }
            Action::Share => {
                none.always(&[EC2_MODIFY_IMAGE_ATTRIBUTE, EC2_MODIFY_SNAPSHOT_ATTRIBUTE])
            }
            Action::MarkComplete => none.always(&[EC2_CREATE_TAGS]),
            Action::Cleanup { on_error } => cleanup(plan, *on_error),
            Action::WriteManifest { .. } => none,
        }
        .sorted()
    }
}

/// Cleanup: after success it deletes the temporary security group (whose deletion waits
/// out the terminations) or, without one, waits for the terminated instances; after a
/// failure it also terminates what runs and deregisters the images with their snapshots
/// — unless `--on-error keep`, which then keeps everything and calls nothing (an instance
/// still running after success is terminated either way).
fn cleanup(plan: &Plan, on_error: OnError) -> Calls {
    let instances = [EC2_TERMINATE_INSTANCES, EC2_DESCRIBE_INSTANCES];
    let images = [
        EC2_DESCRIBE_IMAGES,
        EC2_DEREGISTER_IMAGE,
        EC2_DELETE_SNAPSHOT,
    ];
    let calls = match on_error {
        OnError::Cleanup => Calls::default().may(&instances).may(&images),
        OnError::Keep => Calls::default().may(&instances),
    };
    if plan.builder.security_group_ids.is_empty() {
        calls.always(&[EC2_DELETE_SECURITY_GROUP])
    } else {
        calls.always(&[EC2_DESCRIBE_INSTANCES])
    }
}

/// What runs beside the walk rather than in it: the lease renewal ([`crate::lease`]), a
/// third of the lease's period apart, on what the bake holds then (a short bake makes
/// none). Its requests name [`crate::lease::RENEWAL`] where an action's name its id.
#[derive(Debug, Clone, Serialize)]
pub struct Alongside {
    pub id: &'static str,
    pub every_seconds: u64,
    #[serde(flatten)]
    pub calls: Calls,
}

/// The plan's [`Alongside`] list.
pub fn alongside() -> Vec<Alongside> {
    vec![Alongside {
        id: crate::lease::RENEWAL,
        every_seconds: (crate::lease::PERIOD / 3).as_secs(),
        calls: Calls::default().may(&[EC2_CREATE_TAGS]).sorted(),
    }]
}

/// Adds to each action's JSON object (and those of the actions nested in it) its `id`,
/// `calls` and `always`.
pub(super) fn annotate(plan: &Plan, actions: &[Action], json: &mut [serde_json::Value]) {
    for (action, value) in actions.iter().zip(json) {
        let Some(object) = value.as_object_mut() else {
            continue;
        };
        let calls = action.calls(plan);
        object.insert("id".into(), action.id().into());
        object.insert("calls".into(), calls.calls.into());
        object.insert("always".into(), calls.always.into());
        if let Action::Distribute {
            copies,
            boot_test,
            scan,
        } = action
        {
            for (key, nested) in [("copies", copies), ("boot_test", boot_test), ("scan", scan)] {
                if let Some(list) = object.get_mut(key).and_then(|v| v.as_array_mut()) {
                    annotate(plan, nested, list);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_sorted_unique_and_always_is_a_subset() {
        let c = Calls::default()
            .always(&[SSM_SEND_COMMAND, EC2_RUN_INSTANCES])
            .may(&[EC2_RUN_INSTANCES, EC2_DESCRIBE_INSTANCES])
            .sorted();
        assert_eq!(
            c.calls,
            [EC2_DESCRIBE_INSTANCES, EC2_RUN_INSTANCES, SSM_SEND_COMMAND]
        );
        assert_eq!(c.always, [EC2_RUN_INSTANCES, SSM_SEND_COMMAND]);
    }
}
