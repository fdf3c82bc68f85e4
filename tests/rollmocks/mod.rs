//! aws-smithy-mocks clients for the roll unit tests (`tests/roll_mocks.rs`).
//!
//! A tiny CloudFormation answers from [`World`], a record the rules share: the stack
//! (status, parameters, outputs, tags), its events (oldest first, served newest first in
//! pages of `page_size` with a NextToken), the change set CloudFormation computes, and a
//! *script*: what each DescribeStacks after ExecuteChangeSet reveals (new events, a new
//! status). When the script ends in UPDATE_COMPLETE the stack takes the change set's
//! parameters and tags and the launch template version grows by one, as CloudFormation
//! would show it. Auto Scaling, EC2 (DescribeImages) and SSM (GetParameter) answer what
//! a roll asks.
//!
//! The SDK clients are built by hand, as in `tests/mocks/` (no `test-util` feature):
//! mock HTTP client, static credentials, retries sleeping on tokio's clock, so
//! `#[tokio::test(start_paused = true)]` runs every poll in no wall time.
#![allow(dead_code)] // each test uses a different part

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use amibake::aws::Aws;
use amibake::report::{Mode, Reporter};
use amibake::roll::{RollRequest, Target};
use amibake::secret::Masker;
use aws_sdk_autoscaling::types::{Activity, ScalingActivityStatusCode};
use aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetInput;
use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksError;
use aws_sdk_cloudformation::types::{
    Change, ChangeAction, ChangeSetStatus, ChangeType, ExecutionStatus, Output, Parameter,
    Replacement, ResourceChange, ResourceStatus, Stack, StackEvent, StackStatus, Tag,
};
use aws_sdk_ec2::config::{AsyncSleep, BehaviorVersion, Credentials, Region, Sleep};
use aws_smithy_mocks::{
    MockResponse, MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock,
};
use aws_smithy_types::error::ErrorMetadata;
use aws_smithy_types::retry::RetryConfig;

pub const REGION: &str = "us-east-1";
pub const STACK: &str = "web";
pub const STACK_ID: &str = "arn:aws:cloudformation:us-east-1:111122223333:stack/web/0a1b2c3d";
pub const ASG: &str = "web-AutoScalingGroup-1ABC";
pub const AMI_A: &str = "ami-0aaaaaaaaaaaaaaaa";
pub const AMI_B: &str = "ami-0bbbbbbbbbbbbbbbb";
/// An SSM parameter holding [`AMI_B`].
pub const PARAM_B: &str = "/golden/web/latest";
pub const TOKEN: &str = "amibake-test-token";
pub const OTHER_TOKEN: &str = "someone-elses-token";
pub const ALARM: &str = "arn:aws:cloudwatch:us-east-1:111122223333:alarm:web-5xx";

/// An event as the test writes it: (logical id, resource type, status, reason).
pub type Ev = (&'static str, &'static str, &'static str, &'static str);

pub const STACK_TYPE: &str = "AWS::CloudFormation::Stack";
pub const ASG_TYPE: &str = "AWS::AutoScaling::AutoScalingGroup";
pub const LT_TYPE: &str = "AWS::EC2::LaunchTemplate";

/// One DescribeStacks' worth of progress after ExecuteChangeSet.
#[derive(Debug, Clone)]
pub struct Step {
    pub status: &'static str,
    /// Events of this roll (the ExecuteChangeSet token).
    pub events: Vec<Ev>,
    /// Events of another operation, newer than these, that must not be shown.
    pub foreign: Vec<Ev>,
}

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

    fn stack(&self) -> Stack {
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
    fn advance(&mut self) {
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

pub fn meta(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

/// The rules, kept so tests can count calls.
pub struct Rules {
    pub describe_stacks: Rule,
    pub describe_stack_events: Rule,
    pub list_stack_resources: Rule,
    pub create_change_set: Rule,
    pub describe_change_set: Rule,
    pub delete_change_set: Rule,
    pub execute_change_set: Rule,
    pub create_stack: Rule,
    pub describe_scaling_activities: Rule,
    pub describe_instance_refreshes: Rule,
    pub describe_images: Rule,
    pub get_parameter: Rule,
}

/// The SDK's sleeps on tokio's clock, paused in these tests.
#[derive(Debug)]
struct TokioSleep;

impl AsyncSleep for TokioSleep {
    fn sleep(&self, duration: Duration) -> Sleep {
        Sleep::new(tokio::time::sleep(duration))
    }
}

/// The mocked AWS of one test.
pub struct Mocks {
    pub world: Shared,
    pub rules: Rules,
}

impl Default for Mocks {
    fn default() -> Self {
        Self::new()
    }
}

impl Mocks {
    pub fn new() -> Mocks {
        let world = Shared::default();
        use aws_sdk_cloudformation::Client as Cfn;

        let w = world.clone();
        let describe_stacks = mock!(Cfn::describe_stacks).then_compute_response(move |req| {
            let mut w = lock(&w);
            let name = req.stack_name().unwrap_or_default();
            if !w.exists || (name != STACK && name != STACK_ID) {
                return MockResponse::Error(DescribeStacksError::generic(meta(
                    "ValidationError",
                    &format!("Stack with id {name} does not exist"),
                )));
            }
            if w.executed_token.is_some() {
                w.advance();
            }
            MockResponse::Output(
                aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput::builder()
                    .stacks(w.stack())
                    .build(),
            )
        });

        let w = world.clone();
        let describe_stack_events =
            mock!(Cfn::describe_stack_events).then_compute_output(move |req| {
                let w = lock(&w);
                let newest_first: Vec<&StackEvent> = w.events.iter().rev().collect();
                let start: usize = req.next_token().map_or(0, |t| t.parse().unwrap());
                let end = (start + w.page_size).min(newest_first.len());
                let mut out =
                    aws_sdk_cloudformation::operation::describe_stack_events::DescribeStackEventsOutput::builder();
                for e in &newest_first[start..end] {
                    out = out.stack_events((*e).clone());
                }
                if end < newest_first.len() {
                    out = out.next_token(end.to_string());
                }
                out.build()
            });

        let list_stack_resources = mock!(Cfn::list_stack_resources).then_output(|| {
            aws_sdk_cloudformation::operation::list_stack_resources::ListStackResourcesOutput::builder()
                .stack_resource_summaries(
                    aws_sdk_cloudformation::types::StackResourceSummary::builder()
                        .logical_resource_id("AutoScalingGroup")
                        .physical_resource_id(ASG)
                        .resource_type(ASG_TYPE)
                        .build(),
                )
                .build()
        });

        let w = world.clone();
        let create_change_set = mock!(Cfn::create_change_set).then_compute_output(move |req| {
            lock(&w).created_change_set = Some(req.clone());
            aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetOutput::builder()
                .id(format!(
                    "arn:aws:cloudformation:{REGION}:111122223333:changeSet/{}/1",
                    req.change_set_name().unwrap_or_default()
                ))
                .stack_id(STACK_ID)
                .build()
        });

        let w = world.clone();
        let describe_change_set = mock!(Cfn::describe_change_set).then_compute_output(move |_| {
            let mut w = lock(&w);
            let mut out =
                aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput::builder();
            if w.change_set_pending > 0 {
                w.change_set_pending -= 1;
                return out
                    .status(ChangeSetStatus::CreateInProgress)
                    .execution_status(ExecutionStatus::Unavailable)
                    .build();
            }
            out = out
                .status(ChangeSetStatus::from(w.change_set_status.as_str()))
                .execution_status(if w.change_set_status == "CREATE_COMPLETE" {
                    ExecutionStatus::Available
                } else {
                    ExecutionStatus::Unavailable
                })
                .set_status_reason(w.change_set_reason.clone());
            for (id, ty, action, replacement) in &w.changes {
                out = out.changes(
                    Change::builder()
                        .r#type(ChangeType::Resource)
                        .resource_change(
                            ResourceChange::builder()
                                .logical_resource_id(*id)
                                .resource_type(*ty)
                                .action(ChangeAction::from(*action))
                                .set_replacement(replacement.map(Replacement::from))
                                .build(),
                        )
                        .build(),
                );
            }
            out.build()
        });

        let delete_change_set = mock!(Cfn::delete_change_set).then_output(|| {
            aws_sdk_cloudformation::operation::delete_change_set::DeleteChangeSetOutput::builder().build()
        });

        let w = world.clone();
        let execute_change_set = mock!(Cfn::execute_change_set).then_compute_output(move |req| {
            let mut w = lock(&w);
            let token = req.client_request_token().unwrap_or_default().to_string();
            w.executed_token = Some(token.clone());
            w.status = "UPDATE_IN_PROGRESS".into();
            w.push_event(
                (STACK, STACK_TYPE, "UPDATE_IN_PROGRESS", "User Initiated"),
                Some(&token),
            );
            aws_sdk_cloudformation::operation::execute_change_set::ExecuteChangeSetOutput::builder()
                .build()
        });

        let w = world.clone();
        let create_stack = mock!(Cfn::create_stack).then_compute_output(move |req| {
            let mut w = lock(&w);
            let token = req.client_request_token().unwrap_or_default().to_string();
            w.exists = true;
            w.status = "CREATE_IN_PROGRESS".into();
            w.parameters = req
                .parameters()
                .iter()
                .filter_map(|p| {
                    Some((
                        p.parameter_key()?.to_string(),
                        p.parameter_value()?.to_string(),
                    ))
                })
                .collect();
            w.tags = req
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                .collect();
            w.outputs = BTreeMap::from([
                ("AsgName".into(), ASG.into()),
                ("LaunchTemplateVersion".into(), "1".into()),
            ]);
            w.executed_token = Some(token.clone());
            w.push_event(
                (STACK, STACK_TYPE, "CREATE_IN_PROGRESS", "User Initiated"),
                Some(&token),
            );
            aws_sdk_cloudformation::operation::create_stack::CreateStackOutput::builder()
                .stack_id(STACK_ID)
                .build()
        });

        let w = world.clone();
        let describe_scaling_activities =
            mock!(aws_sdk_autoscaling::Client::describe_scaling_activities).then_compute_output(
                move |req| {
                    assert_eq!(req.auto_scaling_group_name(), Some(ASG));
                    let mut w = lock(&w);
                    let mut out = aws_sdk_autoscaling::operation::describe_scaling_activities::DescribeScalingActivitiesOutput::builder();
                    let busy = w.busy_polls > 0;
                    w.busy_polls = w.busy_polls.saturating_sub(1);
                    out = out.activities(
                        Activity::builder()
                            .activity_id("act-2")
                            .auto_scaling_group_name(ASG)
                            .description("Launching a new EC2 instance: i-0123456789abcdef0")
                            .cause("scale out")
                            .start_time(aws_smithy_types::DateTime::from_secs(1_700_000_000))
                            .status_code(if busy {
                                ScalingActivityStatusCode::InProgress
                            } else {
                                ScalingActivityStatusCode::Successful
                            })
                            .build(),
                    );
                    out.activities(
                        Activity::builder()
                            .activity_id("act-1")
                            .auto_scaling_group_name(ASG)
                            .description("Terminating EC2 instance: i-0fedcba9876543210")
                            .cause("scale in")
                            .start_time(aws_smithy_types::DateTime::from_secs(1_690_000_000))
                            .status_code(ScalingActivityStatusCode::Successful)
                            .build(),
                    )
                    .build()
                },
            );

        let describe_instance_refreshes =
            mock!(aws_sdk_autoscaling::Client::describe_instance_refreshes).then_output(|| {
                aws_sdk_autoscaling::operation::describe_instance_refreshes::DescribeInstanceRefreshesOutput::builder().build()
            });

        let describe_images =
            mock!(aws_sdk_ec2::Client::describe_images).then_compute_response(|req| {
                let id = req.image_ids().first().cloned().unwrap_or_default();
                if id == AMI_A || id == AMI_B {
                    MockResponse::Output(
                        aws_sdk_ec2::operation::describe_images::DescribeImagesOutput::builder()
                            .images(
                                aws_sdk_ec2::types::Image::builder()
                                    .image_id(&id)
                                    .name(format!("web-{id}"))
                                    .state(aws_sdk_ec2::types::ImageState::Available)
                                    .build(),
                            )
                            .build(),
                    )
                } else {
                    MockResponse::Error(
                        aws_sdk_ec2::operation::describe_images::DescribeImagesError::generic(
                            meta(
                                "InvalidAMIID.NotFound",
                                &format!("The image id '[{id}]' does not exist"),
                            ),
                        ),
                    )
                }
            });

        let get_parameter = mock!(aws_sdk_ssm::Client::get_parameter)
            .match_requests(|req| req.name() == Some(PARAM_B))
            .then_output(|| {
                aws_sdk_ssm::operation::get_parameter::GetParameterOutput::builder()
                    .parameter(
                        aws_sdk_ssm::types::Parameter::builder()
                            .name(PARAM_B)
                            .value(AMI_B)
                            .build(),
                    )
                    .build()
            });

        Mocks {
            world,
            rules: Rules {
                describe_stacks,
                describe_stack_events,
                list_stack_resources,
                create_change_set,
                describe_change_set,
                delete_change_set,
                execute_change_set,
                create_stack,
                describe_scaling_activities,
                describe_instance_refreshes,
                describe_images,
                get_parameter,
            },
        }
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }

    /// Clients wired to the rules.
    pub fn aws(&self) -> Aws {
        let r = &self.rules;
        let interceptor = |rules: &[&Rule]| {
            let mut i = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
            for rule in rules {
                i = i.with_rule(rule);
            }
            i
        };
        let creds = Credentials::new("AKIDMOCK", "mock", None, None, "test");
        let cfn = aws_sdk_cloudformation::Client::from_conf(
            aws_sdk_cloudformation::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(REGION))
                .credentials_provider(creds.clone())
                .http_client(create_mock_http_client())
                .sleep_impl(TokioSleep)
                .retry_config(RetryConfig::standard().with_max_attempts(3))
                .interceptor(interceptor(&[
                    &r.describe_stacks,
                    &r.describe_stack_events,
                    &r.list_stack_resources,
                    &r.create_change_set,
                    &r.describe_change_set,
                    &r.delete_change_set,
                    &r.execute_change_set,
                    &r.create_stack,
                ]))
                .build(),
        );
        let asg = aws_sdk_autoscaling::Client::from_conf(
            aws_sdk_autoscaling::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(REGION))
                .credentials_provider(creds.clone())
                .http_client(create_mock_http_client())
                .sleep_impl(TokioSleep)
                .retry_config(RetryConfig::standard().with_max_attempts(3))
                .interceptor(interceptor(&[
                    &r.describe_scaling_activities,
                    &r.describe_instance_refreshes,
                ]))
                .build(),
        );
        let ec2 = aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(REGION))
                .credentials_provider(creds.clone())
                .http_client(create_mock_http_client())
                .sleep_impl(TokioSleep)
                .retry_config(RetryConfig::standard().with_max_attempts(3))
                .interceptor(interceptor(&[&r.describe_images]))
                .build(),
        );
        let ssm = aws_sdk_ssm::Client::from_conf(
            aws_sdk_ssm::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(REGION))
                .credentials_provider(creds)
                .http_client(create_mock_http_client())
                .sleep_impl(TokioSleep)
                .retry_config(RetryConfig::standard().with_max_attempts(3))
                .interceptor(interceptor(&[&r.get_parameter]))
                .build(),
        );
        Aws::from_clients(
            REGION,
            [(REGION.to_string(), ec2)],
            [(REGION.to_string(), ssm)],
        )
        .with_cfn(REGION, cfn)
        .with_asg(REGION, asg)
    }
}

/// A roll of [`STACK`] onto `target` with `--yes` and the test token.
pub fn request(target: Target) -> RollRequest {
    let mut req = RollRequest::new(STACK, target);
    req.yes = true;
    req.token = TOKEN.to_string();
    req
}

/// The reporter of a test: JSON events on stdout.
pub fn reporter() -> Reporter {
    Reporter::new(Mode::Json, Masker::default())
}

/// What the stack's events look like when the new instances never signal: the ASG
/// update fails, then CloudFormation rolls back.
pub fn rollback_script(rollback_ok: bool) -> Vec<Step> {
    let mut steps = vec![
        step(
            "UPDATE_IN_PROGRESS",
            vec![
                ("LaunchTemplate", LT_TYPE, "UPDATE_IN_PROGRESS", ""),
                ("LaunchTemplate", LT_TYPE, "UPDATE_COMPLETE", ""),
                (
                    "AutoScalingGroup",
                    ASG_TYPE,
                    "UPDATE_IN_PROGRESS",
                    "Rolling update initiated. Terminating 1 obsolete instance(s) in batches of 1",
                ),
            ],
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
        step(
            "UPDATE_IN_PROGRESS",
            vec![
                ("LaunchTemplate", LT_TYPE, "UPDATE_IN_PROGRESS", ""),
                ("LaunchTemplate", LT_TYPE, "UPDATE_COMPLETE", ""),
                (
                    "AutoScalingGroup",
                    ASG_TYPE,
                    "UPDATE_IN_PROGRESS",
                    "Rolling update initiated",
                ),
            ],
        ),
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
