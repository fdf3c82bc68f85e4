//! The manifest a bake writes: what was built, from what, how long it took, and what was
//! proven about it. `roll`, `promote` and `prune` read it back.
//!
//! Written alongside amibake's own keys: Packer's manifest post-processor shape
//! (`builds`, `last_run_uuid`), so that a pipeline switching from Packer reads the same
//! file unchanged (`jq -r '.builds[-1].artifact_id'` → `us-east-1:ami-…,us-west-2:ami-…`).

use std::path::{Path, PathBuf};

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
    /// `image.scan`: what Inspector's scan of the image found (counts by severity, the
    /// highest, the scan's date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan: Option<crate::scan::ScanSummary>,
    /// `bake --if-changed`: why it rebuilt or not, and the pending updates it picked up
    /// (or found not worth a rebuild).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebuild: Option<crate::rebuild::Decision>,
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
        if let (serde_json::Value::Object(map), serde_json::Value::Object(packer)) =
            (&mut value, self.packer())
        {
            map.extend(packer);
        }
        masker.mask_json(&mut value);
        let text = serde_json::to_string_pretty(&value).map_err(std::io::Error::other)? + "\n";
        write_atomically(path, text.into_bytes()).await
    }

    /// Packer's manifest post-processor shape of this bake: one build of builder type
    /// `amazon-ebs` whose `artifact_id` lists `region:ami` of every image, home first, and
    /// whose `packer_run_uuid` (derived from the run id, so a rewrite keeps it) is the
    /// `last_run_uuid`. `custom_data` carries what amibake adds.
    pub fn packer(&self) -> serde_json::Value {
        let uuid = run_uuid(&self.run_id);
        let artifact_id: Vec<String> = self
            .amis
            .iter()
            .map(|a| format!("{}:{}", a.region, a.ami_id))
            .collect();
        let build_time = time::OffsetDateTime::parse(
            &self.finished_at,
            &time::format_description::well_known::Rfc3339,
        )
        .map_or(0, |t| t.unix_timestamp());
        serde_json::json!({
            "builds": [{
                "name": self.recipe,
                "builder_type": "amazon-ebs",
                "build_time": build_time,
                "files": null,
                "artifact_id": artifact_id.join(","),
                "packer_run_uuid": uuid,
                "custom_data": {
                    "tool": format!("{} {}", self.tool.name, self.tool.version),
                    "recipe": self.recipe,
                    "run_id": self.run_id,
                    "input_hash": self.input_hash,
                    "source_ami": self.source_ami.id,
                },
            }],
            "last_run_uuid": uuid,
        })
    }

    /// Reads a manifest.
    pub async fn read(path: &Path) -> std::io::Result<Manifest> {
        let text = tokio::fs::read_to_string(path).await?;
        serde_json::from_str(&text).map_err(std::io::Error::other)
    }
}

/// A UUID (version 4 layout) derived from the run id: Packer's `packer_run_uuid` shape,
/// the same each time this run's manifest is written.
fn run_uuid(run_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(run_id.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Writes `bytes` to `path` so that a reader (or a crash) sees the old file or the whole
/// new one, never part of it, and the new one survives a power cut once this returns: a
/// temporary file in the same directory, written and fsynced, renamed over `path`, then
/// the directory fsynced (the rename itself is durable only then).
pub async fn write_atomically(path: &Path, bytes: Vec<u8>) -> std::io::Result<()> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || write_atomically_blocking(&path, &bytes))
        .await
        .map_err(std::io::Error::other)?
}

fn write_atomically_blocking(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = directory_of(path);
    let tmp = temp_path(path);
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    // Directories cannot be opened for syncing everywhere (Windows): best effort there.
    if let Ok(d) = std::fs::File::open(&dir) {
        d.sync_all()
            .or_else(|e| if cfg!(unix) { Err(e) } else { Ok(()) })?;
    }
    Ok(())
}

/// The directory a file at `path` lives in (`.` for a bare file name).
fn directory_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A temporary name beside `path`, unique to this process and call.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "manifest".into());
    directory_of(path).join(format!(
        ".{name}.{}.{:08x}.tmp",
        std::process::id(),
        fastrand::u32(..)
    ))
}

/// Checks, before a bake creates anything, that its manifest can be written at `path`:
/// the directory exists and a file can be created (and removed) in it, and `path` is not
/// a directory. The error is the one line to print.
pub async fn check_writable(path: &Path) -> Result<(), String> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || check_writable_blocking(&path))
        .await
        .map_err(|e| e.to_string())?
}

fn check_writable_blocking(path: &Path) -> Result<(), String> {
    let dir = directory_of(path);
    let shown = path.display();
    let fix = "create the directory or pass --manifest with a path in a writable one";
    match std::fs::metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(format!(
                "cannot write the manifest {shown}: {} is not a directory ({fix})",
                dir.display()
            ));
        }
        Err(e) => {
            return Err(format!(
                "cannot write the manifest {shown}: directory {}: {e} ({fix})",
                dir.display()
            ));
        }
    }
    if path.is_dir() {
        return Err(format!(
            "cannot write the manifest {shown}: it is a directory (pass --manifest with a file name)"
        ));
    }
    let probe = temp_path(path);
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe);
    match created {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(format!(
            "cannot write the manifest {shown}: cannot create a file in {}: {e} ({fix})",
            dir.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_manifest_is_replaced_whole_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json");
        std::fs::write(&path, "old").unwrap();
        write_atomically(&path, b"new".to_vec()).await.unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["m.json"]);
    }

    /// A reader racing the writer sees the old manifest or the new one, whole, every time:
    /// measured by a thread reading while two large manifests replace each other.
    #[test]
    fn a_reader_during_rewrites_sees_one_whole_manifest_never_part_of_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json");
        let (a, b) = (vec![b'a'; 1 << 20], vec![b'b'; (1 << 20) + 7]);
        write_atomically_blocking(&path, &a).unwrap();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (path, done) = (path.clone(), done.clone());
            let (a, b) = (a.clone(), b.clone());
            std::thread::spawn(move || {
                let mut reads = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let seen = std::fs::read(&path).unwrap();
                    assert!(
                        seen == a || seen == b,
                        "read {reads}: a torn manifest of {} bytes",
                        seen.len()
                    );
                    reads += 1;
                }
                reads
            })
        };
        for n in 0..100 {
            write_atomically_blocking(&path, if n % 2 == 0 { &b } else { &a }).unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let reads = reader.join().expect("every read saw a whole manifest");
        assert!(reads > 0, "the reader raced the writes");
    }

    #[tokio::test]
    async fn a_manifest_path_is_checked_before_the_bake() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(check_writable(&dir.path().join("m.json")).await, Ok(()));
        let missing = dir.path().join("nope/m.json");
        let err = check_writable(&missing).await.unwrap_err();
        assert!(
            err.contains("nope") && err.contains("create the directory"),
            "{err}"
        );
        let err = check_writable(dir.path()).await.unwrap_err();
        assert!(err.contains("is a directory"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    use super::*;

    fn baked() -> Manifest {
        Manifest {
            tool: Tool::current(),
            recipe: "web".into(),
            run_id: "20261202-080000-abcdef".into(),
            region: "us-east-1".into(),
            input_hash: "h".into(),
            finished_at: "2026-12-02T08:00:30Z".into(),
            amis: vec![
                AmiEntry {
                    region: "us-east-1".into(),
                    ami_id: "ami-0aaaaaaaaaaaaaaaa".into(),
                    ..AmiEntry::default()
                },
                AmiEntry {
                    region: "us-west-2".into(),
                    ami_id: "ami-0bbbbbbbbbbbbbbbb".into(),
                    ..AmiEntry::default()
                },
            ],
            ..Manifest::default()
        }
    }

    /// What Packer's docs tell a pipeline to do with its manifest:
    /// `jq -r '.builds[-1].artifact_id' packer-manifest.json | cut -d ":" -f2`, and the
    /// build of the last run: `.builds[] | select(.packer_run_uuid == "<last_run_uuid>")`.
    #[tokio::test]
    async fn the_written_manifest_reads_as_packers_does() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        baked()
            .write(&path, &crate::secret::Masker::default())
            .await
            .unwrap();
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();

        let last = doc["builds"].as_array().unwrap().last().unwrap();
        let artifact_id = last["artifact_id"].as_str().unwrap();
        assert_eq!(
            artifact_id,
            "us-east-1:ami-0aaaaaaaaaaaaaaaa,us-west-2:ami-0bbbbbbbbbbbbbbbb"
        );
        // `cut -d ":" -f2` of a one-region build is the AMI; per region, split on ",".
        let by_region: Vec<(&str, &str)> = artifact_id
            .split(',')
            .map(|p| p.split_once(':').unwrap())
            .collect();
        assert_eq!(by_region[1], ("us-west-2", "ami-0bbbbbbbbbbbbbbbb"));
        let uuid = doc["last_run_uuid"].as_str().unwrap();
        let this_run: Vec<&serde_json::Value> = doc["builds"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["packer_run_uuid"] == uuid)
            .collect();
        assert_eq!(this_run.len(), 1);
        assert_eq!(this_run[0]["builder_type"], "amazon-ebs");
        assert_eq!(this_run[0]["build_time"], 1_796_198_430);
        assert_eq!(
            this_run[0]["custom_data"]["run_id"],
            "20261202-080000-abcdef"
        );
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4", "a version-4 layout: {uuid}");

        // amibake's own reader still reads it.
        let read = Manifest::read(&path).await.unwrap();
        assert_eq!(read.amis, baked().amis);
    }
}
