//! Proof: validation and boot-test checks judged on their output.

use crate::aws::ssm::{CommandSpec, Invocation};
use crate::manifest::CheckResult;
use crate::plan::PlannedCheck;
use crate::script;

use super::{Bake, BakeError, BakeEvent, last_lines};

impl Bake<'_> {
    /// Runs checks and judges them; all must pass.
    pub(super) async fn run_checks(
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
            self.reporter.emit(BakeEvent::Check {
                phase,
                check: result.name.clone(),
                passed: result.passed,
                exit_code: result.exit_code,
                expected_exit: result.expected_exit,
                expected_stdout: result.expected_stdout.clone(),
                stdout: result.stdout.clone(),
                summary: format!(
                    "FAILED (exit {}, stdout {:?})",
                    result.exit_code,
                    last_lines(&result.stdout, 3)
                ),
            });
            results.push(result);
        }
        let failures: Vec<CheckResult> = results.iter().filter(|r| !r.passed).cloned().collect();
        if failures.is_empty() {
            Ok(results)
        } else {
            Err(BakeError::ChecksFailed { phase, failures })
        }
    }
}

/// Judges a check on what the command printed (our marker lines removed) and its exit code.
pub(super) fn judge(check: &PlannedCheck, inv: &Invocation) -> CheckResult {
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
