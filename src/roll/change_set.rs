//! The change to an existing stack: a change set with the new image and every other
//! parameter as it was; its changes shown, confirmed, executed and watched.

use std::collections::BTreeMap;
use std::path::Path;

use crate::aws::cfn::{self, NewChangeSet, ParamValue, ResourceChange, RollbackAlarms, StackInfo};
use crate::aws::poll;
use crate::error::FromAws;
use crate::tags;

use super::event::SPINNER;
use super::policy::Policy;
use super::refresh::Follow;
use super::{
    CHANGE_SET, Confirm, Roll, RollError, RollEvent, RollOutcome, VERSION_OUTPUT, continue_command,
};

/// What an update moves: the stack as it was before, the image it runs and the image it
/// moves to.
struct Move {
    stack: StackInfo,
    from: String,
    to: String,
}

impl Move {
    /// Nothing to change: the stack is on the image.
    fn already_on(&self) -> RollOutcome {
        RollOutcome::AlreadyOn {
            stack: self.stack.name.clone(),
            ami: self.to.clone(),
        }
    }
}

/// A change set CloudFormation has computed.
struct Computed {
    id: String,
    changes: Vec<ResourceChange>,
}

impl Roll<'_> {
    /// The stack exists: a change set onto the image, shown, confirmed, executed and
    /// watched. A change set that changes nothing means the stack is already there.
    pub(super) async fn update(
        &self,
        cfn: &aws_sdk_cloudformation::Client,
        stack: StackInfo,
        explicit: Option<String>,
        confirm: Confirm<'_>,
    ) -> Result<RollOutcome, RollError> {
        self.check_usable(&stack)?;
        let stack = self.wait_idle(cfn, stack).await?;
        self.check_usable(&stack)?;
        let from = self.current_image(&stack)?;
        let to = match explicit {
            Some(ami) => ami,
            None => self.previous_image(&stack).await?,
        };
        self.check_allowed(&to).await?;
        let change = Move { stack, from, to };
        let body = match &self.req.template {
            Some(path) => Some(read_template(path).await?),
            None => None,
        };
        let parameters = self
            .change_parameters(cfn, &change, body.as_deref())
            .await?;
        let (policy, follow) = self.policy(cfn, &change.stack, body.as_deref()).await?;
        self.announce(&change, policy);
        let made = self.make_change_set(cfn, &change, body.as_deref(), &parameters);
        let Some(computed) = made.await? else {
            return Ok(change.already_on());
        };
        self.show_changes(&computed.changes);
        if computed.changes.is_empty() && change.from == change.to {
            self.delete_change_set(cfn, &change.stack.name, &computed.id)
                .await;
            return Ok(change.already_on());
        }
        if self.req.plan {
            self.delete_change_set(cfn, &change.stack.name, &computed.id)
                .await;
            return Ok(RollOutcome::Planned {
                stack: change.stack.name.clone(),
                ami: change.to,
                new_stack: false,
                changes: computed.changes,
            });
        }
        self.confirm_update(cfn, confirm, &change, &computed)
            .await?;
        let done = self.execute(cfn, &change.stack, &computed.id, follow.as_ref());
        let done = done.await?;
        self.updated(change, done)
    }

    /// The image the stack runs now: its image parameter's value.
    fn current_image(&self, stack: &StackInfo) -> Result<String, RollError> {
        let parameter = &self.req.image_parameter;
        stack.parameter(parameter).map(str::to_string).ok_or_else(|| {
            RollError::Usage(format!(
                "stack {} has no parameter {parameter}; name its image parameter with --image-parameter",
                stack.name
            ))
        })
    }

    /// `rollback`: the image the stack ran before its last roll, as recorded on the
    /// stack, checked to still exist.
    async fn previous_image(&self, stack: &StackInfo) -> Result<String, RollError> {
        let previous =
            stack
                .tags
                .get(tags::PREVIOUS_IMAGE)
                .ok_or_else(|| RollError::NoPrevious {
                    stack: stack.name.clone(),
                })?;
        self.resolve_ami(previous).await
    }

    /// The change set's parameters: the image, the `--parameter`s, and every other
    /// parameter as it was (one only a new template has takes its default). Each one
    /// named must exist in the template the stack will run, which `body` replaces.
    async fn change_parameters(
        &self,
        cfn: &aws_sdk_cloudformation::Client,
        change: &Move,
        body: Option<&str>,
    ) -> Result<Vec<(String, ParamValue)>, RollError> {
        let req = &self.req;
        let keys = match body {
            Some(body) => poll::retry(|| cfn::template_parameters(cfn, body))
                .await
                .map_err(RollError::rejected("template", "template"))?,
            None => change
                .stack
                .parameters
                .iter()
                .map(|p| p.key.clone())
                .collect(),
        };
        let template = match body {
            Some(_) => "the new template",
            None => "the stack's template",
        };
        if !keys.contains(&req.image_parameter) {
            return Err(RollError::Usage(format!(
                "{template} has no parameter {}; name the image parameter with --image-parameter",
                req.image_parameter
            )));
        }
        if let Some((k, _)) = req.parameters.iter().find(|(k, _)| !keys.contains(k)) {
            return Err(RollError::Usage(format!("{template} has no parameter {k}")));
        }
        let value = |k: &String| {
            if *k == req.image_parameter {
                Some(ParamValue::Value(change.to.clone()))
            } else if let Some((_, v)) = req.parameters.iter().rev().find(|(g, _)| g == k) {
                Some(ParamValue::Value(v.clone()))
            } else {
                // A parameter only the new template has: its default applies.
                change.stack.parameter(k).map(|_| ParamValue::Previous)
            }
        };
        Ok(keys
            .iter()
            .filter_map(|k| Some((k.clone(), value(k)?)))
            .collect())
    }

    /// The `start` line: which images, which change set, which policy replaces the
    /// instances.
    fn announce(&self, change: &Move, policy: Policy) {
        let req = &self.req;
        self.reporter.emit(RollEvent::Start {
            stack: change.stack.name.clone(),
            stack_id: change.stack.id.clone(),
            region: self.region().to_string(),
            from_ami: change.from.clone(),
            to_ami: change.to.clone(),
            change_set: req.token.clone(),
            token: req.token.clone(),
            policy,
        });
    }

    /// Creates the change set (named after the token) and waits until CloudFormation has
    /// computed it. `None`: there is nothing to change; a failed one is deleted.
    async fn make_change_set(
        &self,
        cfn: &aws_sdk_cloudformation::Client,
        change: &Move,
        body: Option<&str>,
        parameters: &[(String, ParamValue)],
    ) -> Result<Option<Computed>, RollError> {
        let req = &self.req;
        let stack = &change.stack.name;
        let description = format!("amibake: {} -> {}", change.from, change.to);
        let recorded = image_tags(change);
        let alarms = self.alarms();
        let new = NewChangeSet {
            stack,
            name: &req.token,
            description: &description,
            template_body: body,
            parameters,
            tags: recorded.as_ref(),
            rollback: &alarms,
            token: &req.token,
        };
        let id = match poll::retry(|| cfn::create_change_set(cfn, &new)).await {
            Ok(id) => id,
            // What UpdateStack (and the emulator's CreateChangeSet) says for no changes.
            Err(e) if cfn::is_validation(&e, "No updates are to be performed") => return Ok(None),
            Err(e) => return Err(RollError::rejected("change set", "change set")(e)),
        };
        let cs = self.wait_change_set(cfn, stack, &id).await?;
        if cs.status == "CREATE_COMPLETE" {
            let changes = cs.changes;
            return Ok(Some(Computed { id, changes }));
        }
        self.delete_change_set(cfn, stack, &id).await;
        let reason = cs
            .status_reason
            .unwrap_or_else(|| format!("it ended {}", cs.status));
        if no_changes(&reason) {
            return Ok(None);
        }
        let name = req.token.clone();
        Err(RollError::ChangeSetFailed { name, reason })
    }

    /// Unless `--yes`, asks before executing; a "no" deletes the change set.
    async fn confirm_update(
        &self,
        cfn: &aws_sdk_cloudformation::Client,
        confirm: Confirm<'_>,
        change: &Move,
        computed: &Computed,
    ) -> Result<(), RollError> {
        let name = &self.req.token;
        let question = format!(
            "execute change set {name}: roll {} from {} to {} ({} change(s))?",
            change.stack.name,
            change.from,
            change.to,
            computed.changes.len()
        );
        if self.req.yes || self.ask(confirm, &question).await {
            return Ok(());
        }
        self.delete_change_set(cfn, &change.stack.name, &computed.id)
            .await;
        Err(RollError::Declined(format!(
            "change set {name} deleted, nothing changed"
        )))
    }

    /// Executes the change set; returns the stack once the operation has settled.
    async fn execute(
        &self,
        cfn: &aws_sdk_cloudformation::Client,
        stack: &StackInfo,
        id: &str,
        follow: Option<&Follow>,
    ) -> Result<StackInfo, RollError> {
        // Events up to here belong to earlier operations.
        let mark = poll::retry(|| cfn::newest_event_id(cfn, &stack.id))
            .await
            .map_err(RollError::aws("execute"))?;
        poll::retry(|| cfn::execute_change_set(cfn, &stack.name, id, &self.req.token))
            .await
            .map_err(RollError::aws("execute"))?;
        self.watch(cfn, &stack.id, mark, follow).await
    }

    /// How the update ended: on the new image, rolled back by CloudFormation to the old
    /// one, stuck in a rollback that failed, or otherwise failed.
    fn updated(&self, change: Move, done: StackInfo) -> Result<RollOutcome, RollError> {
        let Move { stack, from, to } = change;
        match done.status.as_str() {
            "UPDATE_COMPLETE" => Ok(RollOutcome::Rolled {
                stack: stack.name.clone(),
                to_ami: done
                    .parameter(&self.req.image_parameter)
                    .map_or(to, str::to_string),
                from_ami: from,
                from_version: stack.output(VERSION_OUTPUT).map(str::to_string),
                to_version: done.output(VERSION_OUTPUT).map(str::to_string),
            }),
            "UPDATE_ROLLBACK_COMPLETE" => Err(RollError::RolledBack {
                stack: stack.name,
                ami: from,
                reason: self.failure_reason(&done),
            }),
            "UPDATE_ROLLBACK_FAILED" => Err(RollError::RollbackFailed {
                resources: self.rollback_failures(),
                reason: self.failure_reason(&done),
                command: continue_command(&stack.name, self.region()),
                stack: stack.name,
            }),
            _ => Err(RollError::Failed {
                stack: stack.name,
                reason: self.failure_reason(&done),
                hint: String::new(),
                status: done.status.clone(),
            }),
        }
    }

    /// The operation's rollback triggers: the `--rollback-alarm`s, watched for
    /// `monitoring_minutes` after it.
    pub(super) fn alarms(&self) -> RollbackAlarms {
        RollbackAlarms {
            alarm_arns: self.req.rollback_alarms.clone(),
            monitoring_minutes: self.req.monitoring_minutes,
        }
    }

    /// Asks the user; no one to ask means no. The spinner goes first: the question
    /// shares its terminal line.
    pub(super) async fn ask(&self, confirm: Confirm<'_>, question: &str) -> bool {
        self.reporter.unspin(SPINNER);
        match confirm {
            Some(who) => who.ask(question).await,
            None => false,
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

    /// Polls the change set until CloudFormation has computed it (or failed to). The
    /// spinner `start` showed runs meanwhile.
    async fn wait_change_set(
        &self,
        cfn: &aws_sdk_cloudformation::Client,
        stack: &str,
        id: &str,
    ) -> Result<cfn::ChangeSetInfo, RollError> {
        let schedule = self.schedule(CHANGE_SET);
        poll::until(schedule, self.req.change_set_timeout, || async {
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
        })
        .await
        .map_err(|e| {
            let what = format!("change set {}", self.req.token);
            let hint = "CloudFormation did not finish computing it".to_string();
            RollError::waited(e, "change set", what, hint)
        })
    }

    /// Best effort: a change set left behind is harmless clutter, so failing to delete
    /// one is only reported.
    async fn delete_change_set(&self, cfn: &aws_sdk_cloudformation::Client, stack: &str, id: &str) {
        if let Err(e) = poll::retry(|| cfn::delete_change_set(cfn, stack, id)).await {
            self.reporter
                .say(&format!("could not delete change set {id}: {}", e.chain()));
        }
    }

    /// The `change_set` line, then a `change` line per resource.
    fn show_changes(&self, changes: &[ResourceChange]) {
        self.reporter.emit(RollEvent::ChangeSet {
            change_set: self.req.token.clone(),
            changes: changes.len(),
        });
        for change in changes {
            self.reporter.emit(RollEvent::Change(change.clone()));
        }
    }
}

/// The stack's tags with what it runs now recorded, so `rollback` can return to it;
/// `None` (tags left as they are) when rolling onto the image it already runs keeps the
/// record as it is.
fn image_tags(change: &Move) -> Option<BTreeMap<String, String>> {
    (change.to != change.from).then(|| {
        let mut recorded = change.stack.tags.clone();
        recorded.insert(tags::PREVIOUS_IMAGE.to_string(), change.from.clone());
        recorded.insert(tags::IMAGE.to_string(), change.to.clone());
        recorded
    })
}

/// Whether a change set's failure only says there was nothing to change.
fn no_changes(reason: &str) -> bool {
    reason.contains("didn't contain changes") || reason.contains("No updates are to be performed")
}

pub(super) async fn read_template(path: &Path) -> Result<String, RollError> {
    tokio::fs::read_to_string(path)
        .await
        .map_err(|e| RollError::Usage(format!("cannot read the template {}: {e}", path.display())))
}
