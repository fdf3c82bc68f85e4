//! Rendering steps and checks into the exact scripts sent with AWS-RunShellScript.
//!
//! Every script is bash, starts with `set -euo pipefail`, and prints one marker line
//! (`::amibake:: …`) before each action, so the bake's progress view and a reader of the
//! SSM output both see where a step is. Nothing here starts a unit synchronously: a unit
//! ordered after `cloud-final.service` would block until cloud-init finishes, and a step
//! may well run before that (`--no-block` everywhere).
//!
//! Here: the script types and `render_step`. By concept: `steps` (one script per step
//! kind), `agent` (the CodeDeploy agent's step, checks and hygiene, per line), `ordering` (ordering units after cloud-init without a cycle, and its checks),
//! `checks`, `hygiene`, `probe` (the update probe's script and the reader of its output), and `builder` (markers, quoting, files written atomically).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::recipe::model::path::printable;
use crate::recipe::model::{Action, Os, Step};
use crate::recipe::types::Duration;
use crate::secret::Masker;

mod agent;
mod builder;
mod checks;
mod hygiene;
mod ordering;
mod probe;
mod steps;

pub use agent::{COMMAND_PORT_OK, command_port_check, pin_check};
pub use builder::{PARENT_MODE, PARENT_OWNER};
pub use checks::render_check;
pub use hygiene::hygiene;
pub use ordering::{
    AGENT_DROP_IN, AGENT_DROP_IN_CONTENT, NO_CYCLE_OK, ORDERING_OK, no_cycle_check, ordering_after,
    ordering_check,
};
pub use probe::{PendingUpdate, ProbeReport, probe};
pub use steps::wait_for_boot;

use agent::codedeploy_agent;
use steps::{file, packages, shell, systemd_override};

/// The marker prefix printed before each action.
pub const MARKER: &str = "::amibake::";

/// A script as sent, and as shown (file contents replaced by their size and digest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Script {
    /// What SSM runs. May hold file contents and secrets: never print it.
    #[serde(skip)]
    pub text: String,
    /// What `plan` and logs show.
    pub display: String,
}

/// What one step sends to SSM.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StepCommand {
    /// AWS-RunShellScript with this script.
    Shell { script: Script },
    /// Another SSM document with these parameters.
    Document {
        document: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        document_version: Option<String>,
        parameters: BTreeMap<String, Vec<String>>,
    },
    /// Not a command: EC2 RebootInstances, wait for the SSM agent to ping again, then run
    /// `then` (the wait for the boot to finish: the agent pings long before that).
    Reboot { then: Script },
}

/// A step ready to run.
#[derive(Debug, Clone, Serialize)]
pub struct RenderedStep {
    pub name: String,
    pub kind: &'static str,
    pub timeout: Duration,
    pub retries: u32,
    pub command: StepCommand,
}

/// Renders one recipe step for the builder's OS. `secrets` decides the default mode of a
/// `file` step's content (`0600` when it holds a secret).
pub fn render_step(step: &Step, os: Os, secrets: &Masker) -> RenderedStep {
    let name = step.display_name();
    let command = match &step.action {
        Action::WaitCloudInit(_) => StepCommand::Shell {
            script: wait_for_boot(&name),
        },
        Action::Packages(p) => StepCommand::Shell {
            script: packages(&name, p, os),
        },
        Action::CodedeployAgent(a) => StepCommand::Shell {
            script: codedeploy_agent(&name, a, os),
        },
        Action::SystemdOverride(o) => StepCommand::Shell {
            script: systemd_override(&name, o),
        },
        Action::File(f) => StepCommand::Shell {
            script: file(&name, f, secrets),
        },
        Action::Shell(body) => StepCommand::Shell {
            script: shell(&name, body),
        },
        Action::SsmDocument(d) => StepCommand::Document {
            document: d.name.clone(),
            document_version: d.document_version.clone(),
            parameters: d
                .parameters
                .iter()
                .map(|(k, v)| (k.clone(), v.to_list()))
                .collect(),
        },
        Action::Reboot(_) => StepCommand::Reboot {
            then: wait_for_boot(&format!("{name}: wait for the boot to finish")),
        },
    };
    RenderedStep {
        name,
        kind: step.action.kind(),
        timeout: step.timeout(),
        retries: step.retries,
        command,
    }
}

/// A command's stdout without amibake's marker lines: checks are judged on what the
/// user's command printed, never on our own `::amibake::` lines (which repeat the check's
/// name and could otherwise satisfy `expect_stdout` by themselves).
pub fn strip_markers(stdout: &str) -> String {
    stdout
        .lines()
        .filter(|l| !l.starts_with(MARKER))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Quotes for bash: bare when safe, single quotes otherwise.
pub fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:@,+%".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// One visible line for a script header or marker: every control character escaped.
fn one_line(s: &str) -> String {
    printable(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_not_part_of_a_checks_output() {
        let out = "::amibake:: check cfn-signal available\n/opt/aws/bin/cfn-signal\n";
        assert_eq!(strip_markers(out), "/opt/aws/bin/cfn-signal\n");
        assert!(!strip_markers("::amibake:: check ordered\n").contains("ordered"));
    }

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(quote("plain-1.2"), "plain-1.2");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
    }
}
