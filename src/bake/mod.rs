//! The bake: walks a [`Plan`]'s actions against AWS.
//!
//! The order of business is the plan's ([`crate::plan::action`]): nothing here decides
//! what comes next. Every resource is journaled before the call that creates it returns
//! and remembered in `Created`; the plan's closing actions ([`Bake::close`]: cleanup,
//! the history write, the manifest) run on success, failure, timeout, panic and
//! interrupt alike.
//!
//! This module holds the bake itself and what every phase shares (the create → journal →
//! remember → report sequence is `Bake::record`'s); `walk` performs each action, and
//! each phase lives in a module of its own, in the order a bake reaches it: `history`
//! (the wait history's parameter), `source` (the source image, the `--if-changed` reuse
//! check), `probe` (what `--if-changed` rebuilds for: the scan results, the probe), `launch` (security group, instances, the wait for SSM), `command` (steps and
//! amibake's own scripts), `verify` (checks), `image` (image, copies, sharing, through
//! the image layer [`crate::image`]), `cleanup`, and `close` (the closing actions);
//! `event` holds what a bake tells its user ([`BakeEvent`]).

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

pub use cleanup::CLEANUP_BUDGET;

use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::aws::ec2::ImageInfo;
use crate::aws::history::History;
use crate::aws::poll::Schedule;
use crate::aws::{Aws, AwsError};
use crate::error::{ExitKind, Failure, FromAws};
use crate::image::{CopyState, ImageEvent, Resource, ResourceKind};
use crate::journal::{Entry, Journal};
use crate::manifest::{self, AmiEntry, CheckResult, Manifest, Timing};
use crate::plan::{Plan, Role};
use crate::report::Reporter;
use crate::secret::Masker;

mod cleanup;
mod close;
mod command;
mod event;
mod guard;
mod history;
mod image;
mod launch;
mod probe;
mod scan;
mod source;
mod unknown;
mod verify;
mod walk;

pub use event::{BakeEvent, HistoryAction, LeftResource, State, StepEvent};
pub use history::{InAccount, WaitHistory};

use source::describe_source;

/// Knobs of one bake.
#[derive(Debug, Clone)]
pub struct BakeOptions {
    /// Multiplies every poll interval: 1.0 against AWS; an emulator that answers at
    /// once needs no multi-second pauses (`AMIBAKE_POLL_SCALE`).
    pub poll_scale: f64,
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
    /// The image's scan found more than `image.scan` allows.
    #[error(
        "the scan of {image} is over the limit: {}; worst findings:{}",
        .violations.join("; "),
        .worst.iter().map(|w| format!("\n  - {w}")).collect::<String>()
    )]
    ScanOverLimit {
        image: String,
        violations: Vec<String>,
        worst: Vec<String>,
    },
    /// Inspector could not scan the image (`UNSUPPORTED_OS`, `ACCESS_DENIED`, …).
    #[error("Inspector's scan of {image} failed: {reason}")]
    ScanFailed { image: String, reason: String },
    /// The preflight (the image name, copies, shares and keys) failed (exit 2: nothing was created).
    #[error(transparent)]
    Preflight(#[from] crate::preflight::PreflightError),
    #[error("interrupted")]
    Interrupted,
    /// A bug: amibake panicked. What the bake made is cleaned up as after any failure.
    #[error(
        "amibake hit a bug and stopped: {0} (please report it; what this run created is cleaned up)"
    )]
    Panicked(String),
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

impl Failure for BakeError {
    fn kind(&self) -> ExitKind {
        match self {
            BakeError::Input(_) => ExitKind::Usage,
            BakeError::Interrupted => ExitKind::Interrupted,
            BakeError::Preflight(e) => e.kind(),
            _ => ExitKind::Failed,
        }
    }

    fn detail(&self) -> serde_json::Map<String, serde_json::Value> {
        match self {
            BakeError::Preflight(e) => e.detail(),
            _ => serde_json::Map::new(),
        }
    }
}

impl FromAws for BakeError {
    fn from_aws(phase: &'static str, source: AwsError) -> BakeError {
        BakeError::Aws { phase, source }
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

/// What a bake makes, as [`Bake::record`] keeps it.
#[derive(Debug, Clone, Copy)]
enum Made {
    SecurityGroup,
    Instance(Role),
    Image,
    /// A copy of the image in another region (reported as a copy, not a resource).
    Copy,
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
    /// How long the whole cleanup may take ([`CLEANUP_BUDGET`] unless set).
    cleanup_budget: Duration,
    /// This recipe's wait history in the account, once read (`--history ssm`).
    account: Mutex<Option<history::InAccount>>,
    /// Whether `WriteManifest` writes the manifest (to the path the plan's action names),
    /// and what it masks (unset: the manifest is returned only).
    manifest_masker: Option<Masker>,
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
            cleanup_budget: CLEANUP_BUDGET,
            account: Mutex::default(),
            manifest_masker: None,
        }
    }

    /// Has the plan's `WriteManifest` write the manifest to the path it names, masking
    /// `masker`'s secrets.
    pub fn writing_manifest(mut self, masker: Masker) -> Bake<'a> {
        self.manifest_masker = Some(masker);
        self
    }

    /// Gives the cleanup `budget` in all instead of [`CLEANUP_BUDGET`].
    pub fn with_cleanup_budget(mut self, budget: Duration) -> Bake<'a> {
        self.cleanup_budget = budget;
        self
    }

    /// Runs the bake ([`Bake::run`]) while renewing the lease on what it holds, so that a
    /// `sweep` elsewhere leaves the run alone ([`crate::lease`]).
    pub async fn run_leased(&self) -> Result<Manifest, BakeError> {
        crate::lease::renewing(self.run(), &self.aws, || self.held(), self.reporter).await
    }

    /// What the run holds now, as (region, id): its security group, instances and images.
    fn held(&self) -> Vec<(String, String)> {
        let c = self.created.lock().unwrap_or_else(|e| e.into_inner());
        let instances = c.instances.iter().map(|(r, id, _)| (r.clone(), id.clone()));
        let rest = c.security_group.iter().chain(&c.images).cloned();
        instances.chain(rest).collect()
    }

    /// The plan this bake walks.
    pub fn plan(&self) -> &Plan {
        &self.plan
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

    fn phase_start(&self, name: &str, text: String) -> Instant {
        self.reporter.emit(BakeEvent::Phase {
            phase: name.to_string(),
            state: State::Start,
            seconds: None,
            text,
        });
        Instant::now()
    }

    fn phase_done(&self, name: &str, since: Instant, text: String) {
        let seconds = since.elapsed().as_secs_f64();
        self.phases
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Timing {
                name: name.to_string(),
                seconds,
            });
        self.reporter.emit(BakeEvent::Phase {
            phase: name.to_string(),
            state: State::Done,
            seconds: Some(seconds),
            text,
        });
    }

    /// The second half of making a resource (the first is journaling the intent before
    /// the create call): remember it for cleanup, journal it, tell the user.
    async fn record(
        &self,
        made: Made,
        region: &str,
        id: &str,
        token: Option<&str>,
        note: Option<String>,
    ) -> Result<(), BakeError> {
        let kind = {
            let mut created = self.created.lock().unwrap_or_else(|e| e.into_inner());
            let key = (region.to_string(), id.to_string());
            match made {
                Made::SecurityGroup => {
                    created.security_group = Some(key);
                    ResourceKind::SecurityGroup
                }
                Made::Instance(role) => {
                    created.instances.push((key.0, key.1, role.as_str()));
                    ResourceKind::Instance
                }
                Made::Image | Made::Copy => {
                    created.images.push(key);
                    ResourceKind::Image
                }
            }
        };
        self.note("created", kind, region, Some(id), token).await?;
        if let Made::Copy = made {
            let pending = ImageEvent::copy(region, CopyState::Pending, Some(id), None);
            self.reporter.emit(pending);
            return Ok(());
        }
        self.reporter.emit(ImageEvent::Resource(Resource {
            kind,
            id: id.to_string(),
            region: Some(region.to_string()),
            role: match made {
                Made::Instance(role) => Some(role.as_str()),
                _ => None,
            },
            state: None,
            note,
        }));
        Ok(())
    }

    /// Journals a create call that failed: refused for certain (any error but a timeout, a
    /// lost connection or a failure on AWS's side), nothing was made and its intent is
    /// resolved; otherwise the outcome is unknown and the intent stays open (the journal
    /// stays dirty, and cleanup names it with the sweep command that finds it).
    async fn settle<T>(
        &self,
        kind: ResourceKind,
        region: &str,
        token: &str,
        created: Result<T, AwsError>,
    ) -> Result<Result<T, AwsError>, BakeError> {
        if let Err(e) = &created
            && !e.outcome_unknown()
        {
            self.note("not_created", kind, region, None, Some(token))
                .await?;
        }
        Ok(created)
    }

    /// Records a resource event in the run journal, durably, before returning.
    async fn note(
        &self,
        event: &str,
        kind: ResourceKind,
        region: &str,
        id: Option<&str>,
        token: Option<&str>,
    ) -> Result<(), BakeError> {
        let entry = Entry {
            event,
            kind: Some(kind.as_str()),
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
            started_at: crate::run::rfc3339(self.started_at),
            finished_at: crate::run::rfc3339(SystemTime::now()),
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
