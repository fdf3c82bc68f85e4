//! The emulator's checks answer from what the bake's own steps did on the instance (its
//! model of packages, files, units and versions), not from a table of expected values:
//! the shipped AL2023 recipe with one step's script replaced by `true` must fail the
//! validation or the boot test that looks for what the step would have done, and a step
//! that runs a command the emulator does not know fails instead of "succeeding".

use crate::support::{cli, emulator};

use cli::{AL2023, show};
use emulator::*;
use serde_json::{Value, json};

/// This module's region (the recipe copies to us-west-2, as the main bake test's does).
const REGION: &str = "ap-northeast-3";

/// The shipped AL2023 recipe with `step` (its exact text) replaced by a shell step
/// `name` whose script is `script`, under a recipe name unique to the run.
fn recipe_with(dir: &std::path::Path, step: &str, name: &str, script: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(repo(AL2023)).expect("the shipped recipe");
    assert!(text.contains(step), "the recipe has the step {step:?}");
    let replaced = text
        .replace(step, &format!("  - name: {name}\n    shell: {script:?}\n"))
        .replace(
            "name: al2023-tomcat-codedeploy\n",
            &format!("name: {}\n", unique("honest")),
        );
    let path = dir.join("recipe.yaml");
    std::fs::write(&path, replaced).expect("write the recipe");
    path
}

const AGENT_STEP: &str = "  - codedeploy_agent:\n      version: \"{{ agent_version }}\"\n      start_after_cloud_init: true\n";
const ENABLE_TOMCAT_STEP: &str =
    "  - name: enable tomcat\n    shell: |\n      systemctl enable tomcat9\n";
const PACKAGES_STEP: &str = "  - name: java and tomcat\n    packages:\n      upgrade: true\n      install: [java-17-amazon-corretto-headless, tomcat9, aws-cfn-bootstrap]\n";

/// Bakes `recipe`: exit 1, nothing left; the events and everything the run printed.
fn failing_bake(recipe: &std::path::Path, state: &std::path::Path) -> (Vec<Value>, String) {
    let out = bake_json(REGION, state, recipe, &[]);
    expect_exit(&out, 1);
    let events = events(&out);
    rt().block_on(assert_nothing_left(
        &[REGION, "us-west-2"],
        &run_id(&events),
        false,
    ));
    (events, show(&out))
}

/// The names of the checks of `phase` that failed.
fn failed_checks<'a>(events: &'a [Value], phase: &str) -> Vec<&'a str> {
    events
        .iter()
        .filter(|e| e["event"] == "check" && e["phase"] == phase && e["passed"] == false)
        .map(|e| e["check"].as_str().expect("a check name"))
        .collect()
}

fn checks_run(events: &[Value], phase: &str) -> usize {
    let run = events
        .iter()
        .filter(|e| e["event"] == "check" && e["phase"] == phase);
    run.count()
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn without_the_agent_step_the_validation_finds_no_agent_and_no_drop_in() {
    let state = fresh_state(REGION, json!({}));
    let recipe = recipe_with(state.path(), AGENT_STEP, "no agent", "true");
    let (events, said) = failing_bake(&recipe, state.path());
    assert_eq!(
        failed_checks(&events, "validate"),
        ["agent pinned", "ordering drop-in present"],
        "{said}"
    );
    assert_eq!(checks_run(&events, "boot-test"), 0, "{said}");
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn without_enabling_tomcat_the_boot_test_finds_it_disabled() {
    let state = fresh_state(REGION, json!({}));
    let recipe = recipe_with(state.path(), ENABLE_TOMCAT_STEP, "enable tomcat", "true");
    let (events, said) = failing_bake(&recipe, state.path());
    assert!(failed_checks(&events, "validate").is_empty(), "{said}");
    assert_eq!(
        failed_checks(&events, "boot-test"),
        ["tomcat enabled"],
        "{said}"
    );
    let check = events
        .iter()
        .find(|e| e["event"] == "check" && e["check"] == "tomcat enabled")
        .expect("the tomcat check's event");
    assert_eq!(check["stdout"], "disabled\n", "{check:#}");
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn without_the_packages_step_enabling_tomcat_fails_for_want_of_its_unit() {
    let state = fresh_state(REGION, json!({}));
    let recipe = recipe_with(state.path(), PACKAGES_STEP, "java and tomcat", "true");
    let (events, said) = failing_bake(&recipe, state.path());
    assert_eq!(checks_run(&events, "validate"), 0, "{said}");
    assert!(
        said.contains("enable tomcat") && said.contains("Unit file tomcat9.service does not exist"),
        "{said}"
    );
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_step_running_a_command_the_emulator_does_not_know_fails() {
    let state = fresh_state(REGION, json!({}));
    let recipe = recipe_with(
        state.path(),
        ENABLE_TOMCAT_STEP,
        "enable tomcat",
        "frobnicate --all && systemctl enable tomcat9",
    );
    let (events, said) = failing_bake(&recipe, state.path());
    assert_eq!(checks_run(&events, "validate"), 0, "{said}");
    assert!(
        said.contains("unrecognised command `frobnicate` in a step"),
        "{said}"
    );
}
