//! The body of each step kind: what follows `packages:`, `file:`, `ssm_document:`, ….
//!
//! Plain serde structs, one a kind, in the order of [`super::STEP_KINDS`]; which one a
//! step holds is decided in `steps.rs`. `shell:` has no struct: its body is the
//! script itself.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::path::{DropInName, EnvName, EnvValue, FilePath};
use crate::recipe::types::{
    AgentLine, AgentVersion, FileMode, FileOwner, LATEST_AGENT, PackageName, PackageUrl, UnitName,
};

/// `wait_cloud_init: {}` — wait until cloud-init is done, failing if it reported errors.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WaitCloudInit {}

/// `packages:` — upgrade and install with the OS's package manager.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Packages {
    /// Upgrade everything first (on AL2023 to the latest release).
    #[serde(default)]
    pub upgrade: bool,
    #[serde(default)]
    pub install: Vec<PackageName>,
    #[serde(default)]
    pub remove: Vec<PackageName>,
}

/// `codedeploy_agent:` — install exactly this agent version, from the regional bucket or
/// from `package_url`. The pin's line (see [`AgentLine`]) decides how.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(try_from = "AgentFields")]
pub struct CodedeployAgent {
    pub version: AgentVersion,
    /// Bake the systemd drop-in that orders the agent after cloud-final.
    pub start_after_cloud_init: bool,
    /// Where to get the agent package instead of the regional bucket's installer: an
    /// `https://`, `http://` or `file://` URL of the `.deb` or `.rpm` itself (a mirror, an
    /// S3 VPC endpoint, a private subnet's repository). Empty: the regional bucket.
    pub package_url: Option<PackageUrl>,
    /// 2.x only: turn on the agent's loopback command port (`enable_command_port`), so
    /// the boot test can ask the running agent itself whether it is alive. On by default
    /// for 2.x; a 1.x agent has no such port.
    pub command_port: bool,
}

impl CodedeployAgent {
    /// The agent line the pin is on.
    pub fn line(&self) -> AgentLine {
        self.version.line()
    }
}

/// `codedeploy_agent:` as written, before the settings that depend on the line are
/// checked and defaulted.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentFields {
    version: AgentVersion,
    #[serde(default)]
    start_after_cloud_init: bool,
    #[serde(default)]
    package_url: Option<PackageUrl>,
    #[serde(default)]
    command_port: Option<bool>,
}

impl TryFrom<AgentFields> for CodedeployAgent {
    type Error = String;
    fn try_from(f: AgentFields) -> Result<Self, String> {
        let line = f.version.line();
        if line == AgentLine::V1 && f.command_port == Some(true) {
            return Err(format!(
                "`command_port` is a 2.x agent setting, and version {} is on the 1.x line: \
                 pin a 2.x version (like `{LATEST_AGENT}`) or remove `command_port`",
                f.version
            ));
        }
        Ok(CodedeployAgent {
            command_port: f.command_port.unwrap_or(line == AgentLine::V2),
            version: f.version,
            start_after_cloud_init: f.start_after_cloud_init,
            package_url: f.package_url,
        })
    }
}

/// `systemd_override:` — a drop-in for any unit.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SystemdOverride {
    pub unit: UnitName,
    #[serde(default)]
    pub after: Vec<UnitName>,
    #[serde(default)]
    pub wants: Vec<UnitName>,
    #[serde(default)]
    pub wanted_by: Vec<UnitName>,
    #[serde(default)]
    pub environment: BTreeMap<EnvName, EnvValue>,
    /// The drop-in file name under `/etc/systemd/system/<unit>.d/`.
    #[serde(default = "default_drop_in")]
    pub drop_in: DropInName,
}

fn default_drop_in() -> DropInName {
    DropInName::try_from("50-amibake.conf".to_string()).expect("valid default")
}

/// `file:` — write a file atomically.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    pub path: FilePath,
    /// Never printed: plans and logs show its size and digest only.
    #[serde(skip_serializing)]
    pub content: String,
    /// None: `0644`, or `0600` when the content holds a secret.
    #[serde(default)]
    pub mode: Option<FileMode>,
    #[serde(default = "default_owner")]
    pub owner: FileOwner,
}

fn default_owner() -> FileOwner {
    FileOwner::try_from("root:root".to_string()).expect("valid default")
}

/// `ssm_document:` — run an SSM document other than AWS-RunShellScript.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SsmDocument {
    pub name: String,
    #[serde(default)]
    pub document_version: Option<String>,
    /// SSM parameters are lists of strings; a single string is accepted for one value.
    #[serde(default)]
    pub parameters: BTreeMap<String, ParamValue>,
}

/// An SSM document parameter value.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ParamValue {
    One(String),
    Many(Vec<String>),
}

impl ParamValue {
    /// The value as SSM wants it.
    pub fn to_list(&self) -> Vec<String> {
        match self {
            ParamValue::One(v) => vec![v.clone()],
            ParamValue::Many(v) => v.clone(),
        }
    }
}

/// `reboot: {}` — reboot the builder and wait for the SSM agent to come back.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Reboot {}
