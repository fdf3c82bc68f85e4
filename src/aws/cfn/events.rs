//! Stack events: reading an operation's events as they come.

use aws_sdk_cloudformation::Client;
use aws_smithy_types::date_time::Format;
use serde::Serialize;

use super::*;
use crate::aws::AwsError;

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
            .map_err(|e| {
                AwsError::call(crate::aws::calls::CLOUDFORMATION_DESCRIBE_STACK_EVENTS, e)
            })?;
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
        .map_err(|e| AwsError::call(crate::aws::calls::CLOUDFORMATION_DESCRIBE_STACK_EVENTS, e))?;
    Ok(out
        .stack_events()
        .first()
        .and_then(|e| e.event_id())
        .map(str::to_string))
}
