//! Rendering steps and checks into the exact scripts sent with AWS-RunShellScript.
//!
//! Every script is bash, starts with `set -euo pipefail`, and prints one marker line
//! (`::amibake:: …`) before each action, so the bake's progress view and a reader of the
//! SSM output both see where a step is. Nothing here starts a unit synchronously: a unit
//! ordered after `cloud-final.service` would block until cloud-init finishes, and a step
//! may well run before that (`--no-block` everywhere).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::recipe::model::{
    Action, Check, CodedeployAgent, FileSpec, Hygiene, Os, Packages, Step, SystemdOverride,
};
use crate::recipe::types::Duration;

/// The marker prefix printed before each action.
pub const MARKER: &str = "::amibake::";

/// The drop-in that orders the CodeDeploy agent after cloud-init: the agent must not
/// deploy while cloud-init's package upgrade swaps the JDK under it.
pub const AGENT_DROP_IN: &str =
    "/etc/systemd/system/codedeploy-agent.service.d/10-after-cloud-init.conf";

/// Its exact contents: see [`ordering_after`] for why `multi-user.target` is named too.
/// There is no `[Install]` section: a drop-in's `WantedBy=` only *adds* a link beside the
/// package's own `multi-user.target.wants/` one, and the package's installer (which runs
/// `systemctl enable` again on every upgrade) would bring that one back anyway. The
/// ordering alone holds whichever target pulls the agent in.
pub const AGENT_DROP_IN_CONTENT: &str = "[Unit]\nAfter=cloud-final.service multi-user.target\n";

/// cloud-init's units that Debian's and Ubuntu's cloud-init order after
/// `multi-user.target` (`cloud-final.service.tmpl`, variants debian/ubuntu/unknown; the
/// Amazon variant does not).
const AFTER_MULTI_USER_ON_DEBIAN: [&str; 2] = ["cloud-final.service", "cloud-init.target"];

/// The `After=` list of a drop-in that orders a unit after `after`.
///
/// A unit enabled the usual way (`WantedBy=multi-user.target`) is one that
/// `multi-user.target` waits for: systemd orders a target after every unit it wants,
/// unless that unit is explicitly ordered after the target. Ordering such a unit after
/// cloud-final on Debian/Ubuntu, where cloud-final itself runs after `multi-user.target`,
/// is a cycle; systemd breaks it at boot by dropping the unit's start job, so the unit
/// never starts. Naming `multi-user.target` in `After=` as well removes the implicit
/// ordering the other way: no cycle on any layout, and the unit still starts after
/// cloud-final has finished.
pub fn ordering_after(after: &[&str]) -> Vec<String> {
    let mut units: Vec<String> = after.iter().map(|u| u.to_string()).collect();
    let late = after.iter().any(|u| AFTER_MULTI_USER_ON_DEBIAN.contains(u));
    if late && !after.contains(&"multi-user.target") {
        units.push("multi-user.target".into());
    }
    units
}

/// A script as sent, and as shown (file contents replaced by their size and digest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Script {
    /// What SSM runs. May hold file contents and secrets: never print it.
    #[serde(skip)]
    pub text: String,
    /// What `plan` and logs show.
    pub display: String,
}

/// What one step sends to SSM.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StepCommand {
    /// AWS-RunShellScript with this script.
    Shell { script: Script },
    /// Another SSM document with these parameters.
    Document {
        document: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        document_version: Option<String>,
        parameters: BTreeMap<String, Vec<String>>,
    },
    /// Not a command: EC2 RebootInstances, wait for the SSM agent to ping again, then run
    /// `then` (the wait for the boot to finish: the agent pings long before that).
    Reboot { then: Script },
}

/// A step ready to run.
#[derive(Debug, Clone, Serialize)]
pub struct RenderedStep {
    pub name: String,
    pub kind: &'static str,
    pub timeout: Duration,
    pub retries: u32,
    pub command: StepCommand,
}

/// Renders one recipe step for the builder's OS.
pub fn render_step(step: &Step, os: Os) -> RenderedStep {
    let name = step.display_name();
    let command = match &step.action {
        Action::WaitCloudInit(_) => StepCommand::Shell {
            script: wait_for_boot(&name),
        },
        Action::Packages(p) => StepCommand::Shell {
            script: packages(&name, p, os),
        },
        Action::CodedeployAgent(a) => StepCommand::Shell {
            script: codedeploy_agent(&name, a, os),
        },
        Action::SystemdOverride(o) => StepCommand::Shell {
            script: systemd_override(&name, o),
        },
        Action::File(f) => StepCommand::Shell {
            script: file(&name, f),
        },
        Action::Shell(body) => StepCommand::Shell {
            script: shell(&name, body),
        },
        Action::SsmDocument(d) => StepCommand::Document {
            document: d.name.clone(),
            document_version: d.document_version.clone(),
            parameters: d
                .parameters
                .iter()
                .map(|(k, v)| (k.clone(), v.to_list()))
                .collect(),
        },
        Action::Reboot(_) => StepCommand::Reboot {
            then: wait_for_boot(&format!("{name}: wait for the boot to finish")),
        },
    };
    RenderedStep {
        name,
        kind: step.action.kind(),
        timeout: step.timeout(),
        retries: step.retries,
        command,
    }
}

/// The hygiene script: the last command on the builder before it is stopped. It removes
/// what must not be baked into every instance of the fleet — per-instance identity (SSH
/// host keys, machine-id, cloud-init's record of having run), the CodeDeploy agent's
/// state from the builder, caches and histories — so first boot behaves like a first boot.
/// `None` when every part is turned off.
pub fn hygiene(parts: &Hygiene, os: Os) -> Option<Script> {
    let any = parts.codedeploy_agent
        || parts.cloud_init
        || parts.ssh_keys
        || parts.machine_id
        || parts.package_cache
        || parts.history
        || parts.tmp;
    if !any {
        return None;
    }
    let mut s = ScriptBuilder::new("image hygiene");
    if parts.codedeploy_agent {
        s.mark("reset the CodeDeploy agent so it starts fresh on first boot");
        s.lines(&[
            "if systemctl cat codedeploy-agent.service >/dev/null 2>&1; then",
            "  systemctl stop codedeploy-agent || true",
            "  # enabled as its package enables it; the ordering drop-in stays in place",
            "  systemctl enable codedeploy-agent",
            "  rm -rf /opt/codedeploy-agent/deployment-root/* /opt/codedeploy-agent/state/.pid/*",
            "  rm -f /var/log/aws/codedeploy-agent/*.log",
            "fi",
        ]);
    }
    if parts.ssh_keys {
        s.mark("remove SSH host keys and authorized_keys");
        s.lines(&[
            "rm -f /etc/ssh/ssh_host_*_key /etc/ssh/ssh_host_*_key.pub",
            "find /root /home -path '*/.ssh/authorized_keys' -type f -delete 2>/dev/null || true",
        ]);
    }
    if parts.machine_id {
        s.mark("empty /etc/machine-id (systemd makes a new one on first boot)");
        s.lines(&[
            "truncate -s 0 /etc/machine-id",
            "if [ -f /var/lib/dbus/machine-id ] && [ ! -L /var/lib/dbus/machine-id ]; then rm -f /var/lib/dbus/machine-id; fi",
        ]);
    }
    if parts.package_cache {
        s.mark("clear the package manager's caches and history");
        match os {
            Os::Al2023 => s.lines(&[
                "dnf clean all",
                "rm -rf /var/cache/dnf/*",
                "rm -f /var/lib/dnf/history.sqlite*",
            ]),
            Os::Al2 => s.lines(&[
                "yum clean all",
                "rm -rf /var/cache/yum/*",
                "rm -rf /var/lib/yum/history/*",
            ]),
            Os::Ubuntu | Os::Debian => s.lines(&[
                "apt-get clean",
                "rm -rf /var/lib/apt/lists/*",
                "rm -f /var/log/apt/history.log* /var/log/apt/term.log*",
            ]),
        }
    }
    if parts.history {
        s.mark("clear shell histories");
        s.line("rm -f /root/.bash_history /home/*/.bash_history");
    }
    if parts.tmp {
        s.mark("empty /tmp and /var/tmp");
        s.line("find /tmp /var/tmp -mindepth 1 -delete 2>/dev/null || true");
    }
    if parts.cloud_init {
        // Last: from here on cloud-init believes it never ran, as on a new instance.
        s.mark("cloud-init clean --logs (cloud-init runs again on first boot)");
        s.line("cloud-init clean --logs");
    }
    Some(s.finish())
}

/// The stdout line the built-in ordering check prints when the agent started after
/// cloud-final; the check expects it.
pub const ORDERING_OK: &str = "ordering: codedeploy-agent started after cloud-final";

/// Built-in boot-test check: the CodeDeploy agent became active after cloud-final.service
/// finished, the drop-in that orders it is loaded, and systemd found no ordering cycle at
/// boot (a cycle makes systemd drop a start job: the agent then never starts). This is
/// the race the drop-in exists to prevent, checked on a fresh instance of the new image.
pub fn ordering_check() -> Script {
    let mut s = ScriptBuilder::new("check: codedeploy-agent started after cloud-final");
    s.mark("check codedeploy-agent ordering against cloud-final");
    no_cycle_lines(&mut s);
    s.lines(&[
        "final=$(systemctl show -p ExecMainExitTimestampMonotonic --value cloud-final.service)",
        "inactive=$(systemctl show -p ActiveExitTimestampMonotonic --value cloud-final.service)",
        "agent=$(systemctl show -p ActiveEnterTimestampMonotonic --value codedeploy-agent)",
        "drop_ins=$(systemctl show -p DropInPaths --value codedeploy-agent)",
        "echo \"cloud-final exited at ${final}us (inactive at ${inactive}us), codedeploy-agent active at ${agent}us\"",
        "echo \"codedeploy-agent drop-ins: ${drop_ins}\"",
        "# cloud-final is oneshot with RemainAfterExit: its main process exit is what counts",
        "if [ \"$inactive\" -gt \"$final\" ]; then final=$inactive; fi",
    ]);
    s.line(&format!(
        "if echo \"$drop_ins\" | grep -qF {AGENT_DROP_IN}; then echo 'drop-in loaded'; else echo 'the after-cloud-init drop-in is not loaded' >&2; exit 1; fi"
    ));
    s.lines(&[
        "if [ \"$agent\" = 0 ]; then",
        "  # Never even tried: its start job was dropped, as systemd breaks an ordering cycle",
        "  tried=$(systemctl show -p InactiveExitTimestampMonotonic --value codedeploy-agent)",
        "  if [ \"$tried\" = 0 ]; then",
        "    echo 'ordering: systemd never started codedeploy-agent at boot: its start job was dropped, as systemd does to break an ordering cycle' >&2",
        "    echo \"codedeploy-agent: $(systemctl show -p WantedBy -p After codedeploy-agent | tr '\\n' ' ')\" >&2",
        "    echo \"cloud-final.service: $(systemctl show -p After cloud-final.service | tr '\\n' ' ')\" >&2",
        "  else",
        "    echo 'ordering: codedeploy-agent was started at boot but never became active' >&2",
        "  fi",
        "  exit 1",
        "fi",
        "if [ \"$final\" -gt 0 ] && [ \"$agent\" -gt \"$final\" ]; then",
    ]);
    s.line(&format!("  echo {}", quote(ORDERING_OK)));
    s.lines(&[
        "else",
        "  echo 'ordering: codedeploy-agent did NOT start after cloud-final' >&2",
        "  exit 1",
        "fi",
    ]);
    s.finish()
}

/// The stdout line the built-in cycle check prints when the boot had no ordering cycle.
pub const NO_CYCLE_OK: &str = "ordering: no ordering cycle at boot";

/// Built-in boot-test check for recipes that order units with `systemd_override`: systemd
/// found no ordering cycle at boot. A cycle is not an error to systemd: it deletes one
/// start job to break it, logs it, and boots on without that unit.
pub fn no_cycle_check() -> Script {
    let mut s = ScriptBuilder::new("check: no ordering cycle at boot");
    s.mark("check the boot journal for ordering cycles");
    no_cycle_lines(&mut s);
    s.line(&format!("echo {}", quote(NO_CYCLE_OK)));
    s.finish()
}

/// Fails with the journal's own lines when systemd broke an ordering cycle at this boot.
fn no_cycle_lines(s: &mut ScriptBuilder) {
    s.lines(&[
        "cycles=$(journalctl -b -q --no-pager -o cat | grep -i 'ordering cycle' || true)",
        "if [ -n \"$cycles\" ]; then",
        "  echo 'systemd found an ordering cycle at boot and dropped a start job to break it:' >&2",
        "  echo \"$cycles\" >&2",
        "  exit 1",
        "fi",
    ]);
}

/// Built-in boot-test check: the running agent's package is exactly the pinned version.
/// Its stdout is `pin: <version>` when it matches.
pub fn pin_check(version: &str, os: Os) -> Script {
    let mut s = ScriptBuilder::new("check: codedeploy-agent runs the pinned version");
    s.mark("check the running codedeploy-agent's version against the pin");
    s.line(&format!("want={}", quote(version)));
    s.line(&format!("installed=$({})", agent_version_query(os)));
    s.lines(&[
        "state=$(systemctl is-active codedeploy-agent || true)",
        "echo \"codedeploy-agent $installed is $state\"",
        "if [ \"$installed\" != \"$want\" ]; then echo \"pin: expected $want\" >&2; exit 1; fi",
        "if [ \"$state\" != active ]; then echo 'codedeploy-agent is not active' >&2; exit 1; fi",
        "echo \"pin: $installed\"",
    ]);
    s.finish()
}

/// The command that prints the installed agent's version (`1.7.1-110`).
fn agent_version_query(os: Os) -> &'static str {
    if os.is_rpm() {
        "rpm -q --qf '%{VERSION}-%{RELEASE}' codedeploy-agent"
    } else {
        "dpkg-query -W -f='${Version}' codedeploy-agent"
    }
}

/// Renders a validation or boot-test check. Its exit code and stdout are judged by bake.
pub fn render_check(check: &Check) -> Script {
    let mut s = ScriptBuilder::new(&format!("check: {}", check.name));
    s.mark(&format!("check {}", check.name));
    s.raw(check.run.as_str());
    s.finish()
}

/// How long [`wait_for_boot`] waits for the start jobs left once cloud-init is done.
const BOOT_FINISH_WAIT_SECS: u32 = 180;

/// Waits until the instance has finished booting: cloud-init's stages, then every start
/// job of the boot (units ordered after cloud-init among them: the SSM agent answers long
/// before those have run). Used by `wait_cloud_init`, after a reboot and by the boot test.
pub fn wait_for_boot(name: &str) -> Script {
    let mut s = ScriptBuilder::new(name);
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

fn packages(name: &str, p: &Packages, os: Os) -> Script {
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

fn codedeploy_agent(name: &str, a: &CodedeployAgent, os: Os) -> Script {
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
fn agent_from_bucket(s: &mut ScriptBuilder, version: &str, os: Os) {
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
fn agent_from_url(s: &mut ScriptBuilder, version: &str, url: &str, os: Os) {
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

fn systemd_override(name: &str, o: &SystemdOverride) -> Script {
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
                "Environment=\"{}\"",
                systemd_escape(&format!("{k}={v}"))
            );
        }
    }
    if !o.wanted_by.is_empty() {
        if !content.is_empty() {
            content.push('\n');
        }
        let _ = writeln!(content, "[Install]\nWantedBy={}", join(&o.wanted_by));
    }
    let path = format!("/etc/systemd/system/{unit}.d/{}", o.drop_in);
    let mut s = ScriptBuilder::new(name);
    s.mark(&format!("write drop-in {path}"));
    s.write_file(&path, &content, "0644", "root:root", false);
    s.line("systemctl daemon-reload");
    if !o.wanted_by.is_empty() {
        s.mark(&format!(
            "re-enable {unit} with the drop-in's [Install] section"
        ));
        s.line(&format!("systemctl reenable {}", quote(unit)));
    }
    s.finish()
}

fn file(name: &str, f: &FileSpec) -> Script {
    let mut s = ScriptBuilder::new(name);
    s.mark(&format!(
        "write {} (mode {}, owner {})",
        f.path, f.mode, f.owner
    ));
    s.write_file(
        f.path.as_str(),
        &f.content,
        f.mode.as_str(),
        f.owner.as_str(),
        true,
    );
    s.finish()
}

fn shell(name: &str, body: &str) -> Script {
    let mut s = ScriptBuilder::new(name);
    s.mark(&format!("run {name}"));
    s.raw(body);
    s.finish()
}

/// Builds a script and its display twin side by side.
struct ScriptBuilder {
    text: String,
    display: String,
}

impl ScriptBuilder {
    fn new(title: &str) -> Self {
        let header = format!(
            "#!/bin/bash\nset -euo pipefail\n# amibake step: {}\n",
            one_line(title)
        );
        Self {
            text: header.clone(),
            display: header,
        }
    }

    fn line(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
        self.display.push_str(line);
        self.display.push('\n');
    }

    fn lines(&mut self, lines: &[&str]) {
        lines.iter().for_each(|l| self.line(l));
    }

    /// A user's commands, verbatim.
    fn raw(&mut self, body: &str) {
        self.line(body.trim_end_matches('\n'));
    }

    fn mark(&mut self, action: &str) {
        self.line(&format!(
            "echo {}",
            quote(&format!("{MARKER} {}", one_line(action)))
        ));
    }

    /// Writes `content` to `path` atomically: a temp file in the same directory, then
    /// chmod, chown and rename. Visible content travels in a quoted heredoc so `plan`
    /// shows it as it will be on disk; hidden content travels base64-encoded (exact bytes,
    /// no quoting to break) and is shown only as its size and digest.
    fn write_file(&mut self, path: &str, content: &str, mode: &str, owner: &str, hide: bool) {
        let (dir, base) = path.rsplit_once('/').unwrap_or(("", path));
        let dir = if dir.is_empty() { "/" } else { dir };
        self.line(&format!("install -d -m 0755 {}", quote(dir)));
        self.line(&format!(
            "tmp=$(mktemp {})",
            quote(&format!("{dir}/.{base}.amibake.XXXXXX"))
        ));
        if hide {
            self.line("base64 -d > \"$tmp\" <<'AMIBAKE_B64'");
            self.text.push_str(&base64_lines(content.as_bytes()));
            let digest = hex::encode(Sha256::digest(content.as_bytes()));
            let _ = writeln!(
                self.display,
                "<content hidden: {} bytes, sha256 {}…>",
                content.len(),
                &digest[..16]
            );
            self.line("AMIBAKE_B64");
        } else {
            let mut delimiter = "AMIBAKE_EOF".to_string();
            while content.lines().any(|l| l == delimiter) {
                delimiter.push('_');
            }
            self.line(&format!("cat > \"$tmp\" <<'{delimiter}'"));
            self.text.push_str(content);
            self.display.push_str(content);
            if !content.ends_with('\n') {
                self.text.push('\n');
                self.display.push('\n');
            }
            self.line(&delimiter);
        }
        self.line(&format!("chmod {mode} \"$tmp\""));
        self.line(&format!("chown {} \"$tmp\"", quote(owner)));
        self.line(&format!("mv -f \"$tmp\" {}", quote(path)));
    }

    fn finish(self) -> Script {
        Script {
            text: self.text,
            display: self.display,
        }
    }
}

/// A command's stdout without amibake's marker lines: checks are judged on what the
/// user's command printed, never on our own `::amibake::` lines (which repeat the check's
/// name and could otherwise satisfy `expect_stdout` by themselves).
pub fn strip_markers(stdout: &str) -> String {
    stdout
        .lines()
        .filter(|l| !l.starts_with(MARKER))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Quotes for bash: bare when safe, single quotes otherwise.
pub fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:@,+%".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

fn plain_list(pkgs: &[crate::recipe::types::PackageName]) -> String {
    pkgs.iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// systemd's quoting inside `Environment="…"`: backslash, quote and `%` specifiers.
fn systemd_escape(s: &str) -> String {
    s.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('%', "%%")
        .replace('\n', r"\n")
}

/// Standard base64 in 76-character lines, each ending in a newline (what `base64 -d` reads).
fn base64_lines(data: &[u8]) -> String {
    let encoded = aws_smithy_types::base64::encode(data);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 76 + 1);
    for line in encoded.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        assert_eq!(base64_lines(b""), "");
        assert_eq!(base64_lines(b"f"), "Zg==\n");
        assert_eq!(base64_lines(b"fo"), "Zm8=\n");
        assert_eq!(base64_lines(b"foo"), "Zm9v\n");
        assert_eq!(base64_lines(b"foobar"), "Zm9vYmFy\n");
        let long = base64_lines(&[0u8; 100]);
        assert!(long.lines().all(|l| l.len() <= 76));
        assert_eq!(long.lines().count(), 2);
    }

    #[test]
    fn units_after_cloud_final_are_also_ordered_after_multi_user_target() {
        assert_eq!(
            ordering_after(&["cloud-final.service"]),
            ["cloud-final.service", "multi-user.target"]
        );
        assert_eq!(
            ordering_after(&["network-online.target", "cloud-init.target"]),
            [
                "network-online.target",
                "cloud-init.target",
                "multi-user.target"
            ]
        );
        // Nothing added where no cycle can come from cloud-init, nor twice.
        assert_eq!(
            ordering_after(&["network-online.target"]),
            ["network-online.target"]
        );
        assert_eq!(
            ordering_after(&["multi-user.target", "cloud-final.service"]),
            ["multi-user.target", "cloud-final.service"]
        );
    }

    #[test]
    fn the_agent_drop_in_orders_after_cloud_final_and_multi_user_without_an_install_section() {
        assert_eq!(
            AGENT_DROP_IN_CONTENT,
            format!(
                "[Unit]\nAfter={}\n",
                ordering_after(&["cloud-final.service"]).join(" ")
            )
        );
        assert!(!AGENT_DROP_IN_CONTENT.contains("[Install]"));
    }

    #[test]
    fn markers_are_not_part_of_a_checks_output() {
        let out = "::amibake:: check cfn-signal available\n/opt/aws/bin/cfn-signal\n";
        assert_eq!(strip_markers(out), "/opt/aws/bin/cfn-signal\n");
        assert!(!strip_markers("::amibake:: check ordered\n").contains("ordered"));
    }

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(quote("plain-1.2"), "plain-1.2");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
    }
}
