//! What `bake` tells its user: one variant per kind of event (the JSON `event` field).

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::event::{Progress, Said};
use crate::manifest::AmiEntry;

/// An event of `bake`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum BakeEvent {
    /// The bake started; its journal is where `sweep` finds what it made.
    Start {
        recipe: String,
        run_id: String,
        region: String,
        journal: PathBuf,
    },
    /// The plan the bake walks, before its first call (with `--json`, or `-v`): `plan` is
    /// the document `amibake plan --json` prints, the line its numbered text.
    Plan {
        plan: serde_json::Value,
        #[serde(skip)]
        text: String,
    },
    /// A phase started or finished (`seconds` on finishing).
    Phase {
        phase: String,
        state: State,
        #[serde(skip_serializing_if = "Option::is_none")]
        seconds: Option<f64>,
        /// The line: what the phase does, or what it did.
        #[serde(skip)]
        text: String,
    },
    /// A recipe step started or finished.
    Step(StepEvent),
    /// `--if-changed`: why the run rebuilds or not (`reason`), with the pending updates.
    RebuildDecision(crate::rebuild::Decision),
    /// A check was judged.
    Check {
        phase: &'static str,
        check: String,
        passed: bool,
        exit_code: i32,
        expected_exit: i32,
        expected_stdout: Option<String>,
        stdout: String,
        /// The line's summary of a failure.
        #[serde(skip)]
        summary: String,
    },
    /// Inspector's scan of the new image, judged by `image.scan`'s limits: what it found
    /// and, when it failed them, each limit broken (the error lists the worst findings).
    Scan {
        image: String,
        scan_id: String,
        passed: bool,
        summary: crate::scan::ScanSummary,
        violations: Vec<String>,
    },
    /// New output of a command on an instance.
    Output {
        step: String,
        stream: &'static str,
        text: String,
    },
    /// The bake is done and its manifest written.
    Done {
        manifest: PathBuf,
        amis: Vec<AmiEntry>,
        clean: bool,
        reused_from_run: Option<String>,
        #[serde(skip)]
        seconds: f64,
    },
    /// The wait history in the account (`--history ssm`): read at the start, saved at the
    /// end, or why it could not be.
    History {
        action: HistoryAction,
        parameter: String,
        /// The waits the parameter holds (read, or after saving).
        waits: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// Cleanup could not remove everything (it ran out of its budget, a call failed, or it
    /// was abandoned), or a create's outcome is unknown: exactly what may be left, and
    /// the command that removes it.
    Left {
        resources: Vec<LeftResource>,
        /// `amibake sweep --region R --older-than 0s` (one per region, joined by ` && `).
        sweep: String,
        journal: PathBuf,
    },
    /// Several bakes of one process are done.
    Summary {
        bakes: usize,
        succeeded: usize,
        failed: usize,
        api_calls: u64,
        api_calls_by_action: std::collections::BTreeMap<String, u64>,
        rate_limit_wait_seconds: f64,
    },
}

/// One thing a run may have left: an id, or, when the create never answered, the token
/// of its call (`sweep` finds it by the run's tags all the same).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeftResource {
    /// `instance`, `security_group`, `image`.
    pub kind: &'static str,
    pub region: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Why it may be there: `not removed`, `asked to terminate, not seen terminated`,
    /// `the create's outcome is unknown`.
    pub state: &'static str,
}

impl fmt::Display for LeftResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self.kind.replace('_', " ");
        match (&self.id, &self.token) {
            (Some(id), _) => write!(f, "{kind} {id} in {} ({})", self.region, self.state),
            (None, Some(token)) => write!(
                f,
                "an {kind} with client token {token} in {} ({})",
                self.region, self.state
            ),
            (None, None) => write!(f, "{kind} in {} ({})", self.region, self.state),
        }
    }
}

/// What became of the wait history in the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryAction {
    /// Read at the start.
    Read,
    /// Not there yet: this bake waits cold and creates it.
    NotFound,
    /// There, but not a history this version reads: waits start cold; it is overwritten.
    Unreadable,
    /// Could not be read (`error`): waits start cold.
    ReadFailed,
    Created,
    Updated,
    /// Nothing learned that the next bake could tell apart from what it holds: not written.
    Unchanged,
    /// Could not be written (`error`); the bake's outcome is unaffected.
    SaveFailed,
}

/// Start or done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Start,
    Done,
}

/// A recipe step started (`seconds`, `attempts`, `exit_code` absent) or finished.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepEvent {
    pub step: String,
    pub kind: &'static str,
    pub index: usize,
    pub total: usize,
    pub state: State,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
}

impl StepEvent {
    /// `step 2/5 install tomcat`: the spinner's and the lines' label.
    pub fn label(&self) -> String {
        format!("step {}/{} {}", self.index, self.total, self.step)
    }
}

impl fmt::Display for BakeEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BakeEvent::Start {
                recipe,
                run_id,
                region,
                ..
            } => write!(f, "baking {recipe} in {region} (run {run_id})"),
            BakeEvent::Phase {
                text,
                seconds: Some(s),
                ..
            } => write!(f, "{text} ({s:.1}s)"),
            BakeEvent::Phase { text, .. } => write!(f, "{text} …"),
            BakeEvent::Plan { text, .. } => f.write_str(text.trim_end()),
            BakeEvent::RebuildDecision(d) => write!(f, "{d}"),
            BakeEvent::Step(s) => match s.seconds {
                Some(secs) => write!(f, "{} done ({secs:.1}s)", s.label()),
                None => write!(f, "{} …", s.label()),
            },
            BakeEvent::Check {
                phase,
                check,
                passed,
                summary,
                ..
            } => {
                let verdict = if *passed { "passed" } else { summary };
                write!(f, "{phase} check {check}: {verdict}")
            }
            BakeEvent::Scan {
                image,
                summary,
                violations,
                ..
            } => {
                write!(f, "scan of {image}: {}", summary.line())?;
                if !violations.is_empty() {
                    write!(f, "; over the limit: {}", violations.join("; "))?;
                }
                Ok(())
            }
            BakeEvent::Output { step, stream, text } => {
                let mark = if *stream == "stderr" { "! " } else { "| " };
                let lines: Vec<String> = text
                    .lines()
                    .map(|l| format!("  {step} {mark}{l}"))
                    .collect();
                f.write_str(&lines.join("\n"))
            }
            BakeEvent::Done {
                manifest,
                amis,
                reused_from_run,
                seconds,
                ..
            } => done_line(f, manifest, amis, reused_from_run.is_some(), *seconds),
            BakeEvent::History {
                action,
                parameter,
                waits,
                error,
            } => history_line(f, *action, parameter, *waits, error.as_deref()),
            BakeEvent::Left {
                resources,
                sweep,
                journal,
            } => left_lines(f, resources, sweep, journal),
            BakeEvent::Summary {
                bakes,
                succeeded,
                failed,
                api_calls,
                rate_limit_wait_seconds,
                ..
            } => write!(
                f,
                "{bakes} bakes: {succeeded} done, {failed} failed; {api_calls} AWS API calls ({rate_limit_wait_seconds:.1}s spent waiting for request-rate buckets)"
            ),
        }
    }
}

/// The line of a `done` event: the image, its copies, the time and the manifest.
fn done_line(
    f: &mut fmt::Formatter<'_>,
    manifest: &std::path::Path,
    amis: &[AmiEntry],
    reused: bool,
    seconds: f64,
) -> fmt::Result {
    let verb = if reused {
        "up to date, reused:"
    } else {
        "baked"
    };
    let first = amis.first().map(|a| (a.ami_id.as_str(), a.region.as_str()));
    let (id, region) = first.unwrap_or_default();
    let copies = match amis.len().saturating_sub(1) {
        0 => String::new(),
        n => format!(" (+{n} copies)"),
    };
    write!(
        f,
        "{verb} {id} in {region}{copies} in {seconds:.0}s; manifest: {}",
        manifest.display()
    )
}

/// The lines of a `left` event: what is left, and the command that removes it.
fn left_lines(
    f: &mut fmt::Formatter<'_>,
    resources: &[LeftResource],
    sweep: &str,
    journal: &std::path::Path,
) -> fmt::Result {
    writeln!(
        f,
        "left behind (the journal {} stays open):",
        journal.display()
    )?;
    for r in resources {
        writeln!(f, "  {r}")?;
    }
    write!(f, "remove it with: {sweep}")
}

/// The line of a `history` event.
fn history_line(
    f: &mut fmt::Formatter<'_>,
    action: HistoryAction,
    parameter: &str,
    waits: usize,
    error: Option<&str>,
) -> fmt::Result {
    let error = error.unwrap_or_default();
    match action {
        HistoryAction::Read => write!(
            f,
            "wait history: {waits} waits from SSM parameter {parameter}"
        ),
        HistoryAction::NotFound => write!(
            f,
            "wait history: SSM parameter {parameter} does not exist yet: waits start cold, and it is created at the end"
        ),
        HistoryAction::Unreadable => write!(
            f,
            "wait history: SSM parameter {parameter} holds no history this version reads: waits start cold, and it is rewritten at the end"
        ),
        HistoryAction::ReadFailed => write!(
            f,
            "warning: wait history: cannot read SSM parameter {parameter}: {error}; waits start cold"
        ),
        HistoryAction::Created => write!(
            f,
            "wait history: created SSM parameter {parameter} ({waits} waits)"
        ),
        HistoryAction::Updated => write!(
            f,
            "wait history: saved {waits} waits to SSM parameter {parameter}"
        ),
        HistoryAction::Unchanged => write!(
            f,
            "wait history: SSM parameter {parameter} is current ({waits} waits; nothing new learned)"
        ),
        HistoryAction::SaveFailed => write!(
            f,
            "warning: wait history: cannot save SSM parameter {parameter}: {error} (the bake's result stands)"
        ),
    }
}

impl Said for BakeEvent {
    /// The bake's spinner follows its phases and steps.
    fn progress(&self) -> Option<Progress> {
        let message = match self {
            BakeEvent::Phase {
                state: State::Start,
                text,
                ..
            } => text.clone(),
            BakeEvent::Step(s) if s.state == State::Start => s.label(),
            _ => return None,
        };
        Some(Progress::Show {
            label: "bake".into(),
            message,
        })
    }
}
