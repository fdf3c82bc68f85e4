//! `amibake bake --history ssm` against the local emulator: the wait history kept in the
//! account, one SSM parameter per recipe, so a runner with an empty state directory bakes
//! with what the last runner learned. Each test has its own region and recipe name.

use crate::support::emulator;

use std::path::{Path, PathBuf};

use emulator::*;

/// A one-step recipe, unique to the test.
fn recipe(dir: &Path, label: &str) -> (PathBuf, String) {
    let name = unique(label);
    let text = format!(
        "name: {name}\nsource:\n  ssm_parameter: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64\nbuilder: {{ instance_type: t3.small, iam_instance_profile: amibake-builder }}\nsteps:\n  - name: hello\n    shell: echo hello\nimage:\n  name: \"{{{{ recipe }}}}-{{{{ run_id }}}}\"\n"
    );
    let path = dir.join(format!("{label}.yaml"));
    std::fs::write(&path, text).unwrap();
    (path, name)
}

/// The flags of a runner that keeps its wait history in the account.
const HISTORY: &[&str] = &["--history", "ssm"];

/// The `history` events of a run: (action, waits).
fn history_events(evs: &[serde_json::Value]) -> Vec<(String, u64)> {
    evs.iter()
        .filter(|e| e["event"] == "history")
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["waits"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The parameter's value, parsed, and its tags.
fn parameter(region: &str, name: &str) -> (serde_json::Value, Vec<(String, String)>) {
    let ssm = ssm(region);
    rt().block_on(async {
        let got = ssm.get_parameter().name(name).send().await.unwrap();
        let value = got.parameter().unwrap().value().unwrap().to_string();
        let tags = ssm
            .list_tags_for_resource()
            .resource_type(aws_sdk_ssm::types::ResourceTypeForTagging::Parameter)
            .resource_id(name)
            .send()
            .await
            .unwrap();
        let tags = tags
            .tag_list()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        (
            serde_json::from_str(&value).unwrap_or(serde_json::Value::Null),
            tags,
        )
    })
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_fresh_runner_reads_the_history_the_last_runner_saved_in_the_account() {
    let region = "ap-southeast-2";
    let dir = tempfile::tempdir().unwrap();
    let (recipe, name) = recipe(dir.path(), "history");
    let param = format!("/amibake-wait-history/{name}");

    let first_runner = tempfile::tempdir().unwrap();
    let out = bake_json(region, first_runner.path(), &recipe, HISTORY);
    expect_exit(&out, 0);
    let first = history_events(&events(&out));
    assert_eq!(first[0], ("not_found".to_string(), 0), "{first:?}");
    assert_eq!(first[1].0, "created", "{first:?}");
    let saved = first[1].1;
    assert!(
        saved >= 3,
        "the instance, step and image waits at least: {first:?}"
    );

    let (value, tags) = parameter(region, &param);
    assert_eq!(value["version"], 1, "{value}");
    let waits = value["waits"].as_object().unwrap();
    assert_eq!(waits.len() as u64, saved);
    assert!(waits.keys().any(|k| k.starts_with("ready:")), "{waits:?}");
    assert!(
        tags.contains(&("amibake:created-by".into(), "amibake".into())),
        "{tags:?}"
    );
    assert!(
        tags.contains(&("amibake:recipe".into(), name.clone())),
        "{tags:?}"
    );

    // Another runner: nothing on disk, the history comes from the account.
    let fresh_runner = tempfile::tempdir().unwrap();
    assert!(!fresh_runner.path().join("timings.json").exists());
    let out = bake_json(region, fresh_runner.path(), &recipe, HISTORY);
    expect_exit(&out, 0);
    let second = history_events(&events(&out));
    assert_eq!(second[0], ("read".to_string(), saved), "{second:?}");
    assert!(
        ["updated", "unchanged"].contains(&second[1].0.as_str()),
        "{second:?}"
    );
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn runners_saving_at_once_all_succeed_and_leave_a_readable_history() {
    let region = "ap-southeast-3";
    let dir = tempfile::tempdir().unwrap();
    let (recipe, name) = recipe(dir.path(), "racing");
    let runners: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();

    let children: Vec<_> = runners
        .iter()
        .map(|state| {
            bake_command(region, state.path(), &recipe, HISTORY)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        expect_exit(&out, 0);
        let saved = history_events(&events(&out));
        assert!(
            ["created", "updated", "unchanged"].contains(&saved[1].0.as_str()),
            "every runner saved (the last one wins): {saved:?}"
        );
    }
    let (value, _) = parameter(region, &format!("/amibake-wait-history/{name}"));
    assert_eq!(
        value["version"], 1,
        "a whole history, not a torn one: {value}"
    );
    assert!(!value["waits"].as_object().unwrap().is_empty(), "{value}");
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_parameter_that_holds_no_history_is_read_as_none_and_rewritten() {
    let region = "ap-southeast-4";
    let dir = tempfile::tempdir().unwrap();
    let (recipe, name) = recipe(dir.path(), "damaged");
    let param = format!("/amibake-wait-history/{name}");
    rt().block_on(async {
        ssm(region)
            .put_parameter()
            .name(&param)
            .value("{\"version\": 1, \"waits\": {\"ready\"")
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .send()
            .await
            .unwrap();
    });

    let state = tempfile::tempdir().unwrap();
    let out = bake_json(region, state.path(), &recipe, HISTORY);

    expect_exit(&out, 0);
    let seen = history_events(&events(&out));
    assert_eq!(seen[0], ("unreadable".to_string(), 0), "{seen:?}");
    assert_eq!(seen[1].0, "updated", "{seen:?}");
    let (value, _) = parameter(region, &param);
    assert_eq!(value["version"], 1, "{value}");
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn an_unknown_history_location_is_refused_before_anything_starts() {
    let state = tempfile::tempdir().unwrap();
    let out = amibake("ap-southeast-1", state.path())
        .args(["bake", "--history", "s3://bucket/history"])
        .arg(repo("bench/recipe.yaml"))
        .output()
        .unwrap();
    expect_exit(&out, 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("expected `local`, `ssm`"), "{stderr}");
    assert!(!state.path().join("runs").exists());
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_bake_stopped_by_its_preflight_leaves_no_history_parameter() {
    let region = "eu-south-2";
    configure(
        region,
        serde_json::json!({ "regions_not_opted_in": ["me-south-1"] }),
    );
    let dir = tempfile::tempdir().unwrap();
    let (recipe, name) = recipe(dir.path(), "stopped");
    let text = std::fs::read_to_string(&recipe).unwrap() + "  copy_to: [me-south-1]\n";
    std::fs::write(&recipe, text).unwrap();

    let state = tempfile::tempdir().unwrap();
    let out = bake_json(region, state.path(), &recipe, HISTORY);

    expect_exit(&out, 2);
    let seen = history_events(&events(&out));
    assert_eq!(
        seen,
        [("not_found".to_string(), 0), ("unchanged".to_string(), 0)]
    );
    let param = format!("/amibake-wait-history/{name}");
    let found = rt().block_on(async { ssm(region).get_parameter().name(&param).send().await });
    let code = found
        .err()
        .and_then(|e| e.into_service_error().meta().code().map(str::to_string));
    assert_eq!(
        code.as_deref(),
        Some("ParameterNotFound"),
        "nothing was created"
    );
}
