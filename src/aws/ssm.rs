//! SSM calls: parameters, agent registration, Run Command.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ssm::Client;
use aws_sdk_ssm::types::{
    CommandInvocationStatus, InstanceInformationStringFilter, ParameterType, PingStatus,
    ResourceTypeForTagging, Tag,
};
use aws_smithy_types::DateTime;

use super::AwsError;

/// GetCommandInvocation returns at most this many characters of stdout…
pub const OUTPUT_LIMIT: usize = 24_000;
/// …and this many of stderr.
pub const STDERR_LIMIT: usize = 8_000;

/// The value of a parameter.
pub async fn get_parameter(ssm: &Client, name: &str) -> Result<Option<String>, AwsError> {
    match ssm.get_parameter().name(name).send().await {
        Ok(out) => Ok(out.parameter().and_then(|p| p.value()).map(str::to_string)),
        Err(e) => AwsError::call(crate::aws::calls::SSM_GET_PARAMETER, e)
            .absent_if(&["ParameterNotFound"]),
    }
}

/// A parameter's value and what SSM records about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterInfo {
    pub value: String,
    pub version: i64,
    /// `text` or `aws:ec2:image`.
    pub data_type: String,
    /// RFC 3339, when SSM sent it.
    pub last_modified: Option<String>,
}

/// The value of a parameter with its version and data type, or `None` when it does not
/// exist.
pub async fn get_parameter_with_metadata(
    ssm: &Client,
    name: &str,
) -> Result<Option<ParameterInfo>, AwsError> {
    match ssm.get_parameter().name(name).send().await {
        Ok(out) => Ok(out.parameter().map(|p| ParameterInfo {
            value: p.value().unwrap_or_default().to_string(),
            version: p.version(),
            data_type: p.data_type().unwrap_or("text").to_string(),
            last_modified: p
                .last_modified_date()
                .and_then(|d| d.fmt(aws_smithy_types::date_time::Format::DateTime).ok()),
        })),
        Err(e) => AwsError::call(crate::aws::calls::SSM_GET_PARAMETER, e)
            .absent_if(&["ParameterNotFound"]),
    }
}

/// Every parameter under `path` (recursively): name and value.
pub async fn parameters_by_path(
    ssm: &Client,
    path: &str,
) -> Result<Vec<(String, String)>, AwsError> {
    let mut found = Vec::new();
    let mut pages = ssm
        .get_parameters_by_path()
        .path(path.trim_end_matches('/'))
        .recursive(true)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| AwsError::call(crate::aws::calls::SSM_GET_PARAMETERS_BY_PATH, e))?;
        for p in page.parameters() {
            if let (Some(name), Some(value)) = (p.name(), p.value()) {
                found.push((name.to_string(), value.to_string()));
            }
        }
    }
    Ok(found)
}

/// The SSM service setting of the Default Host Management Configuration.
pub const HOST_MANAGEMENT_SETTING: &str =
    "/ssm/managed-instance/default-ec2-instance-management-role";

/// The role the account's Default Host Management Configuration gives instances (SSM
/// access without an instance profile), or `None` when it is off in this region.
pub async fn host_management_role(ssm: &Client) -> Result<Option<String>, AwsError> {
    match ssm
        .get_service_setting()
        .setting_id(HOST_MANAGEMENT_SETTING)
        .send()
        .await
    {
        Ok(out) => Ok(out
            .service_setting()
            .and_then(|s| s.setting_value())
            .filter(|v| !v.is_empty() && *v != "$None")
            .map(str::to_string)),
        Err(e) => AwsError::call(crate::aws::calls::SSM_GET_SERVICE_SETTING, e)
            .absent_if(&["ServiceSettingNotFound"]),
    }
}

/// Writes a String parameter (overwriting it) with this data type (`aws:ec2:image` makes
/// SSM check that the value is an AMI in the region); returns the new version. SSM
/// validates `aws:ec2:image` values asynchronously: the new version may be readable only
/// a moment later.
pub async fn put_parameter(
    ssm: &Client,
    name: &str,
    value: &str,
    description: &str,
    data_type: &str,
) -> Result<i64, AwsError> {
    let out = ssm
        .put_parameter()
        .name(name)
        .value(value)
        .description(description)
        .r#type(ParameterType::String)
        .data_type(data_type)
        .overwrite(true)
        .send()
        .await
        .map_err(|e| AwsError::call(crate::aws::calls::SSM_PUT_PARAMETER, e))?;
    Ok(out.version())
}

/// Adds (or overwrites) tags on a parameter. PutParameter cannot tag with Overwrite set.
pub async fn tag_parameter(
    ssm: &Client,
    name: &str,
    tags: &BTreeMap<String, String>,
) -> Result<(), AwsError> {
    let tags = tag_list(crate::aws::calls::SSM_ADD_TAGS_TO_RESOURCE, tags)?;
    ssm.add_tags_to_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id(name)
        .set_tags(Some(tags))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::call(crate::aws::calls::SSM_ADD_TAGS_TO_RESOURCE, e))
}

/// Tags as SSM takes them (`action`: the call they are for, named if one is malformed).
pub fn tag_list(
    action: &'static str,
    tags: &BTreeMap<String, String>,
) -> Result<Vec<Tag>, AwsError> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AwsError::local(action, None, Box::new(e)))
}

/// The SSM agent's registration of an instance.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentStatus {
    pub online: bool,
    pub last_ping: Option<DateTime>,
}

/// Whether the instance's SSM agent is registered and Online, and when it last pinged.
pub async fn agent_status(
    ssm: &Client,
    instance_id: &str,
) -> Result<Option<AgentStatus>, AwsError> {
    let out = ssm
        .describe_instance_information()
        .filters(
            InstanceInformationStringFilter::builder()
                .key("InstanceIds")
                .values(instance_id)
                .build()
                .map_err(|e| {
                    AwsError::local(
                        crate::aws::calls::SSM_DESCRIBE_INSTANCE_INFORMATION,
                        None,
                        Box::new(e),
                    )
                })?,
        )
        .send()
        .await
        .map_err(|e| AwsError::call(crate::aws::calls::SSM_DESCRIBE_INSTANCE_INFORMATION, e))?;
    Ok(out
        .instance_information_list()
        .iter()
        .find(|i| i.instance_id() == Some(instance_id))
        .map(|i| AgentStatus {
            online: i.ping_status() == Some(&PingStatus::Online),
            last_ping: i.last_ping_date_time().cloned(),
        }))
}

/// What to run.
#[derive(Debug, Clone)]
pub enum CommandSpec<'a> {
    /// AWS-RunShellScript with one script.
    Shell(&'a str),
    /// Another document.
    Document {
        name: &'a str,
        version: Option<&'a str>,
        parameters: &'a BTreeMap<String, Vec<String>>,
    },
}

/// Sends a command to one instance; returns the command id.
pub async fn send_command(
    ssm: &Client,
    instance_id: &str,
    spec: &CommandSpec<'_>,
    timeout: Duration,
    comment: &str,
) -> Result<String, AwsError> {
    let secs = timeout.as_secs().clamp(30, 172_800);
    let mut req = ssm
        .send_command()
        .instance_ids(instance_id)
        .comment(comment.chars().take(100).collect::<String>())
        // Delivery timeout: how long SSM keeps trying to reach the agent.
        .timeout_seconds(600);
    match spec {
        CommandSpec::Shell(script) => {
            req = req
                .document_name("AWS-RunShellScript")
                .parameters("commands", vec![script.to_string()])
                .parameters("executionTimeout", vec![secs.to_string()]);
        }
        CommandSpec::Document {
            name,
            version,
            parameters,
        } => {
            req = req
                .document_name(*name)
                .set_document_version(version.map(str::to_string));
            for (k, v) in *parameters {
                req = req.parameters(k, v.clone());
            }
        }
    }
    let out = req
        .send()
        .await
        .map_err(|e| AwsError::call(crate::aws::calls::SSM_SEND_COMMAND, e))?;
    out.command()
        .and_then(|c| c.command_id())
        .map(str::to_string)
        .ok_or_else(|| {
            AwsError::local(
                crate::aws::calls::SSM_SEND_COMMAND,
                None,
                "the response named no command",
            )
        })
}

/// Where a command invocation stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// `Pending`, `InProgress`, `Delayed`, `Success`, `Failed`, `TimedOut`, `Cancelled`, …
    pub status: String,
    pub done: bool,
    pub response_code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Invocation {
    pub fn succeeded(&self) -> bool {
        self.status == "Success"
    }
    /// Whether SSM cut an output stream at its limit.
    pub fn truncated(&self) -> bool {
        self.stdout.chars().count() >= OUTPUT_LIMIT || self.stderr.chars().count() >= STDERR_LIMIT
    }
}

/// The invocation of a command on an instance. Just after SendCommand this may fail with
/// `InvocationDoesNotExist`: a poll treats that as "not yet".
pub async fn invocation(
    ssm: &Client,
    command_id: &str,
    instance_id: &str,
) -> Result<Invocation, AwsError> {
    let out = ssm
        .get_command_invocation()
        .command_id(command_id)
        .instance_id(instance_id)
        .send()
        .await
        .map_err(|e| AwsError::call(crate::aws::calls::SSM_GET_COMMAND_INVOCATION, e))?;
    let status = out.status().cloned();
    let done = matches!(
        status,
        Some(
            CommandInvocationStatus::Success
                | CommandInvocationStatus::Failed
                | CommandInvocationStatus::TimedOut
                | CommandInvocationStatus::Cancelled
        )
    ) || matches!(
        out.status_details(),
        Some("Undeliverable" | "Terminated" | "ExecutionTimedOut" | "DeliveryTimedOut")
    );
    Ok(Invocation {
        status: status.map(|s| s.as_str().to_string()).unwrap_or_default(),
        done,
        response_code: out.response_code(),
        stdout: out
            .standard_output_content()
            .unwrap_or_default()
            .to_string(),
        stderr: out.standard_error_content().unwrap_or_default().to_string(),
    })
}

/// One version of a parameter, as GetParameterHistory gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterVersion {
    pub version: i64,
    pub value: String,
    pub description: String,
}

/// SSM keeps a parameter's last 100 versions; more pages than that are not read.
const MAX_HISTORY: usize = 100;

/// A parameter's versions, oldest first (every page, at most the 100 SSM keeps); empty
/// when the parameter does not exist.
pub async fn parameter_history(
    ssm: &Client,
    name: &str,
) -> Result<Vec<ParameterVersion>, AwsError> {
    let mut found = Vec::new();
    let mut pages = ssm
        .get_parameter_history()
        .name(name)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(e) => {
                let e = AwsError::call(crate::aws::calls::SSM_GET_PARAMETER_HISTORY, e);
                return e
                    .absent_if(&["ParameterNotFound"])
                    .map(|_: Option<()>| found);
            }
        };
        found.extend(page.parameters().iter().map(|p| ParameterVersion {
            version: p.version(),
            value: p.value().unwrap_or_default().to_string(),
            description: p.description().unwrap_or_default().to_string(),
        }));
        if found.len() >= MAX_HISTORY * 2 {
            break;
        }
    }
    found.sort_by_key(|p| p.version);
    Ok(found)
}

/// A parameter's tags.
pub async fn parameter_tags(
    ssm: &Client,
    name: &str,
) -> Result<BTreeMap<String, String>, AwsError> {
    let out = ssm
        .list_tags_for_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id(name)
        .send()
        .await
        .map_err(|e| AwsError::call(crate::aws::calls::SSM_LIST_TAGS_FOR_RESOURCE, e))?;
    Ok(out
        .tag_list()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect())
}

/// Removes tags (by key) from a parameter; a key it does not carry is no error.
pub async fn untag_parameter(ssm: &Client, name: &str, keys: &[&str]) -> Result<(), AwsError> {
    ssm.remove_tags_from_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id(name)
        .set_tag_keys(Some(keys.iter().map(|k| k.to_string()).collect()))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::call(crate::aws::calls::SSM_REMOVE_TAGS_FROM_RESOURCE, e))
}
