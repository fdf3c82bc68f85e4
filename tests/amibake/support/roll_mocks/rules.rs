//! The mocked calls: one rule per call a roll makes, each answering from the [`World`]
//! the test set up.

use std::collections::BTreeMap;

use aws_sdk_autoscaling::types::{Activity, ScalingActivityStatusCode};
use aws_sdk_cloudformation::Client as Cfn;
use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksError;
use aws_sdk_cloudformation::types::{
    Change, ChangeAction, ChangeSetStatus, ChangeType, ExecutionStatus, Replacement,
    ResourceChange, StackEvent,
};
use aws_smithy_mocks::{MockResponse, Rule, mock};

use super::*;

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
    pub get_template: Rule,
    pub describe_scaling_activities: Rule,
    pub describe_instance_refreshes: Rule,
    pub describe_auto_scaling_groups: Rule,
    pub describe_images: Rule,
    pub get_allowed_images_settings: Rule,
    pub get_parameter: Rule,
}

impl Rules {
    /// Every rule, answering from `world`.
    pub fn new(world: &Shared) -> Rules {
        Rules {
            describe_stacks: describe_stacks(world),
            describe_stack_events: describe_stack_events(world),
            list_stack_resources: list_stack_resources(),
            create_change_set: create_change_set(world),
            describe_change_set: describe_change_set(world),
            delete_change_set: delete_change_set(),
            execute_change_set: execute_change_set(world),
            create_stack: create_stack(world),
            get_template: get_template(world),
            describe_scaling_activities: describe_scaling_activities(world),
            describe_instance_refreshes: describe_instance_refreshes(world),
            describe_auto_scaling_groups: describe_auto_scaling_groups(world),
            describe_images: describe_images(),
            get_allowed_images_settings: get_allowed_images_settings(),
            get_parameter: get_parameter(),
        }
    }
}

fn describe_stacks(world: &Shared) -> Rule {
    let w = world.clone();
    mock!(Cfn::describe_stacks).then_compute_response(move |req| {
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
    })
}

fn describe_stack_events(world: &Shared) -> Rule {
    let w = world.clone();
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
        })
}

fn list_stack_resources() -> Rule {
    mock!(Cfn::list_stack_resources).then_output(|| {
        aws_sdk_cloudformation::operation::list_stack_resources::ListStackResourcesOutput::builder()
            .stack_resource_summaries(
                aws_sdk_cloudformation::types::StackResourceSummary::builder()
                    .logical_resource_id("AutoScalingGroup")
                    .physical_resource_id(ASG)
                    .resource_type(ASG_TYPE)
                    .build(),
            )
            .build()
    })
}

fn create_change_set(world: &Shared) -> Rule {
    let w = world.clone();
    mock!(Cfn::create_change_set).then_compute_output(move |req| {
        lock(&w).created_change_set = Some(req.clone());
        aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetOutput::builder()
            .id(format!(
                "arn:aws:cloudformation:{REGION}:111122223333:changeSet/{}/1",
                req.change_set_name().unwrap_or_default()
            ))
            .stack_id(STACK_ID)
            .build()
    })
}

fn describe_change_set(world: &Shared) -> Rule {
    let w = world.clone();
    mock!(Cfn::describe_change_set).then_compute_output(move |_| {
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
    })
}

fn delete_change_set() -> Rule {
    mock!(Cfn::delete_change_set).then_output(|| {
        aws_sdk_cloudformation::operation::delete_change_set::DeleteChangeSetOutput::builder()
            .build()
    })
}

fn execute_change_set(world: &Shared) -> Rule {
    let w = world.clone();
    mock!(Cfn::execute_change_set).then_compute_output(move |req| {
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
    })
}

fn create_stack(world: &Shared) -> Rule {
    let w = world.clone();
    mock!(Cfn::create_stack).then_compute_output(move |req| {
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
    })
}

fn describe_scaling_activities(world: &Shared) -> Rule {
    let w = world.clone();
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
        )
}

/// DescribeInstanceRefreshes: the next of [`World::refreshes`] (the last one stays), as
/// refresh `r-1` of the group.
fn describe_instance_refreshes(world: &Shared) -> Rule {
    use aws_sdk_autoscaling::types::{InstanceRefresh, InstanceRefreshStatus, RefreshPreferences};
    let w = world.clone();
    mock!(aws_sdk_autoscaling::Client::describe_instance_refreshes).then_compute_output(move |_| {
        let mut w = lock(&w);
        let now = if w.refreshes.len() > 1 {
            w.refreshes.pop_front().flatten()
        } else {
            w.refreshes.front().copied().flatten()
        };
        let mut out = aws_sdk_autoscaling::operation::describe_instance_refreshes::DescribeInstanceRefreshesOutput::builder();
        if let Some((status, percent, to_update, reason)) = now {
            let prefs = RefreshPreferences::builder()
                .checkpoint_percentages(50)
                .checkpoint_percentages(100)
                .bake_time(600)
                .build();
            out = out.instance_refreshes(
                InstanceRefresh::builder()
                    .instance_refresh_id("r-1")
                    .auto_scaling_group_name(ASG)
                    .status(InstanceRefreshStatus::from(status))
                    .set_status_reason(reason.map(str::to_string))
                    .percentage_complete(percent)
                    .instances_to_update(to_update)
                    .preferences(prefs)
                    .build(),
            );
        }
        out.build()
    })
}

/// DescribeAutoScalingGroups: the stack's group on its launch template version
/// ([`World::group_version`]).
fn describe_auto_scaling_groups(world: &Shared) -> Rule {
    use aws_sdk_autoscaling::types::{AutoScalingGroup, LaunchTemplateSpecification};
    let w = world.clone();
    mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups).then_compute_output(move |_| {
        let version = lock(&w).group_version.clone();
        let group = AutoScalingGroup::builder()
            .auto_scaling_group_name(ASG)
            .launch_template(
                LaunchTemplateSpecification::builder()
                    .launch_template_id("lt-0123456789abcdef0")
                    .version(version)
                    .build(),
            )
            .build();
        aws_sdk_autoscaling::operation::describe_auto_scaling_groups::DescribeAutoScalingGroupsOutput::builder()
            .auto_scaling_groups(group)
            .build()
    })
}

/// GetTemplate: the template the stack runs ([`World::template`]).
fn get_template(world: &Shared) -> Rule {
    let w = world.clone();
    mock!(Cfn::get_template).then_compute_output(move |_| {
        aws_sdk_cloudformation::operation::get_template::GetTemplateOutput::builder()
            .template_body(lock(&w).template.clone())
            .build()
    })
}

fn describe_images() -> Rule {
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
                aws_sdk_ec2::operation::describe_images::DescribeImagesError::generic(meta(
                    "InvalidAMIID.NotFound",
                    &format!("The image id '[{id}]' does not exist"),
                )),
            )
        }
    })
}

/// The account's Allowed AMIs settings: disabled, as in an account that never set them
/// (tests/amibake/emulator/roll_allowed.rs covers the other states).
fn get_allowed_images_settings() -> Rule {
    mock!(aws_sdk_ec2::Client::get_allowed_images_settings).then_output(|| {
        aws_sdk_ec2::operation::get_allowed_images_settings::GetAllowedImagesSettingsOutput::builder()
            .state("disabled")
            .build()
    })
}

fn get_parameter() -> Rule {
    mock!(aws_sdk_ssm::Client::get_parameter)
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
        })
}
