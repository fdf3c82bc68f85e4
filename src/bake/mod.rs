//! The bake: executes a [`Plan`] against AWS.
//!
//! Order of business: resolve the source → temporary security group → builder →
//! running → SSM Online → steps → validation → stop → image → (copies ‖ boot test) →
//! sharing → manifest. Every resource is journaled before the call that creates it
//! returns and remembered in [`Created`]; [`Bake::cleanup`] removes what the outcome
//! calls for, on success, failure, timeout and interrupt alike.
//!
//! This module holds the bake itself ([`Bake::run`] walks the plan) and what every phase
//! shares; each phase lives in a module of its own, in the order a bake reaches it:
//! `source` (the source image, `--if-changed`), `launch` (security group, instances,
//! the wait for SSM), `command` (steps and amibake's own scripts), `verify` (checks
//! and the boot test), `image` (image, copies, sharing) and `cleanup`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::aws::ec2::ImageInfo;
use crate::aws::history::History;
use crate::aws::poll::Schedule;
use crate::aws::{Aws, AwsError};
use crate::journal::{Entry, Journal};
use crate::manifest::{self, AmiEntry, CheckResult, Manifest, Timing};
use crate::plan::Plan;
use crate::report::Reporter;

mod cleanup;
mod command;
mod image;
mod launch;
mod source;
mod verify;

use source::describe_source;

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

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn rfc3339(t: SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
