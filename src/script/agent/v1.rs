//! The 1.x line: a Ruby program, installed with Ruby first, versioned by its package.

use crate::recipe::model::{CodedeployAgent, Os};

use super::super::builder::ScriptBuilder;
use super::super::quote;
use super::{from_url, region_lines};

/// Installs the pin and fails unless the package manager reports exactly it.
pub(super) fn install(s: &mut ScriptBuilder, a: &CodedeployAgent, os: Os) {
    let version = a.version.as_str();
    s.mark(&format!(
        "codedeploy-agent {version}: the 1.x line (a Ruby program; its package says its version)"
    ));
    s.line(&format!("want={}", quote(version)));
    s.lines(&["work=$(mktemp -d)", "trap 'rm -rf \"$work\"' EXIT"]);
    match a.package_url.as_ref().map(|u| u.as_str()) {
        Some(url) if !url.is_empty() => from_url(
            s,
            version,
            url,
            os,
            "install it with the package manager (it brings ruby)",
        ),
        _ => from_bucket(s, version, os),
    }
    s.mark("verify the installed version equals the pin");
    s.line(&format!("installed=$({})", version_query(os)));
    s.lines(&[
        "if [ \"$installed\" != \"$want\" ]; then",
        "  echo \"amibake: codedeploy-agent is '$installed', expected '$want'\" >&2",
        "  exit 1",
        "fi",
        "echo \"codedeploy-agent $installed\"",
    ]);
}

/// The regional bucket's `install` script with an exact package (region from IMDSv2);
/// ruby, the agent's runtime, first.
fn from_bucket(s: &mut ScriptBuilder, version: &str, os: Os) {
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
    region_lines(s);
    s.mark(&format!(
        "install codedeploy-agent {version} from the regional bucket"
    ));
    s.lines(&[
        "curl -fsSL --retry 5 -o \"$work/install\" \"https://aws-codedeploy-${region}.s3.${region}.amazonaws.com/latest/install\"",
        "chmod +x \"$work/install\"",
    ]);
    s.line(&format!("\"$work/install\" -v {} {kind}", quote(&package)));
}

/// The pin check's lines: the package's version and the unit's state.
pub(super) fn pin_lines(s: &mut ScriptBuilder, version: &str, os: Os) {
    s.line(&format!("want={}", quote(version)));
    s.line(&format!("installed=$({})", version_query(os)));
    s.lines(&[
        "state=$(systemctl is-active codedeploy-agent || true)",
        "echo \"codedeploy-agent $installed is $state\"",
        "if [ \"$installed\" != \"$want\" ]; then echo \"pin: expected $want\" >&2; exit 1; fi",
        "if [ \"$state\" != active ]; then echo 'codedeploy-agent is not active' >&2; exit 1; fi",
        "echo \"pin: $installed\"",
    ]);
}

/// The command that prints the installed 1.x agent's version (`1.7.1-110`).
fn version_query(os: Os) -> &'static str {
    if os.is_rpm() {
        "rpm -q --qf '%{VERSION}-%{RELEASE}' codedeploy-agent"
    } else {
        "dpkg-query -W -f='${Version}' codedeploy-agent"
    }
}
