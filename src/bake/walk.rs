//! Walking the plan: each action in turn, what it made handed on to the next in [`Walk`],
//! phases timed as the walk enters and leaves them.

use tokio::time::Instant;

use crate::aws::acting::acting;
use crate::aws::ec2::ImageInfo;
use crate::manifest::{AmiEntry, BootTestResult, CheckResult, Manifest, StepResult};
use crate::plan::{Action, CheckPhase, Role};

use super::{Bake, BakeError, input_hash};

/// What the walk has made so far: each action reads what earlier ones made.
#[derive(Debug, Default, Clone)]
pub(super) struct Walk {
    source: Option<ImageInfo>,
    pub(super) input_hash: String,
    /// The security groups the instances get: the recipe's, or the temporary one.
    groups: Vec<String>,
    builder: Option<String>,
    boot_test: Option<String>,
    /// `--if-changed` beyond the inputs: the probe instance, what the reuse check left
    /// it to judge, and the decision once made ([`super::probe`]).
    pub(super) probe: Option<String>,
    pub(super) probing: Option<super::probe::Probing>,
    pub(super) rebuild: Option<crate::rebuild::Decision>,
    image: Option<ImageInfo>,
    steps: Vec<StepResult>,
    validation: Vec<CheckResult>,
    boot_checks: Vec<CheckResult>,
    copies: Vec<AmiEntry>,
    boot_test_result: Option<BootTestResult>,
    scan: Option<crate::scan::ScanSummary>,
    /// For the closing actions: whether the walk failed (or was interrupted) …
    failed: bool,
    /// … the manifest of the bake when it did not (`WriteManifest` writes it) …
    manifest: Option<Manifest>,
    /// … and whether the cleanup left nothing behind.
    clean: bool,
}

/// What an action leaves the walk to do.
pub(super) enum Next {
    Go,
    /// `--if-changed` found the image already baked: this manifest, nothing launched.
    Reused(Box<Manifest>),
}

impl Walk {
    /// A walk's start: the instances get the recipe's security groups until the plan
    /// creates one.
    pub(super) fn starting(groups: Vec<String>) -> Walk {
        Walk {
            groups,
            ..Walk::default()
        }
    }

    /// What the closing actions start from: the manifest of a bake that succeeded, none
    /// after a failure.
    pub(super) fn closing(manifest: Option<Manifest>) -> Walk {
        Walk {
            failed: manifest.is_none(),
            manifest,
            ..Walk::default()
        }
    }

    /// The cleanup was abandoned: it may have left something.
    pub(super) fn abandoned(&mut self) -> bool {
        self.clean = false;
        self.failed
    }

    /// The manifest to write (only after success), and whether the cleanup left nothing.
    pub(super) fn take_manifest(&mut self) -> Option<(Manifest, bool)> {
        self.manifest.take().map(|m| (m, self.clean))
    }
    fn instance(&self, role: Role) -> Result<&str, BakeError> {
        let id = match role {
            Role::Builder => &self.builder,
            Role::BootTest => &self.boot_test,
            Role::Probe => &self.probe,
        };
        id.as_deref().ok_or_else(|| out_of_order(role.as_str()))
    }

    pub(super) fn source(&self) -> Result<&ImageInfo, BakeError> {
        self.source.as_ref().ok_or_else(|| out_of_order("source"))
    }

    fn image(&self) -> Result<&ImageInfo, BakeError> {
        self.image.as_ref().ok_or_else(|| out_of_order("image"))
    }
}

/// A plan whose actions come in an order the walk cannot follow (a bug in `plan`).
fn out_of_order(what: &str) -> BakeError {
    BakeError::Input(format!(
        "the plan uses the {what} before an action makes it (a bug: please report it)"
    ))
}

impl Bake<'_> {
    /// Walks the plan's actions in order up to its closing ones (cleanup, the history
    /// write, the manifest), which [`Bake::close`] performs on every path after this. A
    /// panic (a bug) is an error too ([`BakeError::Panicked`]): what exists by then is
    /// recorded, so the cleanup still removes it.
    pub async fn run(&self) -> Result<Manifest, BakeError> {
        super::guard::unwinding(self.walk_plan())
            .await
            .unwrap_or_else(|message| Err(BakeError::Panicked(message)))
    }

    async fn walk_plan(&self) -> Result<Manifest, BakeError> {
        let mut walk = Walk::starting(self.plan.builder.security_group_ids.clone());
        self.say_forced(&mut walk);
        let mut phase: Option<(&'static str, Instant)> = None;
        for action in self.plan.actions.iter().take_while(|a| !a.closes()) {
            let next = action.phase();
            if phase.map(|(name, _)| name) != next {
                if let Some((name, since)) = phase.take() {
                    self.phase_done(name, since, done_text(name, &walk));
                }
                phase = next.map(|name| (name, self.phase_start(name, start_text(name, &walk))));
            }
            if let Next::Reused(manifest) = self.perform(action, &mut walk).await? {
                return Ok(*manifest);
            }
        }
        if let Some((name, since)) = phase {
            self.phase_done(name, since, done_text(name, &walk));
        }
        let amis = self.amis(&walk)?;
        let source = walk.source()?.clone();
        Ok(Manifest {
            steps: walk.steps,
            validation: walk.validation,
            boot_test: walk.boot_test_result,
            scan: walk.scan,
            rebuild: walk.rebuild,
            ..self.manifest(&source, walk.input_hash, amis)
        })
    }

    /// Performs one action; every AWS request it sends names it ([`acting`]). The action's
    /// future lives on the heap: the walk's own future stays small whatever the actions
    /// hold, so no thread's stack (a test's, a tokio worker's) overflows.
    pub(super) async fn perform(
        &self,
        action: &Action,
        walk: &mut Walk,
    ) -> Result<Next, BakeError> {
        acting(action.id(), Box::pin(self.act(action, walk))).await
    }

    async fn act(&self, action: &Action, walk: &mut Walk) -> Result<Next, BakeError> {
        if super::probe::skipped(action, walk) {
            return Ok(Next::Go);
        }
        match action {
            Action::ReadHistory { parameter } => self.read_history(parameter).await,
            Action::ResolveSource => {
                let source = self.resolve_source().await?;
                walk.input_hash = input_hash(&self.stable_recipe, &source.id);
                walk.source = Some(source);
            }
            Action::ReuseCheck { .. } => return self.reuse(action, walk).await,
            Action::CheckHostManagement => self.check_host_management().await?,
            Action::Preflight(preflight) => {
                crate::preflight::run(&self.aws, preflight, self.reporter).await?;
            }
            Action::CreateSecurityGroup => walk.groups = vec![self.security_group().await?],
            Action::Launch {
                role,
                instance_type,
            } => self.launch_role(*role, instance_type, walk).await?,
            Action::WaitReady { role, timeout } => {
                let spinner = match role {
                    Role::Builder => "bake",
                    Role::BootTest => "boot test",
                    Role::Probe => "probe",
                };
                self.wait_ready(spinner, walk.instance(*role)?, timeout.get())
                    .await?;
            }
            Action::Step { index, total, step } => {
                let result = self
                    .run_step(walk.instance(Role::Builder)?, *index, *total, step)
                    .await?;
                walk.steps.push(result);
            }
            Action::Checks { phase, checks } => self.checks(*phase, checks, walk).await?,
            Action::Hygiene { script, timeout } => {
                let builder = walk.instance(Role::Builder)?;
                self.run_script(builder, "image hygiene", &script.text, timeout.get(), true)
                    .await?;
            }
            Action::ProbeUpdates {
                script,
                timeout,
                updates,
            } => {
                let probe = walk.instance(Role::Probe)?.to_string();
                self.probe_updates(&probe, script, timeout.get(), *updates, walk)
                    .await?;
            }
            Action::WaitForBoot { script, timeout } => {
                let label = "boot test: wait for the boot to finish";
                let (instance, verbose) = (walk.instance(Role::BootTest)?, self.options.verbose);
                self.run_script(instance, label, &script.text, timeout.get(), verbose)
                    .await?;
            }
            Action::StopBuilder { timeout } => {
                self.stop_builder(walk.instance(Role::Builder)?, timeout.get())
                    .await?;
            }
            Action::CreateImage { timeout } => {
                let builder = walk.instance(Role::Builder)?;
                let image = self
                    .create_image(builder, walk.source()?, &walk.input_hash, timeout.get())
                    .await?;
                walk.image = Some(image);
            }
            Action::Deprecate { after } => self.deprecate(&walk.image()?.id, after.get()).await?,
            Action::Terminate { role } => {
                self.terminate(self.region(), walk.instance(*role)?).await;
                if *role == Role::Probe {
                    return Ok(self.after_probe(walk));
                }
            }
            Action::Distribute {
                copies,
                boot_test,
                scan,
            } => {
                self.distribute(copies, boot_test, scan, walk).await?;
            }
            Action::Scan { timeout, limits } => {
                let image = walk.image()?.id.clone();
                walk.scan = Some(self.scan(&image, timeout.get(), limits).await?);
            }
            Action::Copy { region, timeout } => {
                let copy = [(region.clone(), timeout.get(), action.id())];
                let made = self.copy_all(walk.image()?, &copy).await?;
                walk.copies.extend(made);
            }
            Action::Share => self.share_all(&self.amis(walk)?).await?,
            Action::MarkComplete => {
                self.mark_complete(&self.amis(walk)?, walk.scan.as_ref())
                    .await?
            }
            Action::Cleanup { .. } => walk.clean = self.cleanup(walk.failed).await,
            Action::WriteHistory { .. } => self.write_history().await,
            Action::WriteManifest { manifest } => self.write_manifest(manifest, walk).await?,
        }
        Ok(Next::Go)
    }

    /// Checks on the builder (validate) or on the boot-test instance; all must pass.
    async fn checks(
        &self,
        phase: CheckPhase,
        checks: &[crate::plan::PlannedCheck],
        walk: &mut Walk,
    ) -> Result<(), BakeError> {
        let role = match phase {
            CheckPhase::Validate => Role::Builder,
            CheckPhase::BootTest => Role::BootTest,
        };
        let results = self
            .run_checks(phase.as_str(), walk.instance(role)?, checks)
            .await?;
        match phase {
            CheckPhase::Validate => walk.validation = results,
            CheckPhase::BootTest => walk.boot_checks = results,
        }
        Ok(())
    }

    /// Launches the builder from the source image or the boot test from the new one.
    async fn launch_role(
        &self,
        role: Role,
        instance_type: &crate::recipe::types::InstanceType,
        walk: &mut Walk,
    ) -> Result<(), BakeError> {
        let mut tags = self.plan.builder.tags.clone();
        let from = match role {
            Role::Builder => walk.source()?,
            Role::Probe => {
                tags.insert("Name".into(), format!("amibake-probe {}", self.plan.recipe));
                super::probe::newest(walk)?
            }
            Role::BootTest => {
                let name = format!("amibake-boot-test {}", self.plan.recipe);
                tags.insert("Name".into(), name);
                walk.image()?
            }
        };
        let token = format!("{}-{}", self.plan.run_id, role.as_str());
        let id = (self.launch(role, instance_type, from, &walk.groups, &tags, &token)).await?;
        match role {
            Role::Builder => walk.builder = Some(id),
            Role::BootTest => walk.boot_test = Some(id),
            Role::Probe => walk.probe = Some(id),
        }
        Ok(())
    }

    /// The copies and the boot test, side by side: either failing fails the bake at once
    /// (cleanup deregisters pending copies and terminates the test instance).
    async fn distribute(
        &self,
        copies: &[Action],
        boot_test: &[Action],
        scan: &[Action],
        walk: &mut Walk,
    ) -> Result<(), BakeError> {
        let copying = async {
            let mut branch = walk.clone();
            self.walk_copies(copies, &mut branch).await?;
            Ok::<_, BakeError>(branch.copies)
        };
        let testing = async {
            let mut branch = walk.clone();
            if boot_test.is_empty() {
                return Ok(None);
            }
            for action in boot_test {
                self.perform(action, &mut branch).await?;
            }
            self.reporter.unspin("boot test");
            Ok(Some(BootTestResult {
                instance_id: branch.boot_test.unwrap_or_default(),
                passed: true,
                checks: branch.boot_checks,
            }))
        };
        let scanning = async {
            let mut branch = walk.clone();
            for action in scan {
                self.perform(action, &mut branch).await?;
            }
            Ok::<_, BakeError>(branch.scan)
        };
        let (copies, result, scanned) = tokio::try_join!(copying, testing, scanning)?;
        walk.copies = copies;
        walk.boot_test_result = result;
        walk.scan = scanned;
        Ok(())
    }

    /// Every copy, started one after the other (the rate limiter paces CopyImage), waited
    /// for together; every region is reported, any failure fails after all finished.
    async fn walk_copies(&self, copies: &[Action], walk: &mut Walk) -> Result<(), BakeError> {
        let image = walk.image()?.clone();
        let regions: Vec<_> = copies
            .iter()
            .filter_map(|a| match a {
                Action::Copy { region, timeout } => Some((region.clone(), timeout.get(), a.id())),
                _ => None,
            })
            .collect();
        walk.copies = self.copy_all(&image, &regions).await?;
        Ok(())
    }

    /// The images of the bake so far: the home region's, then the copies.
    fn amis(&self, walk: &Walk) -> Result<Vec<AmiEntry>, BakeError> {
        let image = walk.image()?;
        let mut amis = vec![AmiEntry {
            region: self.region().to_string(),
            ami_id: image.id.clone(),
            name: image.name.clone(),
            snapshot_ids: image.snapshot_ids.clone(),
        }];
        amis.extend(walk.copies.iter().cloned());
        Ok(amis)
    }
}

/// What the line says as a phase starts.
fn start_text(phase: &str, walk: &Walk) -> String {
    match phase {
        // The security group comes first, for the probe.
        "launch" if walk.probing.is_some() => "creating the temporary security group",
        "launch" => "launching the builder",
        "ready" => "waiting for the builder to run and register with SSM",
        "steps" => "provisioning",
        "validate" => "validating the builder",
        "hygiene" => "image hygiene",
        "image" => "stopping the builder and creating the image",
        "distribute" => "copies, boot test and scan (those the recipe asks for)",
        other => other,
    }
    .to_string()
}

/// What the line says as a phase ends, with what it made.
fn done_text(phase: &str, walk: &Walk) -> String {
    let builder = walk.builder.as_deref().unwrap_or_default();
    match phase {
        "launch" if builder.is_empty() => "temporary security group created".to_string(),
        "launch" => format!("builder {builder} launched"),
        "ready" => format!("builder {builder} is running and its SSM agent is Online"),
        "steps" => format!("{} steps done", walk.steps.len()),
        "validate" => format!("{} checks passed", walk.validation.len()),
        "hygiene" => "image hygiene done".to_string(),
        "image" => format!(
            "image {} is available",
            walk.image
                .as_ref()
                .map(|i| i.id.as_str())
                .unwrap_or_default()
        ),
        "distribute" => "copies, boot test and scan done".to_string(),
        other => format!("{other} done"),
    }
}
