//! The roll: moves a CloudFormation-managed Auto Scaling group onto an AMI, and back.
//!
//! Order of business: resolve the AMI (a manifest's entry for the region, or an SSM
//! parameter, to a concrete id that exists) → the stack: create it when it does not
//! exist; otherwise refuse (or, with `--wait-for-idle`, wait) while the stack or its
//! group is busy → a change set with the new image and every other parameter as it was,
//! recording the image it replaces as a stack tag → its changes → confirmation →
//! execute → this operation's stack events until the stack settles. CloudFormation
//! rolls back by itself when the new instances do not signal success (or a rollback
//! alarm goes off); the roll reports how it ended and why.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use crate::aws::cfn::{self, NewChangeSet, NewStack, ParamValue, ResourceChange, RollbackAlarms};
use crate::aws::cfn::{StackEvent, StackInfo};
use crate::aws::poll::{self, PollError, Schedule};
use crate::aws::{Aws, AwsError, asg, ec2, ssm};
use crate::manifest::Manifest;
use crate::report::Reporter;

/// The template a missing stack is created from when `--template` is not given.
pub const DEFAULT_TEMPLATE: &str = "cfn-templates/asg-rolling.yaml";
/// The stack parameter that carries the AMI, unless `--image-parameter` names another.
pub const DEFAULT_IMAGE_PARAMETER: &str = "ImageId";
/// Stack tag: the image the stack ran before the last roll (what `rollback` goes back to).
pub const PREVIOUS_IMAGE_TAG: &str = "amibake:previous-image-id";
/// Stack tag: the image amibake last rolled the stack onto.
pub const IMAGE_TAG: &str = "amibake:image-id";
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

/// Why a roll did not end well.
#[derive(Debug, thiserror::Error)]
pub enum RollError {
    /// Bad input or usage, found before anything changed (exit 2).
    #[error("{0}")]
    Usage(String),
    /// CloudFormation rejected the request (a `ValidationError`): nothing changed (exit 2).
    #[error("CloudFormation rejected the {what}: {}", .source.chain())]
    Rejected {
        what: &'static str,
        #[source]
        source: AwsError,
    },
    #[error(
        "{what}: not rolling now (deploying while the group scales skips the new instances); pass --wait-for-idle to wait until it is idle"
    )]
    Busy { what: String },
    #[error("stack {stack} is {status}: {hint}")]
    Unusable {
        stack: String,
        status: String,
        hint: String,
    },
    #[error(
        "stack {stack} has no previous image recorded (no {PREVIOUS_IMAGE_TAG} tag): only a stack amibake rolled from one image to another can be rolled back"
    )]
    NoPrevious { stack: String },
    #[error("declined: {0}")]
    Declined(String),
    #[error("change set {name} failed: {reason}")]
    ChangeSetFailed { name: String, reason: String },
    #[error("{stack} rolled back to {ami}: {reason}")]
    RolledBack {
        stack: String,
        /// The image the stack is on again.
        ami: String,
        /// The first failure among this roll's stack events.
        reason: String,
    },
    #[error(
        "{stack} is UPDATE_ROLLBACK_FAILED: the rollback could not restore {}; first failure: {reason}\nfix the cause, then continue the rollback:\n  {command}",
        .resources.join(", ")
    )]
    RollbackFailed {
        stack: String,
        /// The resources whose rollback failed (logical ids).
        resources: Vec<String>,
        reason: String,
        /// `aws cloudformation continue-update-rollback --stack-name … --region …`
        command: String,
    },
    #[error("{stack} ended {status}: {reason}{}", hint_line(.hint))]
    Failed {
        stack: String,
        status: String,
        reason: String,
        hint: String,
    },
    #[error("{what} timed out after {}s: {hint}", .after.as_secs())]
    Timeout {
        what: String,
        after: Duration,
        hint: String,
    },
    #[error("{phase}: {}", .source.chain())]
    Aws {
        phase: &'static str,
        #[source]
        source: AwsError,
    },
    #[error("interrupted")]
    Interrupted,
}

fn hint_line(hint: &str) -> String {
    if hint.is_empty() {
        String::new()
    } else {
        format!("\n{hint}")
    }
}

impl RollError {
    /// The process exit code (the README's contract): 2 bad input, 130 interrupted, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            RollError::Usage(_) | RollError::Rejected { .. } => 2,
            RollError::Interrupted => 130,
            _ => 1,
        }
    }

    fn aws(phase: &'static str) -> impl Fn(AwsError) -> RollError {
        move |source| RollError::Aws { phase, source }
    }

    /// A `ValidationError` means CloudFormation refused the request as made.
    fn rejected(what: &'static str, phase: &'static str) -> impl Fn(AwsError) -> RollError {
        move |source| {
            if source.code() == Some("ValidationError") {
                RollError::Rejected { what, source }
            } else {
                RollError::Aws { phase, source }
            }
        }
    }
}

/// How the CLI asks the user; `None` when there is no terminal to ask on.
pub type Confirm<'c> = Option<&'c dyn Fn(&str) -> bool>;

/// One roll in progress.
pub struct Roll<'a> {
    aws: Aws,
    req: RollRequest,
    reporter: &'a Reporter,
    /// Stack events already read (shown or not).
    seen: Mutex<HashSet<String>>,
    /// This operation's stack events, oldest first, as shown.
    shown: Mutex<Vec<StackEvent>>,
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

    /// The bake's AMI in this region.
    async fn manifest_ami(&self, path: &Path) -> Result<String, RollError> {
        let manifest = Manifest::read(path).await.map_err(|e| {
            RollError::Usage(format!("cannot read the manifest {}: {e}", path.display()))
        })?;
        let region = self.region();
        let ami = manifest
            .amis
            .iter()
            .find(|a| a.region == region)
            .map(|a| a.ami_id.clone())
            .ok_or_else(|| {
                let regions: Vec<&str> = manifest.amis.iter().map(|a| a.region.as_str()).collect();
                RollError::Usage(format!(
                    "the manifest {} has no AMI in {region} (it has {}); bake with --copy-to {region} or promote the image there",
                    path.display(),
                    if regions.is_empty() {
                        "none".to_string()
                    } else {
                        regions.join(", ")
                    }
                ))
            })?;
        self.resolve_ami(&ami).await
    }

    /// The AMI an environment's channel holds in this region.
    async fn channel_ami(&self, recipe: &str, env: &str) -> Result<String, RollError> {
        let region = self.region().to_string();
        let name = crate::promote::channel_parameter(recipe, env);
        let ssm = self.aws.ssm(&region).map_err(RollError::aws("image"))?;
        let exists = poll::retry(|| ssm::get_parameter(&ssm, &name))
            .await
            .map_err(RollError::aws("image"))?
            .is_some();
        if !exists {
            return Err(RollError::Usage(format!(
                "channel {env} of recipe {recipe} is not set in {region} (no SSM parameter {name}): promote an image first (amibake promote --manifest FILE --to {env}), or check --recipe, --channel and --region"
            )));
        }
        self.resolve_ami(&name).await
    }

    /// A concrete AMI id that exists and is available in this region: an SSM parameter
    /// (`/…` or `resolve:ssm:/…`) is read first.
    async fn resolve_ami(&self, given: &str) -> Result<String, RollError> {
        let region = self.region().to_string();
        let id = match ssm_parameter_name(given) {
            Some(name) => {
                let ssm = self.aws.ssm(&region).map_err(RollError::aws("image"))?;
                let value = poll::retry(|| ssm::get_parameter(&ssm, name))
                    .await
                    .map_err(RollError::aws("image"))?
                    .ok_or_else(|| {
                        RollError::Usage(format!("SSM parameter {name} does not exist in {region}"))
                    })?;
                if !value.starts_with("ami-") {
                    return Err(RollError::Usage(format!(
                        "SSM parameter {name} holds {value:?}, not an AMI id"
                    )));
                }
                self.reporter.event(
                    "resolved",
                    json!({ "parameter": name, "ami": value }),
                    &format!("SSM parameter {name} names {value}"),
                );
                value
            }
            None => given.to_string(),
        };
        if !id.starts_with("ami-") {
            return Err(RollError::Usage(format!(
                "{given} is neither an AMI id (ami-…) nor an SSM parameter (/… or resolve:ssm:/…)"
            )));
        }
        let ec2 = self.aws.ec2(&region).map_err(RollError::aws("image"))?;
        let image = poll::retry(|| ec2::describe_image(&ec2, &id))
            .await
            .map_err(RollError::aws("image"))?
            .ok_or_else(|| {
                RollError::Usage(format!(
                    "AMI {id} does not exist in {region} (or is not shared with this account)"
                ))
            })?;
        if image.state != "available" {
            return Err(RollError::Usage(format!(
                "AMI {id} is {}, not available",
                image.state
            )));
        }
        Ok(id)
    }

    /// The stack does not exist: create it on the image.
    async fn create(
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
    async fn update(
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

    fn alarms(&self) -> RollbackAlarms {
        RollbackAlarms {
            alarm_arns: self.req.rollback_alarms.clone(),
            monitoring_minutes: self.req.monitoring_minutes,
        }
    }

    fn ask(&self, confirm: Confirm<'_>, question: &str) -> bool {
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
    fn check_usable(&self, stack: &StackInfo) -> Result<(), RollError> {
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

    /// The Auto Scaling groups of the stack: its `AsgName` output, else its resources.
    async fn groups(
        &self,
        cfn: &aws_sdk_cloudformation::Client,
        stack: &StackInfo,
    ) -> Result<Vec<String>, AwsError> {
        if let Some(name) = stack.output(ASG_OUTPUT) {
            return Ok(vec![name.to_string()]);
        }
        cfn::resources_of_type(cfn, &stack.id, cfn::ASG_TYPE).await
    }

    /// What keeps the stack or its group busy, if anything.
    async fn busy(
        &self,
        cfn: &aws_sdk_cloudformation::Client,
        stack: &StackInfo,
    ) -> Result<Option<String>, AwsError> {
        if stack.status.ends_with("_IN_PROGRESS") {
            return Ok(Some(format!("stack {} is {}", stack.name, stack.status)));
        }
        let groups = self.groups(cfn, stack).await?;
        if groups.is_empty() {
            return Ok(None);
        }
        let asg = self.aws.asg(self.region())?;
        for group in &groups {
            let activities = asg::activities_in_progress(&asg, group).await?;
            if let Some(a) = activities.first() {
                return Ok(Some(format!(
                    "Auto Scaling group {group} has {} scaling {} in progress ({}: {})",
                    activities.len(),
                    if activities.len() == 1 {
                        "activity"
                    } else {
                        "activities"
                    },
                    a.status,
                    a.description
                )));
            }
            let refreshes = asg::refreshes_running(&asg, group).await?;
            if let Some(r) = refreshes.first() {
                return Ok(Some(format!(
                    "Auto Scaling group {group} has instance refresh {} {}",
                    r.id, r.status
                )));
            }
        }
        Ok(None)
    }

    /// Returns the stack once neither it nor its group is busy: at once, after waiting
    /// (`--wait-for-idle`), or refuses.
    async fn wait_idle(
        &self,
        cfn: &aws_sdk_cloudformation::Client,
        stack: StackInfo,
    ) -> Result<StackInfo, RollError> {
        let busy = poll::retry(|| self.busy(cfn, &stack))
            .await
            .map_err(RollError::aws("idle check"))?;
        let Some(what) = busy else {
            return Ok(stack);
        };
        if !self.req.wait_for_idle {
            return Err(RollError::Busy { what });
        }
        self.reporter.event(
            "waiting",
            json!({ "stack": stack.name, "busy": what }),
            &format!("{what}: waiting until it is idle"),
        );
        let last = Mutex::new(what);
        let result = poll::until(self.schedule(IDLE), self.req.idle_timeout, || async {
            let now = cfn::describe_stack(cfn, &stack.id)
                .await?
                .ok_or_else(|| gone(&stack.id))?;
            match self.busy(cfn, &now).await? {
                None => Ok(Some(now)),
                Some(what) => {
                    self.reporter.spin("roll", &what);
                    *lock(&last) = what;
                    Ok(None)
                }
            }
        })
        .await;
        self.reporter.unspin("roll");
        match result {
            Ok(now) => {
                self.reporter.event(
                    "idle",
                    json!({ "stack": now.name, "status": now.status }),
                    &format!("{} and its group are idle", now.name),
                );
                Ok(now)
            }
            Err(PollError::Timeout(after)) => Err(RollError::Timeout {
                what: "waiting for the stack and its group to be idle".into(),
                after,
                hint: lock(&last).clone(),
            }),
            Err(PollError::Aws(e)) => Err(RollError::aws("idle check")(e)),
        }
    }

    /// Polls the change set until CloudFormation has computed it (or failed to).
    async fn wait_change_set(
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
    async fn delete_change_set(&self, cfn: &aws_sdk_cloudformation::Client, stack: &str, id: &str) {
        if let Err(e) = poll::retry(|| cfn::delete_change_set(cfn, stack, id)).await {
            self.reporter
                .say(&format!("could not delete change set {id}: {}", e.chain()));
        }
    }

    fn show_changes(&self, name: &str, changes: &[ResourceChange]) {
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

    /// Streams this operation's events until the stack settles; returns the stack then.
    /// `mark`: the newest event before the operation (nothing older is read again).
    async fn watch(
        &self,
        cfn: &aws_sdk_cloudformation::Client,
        stack_id: &str,
        mark: Option<String>,
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
            self.reporter
                .spin("roll", &format!("{}: {}", stack.name, stack.status));
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
        self.reporter.unspin("roll");
        match result {
            Ok(stack) => Ok(stack),
            Err(PollError::Timeout(after)) => Err(RollError::Timeout {
                what: format!("watching stack {}", self.req.stack),
                after,
                hint: format!(
                    "it is still {}; CloudFormation carries on without amibake: aws cloudformation describe-stack-events --stack-name {} --region {}",
                    lock(&last),
                    self.req.stack,
                    self.region()
                ),
            }),
            Err(PollError::Aws(e)) => Err(RollError::aws("watch")(e)),
        }
    }

    /// Reports the stack events not seen yet that belong to this operation, oldest
    /// first. Events carry the ClientRequestToken of the operation that caused them;
    /// events without one (older APIs, the emulator) count as this operation's when
    /// they are newer than the mark.
    async fn stream_events(
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
            let text = format!(
                "{} {} ({}){}",
                e.status,
                e.logical_id,
                e.resource_type,
                e.reason
                    .as_deref()
                    .filter(|r| !r.is_empty())
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            );
            self.reporter.event(
                "stack_event",
                json!({
                    "stack": self.req.stack, "event_id": e.id, "logical_id": e.logical_id,
                    "physical_id": e.physical_id, "resource_type": e.resource_type,
                    "status": e.status, "reason": e.reason, "timestamp": e.timestamp,
                }),
                &text,
            );
            lock(&self.shown).push(e);
        }
        Ok(())
    }

    /// The first failure among this operation's events: a resource's, else the stack's.
    fn failure_reason(&self, stack: &StackInfo) -> String {
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
    fn rollback_failures(&self) -> Vec<String> {
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

/// Runs one roll (a [`Roll`] for callers that do not need its events afterwards).
pub async fn run(
    aws: &Aws,
    req: &RollRequest,
    reporter: &Reporter,
    confirm: Confirm<'_>,
) -> Result<RollOutcome, RollError> {
    Roll::new(aws.clone(), req.clone(), reporter)
        .run(confirm)
        .await
}

/// The exact command that continues a failed rollback.
pub fn continue_command(stack: &str, region: &str) -> String {
    format!("aws cloudformation continue-update-rollback --stack-name {stack} --region {region}")
}

/// The SSM parameter an AMI argument names, if it names one.
fn ssm_parameter_name(given: &str) -> Option<&str> {
    given
        .strip_prefix("resolve:ssm:")
        .or_else(|| given.starts_with('/').then_some(given))
}

/// Parameters whose values are not shown (NoEcho ones usually are named like this).
fn looks_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", "token", "credential", "privatekey"]
        .iter()
        .any(|w| key.contains(w))
}

/// Whether a change set's failure only says there was nothing to change.
fn no_changes(reason: &str) -> bool {
    reason.contains("didn't contain changes") || reason.contains("No updates are to be performed")
}

fn gone(stack: &str) -> AwsError {
    AwsError::local(
        "cloudformation:DescribeStacks",
        None,
        format!("stack {stack} no longer exists"),
    )
}

async fn read_template(path: &Path) -> Result<String, RollError> {
    tokio::fs::read_to_string(path)
        .await
        .map_err(|e| RollError::Usage(format!("cannot read the template {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssm_parameter_names_are_recognised() {
        assert_eq!(ssm_parameter_name("ami-0123456789abcdef0"), None);
        assert_eq!(ssm_parameter_name("/golden/web"), Some("/golden/web"));
        assert_eq!(
            ssm_parameter_name("resolve:ssm:/golden/web:3"),
            Some("/golden/web:3")
        );
    }

    #[test]
    fn exit_codes() {
        assert_eq!(RollError::Usage("x".into()).exit_code(), 2);
        assert_eq!(RollError::Interrupted.exit_code(), 130);
        assert_eq!(
            RollError::Busy {
                what: "busy".into()
            }
            .exit_code(),
            1
        );
        assert_eq!(RollError::NoPrevious { stack: "s".into() }.exit_code(), 1);
    }

    #[test]
    fn secret_looking_parameters_are_not_shown() {
        assert!(looks_secret("DbPassword"));
        assert!(looks_secret("ApiToken"));
        assert!(!looks_secret("ImageId"));
        assert!(!looks_secret("Subnets"));
    }

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
