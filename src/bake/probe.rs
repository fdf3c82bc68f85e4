//! `--if-changed` beyond the inputs: the reuse check's decision, and the probe.
//!
//! The reuse check finds the newest image with this run's inputs (or says why there is
//! none: the inputs changed, or the recipe has no image yet). With `rebuild.updates`
//! beyond inputs it does not stop there: the image's scan results answer first when
//! `fix_severity` is set (fix-available findings at or above it rebuild, no instance),
//! then the probe — a small instance launched from that image, on the same security group
//! the builder gets, asks its package manager what is pending. When nothing the policy
//! counts is pending, the bake ends as a reused one once the probe is terminated;
//! otherwise it goes on to bake. Every way through says why
//! ([`crate::rebuild::Decision`]: the `rebuild_decision` event and the manifest).

use std::time::{Duration, SystemTime};

use crate::aws::ec2::ImageInfo;
use crate::aws::ssm::CommandSpec;
use crate::error::FromAws;
use crate::manifest::Manifest;
use crate::plan::{Action, Role};
use crate::rebuild::{Decision, Reason};
use crate::recipe::model::Updates;
use crate::scan::{Finding, Severity};
use crate::script::{ProbeReport, Script};

use super::walk::{Next, Walk};
use super::{Bake, BakeError, BakeEvent, last_lines};

/// What the reuse check leaves the probe: the newest image with this run's inputs, and
/// the manifest the bake ends with when the probe finds nothing to rebuild for.
#[derive(Debug, Clone)]
pub(super) struct Probing {
    image: ImageInfo,
    reused: Box<Manifest>,
}

/// The label of the probe's command (its output lines and its wait history).
const LABEL: &str = "probe: pending updates";

/// Whether the walk skips `action`: a probe action when the reuse check decided without
/// the probe (the inputs changed, no previous image, the scan results answered).
pub(super) fn skipped(action: &Action, walk: &Walk) -> bool {
    let probes = matches!(
        action,
        Action::Launch {
            role: Role::Probe,
            ..
        } | Action::WaitReady {
            role: Role::Probe,
            ..
        } | Action::ProbeUpdates { .. }
            | Action::Terminate { role: Role::Probe }
    );
    probes && walk.probing.is_none()
}

/// The image the probe launches from.
pub(super) fn newest(walk: &Walk) -> Result<&ImageInfo, BakeError> {
    walk.probing.as_ref().map(|p| &p.image).ok_or_else(|| {
        BakeError::Input(
            "the plan launches the probe before the reuse check found its image (a bug: please report it)"
                .into(),
        )
    })
}

/// What the scan results of the newest image say.
enum Scanned {
    /// Never scanned (EC2 keeps no scan results for it).
    Unscanned,
    /// Scanned, with no fix-available finding at or above the severity asked for.
    Clean { at: String },
    /// Fix-available findings at or above the severity asked for.
    Fixes(Vec<Finding>),
}

impl Bake<'_> {
    /// `amibake outdated`: walks a plan cut to the decision ([`crate::plan::Plan::outdated`])
    /// up to it — the reuse check, and the probe when the scan results did not answer —
    /// and returns it. The plan's cleanup ([`Bake::close`]) follows on every path.
    pub async fn outdated(&self) -> Result<Decision, BakeError> {
        super::guard::unwinding(self.walk_to_decision())
            .await
            .unwrap_or_else(|message| Err(BakeError::Panicked(message)))
    }

    async fn walk_to_decision(&self) -> Result<Decision, BakeError> {
        let mut walk = Walk::starting(self.plan.builder.security_group_ids.clone());
        for action in self.plan.actions.iter().take_while(|a| !a.closes()) {
            self.perform(action, &mut walk).await?;
            // Decided, and no probe left to terminate.
            if walk.rebuild.is_some() && walk.probing.is_none() {
                break;
            }
        }
        walk.rebuild.ok_or_else(|| {
            BakeError::Input(
                "the plan has no reuse check to decide with (a bug: please report it)".into(),
            )
        })
    }

    /// Reports the decision and keeps it for the manifest.
    fn decide(&self, walk: &mut Walk, decision: Decision) {
        self.reporter
            .emit(BakeEvent::RebuildDecision(decision.clone()));
        walk.rebuild = Some(decision);
    }

    /// `--if-changed --force`: the run rebuilds without looking, and says so.
    pub(super) fn say_forced(&self, walk: &mut Walk) {
        if self.plan.rebuild.as_ref().is_some_and(|r| r.forced) {
            let why = "--force: rebuilding without looking at the previous image".to_string();
            self.decide(walk, Decision::new(Reason::Forced, None, why));
        }
    }

    /// `--if-changed`: the reuse check ([`Action::ReuseCheck`]): the bake this one would
    /// repeat, if every region has its image, and what `rebuild:` asks beyond that.
    pub(super) async fn reuse(&self, action: &Action, walk: &mut Walk) -> Result<Next, BakeError> {
        let Action::ReuseCheck {
            regions,
            updates,
            fix_severity,
            probe,
        } = action
        else {
            return Ok(Next::Go);
        };
        let (source, hash) = (walk.source()?.clone(), walk.input_hash.clone());
        let recipe = &self.plan.recipe;
        let Some((reused, image)) = self.existing(&source, &hash, regions).await? else {
            let decision = if self.any_previous().await? {
                let why = format!(
                    "no image of {recipe} has input hash {} in {}: the recipe, its source AMI or amibake's major version changed",
                    &hash[..12],
                    regions.join(", ")
                );
                Decision::new(Reason::InputsChanged, None, why)
            } else {
                let why = format!("{recipe} has no image in {} yet", self.region());
                Decision::new(Reason::NoPreviousImage, None, why)
            };
            self.decide(walk, decision);
            return Ok(Next::Go);
        };
        let id = image.id.clone();
        let current = |why: String| Decision::new(Reason::Current, Some(&id), why);
        if *updates == Updates::Inputs {
            let why = format!("{id} has the same inputs (input hash {})", &hash[..12]);
            return Ok(self.reused(walk, reused, current(why)));
        }
        if let Some(severity) = fix_severity {
            match self.scanned(&id, *severity).await? {
                Scanned::Fixes(findings) => {
                    let why = format!(
                        "the scan results of {id} hold {} fix-available finding(s) at or above {severity}: no probe needed",
                        findings.len()
                    );
                    let mut decision = Decision::new(Reason::ScanFixAvailable, Some(&id), why);
                    decision.findings = findings;
                    self.decide(walk, decision);
                    return Ok(Next::Go);
                }
                Scanned::Clean { at } if !probe => {
                    let why = format!(
                        "the scan results of {id} (scanned {at}) hold no fix-available finding at or above {severity}"
                    );
                    return Ok(self.reused(walk, reused, current(why)));
                }
                Scanned::Unscanned if !probe => {
                    let why = format!(
                        "{id} has the same inputs and no scan results (never scanned): nothing says fixes are pending"
                    );
                    return Ok(self.reused(walk, reused, current(why)));
                }
                Scanned::Clean { .. } | Scanned::Unscanned => {}
            }
        }
        self.reporter.say(&format!(
            "{id} has the same inputs: probing it for pending {} updates",
            match updates {
                Updates::Any => "package",
                _ => "security",
            }
        ));
        walk.probing = Some(Probing {
            image,
            reused: Box::new(reused),
        });
        Ok(Next::Go)
    }

    /// Ends the bake as a reused one, saying why.
    fn reused(&self, walk: &mut Walk, manifest: Manifest, decision: Decision) -> Next {
        self.decide(walk, decision);
        Next::Reused(Box::new(Manifest {
            rebuild: walk.rebuild.clone(),
            ..manifest
        }))
    }

    /// The newest image's scan results (DescribeImages' ScanResults) and, when it was
    /// scanned, its findings (GetImageFindings): which have a fix at or above `severity`.
    async fn scanned(&self, image: &str, severity: Severity) -> Result<Scanned, BakeError> {
        let ec2 = self.ec2(self.region())?;
        let scan = crate::image::read_scan(&ec2, image)
            .await
            .map_err(BakeError::aws("if-changed"))?;
        let Some(crate::image::Scanned {
            summary, findings, ..
        }) = scan
        else {
            return Ok(Scanned::Unscanned);
        };
        let mut fixes: Vec<Finding> = findings
            .into_iter()
            .filter(|f| f.fix_available && f.severity.is_some_and(|s| s >= severity))
            .collect();
        fixes.sort_by_key(|f| std::cmp::Reverse(f.severity));
        let fix_since = summary.fix_available_since.keys().any(|s| *s >= severity);
        if fixes.is_empty() && !fix_since {
            return Ok(Scanned::Clean {
                at: summary
                    .scanned_at
                    .clone()
                    .unwrap_or_else(|| "at an unknown date".into()),
            });
        }
        Ok(Scanned::Fixes(fixes))
    }

    /// [`Action::ProbeUpdates`]: the probe's package-manager query, read, and the
    /// decision it makes under `updates`.
    pub(super) async fn probe_updates(
        &self,
        probe: &str,
        script: &Script,
        timeout: Duration,
        updates: Updates,
        walk: &mut Walk,
    ) -> Result<(), BakeError> {
        let image = newest(walk)?.id.clone();
        let t = self.phase_start("probe", format!("probing {image} for pending updates"));
        let spec = CommandSpec::Shell(&script.text);
        let verbose = self.options.verbose;
        let (inv, _) = self
            .run_command(probe, LABEL, &spec, timeout, verbose)
            .await?;
        let report = ProbeReport::parse(&inv.stdout);
        if !inv.succeeded() || (report.counts.is_none() && !report.complete) {
            let status = match inv.succeeded() {
                true => "printed no answer amibake reads (no counts line)".to_string(),
                false => inv.status.clone(),
            };
            return Err(BakeError::StepFailed {
                step: LABEL.to_string(),
                status,
                exit_code: inv.response_code,
                stderr_tail: last_lines(&inv.stderr, 10),
            });
        }
        let (total, security) = report.totals();
        let counted = match updates {
            Updates::Any => total,
            _ => security,
        };
        let cut = if report.complete {
            ""
        } else {
            " (the list was cut short)"
        };
        let decision = if counted > 0 {
            let why = format!(
                "{image} has {total} pending update(s), {security} of them security{cut}: a rebuild picks them up"
            );
            Decision::new(Reason::UpdatesPending, Some(&image), why)
        } else if total > 0 {
            let why = format!(
                "{image} has no pending security update ({total} other pending: `rebuild.updates: security` does not rebuild for them)"
            );
            Decision::new(Reason::Current, Some(&image), why)
        } else {
            let why = format!("{image} has no pending update");
            Decision::new(Reason::Current, Some(&image), why)
        };
        self.phase_done(
            "probe",
            t,
            format!("probe done: {total} pending, {security} security"),
        );
        let mut decision = decision;
        decision.updates = report.updates;
        self.decide(walk, decision);
        Ok(())
    }

    /// After the probe is terminated: a current image ends the bake as a reused one (the
    /// probe was all it launched); otherwise the bake goes on.
    pub(super) fn after_probe(&self, walk: &mut Walk) -> Next {
        let probing = walk.probing.take();
        match (probing, &walk.rebuild) {
            (Some(p), Some(d)) if !d.reason.rebuilds() => Next::Reused(Box::new(Manifest {
                rebuild: Some(d.clone()),
                finished_at: crate::run::rfc3339(SystemTime::now()),
                duration_seconds: self.started.elapsed().as_secs_f64(),
                ..*p.reused
            })),
            _ => Next::Go,
        }
    }
}
