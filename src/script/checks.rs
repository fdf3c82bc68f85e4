//! Checks: the recipe's own, and the built-in pin check.

use crate::recipe::model::{Check, Os};

use super::builder::ScriptBuilder;
use super::{Script, quote};

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
pub(super) fn agent_version_query(os: Os) -> &'static str {
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
