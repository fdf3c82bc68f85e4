//! The typed recipe: what a rendered recipe file deserializes into.
//!
//! Every struct denies unknown keys, so a typo is an error with a location rather than a
//! silently ignored setting. Defaults live here, next to the field they belong to, and
//! the README's recipe reference documents the same values.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::types::{
    AbsPath, AccountId, AgentVersion, AmiId, AmiName, Command, Duration, FileMode, FileOwner,
    InstanceType, PackageName, PackageUrl, RecipeName, Region, SsmParameterName, UnitName,
};

/// A whole recipe after rendering.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    pub name: RecipeName,
    /// Already consumed by rendering; kept so the key is accepted and documented.
    #[serde(default, skip_serializing)]
    pub vars: BTreeMap<String, serde::de::IgnoredAny>,
    pub source: Source,
    pub builder: Builder,
    #[serde(deserialize_with = "non_empty_steps")]
    pub steps: Vec<Step>,
    #[serde(default)]
    pub validate: Vec<Check>,
    #[serde(default)]
    pub boot_test: Option<BootTest>,
    pub image: Image,
    /// Environments in promotion order, e.g. `[dev, staging, prod]`.
    #[serde(default)]
    pub promotion: Vec<RecipeName>,
}

/// Where the base image comes from: exactly one of three ways.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// An SSM parameter that holds an AMI id (AWS publishes the latest Amazon Linux and
    /// Ubuntu images this way), resolved with GetParameter at bake time.
    SsmParameter(SsmParameterName),
    /// A fixed AMI id.
    Ami(AmiId),
    /// The most recent image matching a DescribeImages filter.
    Filter(ImageFilter),
}

/// A DescribeImages query; the newest match (by creation date) wins.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ImageFilter {
    pub owners: Vec<String>,
    pub name: String,
    #[serde(default = "default_architecture")]
    pub architecture: String,
}

fn default_architecture() -> String {
    "x86_64".into()
}

/// The operating system family of the builder; selects the package manager and the
/// CodeDeploy agent package format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    #[default]
    Al2023,
    Al2,
    Ubuntu,
    Debian,
}

impl Os {
    /// Whether the family uses rpm packages (dnf/yum) rather than deb (apt).
    pub fn is_rpm(self) -> bool {
        matches!(self, Os::Al2023 | Os::Al2)
    }
}

impl fmt::Display for Os {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Os::Al2023 => "al2023",
            Os::Al2 => "al2",
            Os::Ubuntu => "ubuntu",
            Os::Debian => "debian",
        })
    }
}

/// The temporary instance the image is baked on.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Builder {
    #[serde(default)]
    pub os: Os,
    #[serde(default = "default_instance_type")]
    pub instance_type: InstanceType,
    /// Must grant AmazonSSMManagedInstanceCore, or the SSM agent never comes online.
    pub iam_instance_profile: String,
    #[serde(default)]
    pub subnet_id: Option<String>,
    /// When empty, bake creates a temporary security group with no inbound rule.
    #[serde(default)]
    pub security_group_ids: Vec<String>,
    #[serde(default = "default_volume_size")]
    pub volume_size_gb: u32,
    #[serde(default = "default_volume_type")]
    pub volume_type: String,
    /// KMS key for the builder's encrypted root volume; the account default when absent.
    #[serde(default)]
    pub kms_key_id: Option<String>,
    /// Needed in a public subnet without a NAT gateway or VPC endpoints for SSM.
    #[serde(default)]
    pub associate_public_ip_address: Option<bool>,
    /// How long the builder may take to start and register with SSM.
    #[serde(default = "default_ready_timeout")]
    pub ready_timeout: Duration,
}

fn default_instance_type() -> InstanceType {
    InstanceType::try_from("t3.small".to_string()).expect("valid default")
}
fn default_volume_size() -> u32 {
    16
}
fn default_volume_type() -> String {
    "gp3".into()
}
fn default_ready_timeout() -> Duration {
    Duration::from_secs(600)
}

/// One provisioning step: one SSM command on the builder.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Shown in progress and errors; defaults to the step kind.
    pub name: Option<String>,
    /// Per-step limit; defaults to [`Action::default_timeout`].
    pub timeout: Option<Duration>,
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

/// The step kinds, in the order the README documents them.
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

/// `wait_cloud_init: {}` — wait until cloud-init is done, failing if it reported errors.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WaitCloudInit {}

/// `reboot: {}` — reboot the builder and wait for the SSM agent to come back.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Reboot {}

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
/// from `package_url`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CodedeployAgent {
    pub version: AgentVersion,
    /// Bake the systemd drop-in that orders the agent after cloud-final.
    #[serde(default)]
    pub start_after_cloud_init: bool,
    /// Where to get the agent package instead of the regional bucket's installer: an
    /// `https://`, `http://` or `file://` URL of the `.deb` or `.rpm` itself (a mirror, an
    /// S3 VPC endpoint, a private subnet's repository). Empty: the regional bucket.
    #[serde(default)]
    pub package_url: Option<PackageUrl>,
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
    pub environment: BTreeMap<String, String>,
    /// The drop-in file name under `/etc/systemd/system/<unit>.d/`.
    #[serde(default = "default_drop_in")]
    pub drop_in: String,
}

fn default_drop_in() -> String {
    "50-amibake.conf".into()
}

/// `file:` — write a file atomically.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    pub path: AbsPath,
    /// Never printed: plans and logs show its size and digest only.
    #[serde(skip_serializing)]
    pub content: String,
    #[serde(default = "default_mode")]
    pub mode: FileMode,
    #[serde(default = "default_owner")]
    pub owner: FileOwner,
}

fn default_mode() -> FileMode {
    FileMode::try_from("0644".to_string()).expect("valid default")
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

/// A command run on an instance whose output is checked.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    pub name: String,
    pub run: Command,
    /// The check passes only if stdout contains this text.
    #[serde(default)]
    pub expect_stdout: Option<String>,
    #[serde(default)]
    pub expect_exit: i32,
    #[serde(default)]
    pub timeout: Option<Duration>,
}

/// A fresh instance from the new AMI, checked, then terminated.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BootTest {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub instance_type: Option<InstanceType>,
    #[serde(default)]
    pub checks: Vec<Check>,
}

fn yes() -> bool {
    true
}

/// The image to create and where it goes.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    pub name: AmiName,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default = "yes")]
    pub encrypted: bool,
    /// KMS key for the copies in other regions. The home-region image inherits the
    /// builder volume's key (`builder.kms_key_id`).
    #[serde(default)]
    pub kms_key_id: Option<String>,
    #[serde(default)]
    pub copy_to: Vec<Region>,
    #[serde(default)]
    pub share_with: ShareWith,
    /// Only an explicit `public: true` makes the AMI public.
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub deprecate_after: Option<Duration>,
    /// What the hygiene script cleans before the stop (everything by default).
    #[serde(default)]
    pub hygiene: Hygiene,
}

/// `image.hygiene`: each part of the last-command clean-up can be turned off.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Hygiene {
    /// Stop, disable-then-enable the CodeDeploy agent; remove its deployment root and state.
    pub codedeploy_agent: bool,
    /// `cloud-init clean --logs`, so cloud-init runs again on first boot.
    pub cloud_init: bool,
    /// Remove SSH host keys and every `authorized_keys`.
    pub ssh_keys: bool,
    /// Empty `/etc/machine-id`.
    pub machine_id: bool,
    /// Clear the package manager's caches and history.
    pub package_cache: bool,
    /// Remove shell histories.
    pub history: bool,
    /// Empty `/tmp` and `/var/tmp`.
    pub tmp: bool,
}

impl Default for Hygiene {
    fn default() -> Self {
        Hygiene {
            codedeploy_agent: true,
            cloud_init: true,
            ssh_keys: true,
            machine_id: true,
            package_cache: true,
            history: true,
            tmp: true,
        }
    }
}

/// Who may launch the image besides this account.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ShareWith {
    #[serde(default)]
    pub accounts: Vec<AccountId>,
    #[serde(default)]
    pub organizations: Vec<String>,
    #[serde(default)]
    pub organizational_units: Vec<String>,
}

impl ShareWith {
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
            && self.organizations.is_empty()
            && self.organizational_units.is_empty()
    }
}

fn non_empty_steps<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Step>, D::Error> {
    let steps = Vec::<Step>::deserialize(deserializer)?;
    if steps.is_empty() {
        return Err(de::Error::custom(
            "`steps` is empty: expected at least one step",
        ));
    }
    Ok(steps)
}

// --- Hand-written deserializers ---------------------------------------------------------
//
// `source` and each step are maps with exactly one "kind" key (plus, for steps, the common
// keys). serde's derived enums report such mistakes vaguely; these visitors name the keys
// that were expected and which ones clashed.
//
// Where an error is raised decides where it points: serde-saphyr gives an error that has no
// position of its own the position of the node being read when it was raised. So a bad key is
// rejected while the key itself is read (by a `DeserializeSeed` that knows the keys seen so
// far), and a bad value while the value is read (by a small checked type), never later in
// the visitor, where the only node at hand would be the whole mapping.

/// Reads one key of `source` and rejects an unknown key or a second kind at the key.
struct SourceKeySeed {
    /// The kind already read from this mapping, if any.
    first: Option<&'static str>,
}

/// The source kinds as keys, before their values are read.
#[derive(Clone, Copy)]
enum SourceKind {
    SsmParameter,
    Ami,
    Filter,
}

const SOURCE_KINDS: [&str; 3] = ["ssm_parameter", "ami", "filter"];

impl<'de> DeserializeSeed<'de> for SourceKeySeed {
    type Value = SourceKind;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        let key = String::deserialize(deserializer)?;
        let kind = match key.as_str() {
            "ssm_parameter" => SourceKind::SsmParameter,
            "ami" => SourceKind::Ami,
            "filter" => SourceKind::Filter,
            _ => return Err(de::Error::unknown_field(&key, &SOURCE_KINDS)),
        };
        if let Some(first) = self.first {
            return Err(de::Error::custom(format!(
                "`source` has both `{first}` and `{key}`: expected exactly one of `ssm_parameter`, `ami` or `filter`"
            )));
        }
        Ok(kind)
    }
}

impl<'de> Deserialize<'de> for Source {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SourceVisitor;
        impl<'de> Visitor<'de> for SourceVisitor {
            type Value = Source;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map with exactly one of `ssm_parameter`, `ami` or `filter`")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Source, A::Error> {
                let mut found: Option<Source> = None;
                while let Some(kind) = map.next_key_seed(SourceKeySeed {
                    first: found.as_ref().map(Source::kind),
                })? {
                    found = Some(match kind {
                        SourceKind::SsmParameter => Source::SsmParameter(map.next_value()?),
                        SourceKind::Ami => Source::Ami(map.next_value()?),
                        SourceKind::Filter => Source::Filter(map.next_value()?),
                    });
                }
                found.ok_or_else(|| {
                    de::Error::custom(
                        "`source` is empty: expected exactly one of `ssm_parameter`, `ami` or `filter`",
                    )
                })
            }
        }
        deserializer.deserialize_map(SourceVisitor)
    }
}

impl Source {
    /// The YAML key of this kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::SsmParameter(_) => "ssm_parameter",
            Source::Ami(_) => "ami",
            Source::Filter(_) => "filter",
        }
    }
}

/// A key of a step mapping.
enum StepKey {
    Name,
    Timeout,
    Retries,
    Kind(StepKind),
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
                expected
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
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

/// Most times a failed step may be run again.
pub const MAX_RETRIES: u32 = 10;

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

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StepVisitor;
        impl<'de> Visitor<'de> for StepVisitor {
            type Value = Step;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(
                    f,
                    "a step: a map with one of {} (and optionally `name`, `timeout`, `retries`)",
                    STEP_KINDS.map(|k| format!("`{k}`")).join(", ")
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
                    let kind = match key {
                        StepKey::Name => {
                            name = Some(map.next_value::<String>()?);
                            continue;
                        }
                        StepKey::Timeout => {
                            timeout = Some(map.next_value::<Duration>()?);
                            continue;
                        }
                        StepKey::Retries => {
                            retries = Some(map.next_value::<Retries>()?.0);
                            continue;
                        }
                        StepKey::Kind(kind) => kind,
                    };
                    action = Some(match kind {
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
                    });
                }
                let action = action.ok_or_else(|| {
                    de::Error::custom(format!(
                        "a step needs a kind: expected one of {}",
                        STEP_KINDS.map(|k| format!("`{k}`")).join(", ")
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The `line:col` and message of parsing `text` as steps.
    fn step_error(text: &str) -> (u64, u64, String) {
        let err = super::super::yaml::from_str::<Vec<Step>>(Path::new("t.yaml"), text)
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

    #[test]
    fn a_second_source_is_reported_at_its_key() {
        let err = super::super::yaml::from_str::<Source>(
            Path::new("t.yaml"),
            "ami: ami-12345678\nfilter: { owners: [a], name: b }\n",
        )
        .expect_err("two sources");
        assert_eq!((err.line, err.column), (Some(2), Some(1)), "{err}");
        assert!(err.message.contains("both `ami` and `filter`"), "{err}");
    }
}
