//! Names the commit in `amibake --version`: `amibake 0.1.0 (1a2b3c4d5 2026-12-05)`.
//!
//! Built from a git checkout, the version carries the short commit and its commit date;
//! built from a tarball without `.git` (or without git installed), it is the plain
//! `0.1.0`. The build reruns only when HEAD moves (a checkout, or a commit on the branch
//! it names), not on every source change.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let version = env!("CARGO_PKG_VERSION");
    let full = match commit() {
        Some((hash, date)) => format!("{version} ({hash} {date})"),
        None => version.to_string(),
    };
    println!("cargo:rustc-env=AMIBAKE_VERSION={full}");
    for path in watched() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// The short hash and commit date (YYYY-MM-DD) of HEAD, when this crate is the top of a
/// git checkout (a crate unpacked inside some other repository must not take its commit).
fn commit() -> Option<(String, String)> {
    let top = PathBuf::from(git(&["rev-parse", "--show-toplevel"])?);
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if top.canonicalize().ok()? != here.canonicalize().ok()? {
        return None;
    }
    let out = git(&["log", "-1", "--no-show-signature", "--format=%h %cs"])?;
    let (hash, date) = out.split_once(' ')?;
    Some((hash.to_string(), date.to_string()))
}

/// The files whose change means HEAD moved: HEAD itself, the loose ref it points at, and
/// packed-refs (where the ref lives after `git pack-refs`). Only files that exist: Cargo
/// reruns the build script on every build for a path that does not.
fn watched() -> Vec<PathBuf> {
    if commit().is_none() {
        return Vec::new();
    }
    let mut names = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
        names.push(reference);
    }
    names
        .iter()
        .filter_map(|name| git(&["rev-parse", "--path-format=absolute", "--git-path", name]))
        .map(PathBuf::from)
        .filter(|path| path.exists())
        .collect()
}

/// Runs git in the crate's directory; `None` when git is missing or this is no checkout.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}
