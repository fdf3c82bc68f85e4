//! Every script amibake renders passes shellcheck, for every step kind and OS family.
//!
//! The test command (scripts/test.sh) installs shellcheck into target/venv; set
//! AMIBAKE_SHELLCHECK to use another binary.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use amibake::plan::Plan;
use amibake::recipe::{self, MissingSecrets, VarInputs};
use amibake::script::StepCommand;

fn shellcheck() -> PathBuf {
    if let Ok(p) = std::env::var("AMIBAKE_SHELLCHECK") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/venv/bin/shellcheck");
    if venv.exists() {
        return venv;
    }
    let on_path = Command::new("shellcheck").arg("--version").output();
    assert!(
        on_path.is_ok_and(|o| o.status.success()),
        "shellcheck not found: run scripts/test.sh (it installs shellcheck into target/venv) or set AMIBAKE_SHELLCHECK"
    );
    PathBuf::from("shellcheck")
}

/// Runs shellcheck on `script`; returns its complaints, if any.
fn check(bin: &Path, script: &str) -> Option<String> {
    let mut child = Command::new(bin)
        .args(["--shell=bash", "--severity=style", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("shellcheck starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write script");
    let out = child.wait_with_output().expect("shellcheck runs");
    (!out.status.success()).then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Every script of the plan of `file` rendered with `vars`.
fn scripts(file: &str, vars: &[(&str, &str)]) -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let inputs = VarInputs {
        vars: vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..VarInputs::default()
    };
    let builtins = amibake::run::builtins("us-east-1");
    let loaded = recipe::load(&path, &inputs, &builtins, MissingSecrets::Error)
        .unwrap_or_else(|e| panic!("{file} loads: {e}"));
    let plan = Plan::new(&loaded, "us-east-1", &builtins.run_id, &Default::default());
    let mut out = Vec::new();
    for step in &plan.steps {
        match &step.command {
            StepCommand::Shell { script } | StepCommand::Reboot { then: script } => {
                out.push((format!("{file} step {}", step.name), script.text.clone()));
            }
            StepCommand::Document { .. } => {}
        }
    }
    if let Some(b) = &plan.boot_test {
        out.push((format!("{file} boot-test wait"), b.wait.text.clone()));
    }
    if let Some(h) = &plan.hygiene {
        out.push((format!("{file} image hygiene"), h.text.clone()));
    }
    let checks = plan
        .validate
        .iter()
        .chain(plan.boot_test.iter().flat_map(|b| b.checks.iter()));
    for c in checks {
        out.push((format!("{file} check {}", c.name), c.script.text.clone()));
    }
    out
}

/// What shellcheck says of each of `rendered` that it complains about, with the script
/// (its name followed by `suffix`).
fn complaints(bin: &Path, rendered: &[(String, String)], suffix: &str) -> Vec<String> {
    rendered
        .iter()
        .filter_map(|(what, script)| {
            check(bin, script).map(|complaint| format!("--- {what}{suffix}\n{script}\n{complaint}"))
        })
        .collect()
}

fn assert_clean(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "shellcheck failed:\n{}",
        failures.join("\n")
    );
}

#[test]
#[ignore = "needs shellcheck: scripts/test.sh installs it (AMIBAKE_SHELLCHECK, --include-ignored)"]
fn every_step_kind_renders_shellcheck_clean_scripts_on_every_os() {
    let bin = shellcheck();
    let mut failures = Vec::new();
    let mut count = 0;
    for os in ["al2023", "al2", "ubuntu", "debian"] {
        let rendered = scripts("tests/fixtures/every-step.yaml", &[("os", os)]);
        count += rendered.len();
        failures.extend(complaints(&bin, &rendered, &format!(" ({os})")));
    }
    assert!(
        count >= 4 * 10,
        "expected every step kind on every OS, rendered {count}"
    );
    assert_clean(&failures);
}

#[test]
#[ignore = "needs shellcheck: scripts/test.sh installs it (AMIBAKE_SHELLCHECK, --include-ignored)"]
fn shipped_recipes_render_shellcheck_clean_scripts() {
    let bin = shellcheck();
    let mut failures = Vec::new();
    for file in [
        "recipes/al2023-tomcat-codedeploy.yaml",
        "recipes/ubuntu-2404-codedeploy.yaml",
    ] {
        failures.extend(complaints(&bin, &scripts(file, &[]), ""));
    }
    assert_clean(&failures);
}

#[test]
#[ignore = "needs shellcheck: scripts/test.sh installs it (AMIBAKE_SHELLCHECK, --include-ignored)"]
fn shellcheck_catches_a_bad_script() {
    // Proves the harness would notice: an unquoted variable in a test is a classic SC2086.
    let bin = shellcheck();
    assert!(check(&bin, "#!/bin/bash\nx=\"a b\"\nrm $x\n").is_some());
}

/// The update probe (`rebuild:`, `amibake outdated`) on every OS family: apt, dnf with
/// AL2023's release check, yum.
#[test]
#[ignore = "needs shellcheck: scripts/test.sh installs it (AMIBAKE_SHELLCHECK, --include-ignored)"]
fn the_update_probe_renders_shellcheck_clean_scripts_on_every_os() {
    use amibake::recipe::model::Os;
    let bin = shellcheck();
    let rendered: Vec<(String, String)> = [Os::Al2023, Os::Al2, Os::Ubuntu, Os::Debian]
        .into_iter()
        .map(|os| {
            (
                format!("update probe ({os})"),
                amibake::script::probe(os).text,
            )
        })
        .collect();
    assert_clean(&complaints(&bin, &rendered, ""));
}
