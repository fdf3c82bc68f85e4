//! Commands on the builder: the recipe's steps (with retries and the reboot step), amibake's own
//! scripts, and streaming their output as it arrives.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_smithy_types::DateTime;
use tokio::time::Instant;

use crate::aws::ec2;
use crate::aws::poll::{self, Schedule};
use crate::aws::ssm::{self, CommandSpec, Invocation};
use crate::manifest::StepResult;
use crate::script::{RenderedStep, StepCommand};

use super::{Bake, BakeError, BakeEvent, State, StepEvent, last_lines};
use crate::error::FromAws;

impl Bake<'_> {
    /// Runs one of the recipe's steps, retrying as it says.
    pub(super) async fn run_step(
        &self,
        builder: &str,
        index: usize,
        total: usize,
        step: &RenderedStep,
    ) -> Result<StepResult, BakeError> {
        let mut event = StepEvent {
            step: step.name.clone(),
            kind: step.kind,
            index,
            total,
            state: State::Start,
            seconds: None,
            attempts: None,
            exit_code: None,
        };
        let label = event.label();
        let started = Instant::now();
        self.reporter.emit(BakeEvent::Step(event.clone()));
        let mut attempts = 0;
        let (exit_code, command_id) = loop {
            attempts += 1;
            match self.attempt(builder, &label, step).await? {
                (inv, id) if inv.succeeded() => break (inv.response_code, Some(id)),
                (inv, _) if attempts <= step.retries => {
                    self.reporter.say(&format!(
                        "{label}: {} with exit code {}; retrying ({attempts}/{})",
                        inv.status, inv.response_code, step.retries
                    ));
                }
                (inv, _) => {
                    return Err(BakeError::StepFailed {
                        step: step.name.clone(),
                        status: inv.status.clone(),
                        exit_code: inv.response_code,
                        stderr_tail: last_lines(&inv.stderr, 10),
                    });
                }
            }
        };
        let seconds = started.elapsed().as_secs_f64();
        event.state = State::Done;
        event.seconds = Some(seconds);
        event.attempts = Some(attempts);
        event.exit_code = Some(exit_code);
        self.reporter.emit(BakeEvent::Step(event));
        Ok(StepResult {
            name: step.name.clone(),
            kind: step.kind.to_string(),
            seconds,
            attempts,
            exit_code,
            command_id,
        })
    }

    /// One attempt at a step: a reboot step reboots first and runs its wait for the boot
    /// once the agent is back.
    async fn attempt(
        &self,
        builder: &str,
        label: &str,
        step: &RenderedStep,
    ) -> Result<(Invocation, String), BakeError> {
        if let StepCommand::Reboot { .. } = &step.command {
            self.reboot(builder, step.timeout.get()).await?;
        }
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
        self.run_command(builder, label, &spec, step.timeout.get(), true)
            .await
    }

    /// Runs one of amibake's own scripts (hygiene, the boot test's cloud-init wait); its
    /// failure fails the bake like a failed step.
    pub(super) async fn run_script(
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
    pub(super) async fn run_command(
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
        let key = super::history::command_key(self.region(), &self.plan.recipe, label);
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

    pub(super) fn stream_output(
        &self,
        label: &str,
        inv: &Invocation,
        shown: &Mutex<(usize, usize)>,
    ) {
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
            self.reporter.emit(BakeEvent::Output {
                step: label.to_string(),
                stream,
                text: chunk.to_string(),
            });
        }
    }

    /// Reboots the builder and waits until the agent pings again *after* the reboot.
    pub(super) async fn reboot(&self, instance: &str, timeout: Duration) -> Result<(), BakeError> {
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
}
