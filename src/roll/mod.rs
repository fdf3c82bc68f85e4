//! The roll: moves a CloudFormation-managed Auto Scaling group onto an AMI, and back.
//!
//! Order of business: resolve the AMI (a manifest's entry for the region, or an SSM
//! parameter, to a concrete id that exists) → the stack: create it when it does not
//! exist; otherwise refuse (or, with `--wait-for-idle`, wait) while the stack or its
//! group is busy → the image checked against the account's Allowed AMIs settings (also
//! before a stack is created) → a change set with the new image and every other parameter as it was,
//! recording the image it replaces as a stack tag → its changes → confirmation →
//! execute → this operation's stack events until the stack settles. CloudFormation
//! rolls back by itself when the new instances do not signal success (or a rollback
//! alarm goes off); the roll reports how it ended and why.
//!
//! This module holds the request, the outcome and [`Roll::run`]; `error` holds
//! [`RollError`] and `event` what the roll tells its user ([`RollEvent`]). The phases
//! live in modules of their own: `resolve` (the image), `allowed` (the account's Allowed
//! AMIs settings, checked before anything changes), `idle` (busy stacks and groups),
//! `create` (a missing stack), `policy` (rolling update or instance refresh, and what a
//! refresh cannot roll back), `change_set` (change set → confirmation → execute),
//! `watch` (events until the stack settles, and why it ended as it did) and `refresh`
//! (an instance refresh's progress meanwhile).

use std::collections::HashSet;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;

use crate::aws::Aws;
use crate::aws::cfn::{self, ResourceChange, StackEvent};
use crate::aws::poll::{self, Schedule};
use crate::error::FromAws;
use crate::report::Reporter;

mod allowed;
mod change_set;
mod create;
mod error;
mod event;
mod idle;
mod policy;
mod refresh;
mod resolve;
mod watch;
pub use allowed::Refusal;
pub use error::RollError;
pub use event::RollEvent;
pub use policy::Policy;

use watch::gone;

/// The template a missing stack is created from when `--template` is not given.
pub const DEFAULT_TEMPLATE: &str = "cfn-templates/asg-rolling.yaml";
/// The stack parameter that carries the AMI, unless `--image-parameter` names another.
pub const DEFAULT_IMAGE_PARAMETER: &str = "ImageId";
/// The stack output naming the Auto Scaling group.
pub const ASG_OUTPUT: &str = "AsgName";
/// The stack output carrying the launch template's version.
pub const VERSION_OUTPUT: &str = "LaunchTemplateVersion";

/// A change set settles in seconds.
const CHANGE_SET: Schedule = Schedule::new(1_000, 5_000);
/// A stack operation: rolling batches take minutes each.
const STACK: Schedule = Schedule::new(2_000, 10_000);
/// A busy stack or group.
const IDLE: Schedule = Schedule::new(5_000, 15_000);

/// The image to roll onto.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An AMI id, or an SSM parameter holding one (`/path` or `resolve:ssm:/path`).
    Ami(String),
    /// A bake's manifest: its AMI in the stack's region.
    Manifest(PathBuf),
    /// The image the stack ran before the last roll (the `amibake:previous-image-id` tag).
    Previous,
    /// An environment's channel: the AMI `promote` wrote to `/amibake/<recipe>/<env>` in
    /// the stack's region.
    Channel { recipe: String, env: String },
}

/// What to roll where, and how.
#[derive(Debug, Clone)]
pub struct RollRequest {
    pub stack: String,
    pub target: Target,
    /// A new template (or the template a missing stack is created from).
    pub template: Option<PathBuf>,
    /// The stack parameter that carries the AMI.
    pub image_parameter: String,
    /// Other parameters to set; every parameter not named keeps its value.
    pub parameters: Vec<(String, String)>,
    /// CloudWatch alarms that roll the update back (RollbackConfiguration triggers).
    pub rollback_alarms: Vec<String>,
    /// How long CloudFormation watches the alarms after the update.
    pub monitoring_minutes: i32,
    /// Show the changes, then delete the change set.
    pub plan: bool,
    /// Execute without asking.
    pub yes: bool,
    /// Wait while the stack or its group is busy instead of refusing.
    pub wait_for_idle: bool,
    /// ClientRequestToken of the operation; also the change set's name. It marks every
    /// stack event of this roll, so only those are shown.
    pub token: String,
    /// Multiplies every poll interval (the emulator needs no multi-second pauses).
    pub poll_scale: f64,
    pub idle_timeout: Duration,
    pub change_set_timeout: Duration,
    pub watch_timeout: Duration,
}

impl RollRequest {
    /// A request with the defaults: `ImageId`, no alarms (10 minutes of monitoring when
    /// there are), asking before executing, a fresh token.
    pub fn new(stack: impl Into<String>, target: Target) -> RollRequest {
        let run_id = crate::run::new_run_id(time::OffsetDateTime::now_utc());
        RollRequest {
            stack: stack.into(),
            target,
            template: None,
            image_parameter: DEFAULT_IMAGE_PARAMETER.to_string(),
            parameters: Vec::new(),
            rollback_alarms: Vec::new(),
            monitoring_minutes: 10,
            plan: false,
            yes: false,
            wait_for_idle: false,
            token: format!("amibake-{run_id}"),
            poll_scale: 1.0,
            idle_timeout: Duration::from_secs(30 * 60),
            change_set_timeout: Duration::from_secs(10 * 60),
            watch_timeout: Duration::from_secs(6 * 60 * 60),
        }
    }
}

/// How a roll ended well (exit 0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RollOutcome {
    /// The stack did not exist and was created on the image.
    Created {
        stack: String,
        ami: String,
        launch_template_version: Option<String>,
    },
    /// The stack moved from one image to another.
    Rolled {
        stack: String,
        from_ami: String,
        to_ami: String,
        from_version: Option<String>,
        to_version: Option<String>,
    },
    /// Nothing to do.
    AlreadyOn { stack: String, ami: String },
    /// `--plan`: the changes were shown, nothing was executed.
    Planned {
        stack: String,
        ami: String,
        /// The stack does not exist: the roll would create it.
        new_stack: bool,
        changes: Vec<ResourceChange>,
    },
}

impl RollOutcome {
    /// One line for the user.
    pub fn summary(&self) -> String {
        match self {
            RollOutcome::Created {
                stack,
                ami,
                launch_template_version,
            } => format!(
                "created {stack} on {ami}{}",
                launch_template_version
                    .as_deref()
                    .map(|v| format!(" (launch template version {v})"))
                    .unwrap_or_default()
            ),
            RollOutcome::Rolled {
                stack,
                from_ami,
                to_ami,
                from_version,
                to_version,
            } => format!(
                "rolled {stack}: {from_ami} → {to_ami}{}",
                match (from_version, to_version) {
                    (Some(a), Some(b)) => format!(" (launch template version {a} → {b})"),
                    (None, Some(b)) => format!(" (launch template version {b})"),
                    _ => String::new(),
                }
            ),
            RollOutcome::AlreadyOn { stack, ami } => {
                format!("{stack} is already on {ami}: nothing to do")
            }
            RollOutcome::Planned {
                stack,
                ami,
                new_stack: true,
                ..
            } => format!("plan only: {stack} would be created on {ami}; nothing was created"),
            RollOutcome::Planned {
                stack,
                ami,
                changes,
                ..
            } => format!(
                "plan only: rolling {stack} onto {ami} changes {} resource(s); nothing was executed",
                changes.len()
            ),
        }
    }
}

/// How the CLI asks the user a yes/no question before the stack changes. The answer is
/// awaited, so a person taking their time blocks no worker of the runtime.
pub trait Ask {
    fn ask<'a>(&'a self, question: &'a str) -> Pin<Box<dyn Future<Output = bool> + 'a>>;
}

/// A function answers at once (a test's scripted answer).
impl<F: Fn(&str) -> bool> Ask for F {
    fn ask<'a>(&'a self, question: &'a str) -> Pin<Box<dyn Future<Output = bool> + 'a>> {
        Box::pin(std::future::ready(self(question)))
    }
}

/// Who answers the questions; `None` when there is no terminal to ask on.
pub type Confirm<'c> = Option<&'c dyn Ask>;

/// One roll in progress.
pub struct Roll<'a> {
    aws: Aws,
    req: RollRequest,
    reporter: &'a Reporter,
    /// Stack events already read (shown or not).
    seen: Mutex<HashSet<String>>,
    /// This operation's stack events, oldest first, as shown.
    shown: Mutex<Vec<StackEvent>>,
    /// This roll's instance refresh as last reported, when an instance refresh acts.
    refresh: Mutex<Option<crate::aws::asg::Refresh>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<'a> Roll<'a> {
    pub fn new(aws: Aws, req: RollRequest, reporter: &'a Reporter) -> Roll<'a> {
        Roll {
            aws,
            req,
            reporter,
            seen: Mutex::default(),
            shown: Mutex::default(),
            refresh: Mutex::default(),
        }
    }

    /// This operation's stack events shown so far, oldest first, each once.
    pub fn events(&self) -> Vec<StackEvent> {
        lock(&self.shown).clone()
    }

    fn region(&self) -> &str {
        self.aws.region()
    }

    fn schedule(&self, s: Schedule) -> Schedule {
        s.scaled(self.req.poll_scale)
    }

    /// Runs the roll. `confirm` asks the user before the stack changes (unless `--yes`
    /// or `--plan`); without it (no terminal) the roll refuses before any AWS call.
    pub async fn run(&self, confirm: Confirm<'_>) -> Result<RollOutcome, RollError> {
        self.check_request(confirm.is_some())?;
        let cfn = self
            .aws
            .cfn(self.region())
            .map_err(RollError::aws("setup"))?;
        let explicit = match &self.req.target {
            Target::Ami(id) => Some(self.resolve_ami(id).await?),
            Target::Manifest(path) => Some(self.manifest_ami(path).await?),
            Target::Channel { recipe, env } => Some(self.channel_ami(recipe, env).await?),
            Target::Previous => None,
        };
        let stack = poll::retry(|| cfn::describe_stack(&cfn, &self.req.stack))
            .await
            .map_err(RollError::aws("stack"))?;
        match (stack, explicit) {
            (Some(stack), explicit) => self.update(&cfn, stack, explicit, confirm).await,
            (None, Some(ami)) => self.create(&cfn, &ami, confirm).await,
            (None, None) => Err(RollError::Usage(format!(
                "stack {} does not exist in {}: nothing to roll back",
                self.req.stack,
                self.region()
            ))),
        }
    }

    /// Input errors that need no AWS call.
    fn check_request(&self, can_ask: bool) -> Result<(), RollError> {
        let req = &self.req;
        if req.stack.trim().is_empty() {
            return Err(RollError::Usage("--stack is empty".into()));
        }
        if req.image_parameter.trim().is_empty() {
            return Err(RollError::Usage("--image-parameter is empty".into()));
        }
        if let Some((k, _)) = req
            .parameters
            .iter()
            .find(|(k, _)| *k == req.image_parameter)
        {
            return Err(RollError::Usage(format!(
                "--parameter {k}=… sets the image parameter: name the image with --ami, --manifest or --channel"
            )));
        }
        if !req.plan && !req.yes && !can_ask {
            return Err(RollError::Usage(
                "stdin is not a terminal, so amibake cannot ask before changing the stack: pass --yes to go ahead without asking (or --plan to only show the changes)".into(),
            ));
        }
        Ok(())
    }
}

/// The exact command that continues a failed rollback.
pub fn continue_command(stack: &str, region: &str) -> String {
    format!("aws cloudformation continue-update-rollback --stack-name {stack} --region {region}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_continue_command_is_exact() {
        assert_eq!(
            continue_command("web", "eu-west-1"),
            "aws cloudformation continue-update-rollback --stack-name web --region eu-west-1"
        );
    }

    #[test]
    fn summaries_name_old_and_new() {
        let rolled = RollOutcome::Rolled {
            stack: "web".into(),
            from_ami: "ami-a".into(),
            to_ami: "ami-b".into(),
            from_version: Some("1".into()),
            to_version: Some("2".into()),
        };
        assert_eq!(
            rolled.summary(),
            "rolled web: ami-a → ami-b (launch template version 1 → 2)"
        );
        let already = RollOutcome::AlreadyOn {
            stack: "web".into(),
            ami: "ami-b".into(),
        };
        assert_eq!(already.summary(), "web is already on ami-b: nothing to do");
    }
}
