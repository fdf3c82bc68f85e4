//! CloudFormation calls a roll makes: the stack and its template here, its change sets
//! (`change_set`) and its events (`events`).

use std::collections::BTreeMap;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{Parameter, RollbackConfiguration, RollbackTrigger, Tag};

use super::AwsError;

mod change_set;
mod events;

pub use change_set::*;
pub use events::*;

/// The resource type of the stack itself in its events.
pub const STACK_TYPE: &str = "AWS::CloudFormation::Stack";
/// The resource type of an Auto Scaling group.
pub const ASG_TYPE: &str = "AWS::AutoScaling::AutoScalingGroup";

/// Stacks with more events than this many pages are not read further back.
const MAX_EVENT_PAGES: usize = 100;

/// One stack parameter as DescribeStacks shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackParameter {
    pub key: String,
    pub value: String,
    /// For SSM-parameter types: the value the parameter resolved to.
    pub resolved: Option<String>,
}

/// What a roll needs to know about a stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackInfo {
    /// The stack id (an ARN).
    pub id: String,
    pub name: String,
    /// `CREATE_COMPLETE`, `UPDATE_IN_PROGRESS`, `UPDATE_ROLLBACK_FAILED`, …
    pub status: String,
    pub status_reason: Option<String>,
    pub parameters: Vec<StackParameter>,
    pub outputs: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

impl StackInfo {
    /// A parameter's effective value (the resolved one for SSM-parameter types).
    pub fn parameter(&self, key: &str) -> Option<&str> {
        self.parameters
            .iter()
            .find(|p| p.key == key)
            .map(|p| p.resolved.as_deref().unwrap_or(&p.value))
    }

    pub fn output(&self, key: &str) -> Option<&str> {
        self.outputs.get(key).map(String::as_str)
    }
}

fn stack_info(s: &aws_sdk_cloudformation::types::Stack) -> StackInfo {
    StackInfo {
        id: s.stack_id().unwrap_or_default().to_string(),
        name: s.stack_name().unwrap_or_default().to_string(),
        status: s
            .stack_status()
            .map(|st| st.as_str().to_string())
            .unwrap_or_default(),
        status_reason: s.stack_status_reason().map(str::to_string),
        parameters: s
            .parameters()
            .iter()
            .filter_map(|p| {
                Some(StackParameter {
                    key: p.parameter_key()?.to_string(),
                    value: p.parameter_value().unwrap_or_default().to_string(),
                    resolved: p.resolved_value().map(str::to_string),
                })
            })
            .collect(),
        outputs: s
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
            .collect(),
        tags: s
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect(),
    }
}

/// The stack with this name or id, or `None` when CloudFormation does not know it.
pub async fn describe_stack(cfn: &Client, name: &str) -> Result<Option<StackInfo>, AwsError> {
    match cfn.describe_stacks().stack_name(name).send().await {
        Ok(out) => Ok(out.stacks().first().map(stack_info)),
        Err(e) => {
            let err = AwsError::call(crate::aws::calls::CLOUDFORMATION_DESCRIBE_STACKS, e);
            // "Stack with id NAME does not exist" is an answer, not a failure.
            if is_validation(&err, "does not exist") {
                Ok(None)
            } else {
                Err(err)
            }
        }
    }
}

/// Whether `err` is a CloudFormation `ValidationError` whose message contains `text`.
pub fn is_validation(err: &AwsError, text: &str) -> bool {
    match err {
        AwsError::Call {
            code: Some(code),
            message,
            ..
        } => code == "ValidationError" && message.as_deref().is_some_and(|m| m.contains(text)),
        _ => false,
    }
}

/// The physical ids of the stack's resources of type `resource_type` (every page).
pub async fn resources_of_type(
    cfn: &Client,
    stack: &str,
    resource_type: &str,
) -> Result<Vec<String>, AwsError> {
    let mut found = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = cfn
            .list_stack_resources()
            .stack_name(stack)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| {
                AwsError::call(crate::aws::calls::CLOUDFORMATION_LIST_STACK_RESOURCES, e)
            })?;
        found.extend(
            out.stack_resource_summaries()
                .iter()
                .filter(|r| r.resource_type() == Some(resource_type))
                .filter_map(|r| r.physical_resource_id())
                .filter(|id| !id.is_empty())
                .map(str::to_string),
        );
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(found),
        }
    }
}

/// The parameter names a template declares.
pub async fn template_parameters(cfn: &Client, body: &str) -> Result<Vec<String>, AwsError> {
    let out = cfn
        .get_template_summary()
        .template_body(body)
        .send()
        .await
        .map_err(|e| AwsError::call(crate::aws::calls::CLOUDFORMATION_GET_TEMPLATE_SUMMARY, e))?;
    Ok(out
        .parameters()
        .iter()
        .filter_map(|p| p.parameter_key())
        .map(str::to_string)
        .collect())
}

/// A parameter value for a stack operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamValue {
    Value(String),
    /// Keep the stack's current value (`UsePreviousValue`: right for NoEcho and
    /// SSM-typed parameters too).
    Previous,
}

fn to_parameters(params: &[(String, ParamValue)]) -> Vec<Parameter> {
    params
        .iter()
        .map(|(k, v)| match v {
            ParamValue::Value(value) => Parameter::builder()
                .parameter_key(k)
                .parameter_value(value)
                .build(),
            ParamValue::Previous => Parameter::builder()
                .parameter_key(k)
                .use_previous_value(true)
                .build(),
        })
        .collect()
}

fn to_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// Alarms that roll the operation back when they go off during it or within the
/// monitoring time after it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RollbackAlarms {
    pub alarm_arns: Vec<String>,
    pub monitoring_minutes: i32,
}

impl RollbackAlarms {
    /// `None` without alarms: CloudFormation then keeps the stack's previous configuration.
    fn configuration(&self) -> Option<RollbackConfiguration> {
        if self.alarm_arns.is_empty() {
            return None;
        }
        let mut b =
            RollbackConfiguration::builder().monitoring_time_in_minutes(self.monitoring_minutes);
        for arn in &self.alarm_arns {
            b = b.rollback_triggers(
                RollbackTrigger::builder()
                    .arn(arn)
                    .r#type("AWS::CloudWatch::Alarm")
                    .build(),
            );
        }
        Some(b.build())
    }
}

/// A new stack.
#[derive(Debug, Clone)]
pub struct NewStack<'a> {
    pub name: &'a str,
    pub template_body: &'a str,
    pub parameters: &'a [(String, ParamValue)],
    pub tags: &'a BTreeMap<String, String>,
    pub rollback: &'a RollbackAlarms,
    /// Makes a retried CreateStack a no-op, and marks the stack's events.
    pub token: &'a str,
}

/// Creates a stack; returns its id.
pub async fn create_stack(cfn: &Client, s: &NewStack<'_>) -> Result<String, AwsError> {
    let out = cfn
        .create_stack()
        .stack_name(s.name)
        .template_body(s.template_body)
        .set_parameters(Some(to_parameters(s.parameters)))
        .set_tags(Some(to_tags(s.tags)))
        .set_rollback_configuration(s.rollback.configuration())
        .client_request_token(s.token)
        .send()
        .await
        .map_err(|e| AwsError::call(crate::aws::calls::CLOUDFORMATION_CREATE_STACK, e))?;
    Ok(out.stack_id().unwrap_or(s.name).to_string())
}

/// The template the stack runs now (its body as CloudFormation keeps it).
pub async fn template_of(cfn: &Client, stack: &str) -> Result<String, AwsError> {
    let out = cfn
        .get_template()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| AwsError::call(crate::aws::calls::CLOUDFORMATION_GET_TEMPLATE, e))?;
    Ok(out.template_body().unwrap_or_default().to_string())
}

/// Every stack of the region that is not deleted, with its tags, across all pages.
pub async fn stacks_with_tags(
    cfn: &Client,
) -> Result<Vec<(String, BTreeMap<String, String>)>, AwsError> {
    let mut found = Vec::new();
    let mut pages = cfn.describe_stacks().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| AwsError::call(crate::aws::calls::CLOUDFORMATION_DESCRIBE_STACKS, e))?;
        for s in page.stacks() {
            let info = stack_info(s);
            found.push((info.name, info.tags));
        }
    }
    Ok(found)
}
