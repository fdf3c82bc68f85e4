//! The update probe for real (issue 22, point 5): a package from a local apt repository
//! (apt_repo.rs) baked into an image, and the probe's script (src/script/probe.rs) run
//! against that repository in the Debian root: nothing newer, a newer version in the
//! security suite, a newer version elsewhere.

use super::apt_repo::{AptRepo, DEMO, SECURITY_SUITE, SUITE};
use super::*;

use amibake::recipe::model::Os;
use amibake::script::ProbeReport;

/// The boot-test check of tests/realos/apt-demo.yaml: the version the image carries, from
/// the package's file and from dpkg's database.
fn baked_version(manifest: &Value) -> (String, String) {
    let stdout = check_stdout(manifest, "boot", "amibake-demo version");
    (field(&stdout, "file"), field(&stdout, "package"))
}

#[test]
#[ignore = "needs the emulator and the real-OS root: scripts/test.sh runs them (--include-ignored)"]
fn a_package_from_the_local_apt_repository_is_baked_in_for_real() {
    let region = "sa-east-1";
    real_os(region, "debian");
    let state = tempfile::tempdir().unwrap();
    let repo = AptRepo::serve(state.path());
    repo.publish(SUITE, &["1"]);
    let (out, evs) = bake(
        region,
        state.path(),
        "apt-demo.yaml",
        &[format!("repo_url={}", repo.url)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let manifest = manifest(state.path());
    assert_eq!(manifest["boot_test"]["passed"], true, "{manifest:#}");
    assert_eq!(baked_version(&manifest), ("1".into(), "1".into()));
    powered_off_without_cycles(&evs);
    rt().block_on(assert_nothing_left(&[region], &run_id(&evs), true));
}

/// The Debian root the real-OS backend boots (scripts/realos-rootfs.sh), or a one-line
/// failure saying how to build it.
fn debian_root() -> PathBuf {
    let out = std::process::Command::new("bash")
        .arg(repo("scripts/realos-rootfs.sh"))
        .arg("--path")
        .output()
        .expect("run scripts/realos-rootfs.sh --path");
    let root = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("debian");
    assert!(
        root.join("usr/bin/apt-get").exists(),
        "the real-OS root is missing ({}): build it with scripts/realos-rootfs.sh (root, debootstrap, systemd-nspawn)",
        root.display()
    );
    root
}

/// One container at a time on the shared root (nspawn locks the directory it runs).
static ROOT_IN_USE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs the probe's apt script in the Debian root (a throwaway overlay over it: nothing
/// it writes stays), after installing [`DEMO`] at version 1 from `repo`; its stdout.
fn probe_in_the_debian_root(repo: &AptRepo, work: &Path) -> String {
    let root = debian_root();
    let dir = work.join("in-container");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("setup.sh"),
        format!(
            "set -eu\n\
             echo '# the test repository only' >/etc/apt/sources.list\n\
             printf 'deb [trusted=yes] %s %s main\\n' '{url}' {SUITE} '{url}' {SECURITY_SUITE} \
             >/etc/apt/sources.list.d/amibake-local.list\n\
             export DEBIAN_FRONTEND=noninteractive\n\
             apt-get update -qq\n\
             apt-get install -y -qq {DEMO}=1\n\
             rm -rf /var/lib/apt/lists/*\n",
            url = repo.url
        ),
    )
    .unwrap();
    std::fs::write(dir.join("probe.sh"), probe_script()).unwrap();
    let _one = ROOT_IN_USE.lock().unwrap_or_else(|e| e.into_inner());
    let out = std::process::Command::new("systemd-nspawn")
        .args([
            "--quiet",
            "--register=no",
            "--keep-unit",
            "--volatile=overlay",
            "--pipe",
        ])
        .arg("-D")
        .arg(&root)
        .arg(format!("--bind-ro={}:/amibake", dir.display()))
        .args([
            "/bin/bash",
            "-c",
            "bash /amibake/setup.sh >&2 && bash /amibake/probe.sh",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("systemd-nspawn is needed to run the probe's script in the real-OS root");
    assert!(
        out.status.success(),
        "the probe in the root: {}",
        show(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The probe's script for Debian, as amibake sends it.
fn probe_script() -> String {
    amibake::script::probe(Os::Debian).text
}

#[test]
#[ignore = "needs the real-OS root: scripts/test.sh runs it (--include-ignored)"]
fn the_probe_script_finds_nothing_pending_when_nothing_newer_is_published() {
    let work = tempfile::tempdir().unwrap();
    let repo = AptRepo::serve(work.path());
    repo.publish(SUITE, &["1"]);
    let stdout = probe_in_the_debian_root(&repo, work.path());
    let report = ProbeReport::parse(&stdout);
    assert!(report.complete, "{stdout}");
    assert_eq!(report.totals(), (0, 0), "{stdout}");
    assert!(report.updates.is_empty(), "{stdout}");
}

#[test]
#[ignore = "needs the real-OS root: scripts/test.sh runs it (--include-ignored)"]
fn the_probe_script_names_a_newer_version_in_the_security_suite_as_a_security_update() {
    let work = tempfile::tempdir().unwrap();
    let repo = AptRepo::serve(work.path());
    repo.publish(SUITE, &["1"]);
    repo.publish(SECURITY_SUITE, &["2"]);
    let stdout = probe_in_the_debian_root(&repo, work.path());
    let report = ProbeReport::parse(&stdout);
    assert!(report.complete, "{stdout}");
    assert_eq!(report.totals(), (1, 1), "{stdout}");
    let update = &report.updates[0];
    assert_eq!(
        (
            update.package.as_str(),
            update.installed.as_str(),
            update.candidate.as_str()
        ),
        (DEMO, "1", "2"),
        "{stdout}"
    );
    assert!(update.security, "{stdout}");
}

#[test]
#[ignore = "needs the real-OS root: scripts/test.sh runs it (--include-ignored)"]
fn the_probe_script_names_a_newer_version_outside_the_security_suite_as_another_update() {
    let work = tempfile::tempdir().unwrap();
    let repo = AptRepo::serve(work.path());
    repo.publish(SUITE, &["1", "2"]);
    let stdout = probe_in_the_debian_root(&repo, work.path());
    let report = ProbeReport::parse(&stdout);
    assert!(report.complete, "{stdout}");
    assert_eq!(report.totals(), (1, 0), "{stdout}");
    let update = &report.updates[0];
    assert_eq!(
        (
            update.package.as_str(),
            update.installed.as_str(),
            update.candidate.as_str()
        ),
        (DEMO, "1", "2"),
        "{stdout}"
    );
    assert!(!update.security, "{stdout}");
}
