//! The change: create the stack, or a change set with the new image and every other
//! parameter as it was; its changes shown, confirmed, executed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::aws::cfn::{
    self, NewChangeSet, NewStack, ParamValue, ResourceChange, RollbackAlarms, StackInfo,
};
use crate::aws::poll::{self, PollError};

use super::{
    CHANGE_SET, Confirm, DEFAULT_TEMPLATE, IMAGE_TAG, PREVIOUS_IMAGE_TAG, Roll, RollError,
    RollOutcome, VERSION_OUTPUT, continue_command,
};

impl Roll<'_> {
    /// The stack does not exist: create it on the image.
    pub(super) async fn create(
        &self,
        cfn: &aws_sdk_cloudformation::Client,
        ami: &str,
        confirm: Confirm<'_>,
    ) -> Result<RollOutcome, RollError> {
        let req = &self.req;
        let region = self.region();
        let path = match &req.template {
            Some(p) => p.clone(),
            None if Path::new(DEFAULT_TEMPLATE).is_file() => PathBuf::from(DEFAULT_TEMPLATE),
            None => {
                return Err(RollError::Usage(format!(
                    "stack {} does not exist in {region}; pass --template FILE to create it",
                    req.stack
                )));
            }
        };
        let body = read_template(&path).await?;
        let mut parameters: Vec<(String, ParamValue)> = req
            .parameters
            .iter()
            .map(|(k, v)| (k.clone(), ParamValue::Value(v.clone())))
            .collect();
        parameters.push((
            req.image_parameter.clone(),
            ParamValue::Value(ami.to_string()),
        ));
        let shown: BTreeMap<&str, &str> = parameters
            .iter()
            .filter_map(|(k, v)| match v {
                ParamValue::Value(_) if looks_secret(k) => Some((k.as_str(), "***")),
                ParamValue::Value(v) => Some((k.as_str(), v.as_str())),
                ParamValue::Previous => None,
            })
            .collect();
        self.reporter.event(
            "create",
            json!({ "stack": req.stack, "region": region, "template": path, "ami": ami, "parameters": shown, "plan": req.plan }),
            &format!(
                "stack {} does not exist in {region}: {} it from {} on {ami} ({})",
                req.stack,
                if req.plan { "would create" } else { "creating" },
                path.display(),
                shown
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        if req.plan {
            return Ok(RollOutcome::Planned {
                stack: req.stack.clone(),
                ami: ami.to_string(),
                new_stack: true,
                changes: Vec::new(),
            });
        }
        if !req.yes
            && !self.ask(
                confirm,
                &format!("create stack {} in {region} on {ami}?", req.stack),
            )
        {
            return Err(RollError::Declined("nothing was created".into()));
        }
        let tags = BTreeMap::from([(IMAGE_TAG.to_string(), ami.to_string())]);
        let alarms = self.alarms();
        let new = NewStack {
            name: &req.stack,
            template_body: &body,
            parameters: &parameters,
            tags: &tags,
            rollback: &alarms,
            token: &req.token,
        };
        let id = poll::retry(|| cfn::create_stack(cfn, &new))
            .await
            .map_err(RollError::rejected("stack", "create"))?;
        let done = self.watch(cfn, &id, None).await?;
        if done.status == "CREATE_COMPLETE" {
            return Ok(RollOutcome::Created {
                stack: req.stack.clone(),
                ami: ami.to_string(),
                launch_template_version: done.output(VERSION_OUTPUT).map(str::to_string),
            });
        }
        Err(RollError::Failed {
            stack: req.stack.clone(),
            reason: self.failure_reason(&done),
            hint: format!(
                "a stack whose creation failed cannot be updated; delete it before trying again: aws cloudformation delete-stack --stack-name {} --region {region}",
                req.stack
            ),
            status: done.status,
        })
    }

    /// The stack exists: a change set onto the image, executed and watched.
    pub(super) async fn update(
        &self,
        cfn: &aws_sdk_cloudformation::Client,
        stack: StackInfo,
        explicit: Option<String>,
        confirm: Confirm<'_>,
    ) -> Result<RollOutcome, RollError> {
        let req = &self.req;
        self.check_usable(&stack)?;
        let stack = self.wait_idle(cfn, stack).await?;
        self.check_usable(&stack)?;

        let current = stack
            .parameter(&req.image_parameter)
            .map(str::to_string)
            .ok_or_else(|| {
                RollError::Usage(format!(
                    "stack {} has no parameter {}; name its image parameter with --image-parameter",
                    stack.name, req.image_parameter
                ))
            })?;
        let ami =
            match explicit {
                Some(ami) => ami,
                None => {
                    let previous = stack.tags.get(PREVIOUS_IMAGE_TAG).ok_or_else(|| {
                        RollError::NoPrevious {
                            stack: stack.name.clone(),
                        }
                    })?;
                    self.resolve_ami(previous).await?
                }
            };

        let body = match &req.template {
            Some(path) => Some(read_template(path).await?),
            None => None,
        };
        let keys = match &body {
            Some(body) => poll::retry(|| cfn::template_parameters(cfn, body))
                .await
                .map_err(RollError::rejected("template", "template"))?,
            None => stack.parameters.iter().map(|p| p.key.clone()).collect(),
        };
        let where_ = if body.is_some() {
            "the new template"
        } else {
            "the stack's template"
        };
        if !keys.contains(&req.image_parameter) {
            return Err(RollError::Usage(format!(
                "{where_} has no parameter {}; name the image parameter with --image-parameter",
                req.image_parameter
            )));
        }
        if let Some((k, _)) = req.parameters.iter().find(|(k, _)| !keys.contains(k)) {
            return Err(RollError::Usage(format!("{where_} has no parameter {k}")));
        }
        let parameters: Vec<(String, ParamValue)> = keys
            .iter()
            .filter_map(|k| {
                let value = if *k == req.image_parameter {
                    ParamValue::Value(ami.clone())
                } else if let Some((_, v)) = req.parameters.iter().rev().find(|(g, _)| g == k) {
                    ParamValue::Value(v.clone())
                } else if stack.parameter(k).is_some() {
                    ParamValue::Previous
                } else {
                    // A parameter only the new template has: its default applies.
                    return None;
                };
                Some((k.clone(), value))
            })
            .collect();
        // Record what the stack runs now, so `rollback` can return to it. Rolling onto
        // the image it already runs keeps the record as it is.
        let tags = (ami != current).then(|| {
            let mut tags = stack.tags.clone();
            tags.insert(PREVIOUS_IMAGE_TAG.to_string(), current.clone());
            tags.insert(IMAGE_TAG.to_string(), ami.clone());
            tags
        });

        let name = req.token.clone();
        self.reporter.event(
            "start",
            json!({ "stack": stack.name, "stack_id": stack.id, "region": self.region(), "from_ami": current, "to_ami": ami, "change_set": name, "token": req.token }),
            &if ami == current {
                format!(
                    "{} in {} runs {ami} already: checking for other changes (change set {name})",
                    stack.name,
                    self.region()
                )
            } else {
                format!(
                    "rolling {} in {}: {current} → {ami} (change set {name})",
                    stack.name,
                    self.region()
                )
            },
        );
        let description = format!("amibake: {current} -> {ami}");
        let alarms = self.alarms();
        let new = NewChangeSet {
            stack: &stack.name,
            name: &name,
            description: &description,
            template_body: body.as_deref(),
            parameters: &parameters,
            tags: tags.as_ref(),
            rollback: &alarms,
            token: &req.token,
        };
        let already_on = || RollOutcome::AlreadyOn {
            stack: stack.name.clone(),
            ami: ami.clone(),
        };
        let id = match poll::retry(|| cfn::create_change_set(cfn, &new)).await {
            Ok(id) => id,
            // What UpdateStack (and the emulator's CreateChangeSet) says for no changes.
            Err(e) if cfn::is_validation(&e, "No updates are to be performed") => {
                return Ok(already_on());
            }
            Err(e) => return Err(RollError::rejected("change set", "change set")(e)),
        };
        let cs = self.wait_change_set(cfn, &stack.name, &id).await?;
        if cs.status != "CREATE_COMPLETE" {
            self.delete_change_set(cfn, &stack.name, &id).await;
            let reason = cs
                .status_reason
                .unwrap_or_else(|| format!("it ended {}", cs.status));
            if no_changes(&reason) {
                return Ok(already_on());
            }
            return Err(RollError::ChangeSetFailed { name, reason });
        }
        self.show_changes(&name, &cs.changes);
        if cs.changes.is_empty() && ami == current {
            self.delete_change_set(cfn, &stack.name, &id).await;
            return Ok(already_on());
        }
        if req.plan {
            self.delete_change_set(cfn, &stack.name, &id).await;
            return Ok(RollOutcome::Planned {
                stack: stack.name.clone(),
                ami,
                new_stack: false,
                changes: cs.changes,
            });
        }
        if !req.yes
            && !self.ask(
                confirm,
                &format!(
                    "execute change set {name}: roll {} from {current} to {ami} ({} change(s))?",
                    stack.name,
                    cs.changes.len()
                ),
            )
        {
            self.delete_change_set(cfn, &stack.name, &id).await;
            return Err(RollError::Declined(format!(
                "change set {name} deleted, nothing changed"
            )));
        }

        // Events up to here belong to earlier operations.
        let mark = poll::retry(|| cfn::newest_event_id(cfn, &stack.id))
            .await
            .map_err(RollError::aws("execute"))?;
        poll::retry(|| cfn::execute_change_set(cfn, &stack.name, &id, &req.token))
            .await
            .map_err(RollError::aws("execute"))?;
        let done = self.watch(cfn, &stack.id, mark).await?;
        match done.status.as_str() {
            "UPDATE_COMPLETE" => Ok(RollOutcome::Rolled {
                stack: stack.name.clone(),
                to_ami: done
                    .parameter(&req.image_parameter)
                    .map_or(ami, str::to_string),
                from_ami: current,
                from_version: stack.output(VERSION_OUTPUT).map(str::to_string),
                to_version: done.output(VERSION_OUTPUT).map(str::to_string),
            }),
            "UPDATE_ROLLBACK_COMPLETE" => Err(RollError::RolledBack {
                stack: stack.name.clone(),
                ami: current,
                reason: self.failure_reason(&done),
            }),
            "UPDATE_ROLLBACK_FAILED" => Err(RollError::RollbackFailed {
                resources: self.rollback_failures(),
                reason: self.failure_reason(&done),
                command: continue_command(&stack.name, self.region()),
                stack: stack.name.clone(),
            }),
            _ => Err(RollError::Failed {
                stack: stack.name.clone(),
                reason: self.failure_reason(&done),
                hint: String::new(),
                status: done.status.clone(),
            }),
        }
    }

    pub(super) fn alarms(&self) -> RollbackAlarms {
        RollbackAlarms {
            alarm_arns: self.req.rollback_alarms.clone(),
            monitoring_minutes: self.req.monitoring_minutes,
        }
    }

    pub(super) fn ask(&self, confirm: Confirm<'_>, question: &str) -> bool {
        self.reporter.unspin("roll");
        let Some(ask) = confirm else { return false };
        // Waiting for a person blocks: tell a multi-threaded runtime to move its other
        // tasks (the Ctrl-C watcher among them) off this worker first.
        match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => {
                tokio::task::block_in_place(|| ask(question))
            }
            _ => ask(question),
        }
    }

    /// Refuses stacks CloudFormation will not update (busy ones are handled by
    /// [`Roll::wait_idle`]).
    pub(super) fn check_usable(&self, stack: &StackInfo) -> Result<(), RollError> {
        let status = stack.status.as_str();
        let region = self.region();
        let hint = match status {
            "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "UPDATE_ROLLBACK_COMPLETE"
            | "IMPORT_COMPLETE" | "IMPORT_ROLLBACK_COMPLETE" | "UPDATE_FAILED" => return Ok(()),
            "REVIEW_IN_PROGRESS" => {
                "a change set created it but was never executed: execute or delete that change set first".to_string()
            }
            s if s.ends_with("_IN_PROGRESS") => return Ok(()),
            "UPDATE_ROLLBACK_FAILED" => format!(
                "an earlier rollback could not finish; fix the cause, then continue it:\n  {}",
                continue_command(&stack.name, region)
            ),
            _ => format!(
                "CloudFormation cannot update it; delete it (aws cloudformation delete-stack --stack-name {} --region {region}) and roll again to create it",
                stack.name
            ),
        };
        Err(RollError::Unusable {
            stack: stack.name.clone(),
            status: stack.status.clone(),
            hint,
        })
    }

    /// Polls the change set until CloudFormation has computed it (or failed to).
    pub(super) async fn wait_change_set(
        &self,
        cfn: &aws_sdk_cloudformation::Client,
        stack: &str,
        id: &str,
    ) -> Result<cfn::ChangeSetInfo, RollError> {
        self.reporter.spin("roll", "computing the change set");
        let result = poll::until(
            self.schedule(CHANGE_SET),
            self.req.change_set_timeout,
            || async {
                match cfn::describe_change_set(cfn, stack, id).await {
                    Ok(cs) => Ok(matches!(
                        cs.status.as_str(),
                        "CREATE_COMPLETE" | "FAILED" | "DELETE_COMPLETE" | "DELETE_FAILED"
                    )
                    .then_some(cs)),
                    // Not visible yet just after CreateChangeSet.
                    Err(e) if e.code() == Some("ChangeSetNotFound") => Ok(None),
                    Err(e) => Err(e),
                }
            },
        )
        .await;
        self.reporter.unspin("roll");
        match result {
            Ok(cs) => Ok(cs),
            Err(PollError::Timeout(after)) => Err(RollError::Timeout {
                what: format!("change set {}", self.req.token),
                after,
                hint: "CloudFormation did not finish computing it".into(),
            }),
            Err(PollError::Aws(e)) => Err(RollError::aws("change set")(e)),
        }
    }

    /// Best effort: a change set left behind is harmless clutter, so failing to delete
    /// one is only reported.
    pub(super) async fn delete_change_set(
        &self,
        cfn: &aws_sdk_cloudformation::Client,
        stack: &str,
        id: &str,
    ) {
        if let Err(e) = poll::retry(|| cfn::delete_change_set(cfn, stack, id)).await {
            self.reporter
                .say(&format!("could not delete change set {id}: {}", e.chain()));
        }
    }

    pub(super) fn show_changes(&self, name: &str, changes: &[ResourceChange]) {
        self.reporter.event(
            "change_set",
            json!({ "change_set": name, "changes": changes.len() }),
            &format!("change set {name}: {} change(s)", changes.len()),
        );
        for c in changes {
            let replacement = match c.replacement.as_deref() {
                Some("True") => ", replacement",
                Some("Conditional") => ", replacement: conditional",
                Some("False") => ", no replacement",
                _ => "",
            };
            self.reporter.event(
                "change",
                json!({
                    "logical_id": c.logical_id, "physical_id": c.physical_id,
                    "resource_type": c.resource_type, "action": c.action,
                    "replacement": c.replacement, "scope": c.scope,
                }),
                &format!(
                    "  {} {} ({}){replacement}",
                    c.action, c.logical_id, c.resource_type
                ),
            );
        }
    }
}

/// Parameters whose values are not shown (NoEcho ones usually are named like this).
pub(super) fn looks_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", "token", "credential", "privatekey"]
        .iter()
        .any(|w| key.contains(w))
}

/// Whether a change set's failure only says there was nothing to change.
pub(super) fn no_changes(reason: &str) -> bool {
    reason.contains("didn't contain changes") || reason.contains("No updates are to be performed")
}

pub(super) async fn read_template(path: &Path) -> Result<String, RollError> {
    tokio::fs::read_to_string(path)
        .await
        .map_err(|e| RollError::Usage(format!("cannot read the template {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_looking_parameters_are_not_shown() {
        assert!(looks_secret("DbPassword"));
        assert!(looks_secret("ApiToken"));
        assert!(!looks_secret("ImageId"));
        assert!(!looks_secret("Subnets"));
    }
}
