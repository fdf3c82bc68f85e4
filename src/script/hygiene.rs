//! The hygiene script: the last command on the builder before it is stopped.

use crate::recipe::model::{Hygiene, Os};

use super::Script;
use super::builder::ScriptBuilder;

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
        super::agent::reset_lines(&mut s);
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
