//! The bake: executes a [`Plan`] against AWS.
//!
//! Order of business: resolve the source → temporary security group → builder →
//! running → SSM Online → steps → validation → stop → image → (copies ‖ boot test) →
//! sharing → manifest. Every resource is journaled before the call that creates it
//! returns and remembered in [`Created`]; [`Bake::cleanup`] removes what the outcome
//! calls for, on success, failure, timeout and interrupt alike.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_smithy_types::DateTime;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::aws::ec2::{self, ImageInfo};
use crate::aws::history::History;
use crate::aws::poll::{self, PollError, Schedule};
use crate::aws::ssm::{self, CommandSpec, Invocation};
use crate::aws::{Aws, AwsError};
use crate::journal::{Entry, Journal};
use crate::manifest::{self, AmiEntry, BootTestResult, CheckResult, Manifest, StepResult, Timing};
use crate::plan::{Plan, PlannedCheck, tags};
use crate::recipe::model::Source;
use crate::report::Reporter;
use crate::script::{self, StepCommand};

/// What happens to the builder and a half-made image when a bake fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnError {
    /// Terminate instances, delete the security group, deregister images (default).
    Cleanup,
    /// Leave them for debugging and print how to open a session.
    Keep,
}

/// Knobs of one bake.
#[derive(Debug, Clone)]
pub struct BakeOptions {
    pub on_error: OnError,
    pub manifest_path: PathBuf,
    /// Multiplies every poll interval: 1.0 against AWS; an emulator that answers at
    /// once needs no multi-second pauses (`AMIBAKE_POLL_SCALE`).
    pub poll_scale: f64,
    /// How long an image (or a copy) may take to become available.
    pub image_timeout: Duration,
    /// `--if-changed`: when an available image of this recipe with the same input hash
    /// exists in every region, reuse it instead of baking.
    pub if_changed: bool,
    /// `-v`: also stream the output of checks and of the boot test's cloud-init wait
    /// (steps always stream).
    pub verbose: bool,
    /// How long each kind of wait took before (shared by the bakes of one process).
    pub history: Arc<History>,
}

/// Why a bake did not finish.
#[derive(Debug, thiserror::Error)]
pub enum BakeError {
    /// Bad input found before anything was created (exit 2).
    #[error("{0}")]
    Input(String),
    #[error("{phase}: {}", .source.chain())]
    Aws {
        phase: &'static str,
        #[source]
        source: AwsError,
    },
    #[error("{phase} timed out after {}s: {hint}", .after.as_secs())]
    Timeout {
        phase: String,
        after: Duration,
        hint: String,
    },
    #[error("step `{step}` failed: {status}, exit code {exit_code}{}", tail(.stderr_tail))]
    StepFailed {
        step: String,
        status: String,
        exit_code: i32,
        stderr_tail: String,
    },
    #[error("{} {phase} check(s) failed:{}", .failures.len(), show_failures(.failures))]
    ChecksFailed {
        phase: &'static str,
        failures: Vec<CheckResult>,
    },
    #[error("image {id} failed in {region}: {reason}")]
    ImageFailed {
        region: String,
        id: String,
        reason: String,
    },
    #[error("copies failed: {}", .0.join("; "))]
    CopiesFailed(Vec<String>),
    #[error("interrupted")]
    Interrupted,
    #[error("cannot write {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

fn tail(stderr: &str) -> String {
    if stderr.trim().is_empty() {
        String::new()
    } else {
        format!("; last lines of stderr:\n{stderr}")
    }
}

fn show_failures(failures: &[CheckResult]) -> String {
    failures
        .iter()
        .map(|f| {
            let mut s = format!(
                "\n  - {}: exit {} (expected {})",
                f.name, f.exit_code, f.expected_exit
            );
            if let Some(e) = &f.expected_stdout {
                s.push_str(&format!(
                    "; expected stdout to contain {e:?}, got {:?}",
                    last_lines(&f.stdout, 5)
                ));
            }
            if !f.passed && !f.stderr.trim().is_empty() {
                s.push_str(&format!("; stderr: {:?}", last_lines(&f.stderr, 5)));
            }
            s
        })
        .collect()
}

impl BakeError {
    /// The process exit code (the README's contract): 2 bad input, 130 interrupted, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            BakeError::Input(_) => 2,
            BakeError::Interrupted => 130,
            _ => 1,
        }
    }

    fn aws(phase: &'static str) -> impl Fn(AwsError) -> BakeError {
        move |source| BakeError::Aws { phase, source }
    }
}

/// Resources this run created and has not removed yet.
#[derive(Debug, Default)]
struct Created {
    security_group: Option<(String, String)>,
    /// (region, id, role)
    instances: Vec<(String, String, &'static str)>,
    /// (region, image id)
    images: Vec<(String, String)>,
    /// Instances asked to terminate; the security group goes once they are gone.
    terminating: Vec<(String, String)>,
}

/// One bake in progress.
pub struct Bake<'a> {
    aws: Aws,
    plan: Plan,
    /// The rendered recipe with the per-run built-ins held fixed: the input hash.
    stable_recipe: String,
    reporter: &'a Reporter,
    journal: Journal,
    options: BakeOptions,
    created: Mutex<Created>,
    started: Instant,
    started_at: SystemTime,
    phases: Mutex<Vec<Timing>>,
}

impl<'a> Bake<'a> {
    pub fn new(
        aws: Aws,
        plan: Plan,
        stable_recipe: String,
        reporter: &'a Reporter,
        journal: Journal,
        options: BakeOptions,
    ) -> Bake<'a> {
        Bake {
            aws,
            plan,
            stable_recipe,
            reporter,
            journal,
            options,
            created: Mutex::default(),
            started: Instant::now(),
            started_at: SystemTime::now(),
            phases: Mutex::default(),
        }
    }

    fn region(&self) -> &str {
        &self.plan.region
    }

    fn ec2(&self, region: &str) -> Result<aws_sdk_ec2::Client, BakeError> {
        self.aws.ec2(region).map_err(BakeError::aws("setup"))
    }

    fn ssm(&self) -> Result<aws_sdk_ssm::Client, BakeError> {
        self.aws.ssm(self.region()).map_err(BakeError::aws("setup"))
    }

    fn schedule(&self, s: Schedule) -> Schedule {
        s.scaled(self.options.poll_scale)
    }

    fn phase_start(&self, name: &str, text: &str) -> Instant {
        self.reporter.spin("bake", text);
        self.reporter.event(
            "phase",
            json!({ "phase": name, "state": "start" }),
            &format!("{text} …"),
        );
        Instant::now()
    }

    fn phase_done(&self, name: &str, since: Instant, text: &str) {
        let seconds = since.elapsed().as_secs_f64();
        self.phases
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Timing {
                name: name.to_string(),
                seconds,
            });
        self.reporter.event(
            "phase",
            json!({ "phase": name, "state": "done", "seconds": seconds }),
            &format!("{text} ({seconds:.1}s)"),
        );
    }

    /// Records a resource event in the run journal, durably, before returning.
    async fn note(
        &self,
        event: &str,
        kind: &str,
        region: &str,
        id: Option<&str>,
        token: Option<&str>,
    ) -> Result<(), BakeError> {
        let entry = Entry {
            event,
            kind: Some(kind),
            region: Some(region),
            id,
            token,
        };
        self.journal
            .record(entry)
            .await
            .map_err(|source| BakeError::Io {
                what: format!("the journal {}", self.journal.path().display()),
                source,
            })
    }

    /// Runs the whole bake. On error the caller runs [`Bake::cleanup`].
    pub async fn run(&self) -> Result<Manifest, BakeError> {
        let source = self.resolve_source().await?;
        let input_hash = input_hash(&self.stable_recipe, &source.id);
        if self.options.if_changed {
            if let Some(manifest) = self.existing(&source, &input_hash).await? {
                return Ok(manifest);
            }
            self.reporter.say(&format!(
                "no image with input hash {} yet: baking",
                &input_hash[..12]
            ));
        }

        let t = self.phase_start("launch", "launching the builder");
        let sg = self.security_group().await?;
        let builder = self
            .launch(
                "builder",
                &source.id,
                source.root_device_name.as_deref(),
                &sg,
                &self.plan.builder.tags,
                &format!("{}-builder", self.plan.run_id),
            )
            .await?;
        self.phase_done("launch", t, &format!("builder {builder} launched"));

        let t = self.phase_start(
            "ready",
            &format!("waiting for {builder} to run and register with SSM"),
        );
        let ready_timeout = self.plan.builder.ready_timeout.get();
        self.wait_ready("bake", &builder, ready_timeout).await?;
        self.phase_done(
            "ready",
            t,
            &format!("builder {builder} is running and its SSM agent is Online"),
        );

        let t = self.phase_start("steps", "provisioning");
        let steps = self.run_steps(&builder).await?;
        self.phase_done("steps", t, &format!("{} steps done", steps.len()));

        let mut validation = Vec::new();
        if !self.plan.validate.is_empty() {
            let t = self.phase_start("validate", "validating the builder");
            validation = self
                .run_checks("validate", &builder, &self.plan.validate)
                .await?;
            self.phase_done(
                "validate",
                t,
                &format!("{} checks passed", validation.len()),
            );
        }

        if let Some(hygiene) = &self.plan.hygiene {
            let t = self.phase_start("hygiene", "image hygiene");
            self.run_script(
                &builder,
                "image hygiene",
                &hygiene.text,
                Duration::from_secs(10 * 60),
                true,
            )
            .await?;
            self.phase_done("hygiene", t, "image hygiene done");
        }

        let t = self.phase_start("image", "stopping the builder and creating the image");
        let image = self.create_image(&builder, &source, &input_hash).await?;
        self.phase_done("image", t, &format!("image {} is available", image.id));
        // The builder has served its purpose: stop paying for it now, not at the end.
        self.terminate(self.region(), &builder).await;

        let t = self.phase_start("distribute", "copying and boot-testing");
        // Either failing fails the bake: stop waiting for the other at once (cleanup
        // deregisters pending copies and terminates the test instance).
        let (copies, boot_test) =
            tokio::try_join!(self.copy_all(&image), self.boot_test(&image, &sg))?;
        self.phase_done("distribute", t, "copies and boot test done");

        let mut amis = vec![AmiEntry {
            region: self.region().to_string(),
            ami_id: image.id.clone(),
            name: image.name.clone(),
            snapshot_ids: image.snapshot_ids.clone(),
        }];
        amis.extend(copies);
        self.share_all(&amis).await?;
        self.mark_complete(&amis).await?;

        let manifest = Manifest {
            steps,
            validation,
            boot_test,
            ..self.manifest(&source, input_hash, amis)
        };
        Ok(manifest)
    }

    /// `--if-changed`: the manifest of an existing image with this input hash, available
    /// in the home region and every copy region; `None` when any is missing.
    async fn existing(
        &self,
        source: &ImageInfo,
        hash: &str,
    ) -> Result<Option<Manifest>, BakeError> {
        let t = self.phase_start("if-changed", "looking for an image with the same inputs");
        let mut regions = vec![self.region().to_string()];
        regions.extend(self.plan.image.copy_to.iter().map(|r| r.to_string()));
        let mut amis = Vec::new();
        let mut baked_by = None;
        for region in &regions {
            let ec2 = self.ec2(region)?;
            let wanted = [
                (tags::RECIPE, self.plan.recipe.as_str()),
                (tags::INPUT_HASH, hash),
            ];
            let found = poll::retry(|| ec2::images_tagged(&ec2, &wanted))
                .await
                .map_err(BakeError::aws("if-changed"))?
                .into_iter()
                .filter(|i| i.state == "available")
                .max_by(|a, b| a.creation_date.cmp(&b.creation_date));
            let Some(image) = found else {
                return Ok(None);
            };
            baked_by = baked_by.or_else(|| image.tags.get(tags::RUN_ID).cloned());
            amis.push(AmiEntry {
                region: region.clone(),
                ami_id: image.id,
                name: image.name,
                snapshot_ids: image.snapshot_ids,
            });
        }
        self.phase_done(
            "if-changed",
            t,
            &format!(
                "up to date: {} already has input hash {}",
                amis[0].ami_id,
                &hash[..12]
            ),
        );
        Ok(Some(Manifest {
            reused_from_run: Some(baked_by.unwrap_or_default()),
            ..self.manifest(source, hash.to_string(), amis)
        }))
    }

    /// The manifest's common part: what was built from what, when, and the phases so far.
    fn manifest(&self, source: &ImageInfo, input_hash: String, amis: Vec<AmiEntry>) -> Manifest {
        Manifest {
            tool: manifest::Tool::current(),
            recipe: self.plan.recipe.clone(),
            recipe_file: self.plan.file.clone(),
            run_id: self.plan.run_id.clone(),
            region: self.region().to_string(),
            input_hash,
            source_ami: manifest::SourceAmi {
                id: source.id.clone(),
                name: source.name.clone(),
                resolved_from: describe_source(&self.plan.source),
            },
            amis,
            started_at: rfc3339(self.started_at),
            finished_at: rfc3339(SystemTime::now()),
            duration_seconds: self.started.elapsed().as_secs_f64(),
            phases: self
                .phases
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            ..Manifest::default()
        }
    }

    /// Finds the source image; a missing or unusable one is bad input (nothing created).
    async fn resolve_source(&self) -> Result<ImageInfo, BakeError> {
        let t = self.phase_start("source", "resolving the source AMI");
        let ec2 = self.ec2(self.region())?;
        let image = match &self.plan.source {
            Source::SsmParameter(name) => {
                let ssm = self.ssm()?;
                let id = poll::retry(|| ssm::get_parameter(&ssm, name.as_str()))
                    .await
                    .map_err(BakeError::aws("source"))?
                    .ok_or_else(|| BakeError::Input(format!("source: SSM parameter {name} does not exist in {}", self.region())))?;
                poll::retry(|| ec2::describe_image(&ec2, &id))
                    .await
                    .map_err(BakeError::aws("source"))?
                    .ok_or_else(|| BakeError::Input(format!("source: SSM parameter {name} names {id}, which does not exist in {}", self.region())))?
            }
            Source::Ami(id) => poll::retry(|| ec2::describe_image(&ec2, id.as_str()))
                .await
                .map_err(BakeError::aws("source"))?
                .ok_or_else(|| BakeError::Input(format!("source: AMI {id} does not exist in {} (or is not shared with this account)", self.region())))?,
            Source::Filter(f) => poll::retry(|| ec2::newest_image(&ec2, &f.owners, &f.name, &f.architecture))
                .await
                .map_err(BakeError::aws("source"))?
                .ok_or_else(|| BakeError::Input(format!("source: no available image matches name {:?} owned by {} ({})", f.name, f.owners.join(", "), f.architecture)))?,
        };
        if image.state != "available" {
            return Err(BakeError::Input(format!(
                "source: AMI {} is {}, not available",
                image.id, image.state
            )));
        }
        self.phase_done(
            "source",
            t,
            &format!("source AMI {} ({})", image.id, image.name),
        );
        Ok(image)
    }

    /// The recipe's security groups, or a temporary one with no inbound rule.
    async fn security_group(&self) -> Result<Vec<String>, BakeError> {
        if !self.plan.builder.security_group_ids.is_empty() {
            return Ok(self.plan.builder.security_group_ids.clone());
        }
        let ec2 = self.ec2(self.region())?;
        let vpc = match &self.plan.builder.subnet_id {
            Some(subnet) => poll::retry(|| ec2::subnet_vpc(&ec2, subnet))
                .await
                .map_err(BakeError::aws("launch"))?,
            None => None,
        };
        let name = format!("amibake-{}", self.plan.run_id);
        let mut tags = self.plan.builder.tags.clone();
        tags.insert("Name".into(), name.clone());
        self.note("intent", "security_group", self.region(), None, Some(&name))
            .await?;
        let id = poll::retry(|| ec2::create_security_group(&ec2, &name, vpc.as_deref(), &tags))
            .await
            .map_err(BakeError::aws("launch"))?;
        self.created
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .security_group = Some((self.region().to_string(), id.clone()));
        self.note("created", "security_group", self.region(), Some(&id), None)
            .await?;
        self.reporter.event(
            "resource",
            json!({ "kind": "security_group", "id": id, "region": self.region() }),
            &format!("temporary security group {id} (no inbound rules)"),
        );
        Ok(vec![id])
    }

    /// Launches an instance (builder or boot test) and remembers it for cleanup.
    async fn launch(
        &self,
        role: &'static str,
        image_id: &str,
        root_device: Option<&str>,
        groups: &[String],
        tags: &BTreeMap<String, String>,
        token: &str,
    ) -> Result<String, BakeError> {
        let b = &self.plan.builder;
        let launch = ec2::Launch {
            image_id: image_id.to_string(),
            instance_type: b.instance_type.to_string(),
            instance_profile: b.iam_instance_profile.clone(),
            subnet_id: b.subnet_id.clone(),
            security_group_ids: groups.to_vec(),
            associate_public_ip_address: b.associate_public_ip_address,
            root_volume: (role == "builder").then(|| ec2::RootVolume {
                device_name: root_device.unwrap_or("/dev/xvda").to_string(),
                size_gb: b.volume_size_gb,
                volume_type: b.volume_type.clone(),
                kms_key_id: b.kms_key_id.clone(),
            }),
            tags: tags.clone(),
            client_token: token.to_string(),
        };
        let ec2 = self.ec2(self.region())?;
        self.note("intent", "instance", self.region(), None, Some(token))
            .await?;
        // Safe to retry: the ClientToken makes EC2 return the same instance.
        let id = poll::retry(|| ec2::run_instance(&ec2, &launch))
            .await
            .map_err(|e| match e.code() {
                Some(
                    "InvalidAMIID.NotFound"
                    | "InvalidParameterValue"
                    | "InvalidParameterCombination",
                ) if role == "builder" => BakeError::Input(format!("launch: {}", e.chain())),
                _ => BakeError::Aws {
                    phase: "launch",
                    source: e,
                },
            })?;
        self.created
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .instances
            .push((self.region().to_string(), id.clone(), role));
        self.note("created", "instance", self.region(), Some(&id), Some(token))
            .await?;
        self.reporter.event(
            "resource",
            json!({ "kind": "instance", "role": role, "id": id, "region": self.region() }),
            &format!(
                "{role} instance {id} ({}, IMDSv2 required, encrypted root volume)",
                b.instance_type
            ),
        );
        Ok(id)
    }

    /// Waits until the instance runs with its SSM agent Online: one wait, asking SSM (an
    /// Online agent implies a running instance), and EC2 now and then whether the instance
    /// died on the way up.
    async fn wait_ready(
        &self,
        spinner: &str,
        instance: &str,
        timeout: Duration,
    ) -> Result<(), BakeError> {
        let ec2 = self.ec2(self.region())?;
        let ssm = self.ssm()?;
        let key = self.instance_wait_key("ready");
        let asked = AtomicU32::new(0);
        self.reporter.spin(
            spinner,
            &format!("waiting for {instance} and its SSM agent"),
        );
        let ready = poll::until_learned(
            self.schedule(Schedule::AGENT),
            &self.options.history,
            &key,
            None,
            timeout,
            || async {
                if ssm::agent_status(&ssm, instance)
                    .await?
                    .is_some_and(|s| s.online)
                {
                    return Ok(Some(()));
                }
                if asked.fetch_add(1, Ordering::Relaxed) % 3 == 2 {
                    check_alive(&ec2, instance).await?;
                }
                Ok(None)
            },
        )
        .await;
        match ready {
            Ok(()) => Ok(()),
            Err(PollError::Timeout(_)) => {
                // Say which half never happened.
                let state = ec2::instance_state(&ec2, instance).await.ok().flatten();
                let hint = if state.as_deref() == Some("running") {
                    format!(
                        "the SSM agent on {instance} never came Online. Usual causes: the instance profile `{}` lacks the AmazonSSMManagedInstanceCore policy; the subnet has no route to the SSM endpoints (no NAT gateway, no public IP, no ssm/ssmmessages/ec2messages VPC endpoints); the image has no SSM agent",
                        self.plan.builder.iam_instance_profile
                    )
                } else {
                    format!(
                        "instance {instance} did not reach `running` (it is {})",
                        state.as_deref().unwrap_or("not visible")
                    )
                };
                Err(self.poll_error("ready", PollError::Timeout(timeout), hint))
            }
            Err(e) => Err(self.poll_error("ready", e, String::new())),
        }
    }

    /// The wait-history key of an instance's `kind` of wait: how long it takes depends on
    /// the region, the instance type and the OS that boots.
    fn instance_wait_key(&self, kind: &str) -> String {
        format!(
            "{kind}:{}:{}:{}",
            self.region(),
            self.plan.builder.instance_type,
            self.plan.os
        )
    }

    fn poll_error(&self, phase: &'static str, e: PollError, hint: String) -> BakeError {
        match e {
            PollError::Timeout(after) => BakeError::Timeout {
                phase: phase.to_string(),
                after,
                hint,
            },
            PollError::Aws(source) => BakeError::Aws { phase, source },
        }
    }

    /// Runs the recipe's steps in order.
    async fn run_steps(&self, builder: &str) -> Result<Vec<StepResult>, BakeError> {
        let total = self.plan.steps.len();
        let mut results = Vec::new();
        for (i, step) in self.plan.steps.iter().enumerate() {
            let label = format!("step {}/{total} {}", i + 1, step.name);
            let started = Instant::now();
            self.reporter.spin("bake", &label);
            self.reporter.event(
                "step",
                json!({ "step": step.name, "kind": step.kind, "index": i + 1, "total": total, "state": "start" }),
                &format!("{label} …"),
            );
            let mut attempts = 0;
            let (exit_code, command_id) = loop {
                attempts += 1;
                // A reboot step runs its wait for the boot once the agent is back.
                let rebooted = match &step.command {
                    StepCommand::Reboot { .. } => self.reboot(builder, step.timeout.get()).await,
                    _ => Ok(()),
                };
                let spec = match &step.command {
                    StepCommand::Shell { script } | StepCommand::Reboot { then: script } => {
                        CommandSpec::Shell(&script.text)
                    }
                    StepCommand::Document {
                        document,
                        document_version,
                        parameters,
                    } => CommandSpec::Document {
                        name: document,
                        version: document_version.as_deref(),
                        parameters,
                    },
                };
                let outcome = match rebooted {
                    Ok(()) => {
                        self.run_command(builder, &label, &spec, step.timeout.get(), true)
                            .await
                    }
                    Err(e) => Err(e),
                };
                match outcome {
                    Ok((inv, id)) if inv.succeeded() => break (inv.response_code, Some(id)),
                    Ok((inv, _)) if attempts <= step.retries => {
                        self.reporter.say(&format!(
                            "{label}: {} with exit code {}; retrying ({attempts}/{})",
                            inv.status, inv.response_code, step.retries
                        ));
                    }
                    Ok((inv, _)) => {
                        return Err(BakeError::StepFailed {
                            step: step.name.clone(),
                            status: inv.status.clone(),
                            exit_code: inv.response_code,
                            stderr_tail: last_lines(&inv.stderr, 10),
                        });
                    }
                    Err(e) => return Err(e),
                }
            };
            let seconds = started.elapsed().as_secs_f64();
            self.reporter.event(
                "step",
                json!({ "step": step.name, "kind": step.kind, "index": i + 1, "state": "done", "seconds": seconds, "attempts": attempts, "exit_code": exit_code }),
                &format!("{label} done ({seconds:.1}s)"),
            );
            results.push(StepResult {
                name: step.name.clone(),
                kind: step.kind.to_string(),
                seconds,
                attempts,
                exit_code,
                command_id,
            });
        }
        Ok(results)
    }

    /// Runs one of amibake's own scripts (hygiene, the boot test's cloud-init wait); its
    /// failure fails the bake like a failed step.
    async fn run_script(
        &self,
        instance: &str,
        label: &str,
        script: &str,
        timeout: Duration,
        stream: bool,
    ) -> Result<(), BakeError> {
        let (inv, _) = self
            .run_command(
                instance,
                label,
                &CommandSpec::Shell(script),
                timeout,
                stream,
            )
            .await?;
        if inv.succeeded() {
            return Ok(());
        }
        Err(BakeError::StepFailed {
            step: label.to_string(),
            status: inv.status,
            exit_code: inv.response_code,
            stderr_tail: last_lines(&inv.stderr, 10),
        })
    }

    /// Sends one command and polls it to the end, streaming new output as it appears.
    async fn run_command(
        &self,
        instance: &str,
        label: &str,
        spec: &CommandSpec<'_>,
        timeout: Duration,
        stream: bool,
    ) -> Result<(Invocation, String), BakeError> {
        let ssm = self.ssm()?;
        let comment = format!("amibake {} {label}", self.plan.run_id);
        let command_id = poll::retry(|| ssm::send_command(&ssm, instance, spec, timeout, &comment))
            .await
            .map_err(BakeError::aws("command"))?;
        let shown = Mutex::new((0usize, 0usize));
        let key = format!("command:{}:{}:{label}", self.region(), self.plan.recipe);
        // SSM's own execution timeout fires first; the grace covers delivery and reporting.
        let inv = poll::until_learned(
            self.schedule(Schedule::COMMAND),
            &self.options.history,
            &key,
            // Streamed output keeps coming while the step runs.
            stream.then_some(self.schedule(Schedule::COMMAND).max),
            timeout + Duration::from_secs(120),
            || async {
                let inv = ssm::invocation(&ssm, &command_id, instance).await?;
                if stream {
                    self.stream_output(label, &inv, &shown);
                }
                Ok(inv.done.then_some(inv))
            },
        )
        .await
        .map_err(|e| self.poll_error("command", e, format!("{label} did not finish")))?;
        if inv.truncated() {
            self.reporter.say(&format!(
                "{label}: SSM truncated the output at {} characters of stdout or {} of stderr; the start is shown above",
                ssm::OUTPUT_LIMIT,
                ssm::STDERR_LIMIT
            ));
        }
        Ok((inv, command_id))
    }

    fn stream_output(&self, label: &str, inv: &Invocation, shown: &Mutex<(usize, usize)>) {
        let mut shown = shown.lock().unwrap_or_else(|e| e.into_inner());
        let (out_offset, err_offset) = &mut *shown;
        for (stream, text, offset) in [
            ("stdout", &inv.stdout, out_offset),
            ("stderr", &inv.stderr, err_offset),
        ] {
            if text.len() <= *offset || !text.is_char_boundary(*offset) {
                continue;
            }
            let new = &text[*offset..];
            // Only whole lines, unless the command is done.
            let cut = if inv.done {
                new.len()
            } else {
                new.rfind('\n').map_or(0, |i| i + 1)
            };
            if cut == 0 {
                continue;
            }
            let chunk = &new[..cut];
            *offset += cut;
            let text_lines: String = chunk
                .lines()
                .map(|l| {
                    format!(
                        "  {label} {}{l}",
                        if stream == "stderr" { "! " } else { "| " }
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            self.reporter.event(
                "output",
                json!({ "step": label, "stream": stream, "text": chunk }),
                &text_lines,
            );
        }
    }

    /// Reboots the builder and waits until the agent pings again *after* the reboot.
    async fn reboot(&self, instance: &str, timeout: Duration) -> Result<(), BakeError> {
        let ec2 = self.ec2(self.region())?;
        let ssm = self.ssm()?;
        let before = DateTime::from(SystemTime::now());
        poll::retry(|| ec2::reboot_instance(&ec2, instance))
            .await
            .map_err(BakeError::aws("reboot"))?;
        let key = self.instance_wait_key("reboot");
        let history = &self.options.history;
        poll::until_learned(
            self.schedule(Schedule::AGENT),
            history,
            &key,
            None,
            timeout,
            || async {
                let status = ssm::agent_status(&ssm, instance).await?;
                Ok(status
                    .filter(|s| s.online && s.last_ping.is_some_and(|p| p.secs() > before.secs()))
                    .map(|_| ()))
            },
        )
        .await
        .map_err(|e| {
            self.poll_error(
                "reboot",
                e,
                format!("the SSM agent on {instance} did not come back after the reboot"),
            )
        })
    }

    /// Runs checks and judges them; all must pass.
    async fn run_checks(
        &self,
        phase: &'static str,
        instance: &str,
        checks: &[PlannedCheck],
    ) -> Result<Vec<CheckResult>, BakeError> {
        let mut results = Vec::new();
        for check in checks {
            let label = format!("{phase} check {}", check.name);
            self.reporter.spin(
                if phase == "boot-test" {
                    "boot test"
                } else {
                    "bake"
                },
                &label,
            );
            let (inv, _) = self
                .run_command(
                    instance,
                    &label,
                    &CommandSpec::Shell(&check.script.text),
                    check.timeout.get(),
                    self.options.verbose,
                )
                .await?;
            let result = judge(check, &inv);
            self.reporter.event(
                "check",
                json!({ "phase": phase, "check": result.name, "passed": result.passed, "exit_code": result.exit_code, "expected_exit": result.expected_exit, "expected_stdout": result.expected_stdout, "stdout": result.stdout }),
                &format!("{label}: {}", if result.passed { "passed".to_string() } else { format!("FAILED (exit {}, stdout {:?})", result.exit_code, last_lines(&result.stdout, 3)) }),
            );
            results.push(result);
        }
        let failures: Vec<CheckResult> = results.iter().filter(|r| !r.passed).cloned().collect();
        if failures.is_empty() {
            Ok(results)
        } else {
            Err(BakeError::ChecksFailed { phase, failures })
        }
    }

    /// Stops the builder, creates the image and waits until it is available.
    async fn create_image(
        &self,
        builder: &str,
        source: &ImageInfo,
        input_hash: &str,
    ) -> Result<ImageInfo, BakeError> {
        let ec2 = self.ec2(self.region())?;
        poll::retry(|| ec2::stop_instance(&ec2, builder))
            .await
            .map_err(BakeError::aws("image"))?;
        let key = format!("stop:{}:{}", self.region(), self.plan.builder.instance_type);
        poll::until_learned(
            self.schedule(Schedule::INSTANCE),
            &self.options.history,
            &key,
            None,
            Duration::from_secs(15 * 60),
            || async {
                Ok(ec2::instance_state(&ec2, builder)
                    .await?
                    .filter(|s| s == "stopped")
                    .map(|_| ()))
            },
        )
        .await
        .map_err(|e| self.poll_error("image", e, format!("builder {builder} did not stop")))?;

        let img = &self.plan.image;
        let mut tags = img.tags.clone();
        tags.insert(tags::INPUT_HASH.into(), input_hash.to_string());
        tags.insert(tags::SOURCE_AMI.into(), source.id.clone());
        self.note("intent", "image", self.region(), None, Some(&img.name))
            .await?;
        let id = poll::retry(|| ec2::create_image(&ec2, builder, &img.name, &img.description, &tags))
            .await
            .map_err(|e| match e.code() {
                Some("InvalidAMIName.Duplicate") => BakeError::Input(format!(
                    "image: an AMI named {} already exists in {}: make image.name unique (e.g. add {{{{ timestamp }}}})",
                    img.name,
                    self.region()
                )),
                _ => BakeError::Aws { phase: "image", source: e },
            })?;
        self.created
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .images
            .push((self.region().to_string(), id.clone()));
        self.note("created", "image", self.region(), Some(&id), None)
            .await?;
        self.reporter.event(
            "resource",
            json!({ "kind": "image", "id": id, "region": self.region() }),
            &format!("image {id} ({}) pending", img.name),
        );
        let key = format!(
            "image:{}:{}",
            self.region(),
            self.plan.builder.volume_size_gb
        );
        let image = self.wait_image(self.region(), &id, &key).await?;
        if let Some(after) = img.deprecate_after {
            let at = DateTime::from(SystemTime::now() + after.get());
            poll::retry(|| ec2::deprecate_image(&ec2, &id, at))
                .await
                .map_err(BakeError::aws("image"))?;
        }
        Ok(image)
    }

    /// Waits until an image (or a copy) is available; `key` names the kind of wait.
    async fn wait_image(&self, region: &str, id: &str, key: &str) -> Result<ImageInfo, BakeError> {
        let ec2 = self.ec2(region)?;
        let image = poll::until_learned(
            self.schedule(Schedule::IMAGE),
            &self.options.history,
            key,
            None,
            self.options.image_timeout,
            || async {
                match ec2::describe_image(&ec2, id).await? {
                    Some(i)
                        if i.state == "available" || i.state == "failed" || i.state == "error" =>
                    {
                        Ok(Some(i))
                    }
                    _ => Ok(None),
                }
            },
        )
        .await
        .map_err(|e| {
            self.poll_error(
                "image",
                e,
                format!("image {id} in {region} did not become available"),
            )
        })?;
        if image.state != "available" {
            return Err(BakeError::ImageFailed {
                region: region.to_string(),
                id: id.to_string(),
                reason: image
                    .state_reason
                    .clone()
                    .unwrap_or_else(|| image.state.clone()),
            });
        }
        Ok(image)
    }

    /// Copies the image to every `copy_to` region, the waits in parallel (the rate limiter
    /// paces CopyImage to its bucket). Every region is reported; any failure fails the bake
    /// after all have finished.
    async fn copy_all(&self, image: &ImageInfo) -> Result<Vec<AmiEntry>, BakeError> {
        let regions = self.plan.image.copy_to.clone();
        if regions.is_empty() {
            return Ok(Vec::new());
        }
        let mut waits = Vec::new();
        let mut failures = Vec::new();
        for region in &regions {
            let region = region.to_string();
            match self.start_copy(image, &region).await {
                Ok(id) => waits.push(async move {
                    let r = self.finish_copy(&region, &id).await;
                    (region, r)
                }),
                Err(e) => {
                    self.report_copy(&region, "failed", None, Some(&e.to_string()));
                    failures.push(format!("{region}: {e}"));
                }
            }
        }
        let mut entries = Vec::new();
        for (region, result) in futures_util::future::join_all(waits).await {
            match result {
                Ok(entry) => entries.push(entry),
                Err(e) => {
                    self.report_copy(&region, "failed", None, Some(&e.to_string()));
                    failures.push(format!("{region}: {e}"));
                }
            }
        }
        if failures.is_empty() {
            Ok(entries)
        } else {
            Err(BakeError::CopiesFailed(failures))
        }
    }

    fn report_copy(&self, region: &str, state: &str, id: Option<&str>, error: Option<&str>) {
        let text = match (id, error) {
            (_, Some(e)) => format!("copy to {region}: {state}: {e}"),
            (Some(id), None) => format!("copy to {region}: {id} {state}"),
            (None, None) => format!("copy to {region}: {state}"),
        };
        if state == "available" || state == "failed" {
            self.reporter.unspin(&format!("copy {region}"));
        } else {
            self.reporter.spin(&format!("copy {region}"), &text);
        }
        self.reporter.event(
            "copy",
            json!({ "region": region, "state": state, "ami_id": id, "error": error }),
            &text,
        );
    }

    async fn start_copy(&self, image: &ImageInfo, region: &str) -> Result<String, BakeError> {
        let dest = self.ec2(region)?;
        let img = &self.plan.image;
        let copy = ec2::Copy {
            source_region: self.region().to_string(),
            source_image_id: image.id.clone(),
            name: img.name.clone(),
            description: img.description.clone(),
            encrypted: img.encrypted,
            kms_key_id: img.kms_key_id.clone(),
            tags: image.tags.clone(),
            client_token: format!("{}-copy-{region}", self.plan.run_id),
        };
        self.note("intent", "image", region, None, Some(&copy.client_token))
            .await?;
        let id = poll::retry(|| ec2::copy_image(&dest, &copy))
            .await
            .map_err(BakeError::aws("copy"))?;
        self.created
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .images
            .push((region.to_string(), id.clone()));
        self.note("created", "image", region, Some(&id), None)
            .await?;
        self.report_copy(region, "pending", Some(&id), None);
        Ok(id)
    }

    async fn finish_copy(&self, region: &str, id: &str) -> Result<AmiEntry, BakeError> {
        let key = format!(
            "copy:{}:{region}:{}",
            self.region(),
            self.plan.builder.volume_size_gb
        );
        let copy = self.wait_image(region, id, &key).await?;
        let dest = self.ec2(region)?;
        if let Some(after) = self.plan.image.deprecate_after {
            let at = DateTime::from(SystemTime::now() + after.get());
            poll::retry(|| ec2::deprecate_image(&dest, id, at))
                .await
                .map_err(BakeError::aws("copy"))?;
        }
        self.report_copy(region, "available", Some(id), None);
        Ok(AmiEntry {
            region: region.to_string(),
            ami_id: id.to_string(),
            name: copy.name,
            snapshot_ids: copy.snapshot_ids,
        })
    }

    /// Launches an instance from the new image, waits for cloud-init, runs the checks.
    async fn boot_test(
        &self,
        image: &ImageInfo,
        groups: &[String],
    ) -> Result<Option<BootTestResult>, BakeError> {
        let Some(bt) = &self.plan.boot_test else {
            return Ok(None);
        };
        let mut tags = self.plan.builder.tags.clone();
        tags.insert(
            "Name".into(),
            format!("amibake-boot-test {}", self.plan.recipe),
        );
        let instance = self
            .launch(
                "boot-test",
                &image.id,
                image.root_device_name.as_deref(),
                groups,
                &tags,
                &format!("{}-boot-test", self.plan.run_id),
            )
            .await?;
        self.reporter
            .spin("boot test", &format!("waiting for {instance}"));
        self.wait_ready(
            "boot test",
            &instance,
            self.plan.builder.ready_timeout.get(),
        )
        .await?;
        self.run_script(
            &instance,
            "boot test: wait for the boot to finish",
            &bt.wait.text,
            bt.wait_timeout.get(),
            self.options.verbose,
        )
        .await?;
        let checks = self.run_checks("boot-test", &instance, &bt.checks).await?;
        self.reporter.unspin("boot test");
        self.terminate(self.region(), &instance).await;
        Ok(Some(BootTestResult {
            instance_id: instance,
            passed: true,
            checks,
        }))
    }

    /// Tags every AMI of the bake `amibake:complete=true`: from now on it is a product,
    /// not debris of an interrupted run, and `sweep` leaves it alone.
    async fn mark_complete(&self, amis: &[AmiEntry]) -> Result<(), BakeError> {
        let tags = BTreeMap::from([
            (
                tags::CREATED_BY.to_string(),
                tags::CREATED_BY_VALUE.to_string(),
            ),
            (tags::COMPLETE.to_string(), "true".to_string()),
        ]);
        let tag_one = |ami: &AmiEntry| {
            let tags = &tags;
            let mut resources = vec![ami.ami_id.clone()];
            resources.extend(ami.snapshot_ids.iter().cloned());
            let ec2 = self.ec2(&ami.region);
            async move {
                let ec2 = ec2?;
                poll::retry(|| ec2::create_tags(&ec2, &resources, tags))
                    .await
                    .map_err(BakeError::aws("image"))
            }
        };
        // One region does not wait for another.
        futures_util::future::try_join_all(amis.iter().map(tag_one)).await?;
        Ok(())
    }

    /// Shares every AMI of the bake as the recipe says (after the boot test passed).
    async fn share_all(&self, amis: &[AmiEntry]) -> Result<(), BakeError> {
        let img = &self.plan.image;
        let sharing = ec2::Sharing {
            accounts: img.share_accounts.iter().map(|a| a.to_string()).collect(),
            organizations: img.share_organizations.clone(),
            organizational_units: img.share_organizational_units.clone(),
            public: img.public,
        };
        if sharing.accounts.is_empty()
            && sharing.organizations.is_empty()
            && sharing.organizational_units.is_empty()
            && !sharing.public
        {
            return Ok(());
        }
        for ami in amis {
            let ec2 = self.ec2(&ami.region)?;
            let info = ImageInfo {
                id: ami.ami_id.clone(),
                name: ami.name.clone(),
                state: "available".into(),
                state_reason: None,
                root_device_name: None,
                snapshot_ids: ami.snapshot_ids.clone(),
                creation_date: String::new(),
                tags: BTreeMap::new(),
            };
            poll::retry(|| ec2::share_image(&ec2, &info, &sharing))
                .await
                .map_err(BakeError::aws("share"))?;
            self.reporter.event(
                "share",
                json!({ "region": ami.region, "ami_id": ami.ami_id }),
                &format!("shared {} in {}", ami.ami_id, ami.region),
            );
        }
        Ok(())
    }

    /// Terminates one instance now (best effort; cleanup retries what is left).
    async fn terminate(&self, region: &str, id: &str) {
        let Ok(ec2) = self.ec2(region) else { return };
        match poll::retry(|| ec2::terminate_instance(&ec2, id)).await {
            Ok(()) => {
                self.reporter.event(
                    "resource",
                    json!({ "kind": "instance", "id": id, "state": "terminating" }),
                    &format!("terminating {id}"),
                );
                let _ = self
                    .note("deleted", "instance", region, Some(id), None)
                    .await;
                let mut created = self.created.lock().unwrap_or_else(|e| e.into_inner());
                created.instances.retain(|(_, i, _)| i != id);
                created
                    .terminating
                    .push((region.to_string(), id.to_string()));
            }
            Err(e) => self
                .reporter
                .say(&format!("could not terminate {id} yet: {}", e.chain())),
        }
    }
}

impl Bake<'_> {
    /// Removes what the outcome calls for. After success: the builder and the temporary
    /// security group. After a failure: every instance and image of the run too — unless
    /// `--on-error keep`, which leaves them and says how to get in. Returns whether the
    /// run left nothing behind that it should not have.
    pub async fn cleanup(&self, failed: bool) -> bool {
        let keep = failed && self.options.on_error == OnError::Keep;
        let (instances, images) = {
            let c = self.created.lock().unwrap_or_else(|e| e.into_inner());
            (c.instances.clone(), c.images.clone())
        };
        if keep {
            for (region, id, role) in &instances {
                let _ = self.note("kept", "instance", region, Some(id), None).await;
                self.reporter.say(&format!(
                    "kept the {role} instance {id}; open a shell with: aws ssm start-session --target {id} --region {region}"
                ));
            }
            for (region, id) in &images {
                let _ = self.note("kept", "image", region, Some(id), None).await;
                self.reporter.say(&format!("kept image {id} in {region}"));
            }
            self.reporter
                .say("--on-error keep: nothing was cleaned up; `amibake sweep` removes it later");
            return false;
        }

        let mut clean = true;
        for (region, id, _) in &instances {
            self.terminate(region, id).await;
        }
        if failed {
            for (region, id) in &images {
                clean &= self.delete_image(region, id).await;
            }
        }
        let sg = self
            .created
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .security_group
            .clone();
        match sg {
            // The group cannot go while an instance's network interface holds it: deleting
            // it waits out the terminations, and its deletion proves them.
            Some((region, id)) => {
                let deleted = self.delete_security_group(&region, &id).await;
                if deleted {
                    self.created
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .terminating
                        .clear();
                } else {
                    // Still wait for (and report) the instances themselves.
                    self.wait_terminated().await;
                    clean = false;
                }
            }
            None => clean &= self.wait_terminated().await,
        }
        let still_running = !self
            .created
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .instances
            .is_empty();
        clean &= !still_running;
        if clean {
            let _ = self.journal.mark_clean().await;
        } else {
            self.reporter.say(&format!(
                "cleanup incomplete: see the journal {} and run `amibake sweep`",
                self.journal.path().display()
            ));
        }
        clean
    }

    async fn delete_image(&self, region: &str, id: &str) -> bool {
        let Ok(ec2) = self.ec2(region) else {
            return false;
        };
        let info = match poll::retry(|| ec2::describe_image(&ec2, id)).await {
            Ok(Some(info)) => info,
            Ok(None) => return true,
            Err(e) => {
                self.reporter.say(&format!(
                    "could not look up image {id} in {region}: {}",
                    e.chain()
                ));
                return false;
            }
        };
        match poll::retry(|| ec2::delete_image(&ec2, &info)).await {
            Ok(()) => {
                let _ = self.note("deleted", "image", region, Some(id), None).await;
                self.reporter.event(
                    "resource",
                    json!({ "kind": "image", "id": id, "region": region, "state": "deregistered" }),
                    &format!("deregistered {id} in {region} and deleted its snapshots"),
                );
                self.created
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .images
                    .retain(|(_, i)| i != id);
                true
            }
            Err(e) => {
                self.reporter.say(&format!(
                    "could not deregister {id} in {region}: {}",
                    e.chain()
                ));
                false
            }
        }
    }

    /// Waits until every instance asked to terminate is gone (a security group in use
    /// cannot be deleted).
    async fn wait_terminated(&self) -> bool {
        let terminating = self
            .created
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .terminating
            .clone();
        let mut all = true;
        for (region, id) in terminating {
            let Ok(ec2) = self.ec2(&region) else {
                return false;
            };
            self.reporter
                .spin("cleanup", &format!("waiting for {id} to terminate"));
            let done = poll::until(
                self.schedule(Schedule::INSTANCE),
                Duration::from_secs(10 * 60),
                || async {
                    Ok(match ec2::instance_state(&ec2, &id).await {
                        Ok(Some(s)) if s == "terminated" => Some(()),
                        Ok(None) => Some(()),
                        Err(e) if e.code() == Some("InvalidInstanceID.NotFound") => Some(()),
                        Ok(_) => None,
                        Err(e) => return Err(e),
                    })
                },
            )
            .await;
            self.reporter.unspin("cleanup");
            if let Err(e) = done {
                self.reporter.say(&format!("{id} did not terminate: {e}"));
                all = false;
            }
        }
        all
    }

    async fn delete_security_group(&self, region: &str, id: &str) -> bool {
        let Ok(ec2) = self.ec2(region) else {
            return false;
        };
        // Network interfaces of a just-terminated instance linger for a moment.
        let result = poll::while_in_use(
            self.schedule(Schedule::INSTANCE),
            Duration::from_secs(5 * 60),
            "DependencyViolation",
            "ec2:DeleteSecurityGroup",
            &format!("security group {id}"),
            || ec2::delete_security_group(&ec2, id),
        )
        .await;
        match result {
            Ok(()) => {
                let _ = self
                    .note("deleted", "security_group", region, Some(id), None)
                    .await;
                self.reporter.event(
                    "resource",
                    json!({ "kind": "security_group", "id": id, "state": "deleted" }),
                    &format!("deleted security group {id}"),
                );
                self.created
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .security_group = None;
                true
            }
            Err(e) => {
                self.reporter
                    .say(&format!("could not delete security group {id}: {e}"));
                false
            }
        }
    }
}

/// Fails when an instance being waited for died on the way up.
async fn check_alive(ec2: &aws_sdk_ec2::Client, instance: &str) -> Result<(), AwsError> {
    match ec2::instance_state(ec2, instance).await? {
        Some(s)
            if matches!(
                s.as_str(),
                "terminated" | "shutting-down" | "stopped" | "stopping"
            ) =>
        {
            Err(AwsError::local(
                "ec2:DescribeInstances",
                Some("UnexpectedState"),
                format!(
                    "instance {instance} is {s} instead of running (check the instance's console output and the volume's KMS key permissions)"
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// sha256 of the rendered recipe (run-specific built-ins held fixed), the source AMI id
/// and amibake's major version: equal inputs, equal hash.
pub fn input_hash(stable_recipe: &str, source_ami: &str) -> String {
    let mut h = Sha256::new();
    h.update(stable_recipe.as_bytes());
    h.update(b"\0");
    h.update(source_ami.as_bytes());
    h.update(b"\0amibake-major:");
    h.update(env!("CARGO_PKG_VERSION_MAJOR").as_bytes());
    hex::encode(h.finalize())
}

/// Judges a check on what the command printed (our marker lines removed) and its exit code.
fn judge(check: &PlannedCheck, inv: &Invocation) -> CheckResult {
    let stdout = script::strip_markers(&inv.stdout);
    let exit_ok = inv.done && inv.response_code == check.expect_exit;
    let stdout_ok = check
        .expect_stdout
        .as_ref()
        .is_none_or(|want| stdout.contains(want.as_str()));
    CheckResult {
        name: check.name.clone(),
        passed: exit_ok && stdout_ok,
        expected_exit: check.expect_exit,
        exit_code: inv.response_code,
        expected_stdout: check.expect_stdout.clone(),
        stdout: stdout.chars().take(2048).collect(),
        stderr: last_lines(&inv.stderr, 10).chars().take(2048).collect(),
    }
}

fn describe_source(source: &Source) -> String {
    match source {
        Source::SsmParameter(p) => format!("ssm_parameter {p}"),
        Source::Ami(id) => format!("ami {id}"),
        Source::Filter(f) => format!("filter {} (owners {})", f.name, f.owners.join(", ")),
    }
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn rfc3339(t: SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
