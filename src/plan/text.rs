//! The plan as a reviewer reads it: the header, the vars, then each action numbered, with
//! the API calls it makes, its details and its script.

use std::collections::BTreeMap;
use std::fmt::{Display, Write as _};

use crate::recipe::model::{Source, Updates};
use crate::script::{RenderedStep, Script, StepCommand};

use super::action::{Action, CheckPhase, OnError, Role};
use super::{Plan, PlannedCheck};

/// What `to_text` writes into: numbered actions with details and script blocks.
struct Out {
    text: String,
    n: usize,
}

impl Out {
    fn action(&mut self, title: &str, api: &str) {
        self.n += 1;
        let _ = writeln!(self.text, "\n{:>2}. {title}", self.n);
        if !api.is_empty() {
            let _ = writeln!(self.text, "    api: {api}");
        }
    }

    fn detail(&mut self, key: &str, value: &dyn Display) {
        let _ = writeln!(self.text, "    {key}: {value}");
    }

    fn block(&mut self, script: &str) {
        for line in script.lines() {
            let _ = writeln!(self.text, "    | {line}");
        }
    }

    /// One of amibake's own scripts, with its timeout.
    fn script(&mut self, title: &str, api: &str, timeout: &dyn Display, script: &Script) {
        self.action(title, api);
        self.detail("timeout", timeout);
        self.block(&script.display);
    }

    fn check(&mut self, title: &str, api: &str, check: &PlannedCheck) {
        self.action(title, api);
        if let Some(expect) = &check.expect_stdout {
            self.detail("expect stdout to contain", expect);
        }
        self.detail("expect exit", &check.expect_exit);
        self.detail("timeout", &check.timeout);
        self.block(&check.script.display);
    }
}

impl Plan {
    /// The plan as numbered, human-readable actions: exactly the list `bake` walks.
    pub fn to_text(&self) -> String {
        let mut out = Out {
            text: String::new(),
            n: 0,
        };
        let _ = writeln!(
            out.text,
            "Plan for recipe {} ({}), region {}, run {}",
            self.recipe, self.file, self.region, self.run_id
        );
        if !self.vars.is_empty() {
            let _ = writeln!(out.text, "vars:");
            for v in &self.vars {
                let _ = writeln!(
                    out.text,
                    "  {} = {} (from {})",
                    v.name,
                    show_value(&v.value),
                    v.origin
                );
            }
        }
        for action in &self.actions {
            self.render(&mut out, action);
        }
        for beside in super::calls::alongside() {
            let every = crate::recipe::types::Duration::from_secs(beside.every_seconds);
            let _ = writeln!(
                out.text,
                "\nalongside, while the bake runs: renew the lease (amibake:lease-until) on what it holds, every {every} (`sweep` leaves a live bake alone)\n    api: {}",
                beside.calls.calls.join(", ")
            );
        }
        out.text
    }

    /// The `api:` line of an action: its calls ([`Action::calls`]), then `note`.
    fn api(&self, action: &Action, note: &str) -> String {
        let calls = action.calls(self).calls.join(", ");
        if note.is_empty() || calls.is_empty() {
            calls
        } else {
            format!("{calls} ({note})")
        }
    }

    fn render(&self, out: &mut Out, action: &Action) {
        if let Some(title) = one_line(action) {
            let note = match action {
                Action::CheckHostManagement => crate::aws::ssm::HOST_MANAGEMENT_SETTING,
                Action::WriteHistory { .. } => "a new parameter is created with its tags",
                _ => "",
            };
            out.action(&title, &self.api(action, note));
            return;
        }
        let api = self.api(action, "");
        match action {
            Action::ResolveSource => self.render_source(out, &api),
            Action::Launch {
                role: Role::Builder,
                instance_type,
            } => self.render_builder(out, action, instance_type),
            Action::Launch {
                role: Role::Probe,
                instance_type,
            } => {
                out.action(
                    "probe (only when the reuse check leaves it to the probe): launch an instance from the newest image of this recipe (IMDSv2, no inbound rule, encrypted, tagged at creation)",
                    &self.api(action, "idempotent ClientToken"),
                );
                out.detail("instance type", instance_type);
            }
            Action::Launch {
                role: Role::BootTest,
                instance_type,
            } => {
                out.action(
                    "boot test: launch an instance from the new AMI (IMDSv2, no inbound rule)",
                    &self.api(action, "idempotent ClientToken"),
                );
                out.detail("instance type", instance_type);
            }
            Action::Step { index, total, step } => {
                render_step(
                    out,
                    &self.api(action, &document(step)),
                    *index,
                    *total,
                    step,
                );
            }
            Action::Checks { phase, checks } => {
                let api = self.api(action, "document AWS-RunShellScript");
                for check in checks {
                    let title = match phase {
                        CheckPhase::Validate => format!("validate on the builder: {}", check.name),
                        CheckPhase::BootTest => format!("boot test check: {}", check.name),
                    };
                    out.check(&title, &api, check);
                }
            }
            Action::Hygiene { script, timeout } => out.script(
                "image hygiene on the builder (the last command before it stops)",
                &self.api(action, "document AWS-RunShellScript"),
                timeout,
                script,
            ),
            Action::ProbeUpdates {
                script,
                timeout,
                updates,
            } => out.script(
                &format!(
                    "probe: ask the package manager what is pending; {} rebuild (the bake goes on), none: the bake ends here as a reused one once the probe is terminated",
                    match updates {
                        Updates::Any => "any pending update",
                        _ => "pending security updates",
                    }
                ),
                &self.api(action, "document AWS-RunShellScript"),
                timeout,
                script,
            ),
            Action::WaitForBoot { script, timeout } => out.script(
                "boot test: wait for cloud-init and the boot to finish",
                &self.api(action, "document AWS-RunShellScript"),
                timeout,
                script,
            ),
            Action::StopBuilder { timeout } => {
                out.action("stop the builder", &api);
                out.detail("timeout", timeout);
            }
            Action::CreateImage { timeout } => self.render_image(out, &api, timeout),
            Action::Distribute {
                copies,
                boot_test,
                scan,
            } => {
                for a in copies.iter().chain(boot_test).chain(scan) {
                    self.render(out, a);
                }
            }
            Action::Scan { timeout, limits } => {
                out.action(
                    "scan the image with Inspector (in parallel with the copies and the boot test)",
                    &self.api(action, "on-demand AMI scan; idempotent ClientToken"),
                );
                out.detail("timeout", timeout);
                out.detail("limits", &scan_limits(limits));
            }
            Action::Copy { region, timeout } => {
                out.action(
                    &format!("copy the image to {region} (in parallel with the boot test)"),
                    &self.api(action, "tagged at creation; idempotent ClientToken"),
                );
                out.detail("timeout", timeout);
            }
            Action::Share => self.render_share(out, &api),
            Action::Preflight(p) => render_preflight(out, &api, p),
            _ => {}
        }
    }

    fn render_source(&self, out: &mut Out, api: &str) {
        match &self.source {
            Source::SsmParameter(p) => {
                out.action("resolve the source AMI from an SSM parameter", api);
                out.detail("parameter", p);
            }
            Source::Ami(id) => {
                out.action("check the source AMI exists and is available", api);
                out.detail("ami", id);
            }
            Source::Filter(f) => {
                out.action("find the newest AMI matching the filter", api);
                out.detail("owners", &f.owners.join(", "));
                out.detail("name", &f.name);
                out.detail("architecture", &f.architecture);
            }
        }
    }

    fn render_builder(&self, out: &mut Out, action: &Action, instance_type: &dyn Display) {
        let b = &self.builder;
        out.action(
            "launch the builder",
            &self.api(action, "idempotent ClientToken"),
        );
        out.detail("instance type", instance_type);
        let profile = b.iam_instance_profile.as_deref().unwrap_or(
            "none: the account's Default Host Management Configuration gives SSM access",
        );
        out.detail("instance profile", &profile);
        out.detail("subnet", &b.subnet_id.as_deref().unwrap_or("default VPC"));
        let groups = if b.security_group_ids.is_empty() {
            "the temporary one".to_string()
        } else {
            b.security_group_ids.join(", ")
        };
        out.detail("security groups", &groups);
        out.detail(
            "metadata",
            &"IMDSv2 required (HttpTokens=required, hop limit 1)",
        );
        let key = b
            .kms_key_id
            .as_deref()
            .map(|k| format!(" with {k}"))
            .unwrap_or_default();
        out.detail(
            "root volume",
            &format!(
                "{} GiB {}, encrypted{key}, deleted on termination",
                b.volume_size_gb, b.volume_type
            ),
        );
        out.detail("tags (instance, volumes)", &show_tags(&b.tags));
    }

    fn render_image(&self, out: &mut Out, api: &str, timeout: &dyn Display) {
        let img = &self.image;
        out.action("create the image and wait until it is available", api);
        out.detail("name", &img.name);
        out.detail("description", &img.description);
        out.detail("encrypted", &img.encrypted);
        out.detail("timeout", timeout);
        out.detail(
            "tags (AMI, snapshots)",
            &format!(
                "{}, amibake:input-hash, amibake:source-ami",
                show_tags(&img.tags)
            ),
        );
    }

    fn render_share(&self, out: &mut Out, api: &str) {
        let img = &self.image;
        out.action(
            "share the image (launch permission and snapshot create-volume permission)",
            api,
        );
        for a in &img.share_accounts {
            out.detail("account", a);
        }
        for o in img
            .share_organizations
            .iter()
            .chain(&img.share_organizational_units)
        {
            out.detail("organization", o);
        }
    }
}

fn render_preflight(out: &mut Out, api: &str, preflight: &crate::preflight::Preflight) {
    out.action(
        "preflight: the image name, copies, shares and keys, before anything is created (amibake plan --check runs only this)",
        api,
    );
    for check in &preflight.checks {
        out.detail("check", &check.describe());
    }
}

/// The SSM document a step's command runs.
fn document(step: &RenderedStep) -> String {
    match &step.command {
        StepCommand::Document { document, .. } => format!("document {document}"),
        StepCommand::Shell { .. } | StepCommand::Reboot { .. } => {
            "document AWS-RunShellScript".into()
        }
    }
}

fn render_step(out: &mut Out, api: &str, index: usize, total: usize, step: &RenderedStep) {
    let title = format!("step {index}/{total}: {} [{}]", step.name, step.kind);
    out.action(&title, api);
    match &step.command {
        StepCommand::Shell { script } => {
            out.detail("timeout", &step.timeout);
            out.detail("retries", &step.retries);
            out.block(&script.display);
        }
        StepCommand::Document {
            document_version,
            parameters,
            ..
        } => {
            if let Some(v) = document_version {
                out.detail("document version", v);
            }
            out.detail("timeout", &step.timeout);
            out.detail("retries", &step.retries);
            for (k, v) in parameters {
                out.detail(&format!("parameter {k}"), &v.join(", "));
            }
        }
        StepCommand::Reboot { then } => {
            out.detail(
                "then",
                &"wait until the SSM agent pings again after the reboot, then run",
            );
            out.block(&then.display);
            out.detail("timeout", &step.timeout);
        }
    }
}

/// The title of an action that needs no details.
fn one_line(action: &Action) -> Option<String> {
    Some(match action {
        Action::CheckHostManagement => "check the account's Default Host Management Configuration gives the builder SSM access (no instance profile is named)".into(),
        Action::WaitReady { role, timeout } => format!(
            "{}: wait until it is running and its SSM agent is Online (up to {timeout})",
            role_title(*role)
        ),
        Action::Deprecate { after } => format!("deprecate the image after {after}"),
        Action::Terminate { role } => format!("terminate the {} instance", role.as_str()),
        Action::MarkComplete => {
            "tag every image amibake:complete=true (sweep leaves complete images alone), and amibake:scan with the scan's summary when image.scan scanned it".into()
        }
        Action::CreateSecurityGroup => "create a temporary security group with no inbound rule (deleted at the end; egress stays open: SSM and package mirrors need it)".into(),
        Action::Cleanup { on_error: OnError::Cleanup } => "clean up: delete the temporary security group; after a failure, terminate the instances and deregister the images with their snapshots".into(),
        Action::Cleanup { on_error: OnError::Keep } => "clean up: delete the temporary security group; after a failure (--on-error keep), keep the instances, the images and the temporary security group for debugging (`amibake sweep` removes them later)".into(),
        Action::WriteManifest { manifest } => format!("write the manifest to {}", manifest.display()),
        Action::ReadHistory { parameter } => {
            format!("read how long this recipe's waits took from the SSM parameter {parameter} (--history)")
        }
        Action::WriteHistory { parameter } => format!(
            "write how long the waits took to the SSM parameter {parameter}, after a failure too (nothing when unchanged)"
        ),
        Action::ReuseCheck {
            regions,
            updates,
            fix_severity,
            probe,
        } => reuse_check(regions, *updates, *fix_severity, *probe),
        _ => return None,
    })
}

fn role_title(role: Role) -> &'static str {
    match role {
        Role::Builder => "the builder",
        Role::BootTest => "boot test",
        Role::Probe => "probe",
    }
}

/// The reuse check's line: the input hash, and what `rebuild:` asks beyond it.
fn reuse_check(
    regions: &[String],
    updates: Updates,
    fix_severity: Option<crate::scan::Severity>,
    probe: bool,
) -> String {
    let look = format!(
        "--if-changed (rebuild for: {}): look for an available image of this recipe with the same input hash in {}",
        updates.as_str(),
        regions.join(", ")
    );
    let then = match (updates, fix_severity, probe) {
        (Updates::Inputs, ..) => {
            "when every region has one, write its manifest and stop here (nothing is launched)"
                .to_string()
        }
        (_, Some(s), true) => format!(
            "when every region has one, read its scan results: fix-available findings at or above {s} rebuild (no probe); none: the probe decides"
        ),
        (_, Some(s), false) => format!(
            "when every region has one, read its scan results: fix-available findings at or above {s} rebuild; none: write its manifest and stop here (nothing is launched)"
        ),
        (_, None, _) => "when every region has one, the probe decides".to_string(),
    };
    format!("{look}; {then}; say why (the rebuild_decision event)")
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

/// `max_severity high; max_days_since_fix critical 0, high 14`, or `none (recorded only)`.
fn scan_limits(limits: &crate::scan::ScanLimits) -> String {
    let mut parts = Vec::new();
    if let Some(s) = limits.max_severity {
        parts.push(format!("max_severity {s}"));
    }
    if !limits.max_days_since_fix.is_empty() {
        let days: Vec<String> = limits
            .max_days_since_fix
            .iter()
            .rev()
            .map(|(s, d)| format!("{s} {d}"))
            .collect();
        parts.push(format!("max_days_since_fix {}", days.join(", ")));
    }
    if parts.is_empty() {
        "none (the summary is recorded only)".into()
    } else {
        parts.join("; ")
    }
}
