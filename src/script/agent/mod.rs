//! The CodeDeploy agent: its install step, its built-in boot checks and its hygiene, per
//! line (see [`AgentLine`]). `v1` keeps the 1.x line exactly as it was; `v2` installs the
//! native 2.x agent, migrating a 1.x agent it finds.

use crate::recipe::model::{CodedeployAgent, Os};
use crate::recipe::types::AgentLine;

use super::Script;
use super::builder::ScriptBuilder;
use super::ordering::{AGENT_DROP_IN, AGENT_DROP_IN_CONTENT};

mod v1;
mod v2;

pub use v2::{COMMAND_PORT_OK, command_port_check};

/// The `codedeploy_agent` step: install exactly the pin (migrating a 1.x agent to a 2.x
/// pin), verify it, order it after cloud-final when asked, enable and restart it.
pub(in crate::script) fn codedeploy_agent(name: &str, a: &CodedeployAgent, os: Os) -> Script {
    let mut s = ScriptBuilder::new(name);
    match a.line() {
        AgentLine::V1 => v1::install(&mut s, a, os),
        AgentLine::V2 => v2::install(&mut s, a, os),
    }
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

/// Built-in boot-test check: the running agent is exactly the pinned version. Its stdout
/// is `pin: <version>` when it matches.
pub fn pin_check(a: &CodedeployAgent, os: Os) -> Script {
    let mut s = ScriptBuilder::new("check: codedeploy-agent runs the pinned version");
    s.mark("check the running codedeploy-agent's version against the pin");
    match a.line() {
        AgentLine::V1 => v1::pin_lines(&mut s, a.version.as_str(), os),
        AgentLine::V2 => v2::pin_lines(&mut s, a.version.reported()),
    }
    s.finish()
}

/// Hygiene's agent part: stop the agent, leave it enabled, and remove what one builder's
/// agent wrote — deployments, PID and command-port files, logs, and the `.version` a 2.x
/// agent writes when it starts (so the booted image's `.version` proves the agent started
/// there). Either line: the source image may carry an agent the recipe does not install.
pub(in crate::script) fn reset_lines(s: &mut ScriptBuilder) {
    s.lines(&[
        "if systemctl cat codedeploy-agent.service >/dev/null 2>&1; then",
        "  systemctl stop codedeploy-agent || true",
        "  # enabled as its package enables it; the ordering drop-in stays in place",
        "  systemctl enable codedeploy-agent",
        "  rm -rf /opt/codedeploy-agent/deployment-root/*",
        "  # PID and command-port files (dot files: not matched by a glob)",
        "  find /opt/codedeploy-agent/state -mindepth 1 -type f -delete 2>/dev/null || true",
        "  find /var/log/aws/codedeploy-agent -mindepth 1 -type f -delete 2>/dev/null || true",
        "  # 2.x writes `agent_version: 2.1.0` there at every start; 1.x's package ships its own",
        "  # (`OFFICIAL_1.x_rpm`, `agent_version: OFFICIAL_…`): keep that one",
        "  if grep -Eq '^agent_version: *[0-9]' /opt/codedeploy-agent/.version 2>/dev/null; then",
        "    rm -f /opt/codedeploy-agent/.version",
        "  fi",
        "fi",
    ]);
}

/// Finds the region from IMDSv2, for the regional bucket's installers.
fn region_lines(s: &mut ScriptBuilder) {
    s.mark("find the region (IMDSv2)");
    s.lines(&[
        "token=$(curl -fsS -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')",
        "region=$(curl -fsS -H \"X-aws-ec2-metadata-token: $token\" http://169.254.169.254/latest/meta-data/placement/region)",
    ]);
}

/// The package itself from the recipe's `package_url` (a mirror, an S3 VPC endpoint, a
/// file already on the builder), installed by the OS's package manager, which brings its
/// dependencies (ruby for 1.x) and may go down a version (the pin is what counts):
/// nothing reaches the regional bucket or IMDS. `how` is the install's marker.
fn from_url(s: &mut ScriptBuilder, version: &str, url: &str, os: Os, how: &str) {
    let (file, install) = match os {
        Os::Al2023 => ("$work/codedeploy-agent.rpm", "dnf -y install"),
        Os::Al2 => ("$work/codedeploy-agent.rpm", "yum -y install"),
        Os::Ubuntu | Os::Debian => (
            "$work/codedeploy-agent.deb",
            "DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y install --allow-downgrades",
        ),
    };
    s.mark(&format!("download codedeploy-agent {version} from {url}"));
    s.line(&format!(
        "curl -fsSL --retry 5 -o \"{file}\" {}",
        super::quote(url)
    ));
    s.mark(how);
    s.line(&format!("{install} \"{file}\""));
}
