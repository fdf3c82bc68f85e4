//! CloudFormation calls a roll makes: the stack, its change sets, its events.

use std::collections::BTreeMap;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{
    ChangeSetType, Parameter, RollbackConfiguration, RollbackTrigger, Tag,
};
use aws_smithy_types::date_time::Format;
use serde::Serialize;

use super::AwsError;

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
            let err = AwsError::call("cloudformation:DescribeStacks", e);
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
            .map_err(|e| AwsError::call("cloudformation:ListStackResources", e))?;
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
        .map_err(|e| AwsError::call("cloudformation:GetTemplateSummary", e))?;
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
        .map_err(|e| AwsError::call("cloudformation:CreateStack", e))?;
    Ok(out.stack_id().unwrap_or(s.name).to_string())
}

/// An update change set.
#[derive(Debug, Clone)]
pub struct NewChangeSet<'a> {
    pub stack: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    /// `None`: the stack's current template (`UsePreviousTemplate`).
    pub template_body: Option<&'a str>,
    pub parameters: &'a [(String, ParamValue)],
    /// `None` leaves the stack's tags as they are; `Some` replaces them all.
    pub tags: Option<&'a BTreeMap<String, String>>,
    pub rollback: &'a RollbackAlarms,
    /// Makes a retried CreateChangeSet a no-op.
    pub token: &'a str,
}

/// Creates an update change set; returns its id (an ARN).
pub async fn create_change_set(cfn: &Client, c: &NewChangeSet<'_>) -> Result<String, AwsError> {
    let mut req = cfn
        .create_change_set()
        .stack_name(c.stack)
        .change_set_name(c.name)
        .change_set_type(ChangeSetType::Update)
        .description(c.description)
        .client_token(c.token)
        .set_parameters(Some(to_parameters(c.parameters)))
        .set_tags(c.tags.map(to_tags))
        .set_rollback_configuration(c.rollback.configuration());
    req = match c.template_body {
        Some(body) => req.template_body(body),
        None => req.use_previous_template(true),
    };
    let out = req
        .send()
        .await
        .map_err(|e| AwsError::call("cloudformation:CreateChangeSet", e))?;
    Ok(out.id().unwrap_or(c.name).to_string())
}

/// One resource a change set would touch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceChange {
    pub logical_id: String,
    pub physical_id: Option<String>,
    pub resource_type: String,
    /// `Add`, `Modify`, `Remove`, `Import`, `Dynamic`.
    pub action: String,
    /// For `Modify`: `True`, `False` or `Conditional`.
    pub replacement: Option<String>,
    /// What changes: `Properties`, `Metadata`, `Tags`, …
    pub scope: Vec<String>,
}

/// Where a change set stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSetInfo {
    /// `CREATE_PENDING`, `CREATE_IN_PROGRESS`, `CREATE_COMPLETE`, `FAILED`, …
    pub status: String,
    pub execution_status: String,
    pub status_reason: Option<String>,
    pub changes: Vec<ResourceChange>,
}

/// A change set with all its changes (every page).
pub async fn describe_change_set(
    cfn: &Client,
    stack: &str,
    id: &str,
) -> Result<ChangeSetInfo, AwsError> {
    let mut info = ChangeSetInfo {
        status: String::new(),
        execution_status: String::new(),
        status_reason: None,
        changes: Vec::new(),
    };
    let mut token: Option<String> = None;
    loop {
        let first = token.is_none();
        let out = cfn
            .describe_change_set()
            .change_set_name(id)
            .stack_name(stack)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| AwsError::call("cloudformation:DescribeChangeSet", e))?;
        if first {
            info.status = out
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default();
            info.execution_status = out
                .execution_status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default();
            info.status_reason = out.status_reason().map(str::to_string);
        }
        info.changes.extend(
            out.changes()
                .iter()
                .filter_map(|c| c.resource_change())
                .map(|r| ResourceChange {
                    logical_id: r.logical_resource_id().unwrap_or_default().to_string(),
                    physical_id: r.physical_resource_id().map(str::to_string),
                    resource_type: r.resource_type().unwrap_or_default().to_string(),
                    action: r
                        .action()
                        .map(|a| a.as_str().to_string())
                        .unwrap_or_default(),
                    replacement: r.replacement().map(|x| x.as_str().to_string()),
                    scope: r.scope().iter().map(|s| s.as_str().to_string()).collect(),
                }),
        );
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(info),
        }
    }
}

/// Deletes a change set; one that is already gone is fine.
pub async fn delete_change_set(cfn: &Client, stack: &str, id: &str) -> Result<(), AwsError> {
    match cfn
        .delete_change_set()
        .change_set_name(id)
        .stack_name(stack)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => {
            let err = AwsError::call("cloudformation:DeleteChangeSet", e);
            if err.code() == Some("ChangeSetNotFound") {
                Ok(())
            } else {
                Err(err)
            }
        }
    }
}

/// Executes a change set. `token` marks every event of the update it starts.
pub async fn execute_change_set(
    cfn: &Client,
    stack: &str,
    id: &str,
    token: &str,
) -> Result<(), AwsError> {
    cfn.execute_change_set()
        .change_set_name(id)
        .stack_name(stack)
        .client_request_token(token)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::call("cloudformation:ExecuteChangeSet", e))
}

/// One stack event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackEvent {
    pub id: String,
    pub logical_id: String,
    pub physical_id: Option<String>,
    pub resource_type: String,
    pub status: String,
    pub reason: Option<String>,
    /// The ClientRequestToken of the operation that caused it.
    pub token: Option<String>,
    /// RFC 3339.
    pub timestamp: Option<String>,
}

impl StackEvent {
    /// An event about the stack itself (not one of its resources).
    pub fn is_stack(&self) -> bool {
        self.resource_type == STACK_TYPE
    }
}

fn stack_event(e: &aws_sdk_cloudformation::types::StackEvent) -> StackEvent {
    StackEvent {
        id: e.event_id().unwrap_or_default().to_string(),
        logical_id: e.logical_resource_id().unwrap_or_default().to_string(),
        physical_id: e.physical_resource_id().map(str::to_string),
        resource_type: e.resource_type().unwrap_or_default().to_string(),
        status: e
            .resource_status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        reason: e.resource_status_reason().map(str::to_string),
        token: e.client_request_token().map(str::to_string),
        timestamp: e.timestamp().and_then(|t| t.fmt(Format::DateTime).ok()),
    }
}

/// The stack's events newer than the newest one `known` recognises, newest first,
/// reading as many pages as that takes (DescribeStackEvents pages back in time).
pub async fn events_since(
    cfn: &Client,
    stack: &str,
    known: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Vec<StackEvent>, AwsError> {
    let mut found = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_EVENT_PAGES {
        let out = cfn
            .describe_stack_events()
            .stack_name(stack)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| AwsError::call("cloudformation:DescribeStackEvents", e))?;
        for e in out.stack_events() {
            let event = stack_event(e);
            if known(&event.id) {
                return Ok(found);
            }
            found.push(event);
        }
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    Ok(found)
}

/// The id of the stack's newest event, if it has any.
pub async fn newest_event_id(cfn: &Client, stack: &str) -> Result<Option<String>, AwsError> {
    let out = cfn
        .describe_stack_events()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| AwsError::call("cloudformation:DescribeStackEvents", e))?;
    Ok(out
        .stack_events()
        .first()
        .and_then(|e| e.event_id())
        .map(str::to_string))
}
