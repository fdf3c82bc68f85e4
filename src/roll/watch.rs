//! Watching the operation: this operation's stack events until the stack settles, and
//! how it ended and why.

use std::sync::Mutex;

use crate::aws::cfn::{self, StackEvent, StackInfo};
use crate::aws::poll;
use crate::aws::{AwsError, calls};

use super::event::SPINNER;
use super::refresh::Follow;
use super::{Roll, RollError, RollEvent, STACK, lock};

impl Roll<'_> {
    /// Streams this operation's events until the stack settles; returns the stack then.
    /// `mark`: the newest event before the operation (nothing older is read again).
    pub(super) async fn watch(
        &self,
        cfn: &aws_sdk_cloudformation::Client,
        stack_id: &str,
        mark: Option<String>,
        follow: Option<&Follow>,
    ) -> Result<StackInfo, RollError> {
        if let Some(mark) = mark {
            lock(&self.seen).insert(mark);
        }
        let last = Mutex::new(String::new());
        let checks = Mutex::new(0u32);
        let result = poll::until(self.schedule(STACK), self.req.watch_timeout, || async {
            let stack = cfn::describe_stack(cfn, stack_id)
                .await?
                .ok_or_else(|| gone(stack_id))?;
            self.stream_events(cfn, stack_id).await?;
            if let Some(follow) = follow {
                self.follow_refresh(follow).await?;
            }
            // The spinner follows the stack's status; only its events make lines.
            self.reporter
                .spin(SPINNER, &format!("{}: {}", stack.name, stack.status));
            *lock(&last) = stack.status.clone();
            let checks = {
                let mut c = lock(&checks);
                *c += 1;
                *c
            };
            // Just after ExecuteChangeSet the stack may still show the status of the
            // operation before: settled means this operation has shown itself (or
            // a few polls passed without any event of it).
            let started = !lock(&self.shown).is_empty() || checks >= 5;
            Ok((started && !stack.status.ends_with("_IN_PROGRESS")).then_some(stack))
        })
        .await;
        self.reporter.unspin(SPINNER);
        result.map_err(|e| {
            let stack = &self.req.stack;
            let hint = format!(
                "it is still {}; CloudFormation carries on without amibake: aws cloudformation describe-stack-events --stack-name {stack} --region {}",
                lock(&last),
                self.region()
            );
            RollError::waited(e, "watch", format!("watching stack {stack}"), hint)
        })
    }

    /// Reports the stack events not seen yet that belong to this operation, oldest
    /// first. Events carry the ClientRequestToken of the operation that caused them;
    /// events without one (older APIs, the emulator) count as this operation's when
    /// they are newer than the mark.
    pub(super) async fn stream_events(
        &self,
        cfn: &aws_sdk_cloudformation::Client,
        stack_id: &str,
    ) -> Result<(), AwsError> {
        let known = |id: &str| lock(&self.seen).contains(id);
        let mut new = cfn::events_since(cfn, stack_id, &known).await?;
        new.reverse();
        for e in new {
            if !lock(&self.seen).insert(e.id.clone()) {
                continue;
            }
            if e.token.as_deref().is_some_and(|t| t != self.req.token) {
                continue;
            }
            self.reporter.emit(RollEvent::StackEvent {
                stack: self.req.stack.clone(),
                event_id: e.id.clone(),
                logical_id: e.logical_id.clone(),
                physical_id: e.physical_id.clone(),
                resource_type: e.resource_type.clone(),
                status: e.status.clone(),
                reason: e.reason.clone(),
                timestamp: e.timestamp.clone(),
            });
            lock(&self.shown).push(e);
        }
        Ok(())
    }

    /// Why the operation failed: the instance refresh's reason (the alarm that fired,
    /// the instances that failed) when one acted, else the first failure among this
    /// operation's events: a resource's, else the stack's.
    pub(super) fn failure_reason(&self, stack: &StackInfo) -> String {
        if let Some(reason) = self.refresh_failure() {
            return reason;
        }
        let shown = lock(&self.shown);
        let reason = |e: &&StackEvent| {
            e.status.ends_with("_FAILED")
                && e.reason
                    .as_deref()
                    .is_some_and(|r| !r.is_empty() && !r.contains("cancelled"))
        };
        let event = shown
            .iter()
            .filter(|e| !e.is_stack())
            .find(reason)
            .or_else(|| shown.iter().find(reason))
            .or_else(|| {
                shown.iter().find(|e| {
                    e.is_stack()
                        && e.status.ends_with("ROLLBACK_IN_PROGRESS")
                        && e.reason.as_deref().is_some_and(|r| !r.is_empty())
                })
            });
        match event {
            Some(e) => format!(
                "{} {}: {}",
                e.logical_id,
                e.status,
                e.reason.as_deref().unwrap_or_default()
            ),
            None => stack.status_reason.clone().unwrap_or_else(|| {
                "CloudFormation gave no reason; see the stack's events".to_string()
            }),
        }
    }

    /// The resources whose rollback failed (after the stack began rolling back).
    pub(super) fn rollback_failures(&self) -> Vec<String> {
        let shown = lock(&self.shown);
        let start = shown
            .iter()
            .position(|e| e.is_stack() && e.status == "UPDATE_ROLLBACK_IN_PROGRESS")
            .unwrap_or(0);
        let failed = |events: &[StackEvent]| {
            let mut names: Vec<String> = Vec::new();
            for e in events {
                if !e.is_stack() && e.status.ends_with("_FAILED") && !names.contains(&e.logical_id)
                {
                    names.push(e.logical_id.clone());
                }
            }
            names
        };
        let during = failed(&shown[start..]);
        if during.is_empty() {
            failed(&shown)
        } else {
            during
        }
    }
}

pub(super) fn gone(stack: &str) -> AwsError {
    AwsError::local(
        calls::CLOUDFORMATION_DESCRIBE_STACKS,
        None,
        format!("stack {stack} no longer exists"),
    )
}
