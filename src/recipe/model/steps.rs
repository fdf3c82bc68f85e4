//! `steps:`: one step is one SSM command on the builder, of one kind, and how a step's
//! keys are read.
//!
//! A step is a mapping with exactly one key that names its kind (the body of each kind is
//! in `actions.rs`) plus the keys every step has: `name`, `timeout`, `retries`.
//! Like `source`, it has a hand-written deserializer, for the same reason (see
//! `source.rs`): a bad key is rejected while the key is read, and a bad value while
//! the value is read (by a small checked type), so each error points at its own node.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::actions::{
    CodedeployAgent, FileSpec, Packages, Reboot, SsmDocument, SystemdOverride, WaitCloudInit,
};
use crate::recipe::code_list;
use crate::recipe::types::{Duration, Timeout};

/// One provisioning step: one SSM command on the builder.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Shown in progress and errors; defaults to the step kind.
    pub name: Option<String>,
    /// Per-step limit; defaults to [`Action::default_timeout`].
    pub timeout: Option<Timeout>,
    /// How many times a failed step is run again.
    pub retries: u32,
    #[serde(flatten)]
    pub action: Action,
}

impl Step {
    /// The name shown to the user.
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| self.action.kind().to_string())
    }

    /// The effective timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
            .map(Duration::from)
            .unwrap_or_else(|| self.action.default_timeout())
    }
}

/// What a step does. The YAML key selects the kind.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    WaitCloudInit(WaitCloudInit),
    Packages(Packages),
    CodedeployAgent(CodedeployAgent),
    SystemdOverride(SystemdOverride),
    File(FileSpec),
    SsmDocument(SsmDocument),
    Reboot(Reboot),
    Shell(String),
}

/// The step kinds, in the order docs/recipe.md documents them.
pub const STEP_KINDS: [&str; 8] = [
    "wait_cloud_init",
    "packages",
    "codedeploy_agent",
    "systemd_override",
    "file",
    "ssm_document",
    "reboot",
    "shell",
];

impl Action {
    /// The YAML key of this kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::WaitCloudInit(_) => "wait_cloud_init",
            Action::Packages(_) => "packages",
            Action::CodedeployAgent(_) => "codedeploy_agent",
            Action::SystemdOverride(_) => "systemd_override",
            Action::File(_) => "file",
            Action::SsmDocument(_) => "ssm_document",
            Action::Reboot(_) => "reboot",
            Action::Shell(_) => "shell",
        }
    }

    /// Package upgrades and agent installs fetch from mirrors and take longest.
    pub fn default_timeout(&self) -> Duration {
        match self {
            Action::Packages(_) => Duration::from_secs(30 * 60),
            Action::WaitCloudInit(_) | Action::CodedeployAgent(_) | Action::SsmDocument(_) => {
                Duration::from_secs(15 * 60)
            }
            Action::Reboot(_) => Duration::from_secs(10 * 60),
            _ => Duration::from_secs(10 * 60),
        }
    }
}

/// Most times a failed step may be run again.
pub const MAX_RETRIES: u32 = 10;

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StepVisitor;
        impl<'de> Visitor<'de> for StepVisitor {
            type Value = Step;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(
                    f,
                    "a step: a map with one of {} (and optionally `name`, `timeout`, `retries`)",
                    code_list(STEP_KINDS)
                )
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Step, A::Error> {
                let mut name = None;
                let mut timeout = None;
                let mut retries = None;
                let mut action: Option<Action> = None;
                while let Some(key) = map.next_key_seed(StepKeySeed {
                    first: action.as_ref().map(Action::kind),
                })? {
                    match key {
                        StepKey::Name => name = Some(map.next_value::<String>()?),
                        StepKey::Timeout => timeout = Some(map.next_value::<Timeout>()?),
                        StepKey::Retries => retries = Some(map.next_value::<Retries>()?.0),
                        StepKey::Kind(kind) => action = Some(kind.read_body(&mut map)?),
                    }
                }
                let action = action.ok_or_else(|| {
                    de::Error::custom(format!(
                        "a step needs a kind: expected one of {}",
                        code_list(STEP_KINDS)
                    ))
                })?;
                Ok(Step {
                    name,
                    timeout,
                    retries: retries.unwrap_or(0),
                    action,
                })
            }
        }
        deserializer.deserialize_map(StepVisitor)
    }
}

/// A key of a step mapping.
enum StepKey {
    Name,
    Timeout,
    Retries,
    Kind(StepKind),
}

/// Reads one key of a step and rejects an unknown key or a second kind at the key.
struct StepKeySeed {
    /// The kind already read from this step, if any.
    first: Option<&'static str>,
}

impl<'de> DeserializeSeed<'de> for StepKeySeed {
    type Value = StepKey;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<StepKey, D::Error> {
        let key = String::deserialize(deserializer)?;
        match key.as_str() {
            "name" => return Ok(StepKey::Name),
            "timeout" => return Ok(StepKey::Timeout),
            "retries" => return Ok(StepKey::Retries),
            _ => {}
        }
        let Some(kind) = StepKind::from_key(&key) else {
            let mut expected: Vec<&str> = STEP_KINDS.to_vec();
            expected.extend(["name", "timeout", "retries"]);
            return Err(de::Error::custom(format!(
                "unknown step key `{key}`: expected one of {}",
                code_list(expected)
            )));
        };
        if let Some(first) = self.first {
            return Err(de::Error::custom(format!(
                "a step has two kinds, `{first}` and `{key}`: write them as two steps"
            )));
        }
        Ok(StepKey::Kind(kind))
    }
}

/// The step kinds as keys, before their bodies are read (the order of [`STEP_KINDS`]).
#[derive(Clone, Copy)]
enum StepKind {
    WaitCloudInit,
    Packages,
    CodedeployAgent,
    SystemdOverride,
    File,
    SsmDocument,
    Reboot,
    Shell,
}

impl StepKind {
    const ALL: [StepKind; 8] = [
        StepKind::WaitCloudInit,
        StepKind::Packages,
        StepKind::CodedeployAgent,
        StepKind::SystemdOverride,
        StepKind::File,
        StepKind::SsmDocument,
        StepKind::Reboot,
        StepKind::Shell,
    ];

    fn from_key(key: &str) -> Option<StepKind> {
        STEP_KINDS
            .iter()
            .position(|k| *k == key)
            .map(|i| StepKind::ALL[i])
    }

    /// Reads the value of this kind's key: the step's body. `wait_cloud_init` and
    /// `reboot` take no settings, so an empty value (`reboot:`) stands for `{}`.
    fn read_body<'de, A: MapAccess<'de>>(self, map: &mut A) -> Result<Action, A::Error> {
        Ok(match self {
            StepKind::WaitCloudInit => Action::WaitCloudInit(
                map.next_value::<Option<WaitCloudInit>>()?
                    .unwrap_or_default(),
            ),
            StepKind::Packages => Action::Packages(map.next_value()?),
            StepKind::CodedeployAgent => Action::CodedeployAgent(map.next_value()?),
            StepKind::SystemdOverride => Action::SystemdOverride(map.next_value()?),
            StepKind::File => Action::File(map.next_value()?),
            StepKind::SsmDocument => Action::SsmDocument(map.next_value()?),
            StepKind::Reboot => {
                Action::Reboot(map.next_value::<Option<Reboot>>()?.unwrap_or_default())
            }
            StepKind::Shell => Action::Shell(map.next_value::<Script>()?.0),
        })
    }
}

/// `retries:`, checked while the number is read so the error points at it.
struct Retries(u32);

impl<'de> Deserialize<'de> for Retries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let n = u32::deserialize(deserializer)?;
        if n > MAX_RETRIES {
            return Err(de::Error::custom(format!(
                "`retries: {n}` is too many: expected 0 to {MAX_RETRIES}"
            )));
        }
        Ok(Retries(n))
    }
}

/// `shell:`, checked while the script is read so the error points at it.
struct Script(String);

impl<'de> Deserialize<'de> for Script {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let script = String::deserialize(deserializer)?;
        if script.trim().is_empty() {
            return Err(de::Error::custom(
                "`shell` is empty: expected the commands to run",
            ));
        }
        Ok(Script(script))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The `line:col` and message of parsing `text` as steps.
    fn step_error(text: &str) -> (u64, u64, String) {
        let err = crate::recipe::yaml::from_str::<Vec<Step>>(Path::new("t.yaml"), text)
            .expect_err("should be rejected");
        (err.line.unwrap(), err.column.unwrap(), err.message)
    }

    #[test]
    fn step_mistakes_point_at_the_key_or_value_at_fault() {
        let (l, c, m) = step_error("- name: x\n  package: {}\n");
        assert_eq!((l, c), (2, 3), "{m}");
        assert!(m.contains("unknown step key `package`"), "{m}");
        let (l, c, m) = step_error("- name: x\n  reboot: {}\n  shell: ls\n");
        assert_eq!((l, c), (3, 3), "{m}");
        assert!(m.contains("two kinds, `reboot` and `shell`"), "{m}");
        let (l, c, m) = step_error("- reboot: {}\n  retries: 11\n");
        assert_eq!((l, c), (2, 12), "{m}");
        assert!(m.contains("too many"), "{m}");
        let (l, c, m) = step_error("- shell: \" \"\n");
        assert_eq!((l, c), (1, 10), "{m}");
        assert!(m.contains("`shell` is empty"), "{m}");
    }
}
