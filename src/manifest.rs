//! The manifest a bake writes: what was built, from what, how long it took, and what was
//! proven about it. `roll`, `promote` and `prune` read it back.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The manifest (JSON). Secrets never appear: every string is masked before writing.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Manifest {
    pub tool: Tool,
    pub recipe: String,
    pub recipe_file: String,
    pub run_id: String,
    pub region: String,
    pub input_hash: String,
    pub source_ami: SourceAmi,
    pub amis: Vec<AmiEntry>,
    pub started_at: String,
    pub finished_at: String,
    pub duration_seconds: f64,
    pub phases: Vec<Timing>,
    pub steps: Vec<StepResult>,
    pub validation: Vec<CheckResult>,
    #[serde(default)]
    pub boot_test: Option<BootTestResult>,
    /// Set by `bake --if-changed` when an image with the same input hash already existed:
    /// the run id that baked it. Nothing was launched then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused_from_run: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

impl Tool {
    pub fn current() -> Tool {
        Tool {
            name: "amibake".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// The base image and how it was found.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SourceAmi {
    pub id: String,
    pub name: String,
    /// e.g. `ssm_parameter /aws/service/…`, `ami`, `filter al2023-ami-*`.
    pub resolved_from: String,
}

/// One AMI in one region.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmiEntry {
    pub region: String,
    pub ami_id: String,
    pub name: String,
    pub snapshot_ids: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Timing {
    pub name: String,
    pub seconds: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StepResult {
    pub name: String,
    pub kind: String,
    pub seconds: f64,
    pub attempts: u32,
    pub exit_code: i32,
    #[serde(default)]
    pub command_id: Option<String>,
}

/// A check's outcome with what was observed, so a reader can judge it too.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CheckResult {
    pub name: String,
    pub passed: bool,
    pub expected_exit: i32,
    pub exit_code: i32,
    #[serde(default)]
    pub expected_stdout: Option<String>,
    /// The stdout the verdict was based on (marker lines removed), trimmed to 2 KB.
    pub stdout: String,
    /// The last lines of its stderr (why a check failed), trimmed to 2 KB.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stderr: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BootTestResult {
    pub instance_id: String,
    pub passed: bool,
    pub checks: Vec<CheckResult>,
}

impl Manifest {
    /// Writes the manifest atomically (temp file, then rename).
    pub async fn write(&self, path: &Path, masker: &crate::secret::Masker) -> std::io::Result<()> {
        let mut value = serde_json::to_value(self).map_err(std::io::Error::other)?;
        masker.mask_json(&mut value);
        let text = serde_json::to_string_pretty(&value).map_err(std::io::Error::other)? + "\n";
        let tmp = path.with_extension("json.tmp");
        tokio::fs::write(&tmp, text).await?;
        tokio::fs::rename(&tmp, path).await
    }

    /// Reads a manifest.
    pub async fn read(path: &Path) -> std::io::Result<Manifest> {
        let text = tokio::fs::read_to_string(path).await?;
        serde_json::from_str(&text).map_err(std::io::Error::other)
    }
}
