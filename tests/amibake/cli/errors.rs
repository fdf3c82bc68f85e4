//! How a command that calls AWS fails under `--json`, offline: whatever stops it before
//! its first AWS call — the manifest path, the state directory, the AWS configuration, a
//! bad recipe — stdout holds JSON only, with exactly one `error` event naming the exit
//! code the process ends with.
//!
//! Every run here points the AWS clients at a closed port: none of these failures may
//! need the network, and none reaches it.

use crate::support::cli;

use std::path::Path;
use std::process::{Command, Output};

use cli::*;
use serde_json::Value;

/// A port nothing listens on: a call that got this far would fail, not hang.
const CLOSED: &str = "http://127.0.0.1:9";

/// `amibake --json ARGS…` with static credentials, region us-east-1, the state
/// directory `state` and no AWS profile or instance metadata of the machine.
fn offline(state: &Path, args: &[&str]) -> Command {
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

fn run(mut cmd: Command) -> Output {
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

#[test]
fn a_bad_recipe_is_one_error_event_exit_2_with_every_error() {
    // Three mistakes: the AMI id (3:8), an unknown key (6:3), no steps (7:8).
    let state = tempfile::tempdir().expect("tempdir");
    let recipe = write_file(
        state.path(),
        "broken.yaml",
        "name: web-broken\nsource:\n  ami: ami-12345\nbuilder:\n  iam_instance_profile: p\n  volume_size: 16\nsteps: []\nimage:\n  name: \"{{ recipe }}-{{ timestamp }}\"\n",
    );
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

/// Asserts that the run exited `code` and that its stdout is JSON lines holding exactly
/// one `error` event, whose `exit_code` is `code` and whose `error` contains `says`;
/// returns that event.
fn expect_one_error(out: &Output, code: i32, says: &str) -> Value {
    let shown = format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    );
    assert_eq!(out.status.code(), Some(code), "{shown}");
    let events: Vec<Value> = stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{shown}")))
        .collect();
    let errors: Vec<&Value> = events.iter().filter(|e| e["event"] == "error").collect();
    assert_eq!(errors.len(), 1, "one error event expected\n{shown}");
    let error = errors[0];
    assert_eq!(error["exit_code"], code, "{shown}");
    assert!(
        error["error"].as_str().is_some_and(|e| e.contains(says)),
        "the error should say {says:?}\n{shown}"
    );
    error.clone()
}
