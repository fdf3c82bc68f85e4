//! The plan: every API call and script a bake will make, in order, computed offline.
//!
//! `plan` prints it; `bake` executes it. Keeping it pure (no AWS, no clock beyond the
//! built-ins) means what a reviewer approves in `amibake plan` is what runs.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::recipe::LoadedRecipe;
use crate::recipe::model::{Action, Os, Source};
use crate::recipe::types::{AccountId, Duration, InstanceType, Region};
use crate::script::{self, RenderedStep, Script, StepCommand};

/// Tag keys amibake puts on everything it creates (README, "Tags").
pub mod tags {
    pub const RUN_ID: &str = "amibake:run-id";
    pub const RECIPE: &str = "amibake:recipe";
    pub const CREATED_BY: &str = "amibake:created-by";
    pub const CREATED_BY_VALUE: &str = "amibake";
    pub const INPUT_HASH: &str = "amibake:input-hash";
    pub const SOURCE_AMI: &str = "amibake:source-ami";
    /// Set on a bake's AMIs once everything succeeded; `sweep` never touches them.
    pub const COMPLETE: &str = "amibake:complete";
}

/// The whole bake, in order.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub recipe: String,
    pub file: String,
    pub region: String,
    pub run_id: String,
    pub os: Os,
    pub vars: Vec<PlanVar>,
    pub source: Source,
    pub builder: BuilderPlan,
    pub steps: Vec<RenderedStep>,
    pub validate: Vec<PlannedCheck>,
    /// The last command on the builder before it stops (`image.hygiene`).
    pub hygiene: Option<Script>,
    pub image: ImagePlan,
    pub boot_test: Option<BootTestPlan>,
}

/// A var and where its value came from (secrets shown as `***`).
#[derive(Debug, Clone, Serialize)]
pub struct PlanVar {
    pub name: String,
    pub value: serde_json::Value,
    pub secret: bool,
    pub origin: String,
}

/// The builder instance.
#[derive(Debug, Clone, Serialize)]
pub struct BuilderPlan {
    pub instance_type: InstanceType,
    pub iam_instance_profile: String,
    pub subnet_id: Option<String>,
    /// Empty: a temporary security group with no inbound rule is created and deleted.
    pub security_group_ids: Vec<String>,
    pub volume_size_gb: u32,
    pub volume_type: String,
    pub kms_key_id: Option<String>,
    pub associate_public_ip_address: Option<bool>,
    pub ready_timeout: Duration,
    /// Tags on the instance, its volumes and the temporary security group.
    pub tags: BTreeMap<String, String>,
}

/// A check with its script.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedCheck {
    pub name: String,
    pub script: Script,
    pub expect_stdout: Option<String>,
    pub expect_exit: i32,
    pub timeout: Duration,
}

/// The image and where it goes.
#[derive(Debug, Clone, Serialize)]
pub struct ImagePlan {
    pub name: String,
    pub description: String,
    /// Tags on the AMI and its snapshots (in every region). `amibake:input-hash` and
    /// `amibake:source-ami` are added at bake time, once the source AMI is resolved.
    pub tags: BTreeMap<String, String>,
    pub encrypted: bool,
    pub kms_key_id: Option<String>,
    pub copy_to: Vec<Region>,
    pub share_accounts: Vec<AccountId>,
    pub share_organizations: Vec<String>,
    pub share_organizational_units: Vec<String>,
    pub public: bool,
    pub deprecate_after: Option<Duration>,
}

/// The instance launched from the new AMI to prove it boots right.
#[derive(Debug, Clone, Serialize)]
pub struct BootTestPlan {
    pub instance_type: InstanceType,
    /// Run once the instance's SSM agent is Online: until cloud-init and the boot are done.
    pub wait: Script,
    pub wait_timeout: Duration,
    pub checks: Vec<PlannedCheck>,
}

/// Default timeout of a check.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// How long the boot test waits for cloud-init and the boot to finish.
const BOOT_WAIT_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// The boot test: the recipe's, or one made of the built-in checks alone when the recipe
/// bakes a CodeDeploy agent (on by default then: that agent is what most often boots
/// wrong). Built-ins come first: the no-cycle check when a `systemd_override` orders a unit,
/// the ordering check when the agent is ordered after cloud-init, then the pin check.
fn boot_test_plan(
    r: &crate::recipe::Recipe,
    plan_check: &dyn Fn(&crate::recipe::Check) -> PlannedCheck,
) -> Option<BootTestPlan> {
    let agent = r.steps.iter().find_map(|s| match &s.action {
        Action::CodedeployAgent(a) => Some(a),
        _ => None,
    });
    let configured = r.boot_test.as_ref();
    if configured.is_some_and(|b| !b.enabled) || (configured.is_none() && agent.is_none()) {
        return None;
    }
    let mut checks = Vec::new();
    let orders_units = r.steps.iter().any(|s| match &s.action {
        Action::SystemdOverride(o) => !o.after.is_empty(),
        _ => false,
    });
    if orders_units {
        checks.push(PlannedCheck {
            name: "built-in: no ordering cycle at boot".into(),
            script: script::no_cycle_check(),
            expect_stdout: Some(script::NO_CYCLE_OK.into()),
            expect_exit: 0,
            timeout: CHECK_TIMEOUT,
        });
    }
    if let Some(agent) = agent {
        if agent.start_after_cloud_init {
            checks.push(PlannedCheck {
                name: "built-in: codedeploy-agent started after cloud-final".into(),
                script: script::ordering_check(),
                expect_stdout: Some(script::ORDERING_OK.into()),
                expect_exit: 0,
                timeout: CHECK_TIMEOUT,
            });
        }
        checks.push(PlannedCheck {
            name: format!(
                "built-in: codedeploy-agent runs the pinned {}",
                agent.version
            ),
            script: script::pin_check(agent.version.as_str(), r.builder.os),
            expect_stdout: Some(format!("pin: {}", agent.version)),
            expect_exit: 0,
            timeout: CHECK_TIMEOUT,
        });
    }
    checks.extend(
        configured
            .iter()
            .flat_map(|b| b.checks.iter())
            .map(plan_check),
    );
    Some(BootTestPlan {
        wait: script::wait_for_boot("boot test: wait for the boot to finish"),
        wait_timeout: BOOT_WAIT_TIMEOUT,
        instance_type: configured
            .and_then(|b| b.instance_type.clone())
            .unwrap_or_else(|| r.builder.instance_type.clone()),
        checks,
    })
}

impl Plan {
    /// Builds the plan of a loaded recipe.
    pub fn new(loaded: &LoadedRecipe, region: &str, run_id: &str) -> Plan {
        let r = &loaded.recipe;
        let base_tags = BTreeMap::from([
            (tags::RUN_ID.to_string(), run_id.to_string()),
            (tags::RECIPE.to_string(), r.name.to_string()),
            (
                tags::CREATED_BY.to_string(),
                tags::CREATED_BY_VALUE.to_string(),
            ),
        ]);
        let mut builder_tags = base_tags.clone();
        builder_tags.insert("Name".into(), format!("amibake-builder {}", r.name));
        let mut image_tags = r.image.tags.clone();
        image_tags.extend(base_tags);
        image_tags.insert("Name".into(), r.image.name.to_string());

        let plan_check = |c: &crate::recipe::Check| PlannedCheck {
            name: c.name.clone(),
            script: script::render_check(c),
            expect_stdout: c.expect_stdout.clone(),
            expect_exit: c.expect_exit,
            timeout: c.timeout.unwrap_or(CHECK_TIMEOUT),
        };
        let boot_test = boot_test_plan(r, &plan_check);

        Plan {
            recipe: r.name.to_string(),
            file: loaded.path.display().to_string(),
            region: region.to_string(),
            run_id: run_id.to_string(),
            os: r.builder.os,
            vars: loaded
                .vars
                .iter()
                .map(|(name, v)| PlanVar {
                    name: name.clone(),
                    value: if v.secret {
                        serde_json::Value::String(crate::secret::MASK.into())
                    } else {
                        v.value.clone()
                    },
                    secret: v.secret,
                    origin: v.origin.clone(),
                })
                .collect(),
            source: r.source.clone(),
            builder: BuilderPlan {
                instance_type: r.builder.instance_type.clone(),
                iam_instance_profile: r.builder.iam_instance_profile.clone(),
                subnet_id: r.builder.subnet_id.clone(),
                security_group_ids: r.builder.security_group_ids.clone(),
                volume_size_gb: r.builder.volume_size_gb,
                volume_type: r.builder.volume_type.clone(),
                kms_key_id: r.builder.kms_key_id.clone(),
                associate_public_ip_address: r.builder.associate_public_ip_address,
                ready_timeout: r.builder.ready_timeout,
                tags: builder_tags,
            },
            steps: r
                .steps
                .iter()
                .map(|s| script::render_step(s, r.builder.os))
                .collect(),
            validate: r.validate.iter().map(plan_check).collect(),
            hygiene: script::hygiene(&r.image.hygiene, r.builder.os),
            image: ImagePlan {
                name: r.image.name.to_string(),
                description: r
                    .image
                    .description
                    .clone()
                    .unwrap_or_else(|| format!("{} baked by amibake (run {run_id})", r.name)),
                tags: image_tags,
                encrypted: r.image.encrypted,
                kms_key_id: r.image.kms_key_id.clone(),
                copy_to: r.image.copy_to.clone(),
                share_accounts: r.image.share_with.accounts.clone(),
                share_organizations: r.image.share_with.organizations.clone(),
                share_organizational_units: r.image.share_with.organizational_units.clone(),
                public: r.image.public,
                deprecate_after: r.image.deprecate_after,
            },
            boot_test,
        }
    }

    /// The plan as one JSON document.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// The plan as numbered, human-readable actions.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let mut n = 0;
        let mut action = |out: &mut String, title: &str, api: &str| {
            n += 1;
            let _ = writeln!(out, "\n{n:>2}. {title}");
            if !api.is_empty() {
                let _ = writeln!(out, "    api: {api}");
            }
        };
        let detail = |out: &mut String, key: &str, value: &dyn std::fmt::Display| {
            let _ = writeln!(out, "    {key}: {value}");
        };
        let block = |out: &mut String, text: &str| {
            for line in text.lines() {
                let _ = writeln!(out, "    | {line}");
            }
        };

        let _ = writeln!(
            out,
            "Plan for recipe {} ({}), region {}, run {}",
            self.recipe, self.file, self.region, self.run_id
        );
        if !self.vars.is_empty() {
            let _ = writeln!(out, "vars:");
            for v in &self.vars {
                let _ = writeln!(
                    out,
                    "  {} = {} (from {})",
                    v.name,
                    show_value(&v.value),
                    v.origin
                );
            }
        }

        match &self.source {
            Source::SsmParameter(p) => {
                action(
                    &mut out,
                    "resolve the source AMI from an SSM parameter",
                    "ssm:GetParameter, ec2:DescribeImages",
                );
                detail(&mut out, "parameter", p);
            }
            Source::Ami(id) => {
                action(
                    &mut out,
                    "check the source AMI exists and is available",
                    "ec2:DescribeImages",
                );
                detail(&mut out, "ami", id);
            }
            Source::Filter(f) => {
                action(
                    &mut out,
                    "find the newest AMI matching the filter",
                    "ec2:DescribeImages",
                );
                detail(&mut out, "owners", &f.owners.join(", "));
                detail(&mut out, "name", &f.name);
                detail(&mut out, "architecture", &f.architecture);
            }
        }

        let b = &self.builder;
        if b.security_group_ids.is_empty() {
            action(
                &mut out,
                "create a temporary security group with no inbound rule (deleted at the end)",
                "ec2:CreateSecurityGroup (egress stays open: SSM and package mirrors need it)",
            );
        }
        action(
            &mut out,
            "launch the builder",
            "ec2:RunInstances (idempotent ClientToken)",
        );
        detail(&mut out, "instance type", &b.instance_type);
        detail(&mut out, "instance profile", &b.iam_instance_profile);
        detail(
            &mut out,
            "subnet",
            &b.subnet_id.as_deref().unwrap_or("default VPC"),
        );
        detail(
            &mut out,
            "security groups",
            &if b.security_group_ids.is_empty() {
                "the temporary one".to_string()
            } else {
                b.security_group_ids.join(", ")
            },
        );
        detail(
            &mut out,
            "metadata",
            &"IMDSv2 required (HttpTokens=required, hop limit 1)",
        );
        detail(
            &mut out,
            "root volume",
            &format!(
                "{} GiB {}, encrypted{}, deleted on termination",
                b.volume_size_gb,
                b.volume_type,
                b.kms_key_id
                    .as_deref()
                    .map(|k| format!(" with {k}"))
                    .unwrap_or_default()
            ),
        );
        detail(&mut out, "tags (instance, volumes)", &show_tags(&b.tags));
        action(
            &mut out,
            &format!(
                "wait until the builder is running and its SSM agent is Online (up to {})",
                b.ready_timeout
            ),
            "ec2:DescribeInstances, ssm:DescribeInstanceInformation",
        );

        let total = self.steps.len();
        for (i, step) in self.steps.iter().enumerate() {
            let title = format!("step {}/{total}: {} [{}]", i + 1, step.name, step.kind);
            match &step.command {
                StepCommand::Shell { script } => {
                    action(
                        &mut out,
                        &title,
                        "ssm:SendCommand AWS-RunShellScript, ssm:GetCommandInvocation",
                    );
                    detail(&mut out, "timeout", &step.timeout);
                    detail(&mut out, "retries", &step.retries);
                    block(&mut out, &script.display);
                }
                StepCommand::Document {
                    document,
                    document_version,
                    parameters,
                } => {
                    action(
                        &mut out,
                        &title,
                        &format!("ssm:SendCommand {document}, ssm:GetCommandInvocation"),
                    );
                    if let Some(v) = document_version {
                        detail(&mut out, "document version", v);
                    }
                    detail(&mut out, "timeout", &step.timeout);
                    detail(&mut out, "retries", &step.retries);
                    for (k, v) in parameters {
                        detail(&mut out, &format!("parameter {k}"), &v.join(", "));
                    }
                }
                StepCommand::Reboot { then } => {
                    action(
                        &mut out,
                        &title,
                        "ec2:RebootInstances, ssm:DescribeInstanceInformation",
                    );
                    detail(
                        &mut out,
                        "then",
                        &"wait until the SSM agent pings again after the reboot, then run",
                    );
                    block(&mut out, &then.display);
                    detail(&mut out, "timeout", &step.timeout);
                }
            }
        }

        for check in &self.validate {
            action(
                &mut out,
                &format!("validate on the builder: {}", check.name),
                "ssm:SendCommand AWS-RunShellScript, ssm:GetCommandInvocation",
            );
            show_check(&mut out, check, &detail, &block);
        }

        let img = &self.image;
        action(
            &mut out,
            "stop the builder",
            "ec2:StopInstances, ec2:DescribeInstances",
        );
        action(
            &mut out,
            "create the image and wait until it is available",
            "ec2:CreateImage, ec2:DescribeImages",
        );
        detail(&mut out, "name", &img.name);
        detail(&mut out, "description", &img.description);
        detail(&mut out, "encrypted", &img.encrypted);
        detail(
            &mut out,
            "tags (AMI, snapshots)",
            &format!(
                "{}, amibake:input-hash, amibake:source-ami",
                show_tags(&img.tags)
            ),
        );
        if let Some(d) = img.deprecate_after {
            action(
                &mut out,
                &format!("deprecate the image after {d}"),
                "ec2:EnableImageDeprecation",
            );
        }
        for region in &img.copy_to {
            action(
                &mut out,
                &format!("copy the image to {region} (in parallel with the boot test)"),
                "ec2:CopyImage (in the destination region), ec2:CreateTags, ec2:DescribeImages",
            );
        }

        if let Some(bt) = &self.boot_test {
            action(
                &mut out,
                "boot test: launch an instance from the new AMI (IMDSv2, no inbound rule)",
                "ec2:RunInstances, ssm:DescribeInstanceInformation",
            );
            detail(&mut out, "instance type", &bt.instance_type);
            action(
                &mut out,
                "boot test: wait for SSM Online, then for cloud-init and the boot to finish",
                "ssm:DescribeInstanceInformation, ssm:SendCommand",
            );
            detail(&mut out, "timeout", &bt.wait_timeout);
            block(&mut out, &bt.wait.display);
            for check in &bt.checks {
                action(
                    &mut out,
                    &format!("boot test check: {}", check.name),
                    "ssm:SendCommand AWS-RunShellScript, ssm:GetCommandInvocation",
                );
                show_check(&mut out, check, &detail, &block);
            }
            action(
                &mut out,
                "terminate the boot-test instance",
                "ec2:TerminateInstances",
            );
        }

        if !img.share_accounts.is_empty()
            || !img.share_organizations.is_empty()
            || !img.share_organizational_units.is_empty()
            || img.public
        {
            action(
                &mut out,
                "share the image (launch permission and snapshot create-volume permission)",
                "ec2:ModifyImageAttribute, ec2:ModifySnapshotAttribute",
            );
            for a in &img.share_accounts {
                detail(&mut out, "account", a);
            }
            for o in img
                .share_organizations
                .iter()
                .chain(&img.share_organizational_units)
            {
                detail(&mut out, "organization", o);
            }
            if img.public {
                detail(&mut out, "public", &"yes (image.public: true)");
            }
        }
        action(
            &mut out,
            "clean up: terminate the builder, delete the temporary security group",
            "ec2:TerminateInstances, ec2:DeleteSecurityGroup",
        );
        action(&mut out, "write the manifest", "");
        out
    }
}

fn show_check(
    out: &mut String,
    check: &PlannedCheck,
    detail: &dyn Fn(&mut String, &str, &dyn std::fmt::Display),
    block: &dyn Fn(&mut String, &str),
) {
    if let Some(expect) = &check.expect_stdout {
        detail(out, "expect stdout to contain", expect);
    }
    detail(out, "expect exit", &check.expect_exit);
    detail(out, "timeout", &check.timeout);
    block(out, &check.script.display);
}

fn show_tags(tags: &BTreeMap<String, String>) -> String {
    tags.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn show_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
