//! What the mocked AWS knows and has seen: the stack, its events, the change set, and the
//! script of what CloudFormation reveals after ExecuteChangeSet.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetInput;
use aws_sdk_cloudformation::types::{
    Output, Parameter, ResourceStatus, Stack, StackEvent, StackStatus, Tag,
};

use super::*;

/// An event as the test writes it: (logical id, resource type, status, reason).
pub type Ev = (&'static str, &'static str, &'static str, &'static str);

/// One DescribeStacks' worth of progress after ExecuteChangeSet.
#[derive(Debug, Clone)]
pub struct Step {
    pub status: &'static str,
    /// Events of this roll (the ExecuteChangeSet token).
    pub events: Vec<Ev>,
    /// Events of another operation, newer than these, that must not be shown.
    pub foreign: Vec<Ev>,
}

/// One answer of DescribeInstanceRefreshes: status, percent complete, instances to
/// update, status reason.
pub type RefreshStep = (&'static str, i32, i32, Option<&'static str>);

pub fn step(status: &'static str, events: Vec<Ev>) -> Step {
    Step {
        status,
        events,
        foreign: Vec::new(),
    }
}

/// What the mocked AWS knows and has seen.
#[derive(Debug)]
pub struct World {
    pub exists: bool,
    pub status: String,
    pub parameters: Vec<(String, String)>,
    pub outputs: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    /// (event id, event) oldest first.
    pub events: Vec<StackEvent>,
    pub page_size: usize,
    /// What DescribeChangeSet answers.
    pub change_set_status: String,
    pub change_set_reason: Option<String>,
    pub changes: Vec<(
        &'static str,
        &'static str,
        &'static str,
        Option<&'static str>,
    )>,
    /// DescribeChangeSet calls that still answer CREATE_IN_PROGRESS.
    pub change_set_pending: usize,
    /// Revealed by each DescribeStacks after ExecuteChangeSet.
    pub script: VecDeque<Step>,
    /// DescribeScalingActivities calls that still show an activity InProgress.
    pub busy_polls: usize,
    pub created_change_set: Option<CreateChangeSetInput>,
    pub executed_token: Option<String>,
    /// What GetTemplate answers: the template the stack runs.
    pub template: String,
    /// The launch template version the group uses (DescribeAutoScalingGroups).
    pub group_version: String,
    /// What each DescribeInstanceRefreshes answers in turn (the last one stays): `None`
    /// no refresh, else (status, percent complete, instances to update, reason).
    pub refreshes: VecDeque<Option<RefreshStep>>,
    next_event: usize,
}

impl Default for World {
    fn default() -> Self {
        World {
            exists: true,
            status: "UPDATE_COMPLETE".into(),
            parameters: vec![
                ("ImageId".into(), AMI_A.into()),
                ("InstanceType".into(), "t3.small".into()),
                ("Subnets".into(), "subnet-0a,subnet-0b".into()),
                ("DbPassword".into(), "****".into()),
            ],
            outputs: BTreeMap::from([
                ("AsgName".into(), ASG.into()),
                ("LaunchTemplateVersion".into(), "3".into()),
                ("ImageId".into(), AMI_A.into()),
            ]),
            tags: BTreeMap::from([
                ("Team".into(), "platform".into()),
                ("amibake:image-id".into(), AMI_A.into()),
            ]),
            events: Vec::new(),
            page_size: 100,
            change_set_status: "CREATE_COMPLETE".into(),
            change_set_reason: None,
            changes: vec![
                ("LaunchTemplate", LT_TYPE, "Modify", Some("False")),
                ("AutoScalingGroup", ASG_TYPE, "Modify", Some("Conditional")),
            ],
            change_set_pending: 1,
            script: VecDeque::new(),
            busy_polls: 0,
            created_change_set: None,
            executed_token: None,
            template: ROLLING_TEMPLATE.to_string(),
            group_version: "2".to_string(),
            refreshes: VecDeque::new(),
            next_event: 0,
        }
    }
}

impl World {
    /// Appends an event (ids `ev-0`, `ev-1`, … in order of appearance).
    pub fn push_event(&mut self, ev: Ev, token: Option<&str>) -> String {
        let id = format!("ev-{}", self.next_event);
        self.next_event += 1;
        self.events.push(
            StackEvent::builder()
                .stack_id(STACK_ID)
                .stack_name(STACK)
                .event_id(&id)
                .logical_resource_id(ev.0)
                .physical_resource_id(if ev.1 == STACK_TYPE { STACK_ID } else { ev.0 })
                .resource_type(ev.1)
                .resource_status(ResourceStatus::from(ev.2))
                .set_resource_status_reason((!ev.3.is_empty()).then(|| ev.3.to_string()))
                .set_client_request_token(token.map(str::to_string))
                .timestamp(aws_smithy_types::DateTime::from_secs(
                    1_700_000_000 + self.next_event as i64,
                ))
                .build(),
        );
        id
    }

    /// Events of an earlier roll (another token), already there before this one.
    pub fn history(&mut self, n: usize) {
        for i in 0..n {
            let status = if i % 2 == 0 {
                "UPDATE_IN_PROGRESS"
            } else {
                "UPDATE_COMPLETE"
            };
            self.push_event((STACK, STACK_TYPE, status, ""), Some(OTHER_TOKEN));
        }
    }

    pub(super) fn stack(&self) -> Stack {
        let mut b = Stack::builder()
            .stack_id(STACK_ID)
            .stack_name(STACK)
            .stack_status(StackStatus::from(self.status.as_str()))
            .creation_time(aws_smithy_types::DateTime::from_secs(1_600_000_000));
        for (k, v) in &self.parameters {
            b = b.parameters(
                Parameter::builder()
                    .parameter_key(k)
                    .parameter_value(v)
                    .build(),
            );
        }
        for (k, v) in &self.outputs {
            b = b.outputs(Output::builder().output_key(k).output_value(v).build());
        }
        for (k, v) in &self.tags {
            b = b.tags(Tag::builder().key(k).value(v).build());
        }
        b.build()
    }

    /// One step of the script: its events appear, the stack takes its status.
    pub(super) fn advance(&mut self) {
        let Some(step) = self.script.pop_front() else {
            return;
        };
        let token = self.executed_token.clone();
        for ev in step.events {
            self.push_event(ev, token.as_deref());
        }
        for ev in step.foreign {
            self.push_event(ev, Some(OTHER_TOKEN));
        }
        self.status = step.status.to_string();
        if step.status == "UPDATE_COMPLETE" {
            self.apply_change_set();
        }
    }

    /// What a successful update leaves: the change set's parameters and tags, a new
    /// launch template version.
    fn apply_change_set(&mut self) {
        let Some(cs) = self.created_change_set.clone() else {
            return;
        };
        for p in cs.parameters() {
            if let (Some(k), Some(v)) = (p.parameter_key(), p.parameter_value()) {
                if let Some(slot) = self.parameters.iter_mut().find(|(pk, _)| pk == k) {
                    slot.1 = v.to_string();
                }
                if k == "ImageId" {
                    self.outputs.insert("ImageId".into(), v.to_string());
                }
            }
        }
        if !cs.tags().is_empty() {
            self.tags = cs
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                .collect();
        }
        let v: u32 = self.outputs["LaunchTemplateVersion"].parse().unwrap_or(0);
        self.outputs
            .insert("LaunchTemplateVersion".into(), (v + 1).to_string());
    }
}

pub type Shared = Arc<Mutex<World>>;

pub fn lock(world: &Shared) -> MutexGuard<'_, World> {
    world.lock().unwrap_or_else(|e| e.into_inner())
}

/// The update's first events: the launch template's new version, then the group's update
/// starting with `asg_reason`.
fn update_started(asg_reason: &'static str) -> Step {
    step(
        "UPDATE_IN_PROGRESS",
        vec![
            ("LaunchTemplate", LT_TYPE, "UPDATE_IN_PROGRESS", ""),
            ("LaunchTemplate", LT_TYPE, "UPDATE_COMPLETE", ""),
            (
                "AutoScalingGroup",
                ASG_TYPE,
                "UPDATE_IN_PROGRESS",
                asg_reason,
            ),
        ],
    )
}

/// What the stack's events look like when the new instances never signal: the ASG
/// update fails, then CloudFormation rolls back.
pub fn rollback_script(rollback_ok: bool) -> Vec<Step> {
    let mut steps = vec![
        update_started(
            "Rolling update initiated. Terminating 1 obsolete instance(s) in batches of 1",
        ),
        step(
            "UPDATE_ROLLBACK_IN_PROGRESS",
            vec![
                (
                    "AutoScalingGroup",
                    ASG_TYPE,
                    "UPDATE_FAILED",
                    "Received 0 SUCCESS signal(s) out of 1. Unable to satisfy 100% MinSuccessfulInstancesPercent requirement",
                ),
                (
                    "LaunchTemplate",
                    LT_TYPE,
                    "UPDATE_FAILED",
                    "Resource update cancelled",
                ),
                (
                    STACK,
                    STACK_TYPE,
                    "UPDATE_ROLLBACK_IN_PROGRESS",
                    "The following resource(s) failed to update: [AutoScalingGroup].",
                ),
            ],
        ),
    ];
    if rollback_ok {
        steps.push(step(
            "UPDATE_ROLLBACK_COMPLETE",
            vec![
                ("AutoScalingGroup", ASG_TYPE, "UPDATE_COMPLETE", ""),
                ("LaunchTemplate", LT_TYPE, "UPDATE_COMPLETE", ""),
                (STACK, STACK_TYPE, "UPDATE_ROLLBACK_COMPLETE", ""),
            ],
        ));
    } else {
        steps.push(step(
            "UPDATE_ROLLBACK_FAILED",
            vec![
                (
                    "AutoScalingGroup",
                    ASG_TYPE,
                    "UPDATE_FAILED",
                    "Instance i-0123456789abcdef0 failed to terminate: lifecycle hook timed out",
                ),
                ("LaunchTemplate", LT_TYPE, "UPDATE_COMPLETE", ""),
                (
                    STACK,
                    STACK_TYPE,
                    "UPDATE_ROLLBACK_FAILED",
                    "The following resource(s) failed to update: [AutoScalingGroup].",
                ),
            ],
        ));
    }
    steps
}

/// A roll that goes well.
pub fn success_script() -> Vec<Step> {
    vec![
        update_started("Rolling update initiated"),
        step(
            "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
            vec![
                ("AutoScalingGroup", ASG_TYPE, "UPDATE_COMPLETE", ""),
                (STACK, STACK_TYPE, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", ""),
            ],
        ),
        step(
            "UPDATE_COMPLETE",
            vec![(STACK, STACK_TYPE, "UPDATE_COMPLETE", "")],
        ),
    ]
}
