//! What a test reads back: what the mocked AWS was sent, and what the roll showed its user.

use amibake::aws::cfn::StackEvent;
use amibake::event::Recorded;
use amibake::roll::RollError;
use aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetInput;

use super::*;

/// The ids of this token's events in the mocked stack, oldest first.
pub fn events_of(m: &Mocks, token: &str) -> Vec<String> {
    m.world()
        .events
        .iter()
        .filter(|e| e.client_request_token() == Some(token))
        .map(|e| e.event_id().unwrap_or_default().to_string())
        .collect()
}

pub fn ids(events: &[StackEvent]) -> Vec<String> {
    events.iter().map(|e| e.id.clone()).collect()
}

/// The ids of the `stack_event` events the roll emitted, in order.
pub fn emitted_stack_events(recorded: &Recorded) -> Vec<String> {
    recorded
        .of_kind("stack_event")
        .iter()
        .map(|e| e["event_id"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The kinds of the events emitted, each run of one kind folded into one (`stack_event`
/// ×5 → `stack_event`): the order of what a user is shown.
pub fn phases(recorded: &Recorded) -> Vec<String> {
    let mut kinds = recorded.kinds();
    kinds.dedup();
    kinds
}

/// The `logical_id`s of the `change` events, in order.
pub fn emitted_changes(recorded: &Recorded) -> Vec<String> {
    recorded
        .of_kind("change")
        .iter()
        .map(|c| c["logical_id"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// (key, value) pairs read from the CreateChangeSet request by `read`.
fn from_change_set(
    m: &Mocks,
    read: impl FnOnce(&CreateChangeSetInput) -> Vec<(Option<&str>, Option<&str>)>,
) -> Vec<(String, String)> {
    let w = m.world();
    let cs = w
        .created_change_set
        .as_ref()
        .expect("a change set was created");
    read(cs)
        .into_iter()
        .map(|(k, v)| {
            let (k, v) = (k.unwrap_or_default(), v.unwrap_or_default());
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// Parameters of the CreateChangeSet request as (key, value or "<previous>").
pub fn change_set_parameters(m: &Mocks) -> Vec<(String, String)> {
    from_change_set(m, |cs| {
        cs.parameters()
            .iter()
            .map(|p| {
                let value = if p.use_previous_value() == Some(true) {
                    Some("<previous>")
                } else {
                    p.parameter_value()
                };
                (p.parameter_key(), value)
            })
            .collect()
    })
}

pub fn change_set_tags(m: &Mocks) -> Vec<(String, String)> {
    from_change_set(m, |cs| {
        cs.tags().iter().map(|t| (t.key(), t.value())).collect()
    })
}

/// The rollback triggers of the CreateChangeSet request as (ARN, type).
pub fn rollback_triggers(m: &Mocks) -> Vec<(String, String)> {
    from_change_set(m, |cs| {
        cs.rollback_configuration()
            .map(|r| r.rollback_triggers())
            .unwrap_or_default()
            .iter()
            .map(|t| (t.arn(), t.r#type()))
            .collect()
    })
}

pub fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The reason a failed update gives.
pub fn reason_of(err: &RollError) -> &String {
    match err {
        RollError::RolledBack { reason, .. }
        | RollError::RollbackFailed { reason, .. }
        | RollError::ChangeSetFailed { reason, .. }
        | RollError::Failed { reason, .. } => reason,
        other => panic!("{other:?} has no reason"),
    }
}
