//! One script per step kind, exactly as `plan` shows it.

use std::fmt::Write as _;

use crate::escape::systemd_escape;
use crate::recipe::model::{FileSpec, Os, Packages, SystemdOverride};
use crate::secret::Masker;

use super::builder::ScriptBuilder;
use super::ordering::ordering_after;
use super::{Script, quote};

/// How long [`wait_for_boot`] waits for the start jobs left once cloud-init is done.
pub(super) const BOOT_FINISH_WAIT_SECS: u32 = 180;

/// Waits until the instance has finished booting: cloud-init's stages, then every start
/// job of the boot (units ordered after cloud-init among them: the SSM agent answers long
/// before those have run). Used by `wait_cloud_init`, after a reboot and by the boot test.
pub fn wait_for_boot(name: &str) -> Script {
    let mut s = ScriptBuilder::new(name);
    s.mark("check that cloud-init's final stage is still to run");
    s.lines(&[
        "# systemd breaks an ordering cycle by dropping one start job; when it drops",
        "# cloud-final's, cloud-init stays \"running\" for ever: say so instead of waiting",
        "final_load=$(systemctl show -p LoadState --value cloud-final.service)",
        "final_ran=$(systemctl show -p ExecMainStartTimestampMonotonic --value cloud-final.service)",
        "final_job=$(systemctl list-jobs --no-legend --no-pager cloud-final.service || true)",
        "if [ \"$final_load\" = loaded ] && [ \"$final_ran\" = 0 ] && [ -z \"$final_job\" ] && cloud-init status | grep -q running; then",
        "  echo 'amibake: cloud-final.service has not run and is not queued at this boot: systemd dropped its start job, as it does to break an ordering cycle, so cloud-init can never finish' >&2",
        "  echo \"units ordered after cloud-final.service: $(systemctl show -p Before --value cloud-final.service)\" >&2",
        "  exit 1",
        "fi",
    ]);
    s.mark("wait for cloud-init to finish");
    s.lines(&[
        "rc=0",
        "cloud-init status --wait >/dev/null || rc=$?",
        "cloud-init status --long || true",
        "# cloud-init exits 1 on a critical error and 2 on recoverable ones (degraded)",
        "if [ \"$rc\" -eq 1 ]; then",
        "  echo 'amibake: cloud-init reported an error (see above)' >&2",
        "  exit 1",
        "elif [ \"$rc\" -eq 2 ]; then",
        "  echo 'amibake: cloud-init finished with recoverable errors (degraded)' >&2",
        "elif [ \"$rc\" -ne 0 ]; then",
        "  echo \"amibake: cloud-init status exited $rc\" >&2",
        "  exit 1",
        "fi",
    ]);
    s.mark("wait for the boot to finish (every start job, units after cloud-final too)");
    s.lines(&[
        "# running, or degraded when a unit failed (the checks say which matters); bounded:",
        "# a unit that never finishes starting must not hold the bake, only be named",
        &format!("state=$(timeout {BOOT_FINISH_WAIT_SECS} systemctl is-system-running --wait || true)"),
        "if [ -z \"$state\" ]; then",
        "  state=$(systemctl is-system-running || true)",
        &format!("  echo \"amibake: the boot had not finished after {BOOT_FINISH_WAIT_SECS}s ($state); start jobs still queued:\" >&2"),
        "  systemctl list-jobs --no-pager >&2 || true",
        "fi",
        "echo \"system: $state\"",
    ]);
    s.finish()
}

pub(super) fn packages(name: &str, p: &Packages, os: Os) -> Script {
    let mut s = ScriptBuilder::new(name);
    let list = |pkgs: &[crate::recipe::types::PackageName]| {
        pkgs.iter()
            .map(|p| quote(p.as_str()))
            .collect::<Vec<_>>()
            .join(" ")
    };
    match os {
        Os::Al2023 | Os::Al2 => {
            let pm = if os == Os::Al2023 { "dnf" } else { "yum" };
            if p.upgrade {
                if os == Os::Al2023 {
                    // Without --releasever=latest, dnf stays on the release the AMI was
                    // built from and a rebuild would not pick up the new one.
                    s.mark("upgrade all packages to the latest release");
                    s.line("dnf -y --releasever=latest upgrade");
                } else {
                    s.mark("upgrade all packages");
                    s.line("yum -y update");
                }
            }
            if !p.install.is_empty() {
                s.mark(&format!("install {}", plain_list(&p.install)));
                s.line(&format!("{pm} -y install {}", list(&p.install)));
            }
            if !p.remove.is_empty() {
                s.mark(&format!("remove {}", plain_list(&p.remove)));
                s.line(&format!("{pm} -y remove {}", list(&p.remove)));
            }
        }
        Os::Ubuntu | Os::Debian => {
            s.line("export DEBIAN_FRONTEND=noninteractive");
            // Wait for cloud-init's or unattended-upgrades' apt run instead of failing on the lock.
            s.line("apt_get() { apt-get -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \"$@\"; }");
            s.mark("refresh the package index");
            s.line("apt_get update");
            if p.upgrade {
                s.mark("upgrade all packages");
                s.line("apt_get -y dist-upgrade");
            }
            if !p.install.is_empty() {
                s.mark(&format!("install {}", plain_list(&p.install)));
                s.line(&format!(
                    "apt_get -y install --no-install-recommends {}",
                    list(&p.install)
                ));
            }
            if !p.remove.is_empty() {
                s.mark(&format!("remove {}", plain_list(&p.remove)));
                s.line(&format!("apt_get -y purge {}", list(&p.remove)));
            }
        }
    }
    if !p.upgrade && p.install.is_empty() && p.remove.is_empty() {
        s.mark("nothing to do (no upgrade, install or remove)");
    }
    s.finish()
}

pub(super) fn systemd_override(name: &str, o: &SystemdOverride) -> Script {
    let unit = o.unit.as_str();
    let mut content = String::new();
    let join = |units: &[crate::recipe::types::UnitName]| {
        units
            .iter()
            .map(|u| u.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    if !o.after.is_empty() || !o.wants.is_empty() {
        content.push_str("[Unit]\n");
        if !o.after.is_empty() {
            let after: Vec<&str> = o.after.iter().map(|u| u.as_str()).collect();
            let _ = writeln!(content, "After={}", ordering_after(&after).join(" "));
        }
        if !o.wants.is_empty() {
            let _ = writeln!(content, "Wants={}", join(&o.wants));
        }
    }
    if !o.environment.is_empty() {
        if !content.is_empty() {
            content.push('\n');
        }
        content.push_str("[Service]\n");
        for (k, v) in &o.environment {
            let _ = writeln!(
                content,
                "Environment=\"{k}={}\"",
                systemd_escape(v.as_str())
            );
        }
    }
    if !o.wanted_by.is_empty() {
        if !content.is_empty() {
            content.push('\n');
        }
        let _ = writeln!(content, "[Install]\nWantedBy={}", join(&o.wanted_by));
    }
    // A unit name ends in its kind (`.service`, …) and the drop-in is a plain `NAME.conf`
    // (both checked when read): the path stays in the unit's own directory.
    let path = format!("/etc/systemd/system/{unit}.d/{}", o.drop_in);
    // Environment values may be credentials: not world-readable (systemd reads as root).
    let mode = if o.environment.is_empty() {
        "0644"
    } else {
        "0600"
    };
    let mut s = ScriptBuilder::new(name);
    s.mark(&format!("write drop-in {path} (mode {mode})"));
    s.write_file(&path, &content, mode, "root:root", false);
    s.line("systemctl daemon-reload");
    if !o.wanted_by.is_empty() {
        s.mark(&format!(
            "re-enable {unit} with the drop-in's [Install] section"
        ));
        s.line(&format!("systemctl reenable -- {}", quote(unit)));
    }
    s.finish()
}

/// The mode of a `file` step without `mode:` whose content holds no secret.
pub const FILE_MODE: &str = "0644";
/// The mode of a `file` step without `mode:` whose content holds a secret.
pub const SECRET_FILE_MODE: &str = "0600";

pub(super) fn file(name: &str, f: &FileSpec, secrets: &Masker) -> Script {
    let mode = match &f.mode {
        Some(m) => m.as_str(),
        None if secrets.finds(&f.content) => SECRET_FILE_MODE,
        None => FILE_MODE,
    };
    let mut s = ScriptBuilder::new(name);
    s.mark(&format!(
        "write {} (mode {mode}, owner {}; missing parents {} {})",
        f.path,
        f.owner,
        super::PARENT_MODE,
        super::PARENT_OWNER
    ));
    s.write_file(f.path.as_str(), &f.content, mode, f.owner.as_str(), true);
    s.finish()
}

pub(super) fn shell(name: &str, body: &str) -> Script {
    let mut s = ScriptBuilder::new(name);
    s.mark(&format!("run {name}"));
    s.raw(body);
    s.finish()
}

pub(super) fn plain_list(pkgs: &[crate::recipe::types::PackageName]) -> String {
    pkgs.iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}
