//! Change sets: create, describe (with every change), delete, execute.

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::ChangeSetType;
use serde::Serialize;

use super::*;
use crate::aws::AwsError;

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
        .map_err(|e| AwsError::call(crate::aws::calls::CLOUDFORMATION_CREATE_CHANGE_SET, e))?;
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
            .map_err(|e| {
                AwsError::call(crate::aws::calls::CLOUDFORMATION_DESCRIBE_CHANGE_SET, e)
            })?;
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
            let err = AwsError::call(crate::aws::calls::CLOUDFORMATION_DELETE_CHANGE_SET, e);
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
        .map_err(|e| AwsError::call(crate::aws::calls::CLOUDFORMATION_EXECUTE_CHANGE_SET, e))
}
