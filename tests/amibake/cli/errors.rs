//! How a command fails under `--json`, offline: whatever stops it — a bad flag, a bad
//! recipe (`validate`, `plan`), or, before its first AWS call, the manifest path, the
//! state directory, the AWS configuration — stdout holds JSON only, ending with exactly
//! one `error` event naming the exit code the process ends with.
//!
//! Every run of a command that calls AWS points its clients at a closed port: none of
//! these failures may need the network, and none reaches it.

use crate::support::cli;

use std::path::Path;
use std::process::{Command, Output};

use cli::*;
use serde_json::Value;

/// A port nothing listens on: a call that got this far would fail, not hang.
const CLOSED: &str = "http://127.0.0.1:9";

/// `amibake --json ARGS…` with static credentials, region us-east-1, the state
/// directory `state` and no AWS profile or instance metadata of the machine.
pub(super) fn offline(state: &Path, args: &[&str]) -> Command {
    let mut cmd = command(["--json", "--endpoint-url", CLOSED]);
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", state.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            state.join("no-aws-credentials"),
        )
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_ENDPOINT_URL")
        .env("AMIBAKE_STATE_DIR", state)
        .args(args);
    cmd
}

pub(super) fn run(mut cmd: Command) -> Output {
    cmd.output().expect("amibake runs")
}

#[test]
fn an_unwritable_manifest_path_is_one_error_event_exit_2() {
    let state = tempfile::tempdir().expect("tempdir");
    let manifest = state.path().join("no-such-dir/m.json");
    let manifest = manifest.to_str().expect("a UTF-8 path");
    let out = run(offline(
        state.path(),
        &["bake", AL2023, "--manifest", manifest],
    ));
    expect_one_error(&out, 2, "cannot write the manifest");
}

#[test]
fn a_state_dir_that_is_a_file_is_one_error_event_exit_2() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let state = write_file(tmp.path(), "state", "a file, not a directory");
    let manifest = tmp.path().join("m.json");
    let manifest = manifest.to_str().expect("a UTF-8 path");
    let out = run(offline(
        &state,
        &["bake", AL2023, AL2023, "--manifest", manifest],
    ));
    expect_one_error(&out, 2, "cannot write the run journal");
    // Every journal is written before any bake is announced: none started.
    let out = stdout(&out);
    let started = out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["event"] == "start");
    assert_eq!(
        started, None,
        "no bake may start when a journal fails\n{out}"
    );
}

#[test]
fn an_aws_configuration_without_a_region_is_one_error_event_exit_2() {
    let state = tempfile::tempdir().expect("tempdir");
    let mut cmd = offline(state.path(), &["sweep", "--dry-run"]);
    // A profile the (absent) config file does not have: it names no region either.
    cmd.env_remove("AWS_REGION")
        .env("AWS_PROFILE", "amibake-no-such-profile");
    let out = run(cmd);
    expect_one_error(&out, 2, "no AWS region");
}

/// A recipe with three mistakes: the AMI id (3:8), an unknown key (6:3), no steps (7:8).
const BROKEN: &str = "name: web-broken\nsource:\n  ami: ami-12345\nbuilder:\n  iam_instance_profile: p\n  volume_size: 16\nsteps: []\nimage:\n  name: \"{{ recipe }}-{{ timestamp }}\"\n";

#[test]
fn a_bad_recipe_is_one_error_event_exit_2_with_every_error() {
    let state = tempfile::tempdir().expect("tempdir");
    let recipe = write_file(state.path(), "broken.yaml", BROKEN);
    let recipe = recipe.to_str().expect("a UTF-8 path");
    for args in [vec!["bake", recipe], vec!["plan", "--check", recipe]] {
        let out = run(offline(state.path(), &args));
        let error = expect_one_error(&out, 2, &format!("{recipe}:3:8: "));
        assert_eq!(error["count"], 3, "{args:?}: {error}");
        assert_eq!(error["truncated"], false, "{args:?}: {error}");
        let errors = error["errors"].as_array().expect("errors is a list");
        assert_eq!(errors[0]["file"], recipe, "{args:?}: {error}");
        assert_eq!(errors[0]["line"], 3, "{args:?}: {error}");
    }
}

#[test]
fn validate_and_plan_of_a_bad_recipe_end_with_one_error_event_after_the_validate_event() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let recipe = write_file(tmp.path(), "broken.yaml", BROKEN);
    let recipe = recipe.to_str().expect("a UTF-8 path");
    for command in ["validate", "plan"] {
        let out = amibake(["--json", command, recipe]);
        let error = expect_one_error(&out, 2, "the recipe has 3 errors");
        // The errors are the `validate` event's; the `error` event only counts them.
        assert_eq!(error["count"], 3, "{command}: {error}");
        assert!(error.get("errors").is_none(), "{command}: {error}");
        let events = json_lines(&out);
        assert_eq!(events.len(), 2, "{command}: {}", show(&out));
        assert_eq!(events[0]["event"], "validate", "{command}: {}", show(&out));
        assert_eq!(events[0]["ok"], false, "{command}: {}", show(&out));
        assert_eq!(events[0]["count"], 3, "{command}: {}", show(&out));
        assert_eq!(events[0]["error"]["line"], 3, "{command}: {}", show(&out));
    }
}

#[test]
fn validate_of_several_recipes_ends_with_one_error_event_counting_the_bad_ones() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let broken = write_file(tmp.path(), "broken.yaml", BROKEN);
    let broken = broken.to_str().expect("a UTF-8 path");
    let out = amibake(["--json", "validate", AL2023, broken, UBUNTU]);
    let error = expect_one_error(&out, 2, "1 of 3 recipes is invalid");
    assert_eq!(error["count"], 3, "{error}");
    let oks: Vec<Value> = json_lines(&out)
        .iter()
        .filter(|e| e["event"] == "validate")
        .map(|e| e["ok"].clone())
        .collect();
    assert_eq!(oks, [true, false, true], "{}", show(&out));
}

#[test]
fn a_usage_error_under_json_is_one_error_event_exit_2() {
    for args in [
        vec!["--json", "validate", "--no-such-flag", AL2023],
        vec!["plan", "--json"],
        vec!["--json", "no-such-command"],
        vec!["--json", "plan", AL2023, "--copy-to", "not a region"],
    ] {
        let out = amibake(&args);
        let error = expect_one_error(&out, 2, "");
        let said = error["error"].as_str().unwrap_or_default();
        assert!(
            !said.is_empty() && !said.starts_with("error:"),
            "{args:?}: {error}"
        );
        assert!(
            !said.contains("Usage:") && !said.contains("--help"),
            "{args:?}: the usage is for --help: {error}"
        );
    }
    let error = expect_one_error(&amibake(["--json", "validate", "--bogus"]), 2, "--bogus");
    assert!(
        error["error"]
            .as_str()
            .is_some_and(|e| e.contains("unexpected argument"))
    );
}

/// `revoke` and `restore` take an AMI id: anything else is refused before any AWS call
/// (the clients point at a closed port, so a call would fail with exit 1, not 2).
#[test]
fn revoke_and_restore_refuse_a_value_that_is_not_an_ami_id_before_any_call() {
    let state = tempfile::tempdir().expect("tempdir");
    for ami in [
        "ami-123;rm -rf /",
        "",
        "ami-0123456789ABCDEFG",
        "/amibake/web/prod",
    ] {
        for command in [
            vec!["revoke", "--ami", ami, "--reason", "bad build"],
            vec!["restore", "--ami", ami],
        ] {
            let out = run(offline(state.path(), &command));
            let error = expect_one_error(&out, 2, "invalid AMI id");
            assert!(
                error["error"].as_str().is_some_and(|e| e.contains("--ami")),
                "{command:?}: {error}"
            );
        }
    }
}

#[test]
fn a_usage_error_without_json_and_help_with_it_stay_clap_text() {
    let out = amibake(["validate", "--no-such-flag", AL2023]);
    expect_exit(&out, 2);
    assert!(stdout(&out).is_empty(), "{}", show(&out));
    assert!(stderr(&out).starts_with("error: "), "{}", show(&out));
    assert!(stderr(&out).contains("Usage:"), "{}", show(&out));
    for help in ["--help", "--version"] {
        let out = amibake(["--json", help]);
        expect_exit(&out, 0);
        assert!(
            stdout(&out).starts_with("amibake") || stdout(&out).contains("Usage:"),
            "{}",
            show(&out)
        );
        assert!(!stdout(&out).contains("\"event\""), "{}", show(&out));
    }
}

/// Every line of stdout as JSON; fails naming the line that is not.
fn json_lines(out: &Output) -> Vec<Value> {
    stdout(out)
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{}", show(out)))
        })
        .collect()
}

/// Asserts that the run exited `code` and that its stdout is JSON lines holding exactly
/// one `error` event, its last line, whose `exit_code` is `code` and whose `error`
/// contains `says`; returns that event.
pub(super) fn expect_one_error(out: &Output, code: i32, says: &str) -> Value {
    let shown = show(out);
    expect_exit(out, code);
    let events = json_lines(out);
    let errors: Vec<&Value> = events.iter().filter(|e| e["event"] == "error").collect();
    assert_eq!(errors.len(), 1, "one error event expected\n{shown}");
    let error = errors[0];
    assert_eq!(
        events.last(),
        Some(error),
        "the error event comes last\n{shown}"
    );
    assert_eq!(error["exit_code"], code, "{shown}");
    assert!(
        error["error"].as_str().is_some_and(|e| e.contains(says)),
        "the error should say {says:?}\n{shown}"
    );
    error.clone()
}
