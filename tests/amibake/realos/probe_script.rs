//! The update probe's script (src/script/probe.rs), run for real in the real-OS backend's
//! Debian root (systemd-nspawn over a throwaway overlay; no boot, no emulator):
//!
//! - apt, against the local repository of apt_repo.rs with amibake-demo 1 installed:
//!   nothing newer published, version 2 in the security suite, version 2 in the ordinary
//!   suite; what it prints is read by amibake's own reader (`ProbeReport`);
//! - dnf (AL2023) and yum (AL2), as far as a Debian root allows: the script's own shell,
//!   awk, sed and grep run for real, while `dnf`/`yum` and `rpm` are stand-ins that print
//!   recorded output of the real tools (an advisory list, check-update's table with its
//!   exit code 100, check-release-update's notice). That the script is shellcheck-clean
//!   on every family is tests/amibake/cli/shellcheck.rs.

use super::apt_repo::{AptRepo, DEMO, SECURITY_SUITE, SUITE};
use super::*;

use amibake::recipe::model::Os;
use amibake::script::ProbeReport;

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

/// Runs `command` (bash) in the Debian root, over a throwaway overlay (nothing it writes
/// stays), with `dir` read-only at /amibake and the host's network.
fn in_the_debian_root(dir: &Path, command: &str) -> std::process::Output {
    let root = debian_root();
    let _one = ROOT_IN_USE.lock().unwrap_or_else(|e| e.into_inner());
    std::process::Command::new("systemd-nspawn")
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
        .args(["/bin/bash", "-c", command])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("systemd-nspawn is needed to run the probe's script in the real-OS root")
}

/// The probe's apt script, run after installing [`DEMO`] at version 1 from `repo` (its
/// lists removed again, as the image's hygiene does); its stdout.
fn apt_probe(repo: &AptRepo, work: &Path) -> String {
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
    std::fs::write(
        dir.join("probe.sh"),
        amibake::script::probe(Os::Debian).text,
    )
    .unwrap();
    let out = in_the_debian_root(&dir, "bash /amibake/setup.sh >&2 && bash /amibake/probe.sh");
    assert!(out.status.success(), "the apt probe: {}", show(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "needs the real-OS root: scripts/test.sh runs it (--include-ignored)"]
fn the_probe_script_finds_nothing_pending_when_nothing_newer_is_published() {
    let work = tempfile::tempdir().unwrap();
    let repo = AptRepo::serve(work.path());
    repo.publish(SUITE, &["1"]);
    let stdout = apt_probe(&repo, work.path());
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
    assert_demo_1_to_2(&apt_probe(&repo, work.path()), true);
}

#[test]
#[ignore = "needs the real-OS root: scripts/test.sh runs it (--include-ignored)"]
fn the_probe_script_names_a_newer_version_outside_the_security_suite_as_another_update() {
    let work = tempfile::tempdir().unwrap();
    let repo = AptRepo::serve(work.path());
    repo.publish(SUITE, &["1", "2"]);
    assert_demo_1_to_2(&apt_probe(&repo, work.path()), false);
}

/// Stand-ins for `dnf` (and `yum`, the same) and `rpm` that print what the real tools
/// print for the calls the probe makes (recorded shapes on AL2023 and AL2), and fail on
/// any other call. `check-update` exits with `check_update_rc` (100: updates pending).
/// A name wider than its column goes on a line of its own, its version and repository
/// on the next (dnf's and yum's `fmtColumns` wrap it so, a terminal or not).
fn rpm_stand_ins(dir: &Path, check_update_rc: u8) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let package_manager = format!(
        r#"#!/bin/bash
# A stand-in: the recorded output of the calls the update probe makes.
case "$*" in
  "-q makecache") ;;
  "-q updateinfo list --updates --security" | "-q updateinfo list security")
    printf '%s\n' \
      'ALAS2023-2024-676 Important/Sec. openssl-libs-1:3.0.8-1.amzn2023.0.12.x86_64' \
      'ALAS2023-2024-676 Important/Sec. openssl-1:3.0.8-1.amzn2023.0.12.x86_64' \
      'ALAS2023-2024-702 Medium/Sec.    libcurl-minimal-8.5.0-1.amzn2023.0.4.x86_64' \
      'ALAS2023-2024-711 Important/Sec. python3-a-name-wider-than-its-column-1.2-3.amzn2023.noarch' ;;
  "-q check-update")
    printf '%s\n' '' \
      'libcurl-minimal.x86_64              8.5.0-1.amzn2023.0.4            amazonlinux' \
      'openssl.x86_64                      1:3.0.8-1.amzn2023.0.12         amazonlinux' \
      'openssl-libs.x86_64                 1:3.0.8-1.amzn2023.0.12         amazonlinux' \
      'python3-a-name-wider-than-its-column.noarch' \
      '                                    1.2-3.amzn2023                  amazonlinux' \
      'vim-minimal.x86_64                  2:9.1.083-1.amzn2023.0.1        amazonlinux' \
      'Obsoleting Packages' \
      'kernel-modules-extra.x86_64         6.1.112-122.189.amzn2023        amazonlinux' \
      '    kernel-modules-extra.x86_64     6.1.109-118.189.amzn2023        @System'
    exit {check_update_rc} ;;
  "check-release-update")
    printf '%s\n' 'WARNING:' '  A newer release of "Amazon Linux" is available.' '' \
      '  Available Versions:' '' '  Version 2023.6.20241010:' \
      '    Run the following command to upgrade to 2023.6.20241010:' '' \
      '      dnf upgrade --releasever=2023.6.20241010' '' >&2 ;;
  *) echo "package-manager stand-in: unexpected call: $*" >&2; exit 99 ;;
esac
"#
    );
    let rpm = r#"#!/bin/bash
# A stand-in for `rpm -q --qf FORMAT NAME` over a small database.
[ "$1" = -q ] && [ "$2" = --qf ] || { echo "rpm stand-in: unexpected call: $*" >&2; exit 99; }
case "$4" in
  system-release) v=2023.5.20240624 r=1.amzn2023 ;;
  libcurl-minimal) v=8.3.0 r=1.amzn2023.0.2 ;;
  openssl|openssl-libs) v=3.0.8 r=1.amzn2023.0.11 ;;
  vim-minimal) v=9.0.2153 r=1.amzn2023 ;;
  python3-a-name-wider-than-its-column) v=1.2 r=2.amzn2023 ;;
  *) echo "package $4 is not installed"; exit 1 ;;
esac
case "$3" in
  '%{VERSION}') printf '%s' "$v" ;;
  '%{VERSION}-%{RELEASE}\n') printf '%s-%s\n' "$v" "$r" ;;
  *) echo "rpm stand-in: unexpected format: $3" >&2; exit 99 ;;
esac
"#;
    for (name, text) in [
        ("dnf", package_manager.as_str()),
        ("yum", &package_manager),
        ("rpm", rpm),
    ] {
        std::fs::write(bin.join(name), text).unwrap();
        std::fs::set_permissions(
            bin.join(name),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
    }
}

/// The probe's script for `os` run in the Debian root with the stand-ins first on PATH.
fn rpm_probe(os: Os, work: &Path, check_update_rc: u8) -> std::process::Output {
    let dir = work.join(format!("{os:?}"));
    rpm_stand_ins(&dir, check_update_rc);
    std::fs::write(dir.join("probe.sh"), amibake::script::probe(os).text).unwrap();
    in_the_debian_root(&dir, "PATH=/amibake/bin:$PATH bash /amibake/probe.sh")
}

/// (package, installed, candidate, security, release) of each update read.
fn rows(report: &ProbeReport) -> Vec<(&str, &str, &str, bool, bool)> {
    report
        .updates
        .iter()
        .map(|u| {
            (
                u.package.as_str(),
                u.installed.as_str(),
                u.candidate.as_str(),
                u.security,
                u.release,
            )
        })
        .collect()
}

#[test]
#[ignore = "needs the real-OS root: scripts/test.sh runs it (--include-ignored)"]
fn the_probe_scripts_dnf_branch_reads_advisories_pending_updates_and_a_newer_al2023_release() {
    let work = tempfile::tempdir().unwrap();
    let out = rpm_probe(Os::Al2023, work.path(), 100);
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = ProbeReport::parse(&stdout);
    assert!(report.complete, "{stdout}");
    assert_eq!(report.totals(), (6, 5), "{stdout}");
    let mut rows = rows(&report);
    rows.sort();
    assert_eq!(
        rows,
        [
            (
                "libcurl-minimal",
                "8.3.0-1.amzn2023.0.2",
                "8.5.0-1.amzn2023.0.4",
                true,
                false
            ),
            (
                "openssl",
                "3.0.8-1.amzn2023.0.11",
                "1:3.0.8-1.amzn2023.0.12",
                true,
                false
            ),
            (
                "openssl-libs",
                "3.0.8-1.amzn2023.0.11",
                "1:3.0.8-1.amzn2023.0.12",
                true,
                false
            ),
            (
                "python3-a-name-wider-than-its-column",
                "1.2-2.amzn2023",
                "1.2-3.amzn2023",
                true,
                false
            ),
            (
                "system-release",
                "2023.5.20240624",
                "2023.6.20241010",
                true,
                true
            ),
            (
                "vim-minimal",
                "9.0.2153-1.amzn2023",
                "2:9.1.083-1.amzn2023.0.1",
                false,
                false
            ),
        ],
        "{stdout}"
    );
}

#[test]
#[ignore = "needs the real-OS root: scripts/test.sh runs it (--include-ignored)"]
fn the_probe_scripts_yum_branch_reads_al2_without_a_release_check() {
    let work = tempfile::tempdir().unwrap();
    let out = rpm_probe(Os::Al2, work.path(), 100);
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = ProbeReport::parse(&stdout);
    assert!(report.complete, "{stdout}");
    assert_eq!(report.totals(), (5, 4), "{stdout}");
    assert!(report.updates.iter().all(|u| !u.release), "{stdout}");
}

#[test]
#[ignore = "needs the real-OS root: scripts/test.sh runs it (--include-ignored)"]
fn the_probe_scripts_dnf_branch_fails_when_check_update_fails() {
    let work = tempfile::tempdir().unwrap();
    let out = rpm_probe(Os::Al2023, work.path(), 1);
    assert!(!out.status.success(), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("dnf check-update failed with exit code 1"),
        "{stderr}"
    );
    let report = ProbeReport::parse(&String::from_utf8_lossy(&out.stdout));
    assert!(!report.complete, "no end line: the list is not whole");
}

/// The probe's output names one update, amibake-demo 1 → 2, a security one or not.
fn assert_demo_1_to_2(stdout: &str, security: bool) {
    let report = ProbeReport::parse(stdout);
    assert!(report.complete, "{stdout}");
    assert_eq!(report.totals(), (1, u64::from(security)), "{stdout}");
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
    assert_eq!(update.security, security, "{stdout}");
}
