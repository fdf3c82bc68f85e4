//! The 2.x agent's built-in boot checks judge what the booted image answers: each fails
//! on its own when the image answers wrong, and the bake then leaves nothing.

use crate::support::{cli, emulator};

use cli::UBUNTU;
use emulator::*;
use serde_json::{Value, json};

/// Bakes the shipped Ubuntu recipe (pin 2.1.0) with `bad` answers in `region`: exit 1,
/// exactly one failed boot-test check, nothing left. Returns that check's event and
/// everything the run printed.
fn bake_failing_one_boot_check(region: &str, bad: &str) -> (Value, String) {
    let state = fresh_state(region, json!({ "bad_image": [bad] }));
    let out = bake_json(region, state.path(), &repo(UBUNTU), &[]);
    expect_exit(&out, 1);
    let events = events(&out);
    let failed: Vec<Value> = events
        .iter()
        .filter(|e| e["event"] == "check" && e["passed"] == false)
        .cloned()
        .collect();
    assert_eq!(failed.len(), 1, "one check fails with {bad}: {failed:#?}");
    assert_eq!(failed[0]["phase"], "boot-test", "{failed:#?}");
    rt().block_on(assert_nothing_left(&[region], &run_id(&events), false));
    (failed[0].clone(), show(&out))
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn an_agent_that_does_not_answer_on_its_command_port_fails_the_boot_test() {
    let (failed, said) =
        bake_failing_one_boot_check("ap-southeast-6", "codedeploy-agent-command-port");
    assert_eq!(
        failed["check"],
        "built-in: codedeploy-agent answers on its command port"
    );
    assert_eq!(
        failed["stdout"], "command port replied: nothing\n",
        "{failed:#}"
    );
    assert!(
        said.contains("nothing listens on 127.0.0.1")
            && said.contains("no answer from the running agent (exit 3)"),
        "{failed:#}\n{said}"
    );
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn an_agent_that_wrote_another_version_at_boot_fails_the_pin_check() {
    let (failed, said) =
        bake_failing_one_boot_check("ap-southeast-6", "codedeploy-agent-dot-version");
    assert_eq!(
        failed["check"],
        "built-in: codedeploy-agent runs the pinned 2.1.0"
    );
    assert!(
        failed["stdout"]
            .as_str()
            .unwrap()
            .contains(".version: agent_version: 2.0.1")
            && said.contains("wrote 'agent_version: 2.0.1'")
            && said.contains("expected 'agent_version: 2.1.0'"),
        "{failed:#}\n{said}"
    );
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_bake_of_a_1x_pin_still_bakes_and_says_the_pin_is_behind_with_the_fix() {
    let region = "ap-southeast-6";
    let state = fresh_state(region, json!({}));
    let out = bake_json(
        region,
        state.path(),
        &repo(UBUNTU),
        &["--var", "agent_version=1.7.1-110"],
    );
    expect_exit(&out, 0);
    let events = events(&out);
    let warning = events
        .iter()
        .find(|e| e["event"] == "message" && e["text"].as_str().unwrap().starts_with("warning:"))
        .unwrap_or_else(|| panic!("no warning message: {}", show(&out)));
    let text = warning["text"].as_str().unwrap();
    assert!(
        text.contains("1.7.1-110") && text.contains("pin `version: \"2.1.0\"`"),
        "{text}"
    );
    // The 1.x line's built-in checks: no command port.
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(state.path().join("m.json")).unwrap())
            .unwrap();
    assert_eq!(
        boot_check_names(&manifest),
        [
            "built-in: codedeploy-agent started after cloud-final",
            "built-in: codedeploy-agent runs the pinned 1.7.1-110",
            "agent active",
        ]
    );
    rt().block_on(assert_nothing_left(&[region], &run_id(&events), true));
}
