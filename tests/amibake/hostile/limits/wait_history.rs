//! A poisoned wait history (the state directory's `timings.json`, the account's SSM
//! parameter): ignored with a warning, and the bake goes on cold.

use std::path::Path;

use amibake::aws::history::account::DEFAULT_PREFIX;
use amibake::bake::{Bake, BakeOptions, InAccount, WaitHistory};
use amibake::journal::Journal;
use amibake::plan::{Overrides, Plan};
use amibake::recipe::{self, MissingSecrets, VarInputs};
use aws_smithy_mocks::mock;

use crate::support::bake_mocks::{self as mocks, HOME, Mocks, ONE_STEP, RUN_ID};
use crate::support::cli::write_file;

/// Windows no wait could have taken, each kind in its own bake: the first made
/// `Duration::from_secs_f64` panic in the middle of a bake.
const POISONS: [(&str, &str); 5] = [
    ("huge", r#"{"lo": 1e300, "hi": 1e300}"#),
    ("huge hi", r#"{"lo": 0.0, "hi": 1.7976931348623157e308}"#),
    ("negative", r#"{"lo": -5.0, "hi": -1.0}"#),
    ("inverted", r#"{"lo": 9.0, "hi": 2.0}"#),
    ("u64 max", r#"{"lo": 0.0, "hi": 18446744073709551615.0}"#),
];

/// The wait-history keys a mocked bake of [`ONE_STEP`] asks about: learned by baking once.
async fn keys_a_bake_waits_on() -> Vec<String> {
    let mocks = Mocks::new();
    let reporter = mocks::reporter();
    let dir = tempfile::tempdir().unwrap();
    let history = std::sync::Arc::new(amibake::aws::history::History::in_memory());
    let bake = bake_with(mocks.aws(), &reporter, dir.path(), history.clone()).await;
    bake.run().await.expect("a clean bake");
    bake.cleanup(false).await;
    let keys: Vec<String> = history.learned().into_keys().collect();
    assert!(keys.len() >= 3, "the bake learned its waits: {keys:?}");
    keys
}

/// A bake of [`ONE_STEP`] as `mocks::bake` makes it, but waiting on `history`.
async fn bake_with<'a>(
    aws: amibake::aws::Aws,
    reporter: &'a amibake::report::Reporter,
    dir: &Path,
    history: std::sync::Arc<amibake::aws::history::History>,
) -> Bake<'a> {
    let path = dir.join("recipe.yaml");
    std::fs::write(&path, ONE_STEP).unwrap();
    let loaded = recipe::load(
        &path,
        &VarInputs::default(),
        &amibake::run::builtins(HOME),
        MissingSecrets::Error,
    )
    .expect("the test recipe loads");
    let plan = Plan::new(&loaded, HOME, RUN_ID, &Overrides::default());
    let journal = Journal::create(dir, RUN_ID, &plan.recipe, HOME)
        .await
        .unwrap();
    let options = BakeOptions {
        poll_scale: 1.0,
        verbose: false,
        history,
    };
    Bake::new(aws, plan, loaded.stable_text, reporter, journal, options)
}

fn poisoned_history(keys: &[String], window: &str) -> String {
    let waits: Vec<String> = keys.iter().map(|k| format!("{k:?}: {window}")).collect();
    format!(r#"{{"version": 1, "waits": {{{}}}}}"#, waits.join(", "))
}

/// Runs the bake (then its cleanup) in a task of its own, so a panic is a failed
/// assertion naming the poison, not a crashed test.
async fn bake_survives(mocks: &Mocks, waits: WaitHistory, dir: &Path, what: &str) {
    // The bake borrows its reporter; a task needs what it holds for good.
    let reporter: &'static amibake::report::Reporter = Box::leak(Box::new(mocks::reporter()));
    let bake = bake_with(mocks.aws(), reporter, dir, waits.history.clone()).await;
    let local = tokio::task::LocalSet::new();
    let task = async move {
        let result = bake.run().await.map(|_| ()).map_err(|e| e.to_string());
        bake.cleanup(false).await;
        result
    };
    let ran = local
        .run_until(async move { tokio::task::spawn_local(task).await })
        .await;
    match ran {
        Ok(result) => assert!(result.is_ok(), "{what}: the bake failed: {result:?}"),
        Err(e) => panic!("{what}: the bake panicked: {e}"),
    }
    let world = mocks.world();
    assert!(
        world
            .instances
            .values()
            .all(|s| s == "terminated" || s == "shutting-down"),
        "{what}: an instance was left: {:?}",
        world.instances
    );
}

/// Opens the wait history from the file `file` and, when `parameter` names one, from the
/// account's SSM parameter too, for the mock recipe; asserts it warned that `source` was
/// `ignored` (the warning's word for why); `what` names the case in the failure.
async fn open_warned(
    mocks: &Mocks,
    parameter: Option<&str>,
    file: std::path::PathBuf,
    (source, ignored): (&str, &str),
    what: &str,
) -> WaitHistory {
    let reporter = mocks::reporter();
    let waits = WaitHistory::open(file, &reporter);
    if let Some(parameter) = parameter {
        let aws = mocks.aws();
        let history = &waits.history;
        InAccount::read(
            &aws,
            aws.region(),
            parameter,
            "mock-bake",
            history,
            &reporter,
        )
        .await;
    }
    let said: Vec<String> = reporter
        .recorded()
        .text
        .into_iter()
        .filter(|l| l.contains("warning: wait history"))
        .collect();
    assert!(
        said.iter()
            .any(|l| l.contains(source) && l.contains(ignored)),
        "{what}: no warning that {source} was {ignored}: {said:?}"
    );
    waits
}

#[tokio::test(start_paused = true)]
async fn a_poisoned_timings_json_is_ignored_with_a_warning_and_the_bake_succeeds() {
    let keys = keys_a_bake_waits_on().await;
    for (what, window) in POISONS {
        let dir = tempfile::tempdir().unwrap();
        let file = write_file(dir.path(), "timings.json", poisoned_history(&keys, window));
        let mocks = Mocks::new();
        let waits = open_warned(&mocks, None, file, ("timings.json", "ignored"), what).await;
        bake_survives(&mocks, waits, dir.path(), what).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_poisoned_history_parameter_is_ignored_with_a_warning_and_the_bake_succeeds() {
    let keys = keys_a_bake_waits_on().await;
    for (what, window) in POISONS {
        let dir = tempfile::tempdir().unwrap();
        let value = poisoned_history(&keys, window);
        let get = mock!(aws_sdk_ssm::Client::get_parameter).then_output(move || {
            let parameter = aws_sdk_ssm::types::Parameter::builder()
                .name(format!("{DEFAULT_PREFIX}/mock-bake"))
                .value(value.clone())
                .build();
            aws_sdk_ssm::operation::get_parameter::GetParameterOutput::builder()
                .parameter(parameter)
                .build()
        });
        let mut mocks = Mocks::new();
        mocks.override_ssm(&get);
        let parameter = format!("{DEFAULT_PREFIX}/mock-bake");
        let waits = open_warned(
            &mocks,
            Some(&parameter),
            dir.path().join("timings.json"),
            ("/amibake-wait-history/mock-bake", "ignored"),
            what,
        )
        .await;
        assert_eq!(get.num_calls(), 1, "{what}: the parameter was read");
        bake_survives(&mocks, waits, dir.path(), what).await;
    }
}

#[tokio::test]
async fn an_oversized_timings_json_is_ignored_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    // Eight MB of windows, where a history is a few kilobytes.
    let waits: Vec<String> = (0..200_000)
        .map(|i| {
            format!("\"ready:us-east-1:t3.small:al2023:{i:08}\": {{\"lo\": 1.0, \"hi\": 2.0}}")
        })
        .collect();
    let file = write_file(
        dir.path(),
        "timings.json",
        format!(r#"{{"version": 1, "waits": {{{}}}}}"#, waits.join(", ")),
    );
    let mocks = Mocks::new();
    let opened = open_warned(&mocks, None, file, ("timings.json", "larger than"), "8 MB").await;
    assert_eq!(
        opened
            .history
            .get("ready:us-east-1:t3.small:al2023:00000001"),
        None
    );
}
