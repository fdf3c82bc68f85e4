//! Running the amibake binary as a user would, for the tests of the offline commands.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_amibake");
pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");
pub const AL2023: &str = "recipes/al2023-tomcat-codedeploy.yaml";
pub const UBUNTU: &str = "recipes/ubuntu-2404-codedeploy.yaml";

/// Runs amibake in the package root, without any `AMIBAKE_VAR_*` of the caller's
/// environment (they would change var values).
pub fn amibake<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    command(args).output().expect("amibake runs")
}

/// The command [`amibake`] runs, for a test to add to.
pub fn command<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(BIN);
    cmd.current_dir(ROOT).args(args);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("AMIBAKE_VAR_") {
            cmd.env_remove(&key);
        }
    }
    cmd
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A command's outcome, for assertion messages.
pub fn show(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    )
}

/// Asserts that the command ended with exit `code`; the failure shows what it printed.
pub fn expect_exit(out: &Output, code: i32) {
    assert_eq!(out.status.code(), Some(code), "{}", show(out));
}

/// The `validate` event of a `validate --json` run of one recipe: its only line, or for a
/// bad recipe (exit 2) its first, before the run's `error` event.
pub fn validate_event(out: &Output) -> serde_json::Value {
    let lines: Vec<serde_json::Value> = stdout(out)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let kinds: Vec<&str> = lines.iter().filter_map(|e| e["event"].as_str()).collect();
    let expected: &[&str] = if out.status.success() {
        &["validate"]
    } else {
        &["validate", "error"]
    };
    assert_eq!(kinds, expected, "{}", show(out));
    lines[0].clone()
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write temp file");
    path
}
