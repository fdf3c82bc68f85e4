//! One script per step kind, exactly as `plan` shows it.

use std::fmt::Write as _;

use crate::escape::systemd_escape;
use crate::recipe::model::{CodedeployAgent, FileSpec, Os, Packages, SystemdOverride};
use crate::secret::Masker;

use super::builder::ScriptBuilder;
use super::checks::agent_version_query;
use super::ordering::{AGENT_DROP_IN, AGENT_DROP_IN_CONTENT, ordering_after};
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

pub(super) fn codedeploy_agent(name: &str, a: &CodedeployAgent, os: Os) -> Script {
    let version = a.version.as_str();
    let mut s = ScriptBuilder::new(name);
    s.line(&format!("want={}", quote(version)));
    s.lines(&["work=$(mktemp -d)", "trap 'rm -rf \"$work\"' EXIT"]);
    match a.package_url.as_ref().map(|u| u.as_str()) {
        Some(url) if !url.is_empty() => agent_from_url(&mut s, version, url, os),
        _ => agent_from_bucket(&mut s, version, os),
    }
    s.mark("verify the installed version equals the pin");
    s.line(&format!("installed=$({})", agent_version_query(os)));
    s.lines(&[
        "if [ \"$installed\" != \"$want\" ]; then",
        "  echo \"amibake: codedeploy-agent is '$installed', expected '$want'\" >&2",
        "  exit 1",
        "fi",
        "echo \"codedeploy-agent $installed\"",
    ]);
    if a.start_after_cloud_init {
        s.mark("order codedeploy-agent after cloud-final and multi-user.target (systemd drop-in)");
        s.write_file(
            AGENT_DROP_IN,
            AGENT_DROP_IN_CONTENT,
            "0644",
            "root:root",
            false,
        );
        s.line("systemctl daemon-reload");
    }
    s.mark("enable codedeploy-agent");
    s.line("systemctl enable codedeploy-agent");
    s.mark("restart codedeploy-agent without waiting (it may be ordered after cloud-final)");
    s.line("systemctl --no-block restart codedeploy-agent");
    s.finish()
}

/// The regional bucket's `install` script with an exact package (region from IMDSv2);
/// ruby, the agent's runtime, first.
pub(super) fn agent_from_bucket(s: &mut ScriptBuilder, version: &str, os: Os) {
    let (ruby, package) = match os {
        Os::Al2023 => (
            "dnf -y install ruby",
            format!("releases/codedeploy-agent-{version}.noarch.rpm"),
        ),
        Os::Al2 => (
            "yum -y install ruby",
            format!("releases/codedeploy-agent-{version}.noarch.rpm"),
        ),
        Os::Ubuntu | Os::Debian => (
            "DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y install ruby-full",
            format!("releases/codedeploy-agent_{version}_all.deb"),
        ),
    };
    let kind = if os.is_rpm() { "rpm" } else { "deb" };
    s.mark("install ruby (the agent's runtime)");
    s.line(ruby);
    s.mark("find the region (IMDSv2)");
    s.lines(&[
        "token=$(curl -fsS -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')",
        "region=$(curl -fsS -H \"X-aws-ec2-metadata-token: $token\" http://169.254.169.254/latest/meta-data/placement/region)",
    ]);
    s.mark(&format!(
        "install codedeploy-agent {version} from the regional bucket"
    ));
    s.lines(&[
        "curl -fsSL --retry 5 -o \"$work/install\" \"https://aws-codedeploy-${region}.s3.${region}.amazonaws.com/latest/install\"",
        "chmod +x \"$work/install\"",
    ]);
    s.line(&format!("\"$work/install\" -v {} {kind}", quote(&package)));
}

/// The package itself from the recipe's `package_url` (a mirror, an S3 VPC endpoint, a
/// file already on the builder), installed by the OS's package manager, which also brings
/// its dependencies (ruby): nothing reaches the regional bucket or IMDS.
pub(super) fn agent_from_url(s: &mut ScriptBuilder, version: &str, url: &str, os: Os) {
    let (file, install) = match os {
        Os::Al2023 => ("$work/codedeploy-agent.rpm", "dnf -y install"),
        Os::Al2 => ("$work/codedeploy-agent.rpm", "yum -y install"),
        Os::Ubuntu | Os::Debian => (
            "$work/codedeploy-agent.deb",
            "DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y install",
        ),
    };
    s.mark(&format!("download codedeploy-agent {version} from {url}"));
    s.line(&format!(
        "curl -fsSL --retry 5 -o \"{file}\" {}",
        quote(url)
    ));
    s.mark("install it with the package manager (it brings ruby)");
    s.line(&format!("{install} \"{file}\""));
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
