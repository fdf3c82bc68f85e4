//! The 2.x line: one native binary with its own systemd unit, no Ruby, and a version it
//! reports itself. A 1.x agent on the source image is migrated first: AWS gives no
//! automatic path from 1.x, and the two must not share `/opt/codedeploy-agent`.

use crate::recipe::model::{CodedeployAgent, Os};

use super::super::builder::ScriptBuilder;
use super::super::quote;
use super::{from_url, region_lines};

/// The agent binary, which both lines install at the same path.
const AGENT: &str = "/opt/codedeploy-agent/bin/codedeploy-agent";

/// The agent's configuration file (1.x-style `:key:` lines are read by 2.x too).
const CONFIG: &str = "/etc/codedeploy-agent/conf/codedeployagent.yml";

/// Where a 2.x agent with `enable_command_port` says which loopback port it listens on
/// and the token a request must carry (`{"port":N,"token":"…"}`, root only).
pub const COMMAND_PORT_FILE: &str = "/opt/codedeploy-agent/state/.pid/.command-port";

/// The stdout line the command-port check prints when the agent answered `running`.
pub const COMMAND_PORT_OK: &str = "command port: running";

/// Migrates a 1.x agent, installs the pin without Ruby, fails unless the agent itself
/// reports exactly the pin, and turns on the command port when asked.
pub(super) fn install(s: &mut ScriptBuilder, a: &CodedeployAgent, os: Os) {
    let version = a.version.as_str();
    s.mark(&format!(
        "codedeploy-agent {version}: the 2.x line (one native binary and its own systemd unit, no Ruby)"
    ));
    s.line(&format!("want={}", quote(a.version.reported())));
    s.lines(&["work=$(mktemp -d)", "trap 'rm -rf \"$work\"' EXIT"]);
    migrate_v1(s, os);
    match a.package_url.as_ref().map(|u| u.as_str()) {
        Some(url) if !url.is_empty() => from_url(
            s,
            version,
            url,
            os,
            "install it with the package manager (no Ruby: the 2.x agent is one binary)",
        ),
        _ => from_bucket(s, a, os),
    }
    s.mark("verify the installed agent reports the pin (codedeploy-agent --version)");
    s.line(&format!(
        "reported=$({AGENT} --version 2>/dev/null || true)"
    ));
    s.lines(&[
        &format!("if ! {REPORTS_WANT}; then"),
        "  echo \"amibake: codedeploy-agent --version says '${reported:-nothing (not installed)}', expected $want\" >&2",
        "  exit 1",
        "fi",
        "echo \"$reported\"",
    ]);
    if a.command_port {
        s.mark(
            "turn on the agent's loopback command port (enable_command_port), for the boot test",
        );
        s.lines(&[
            &format!("mkdir -p {}", parent(CONFIG)),
            &format!("touch {CONFIG}"),
            &format!("sed -i '/^:\\{{0,1\\}}enable_command_port:/d' {CONFIG}"),
            &format!("printf '\\n:enable_command_port: true\\n' >>{CONFIG}"),
        ]);
    }
}

/// Stops and removes a 1.x agent (found by its package version or its SysV script) and
/// everything it left: the Ruby-era tree under /opt, its logs and its configuration.
fn migrate_v1(s: &mut ScriptBuilder, os: Os) {
    s.mark("migrate a 1.x agent if the image carries one (stop it, remove it and its state)");
    s.line("old=''");
    if os.is_rpm() {
        s.line("if rpm -q --quiet codedeploy-agent; then old=$(rpm -q --qf '%{VERSION}-%{RELEASE}' codedeploy-agent); fi");
    } else {
        s.line("if dpkg-query -W -f='${Status}' codedeploy-agent 2>/dev/null | grep -q 'ok installed'; then old=$(dpkg-query -W -f='${Version}' codedeploy-agent); fi");
    }
    let remove = match os {
        Os::Al2023 => "dnf -y remove codedeploy-agent",
        Os::Al2 => "yum -y remove codedeploy-agent",
        Os::Ubuntu | Os::Debian => {
            "DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y purge codedeploy-agent"
        }
    };
    s.lines(&[
        "if [ -e /etc/init.d/codedeploy-agent ] || echo \"$old\" | grep -q '^1\\.'; then",
        "  echo \"amibake: replacing codedeploy-agent ${old:-1.x} (the 1.x line) with $want\"",
        "  systemctl stop codedeploy-agent || true",
        "  if [ -x /etc/init.d/codedeploy-agent ]; then /etc/init.d/codedeploy-agent stop || true; fi",
    ]);
    s.line(&format!("  if [ -n \"$old\" ]; then {remove}; fi"));
    s.lines(&[
        "  rm -rf /opt/codedeploy-agent /var/log/aws/codedeploy-agent /etc/codedeploy-agent /etc/init.d/codedeploy-agent",
        "  systemctl daemon-reload",
        "  systemctl reset-failed codedeploy-agent 2>/dev/null || true",
        "fi",
    ]);
}

/// The regional bucket's 2.x installer (`latestv2/install`) with the exact package for
/// this machine's architecture (region from IMDSv2). The bucket's package names carry a
/// build (`releases/codedeploy-agent-2.1.0-9745926189.x86_64.rpm`): a pin with its build
/// names the file; a pin without one is accepted only while it is the bucket's newest
/// (`latestv2/LATEST_VERSION`), since an older file cannot be named without its build.
fn from_bucket(s: &mut ScriptBuilder, a: &CodedeployAgent, os: Os) {
    let version = a.version.as_str();
    region_lines(s);
    s.line("bucket=\"https://aws-codedeploy-${region}.s3.${region}.amazonaws.com\"");
    s.mark("name the package for this machine's architecture");
    s.line("arch=$(uname -m)");
    let kind = if os.is_rpm() { "rpm" } else { "deb" };
    match a.version.build() {
        Some(_) if os.is_rpm() => {
            s.line(&format!(
                "package=\"releases/codedeploy-agent-{version}.${{arch}}.rpm\""
            ));
        }
        Some(_) => {
            s.line(&format!(
                "package=\"releases/codedeploy-agent_{version}_$(dpkg --print-architecture).deb\""
            ));
        }
        None => {
            s.lines(&[
                "latest=$(curl -fsSL --retry 5 \"$bucket/latestv2/LATEST_VERSION\")",
                &format!("package=$(printf '%s' \"$latest\" | grep -o \"\\\"{kind}_${{arch}}\\\"[[:space:]]*:[[:space:]]*\\\"[^\\\"]*\\\"\" | sed 's/.*\"\\(releases[^\"]*\\)\"$/\\1/' || true)"),
                "if ! echo \"$package\" | grep -q \"codedeploy-agent[-_]$want-\"; then",
                "  echo \"amibake: the regional bucket's newest 2.x package is '${package:-unknown}', not $want: pin $want with its build as releases/ names it (version: \\\"$want-BUILD\\\"), or set package_url\" >&2",
                "  exit 1",
                "fi",
            ]);
        }
    }
    s.mark(&format!(
        "install codedeploy-agent {version} with the regional bucket's 2.x installer (latestv2)"
    ));
    s.lines(&[
        "curl -fsSL --retry 5 -o \"$work/install\" \"$bucket/latestv2/install\"",
        "chmod +x \"$work/install\"",
        "\"$work/install\" auto -v \"$package\"",
    ]);
}

/// The pin check's lines: what the binary reports, what the running agent wrote to
/// `.version` when it started at this boot (hygiene removed the builder's), and the
/// unit's state.
pub(super) fn pin_lines(s: &mut ScriptBuilder, version: &str) {
    s.line(&format!("want={}", quote(version)));
    s.line(&format!(
        "reported=$({AGENT} --version 2>/dev/null || true)"
    ));
    s.lines(&[
        "# the agent writes .version as it starts: give a just-started agent a moment",
        "timeout 30 sh -c 'until [ -s /opt/codedeploy-agent/.version ]; do sleep 1; done' || true",
        "written=$(cat /opt/codedeploy-agent/.version 2>/dev/null || true)",
        "state=$(systemctl is-active codedeploy-agent || true)",
        "echo \"codedeploy-agent --version: ${reported:-nothing}; .version: ${written:-missing}; $state\"",
        &format!("if ! {REPORTS_WANT}; then echo \"pin: codedeploy-agent --version says '${{reported:-nothing}}', expected $want\" >&2; exit 1; fi"),
        "if [ \"$written\" != \"agent_version: $want\" ]; then echo \"pin: the running agent wrote '${written:-nothing}' to /opt/codedeploy-agent/.version at this boot, expected 'agent_version: $want'\" >&2; exit 1; fi",
        "if [ \"$state\" != active ]; then echo 'codedeploy-agent is not active' >&2; exit 1; fi",
        "echo \"pin: $want\"",
    ]);
}

/// Built-in boot-test check (2.x with `command_port`): the running agent answers a
/// `status` request on its loopback command port with `running`. A real request, read
/// from the discovery file the agent wrote when it started: a hung or crashed agent whose
/// unit still looks active fails it.
pub fn command_port_check() -> super::Script {
    let mut s = ScriptBuilder::new("check: codedeploy-agent answers on its command port");
    s.mark("ask the running codedeploy-agent for its status on its loopback command port");
    s.line(&format!("discovery={COMMAND_PORT_FILE}"));
    s.line("rc=0");
    // One bounded command: wait for the discovery file, read the port and token, send
    // one JSON line, read one back. Exit 2: no port; 3: no connection.
    s.lines(&[
        "# the inner script's $1, $f, … expand in the inner bash, as meant",
        "# shellcheck disable=SC2016",
        "reply=$(timeout 45 bash -c '",
        "  f=$1",
        "  for _ in $(seq 30); do [ -s \"$f\" ] && break; sleep 1; done",
        "  [ -s \"$f\" ] || { echo \"$f is missing: the agent did not open its command port (enable_command_port)\" >&2; exit 2; }",
        "  json=$(cat \"$f\")",
        "  port=$(printf \"%s\" \"$json\" | sed -n \"s/.*\\\"port\\\"[[:space:]]*:[[:space:]]*\\([0-9][0-9]*\\).*/\\1/p\")",
        "  token=$(printf \"%s\" \"$json\" | sed -n \"s/.*\\\"token\\\"[[:space:]]*:[[:space:]]*\\\"\\([^\\\"]*\\)\\\".*/\\1/p\")",
        "  [ -n \"$port\" ] || { echo \"no port in $f\" >&2; exit 2; }",
        "  exec 3<>\"/dev/tcp/127.0.0.1/$port\" || { echo \"nothing listens on 127.0.0.1:$port\" >&2; exit 3; }",
        "  printf \"{\\\"command\\\":\\\"status\\\",\\\"token\\\":\\\"%s\\\"}\\n\" \"$token\" >&3",
        "  IFS= read -r -t 10 line <&3 || true",
        "  printf \"%s\\n\" \"$line\"",
        "' _ \"$discovery\") || rc=$?",
        "echo \"command port replied: ${reply:-nothing}\"",
        "if [ \"$rc\" -ne 0 ]; then echo \"command port: no answer from the running agent (exit $rc)\" >&2; exit 1; fi",
        "if echo \"$reply\" | grep -Eq '\"ok\": *true' && echo \"$reply\" | grep -Eq '\"status\": *\"running\"'; then",
    ]);
    s.line(&format!("  echo {}", quote(COMMAND_PORT_OK)));
    s.lines(&[
        "else",
        "  echo 'command port: the agent did not answer {\"ok\":true, status running}' >&2",
        "  exit 1",
        "fi",
    ]);
    s.finish()
}

/// Whether `$reported` (what `codedeploy-agent --version` printed) is `$want`: its first
/// line is the version, after the program's name and an optional `v`.
const REPORTS_WANT: &str =
    "echo \"$reported\" | head -n 1 | grep -Eq \"^(codedeploy-agent +)?v?$want( |\\$)\"";

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(dir, _)| dir)
}
