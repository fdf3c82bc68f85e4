//! The wait history in the account (`bake --history ssm`) against aws-smithy-mocks: what
//! the emulator cannot time — a runner creating the parameter between another's read and
//! write, throttling, a role without access — under paused tokio time.

use crate::support::sdk;

use std::collections::BTreeMap;

use amibake::aws::Aws;
use amibake::aws::history::Window;
use amibake::aws::history::account::{self, Stored, Written};
use amibake::bake::{InAccount, WaitHistory};
use amibake::report::Reporter;
use amibake::secret::Masker;
use aws_smithy_mocks::{Rule, mock};
use sdk::*;

const PARAM: &str = "/amibake-wait-history/web";

fn client(rules: &[&Rule]) -> aws_sdk_ssm::Client {
    mock_client!(aws_sdk_ssm, "us-east-1", rules.iter().copied())
}

fn waits(items: &[(&str, f64, f64)]) -> BTreeMap<String, Window> {
    items
        .iter()
        .map(|(k, lo, hi)| (k.to_string(), Window { lo: *lo, hi: *hi }))
        .collect()
}

fn tags() -> BTreeMap<String, String> {
    BTreeMap::from([("amibake:recipe".to_string(), "web".to_string())])
}

fn stored(exists: bool, items: &[(&str, f64, f64)]) -> Stored {
    Stored {
        name: PARAM.into(),
        exists,
        unreadable: false,
        waits: waits(items),
        ignored: Vec::new(),
    }
}

/// PutParameter's answer: the parameter now at `version`.
fn put_answer(version: i64) -> aws_sdk_ssm::operation::put_parameter::PutParameterOutput {
    aws_sdk_ssm::operation::put_parameter::PutParameterOutput::builder()
        .version(version)
        .build()
}

/// Writes `learned` over what `there` holds (described "d", tagged as the recipe's).
async fn write(
    ssm: &aws_sdk_ssm::Client,
    there: &Stored,
    learned: &BTreeMap<String, Window>,
) -> (Written, usize) {
    account::write(ssm, there, learned, "d", &tags())
        .await
        .expect("the history is written")
}

#[tokio::test(start_paused = true)]
async fn a_parameter_another_runner_created_since_the_read_is_overwritten() {
    let create = mock!(aws_sdk_ssm::Client::put_parameter)
        .match_requests(|r| r.overwrite() == Some(false) && !r.tags().is_empty())
        .then_error(|| {
            aws_sdk_ssm::operation::put_parameter::PutParameterError::generic(meta(
                "ParameterAlreadyExists",
                "The parameter already exists.",
            ))
        });
    let overwrite = mock!(aws_sdk_ssm::Client::put_parameter)
        .match_requests(|r| r.overwrite() == Some(true) && r.tags().is_empty())
        .then_output(|| put_answer(2));
    let ssm = client(&[&create, &overwrite]);

    let learned = waits(&[("image:us-east-1", 5.9, 6.0)]);
    let written = write(&ssm, &stored(false, &[]), &learned).await;

    assert_eq!(written, (Written::Updated, 1));
    assert_eq!(create.num_calls(), 1, "created with its tags first");
    assert_eq!(
        overwrite.num_calls(),
        1,
        "then overwritten, last writer wins"
    );
}

#[tokio::test(start_paused = true)]
async fn nothing_new_learned_is_not_written() {
    let put = mock!(aws_sdk_ssm::Client::put_parameter).then_output(|| put_answer(2));
    let ssm = client(&[&put]);
    let there = stored(true, &[("image:us-east-1", 5.9, 6.0), ("ready", 4.0, 5.0)]);

    let same = waits(&[("image:us-east-1", 5.88, 6.05)]);
    let written = write(&ssm, &there, &same).await;
    assert_eq!(written, (Written::Unchanged, 2));
    assert_eq!(put.num_calls(), 0);

    let slower = waits(&[("image:us-east-1", 6.5, 7.0)]);
    let written = write(&ssm, &there, &slower).await;
    assert_eq!(written, (Written::Updated, 2));
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_parameter_holding_implausible_windows_is_rewritten_without_them() {
    let put = mock!(aws_sdk_ssm::Client::put_parameter)
        .match_requests(|r| !r.value().unwrap_or_default().contains("1e300"))
        .then_output(|| put_answer(2));
    let ssm = client(&[&put]);
    let mut there = stored(true, &[("image:us-east-1", 5.9, 6.0)]);
    there.ignored = vec!["ready:us-east-1:t3.small:al2023".into()];

    // Nothing the next bake could tell apart was learned, but the parameter holds a
    // window no wait could take: it is written again, without it.
    let same = waits(&[("image:us-east-1", 5.9, 6.0)]);
    let written = write(&ssm, &there, &same).await;
    assert_eq!(written, (Written::Updated, 1));
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_throttled_read_is_retried_and_an_absent_parameter_is_no_history() {
    let throttled = mock!(aws_sdk_ssm::Client::get_parameter)
        .sequence()
        .error(|| {
            aws_sdk_ssm::operation::get_parameter::GetParameterError::generic(meta(
                "ThrottlingException",
                "Rate exceeded",
            ))
        })
        .times(4)
        .error(|| {
            aws_sdk_ssm::operation::get_parameter::GetParameterError::ParameterNotFound(
                aws_sdk_ssm::types::error::ParameterNotFound::builder()
                    .meta(meta("ParameterNotFound", ""))
                    .build(),
            )
        })
        .build();
    let ssm = client(&[&throttled]);

    let read = account::read(&ssm, PARAM).await.unwrap();

    assert_eq!(read, stored(false, &[]));
    assert!(throttled.num_calls() >= 4);
}

#[tokio::test(start_paused = true)]
async fn a_role_without_access_is_an_error_naming_the_call() {
    let denied = mock!(aws_sdk_ssm::Client::get_parameter).then_error(|| {
        aws_sdk_ssm::operation::get_parameter::GetParameterError::generic(meta(
            "AccessDeniedException",
            "not authorized to perform: ssm:GetParameter",
        ))
    });
    let ssm = client(&[&denied]);

    let err = account::read(&ssm, PARAM).await.unwrap_err();

    assert_eq!(err.code(), Some("AccessDeniedException"));
    assert!(err.chain().contains("ssm:GetParameter"), "{}", err.chain());
}

#[tokio::test(start_paused = true)]
async fn a_bake_that_cannot_read_the_history_goes_on_cold_and_does_not_write_it() {
    let denied = mock!(aws_sdk_ssm::Client::get_parameter).then_error(|| {
        aws_sdk_ssm::operation::get_parameter::GetParameterError::generic(meta(
            "AccessDeniedException",
            "not authorized to perform: ssm:GetParameter",
        ))
    });
    let put = mock!(aws_sdk_ssm::Client::put_parameter).then_output(|| put_answer(1));
    let aws = Aws::from_clients(
        "us-east-1",
        [],
        [("us-east-1".to_string(), client(&[&denied, &put]))],
    );
    let reporter = Reporter::memory(Masker::default());
    let dir = tempfile::tempdir().unwrap();
    let waits = WaitHistory::open(dir.path().join("timings.json"), &reporter);
    let history = &waits.history;
    let web = InAccount::read(&aws, "us-east-1", PARAM, "web", history, &reporter).await;
    history.put("image:us-east-1", Window { lo: 5.9, hi: 6.0 });
    web.write(history, &reporter).await;
    waits.save(&reporter).await;

    let seen = reporter.recorded();
    let history = seen.of_kind("history");
    assert_eq!(history.len(), 1, "one failed read, no save: {history:?}");
    assert_eq!(history[0]["action"], "read_failed");
    assert_eq!(history[0]["parameter"], PARAM);
    assert!(
        history[0]["error"]
            .as_str()
            .unwrap()
            .contains("AccessDeniedException"),
        "{history:?}"
    );
    assert_eq!(put.num_calls(), 0);
    assert!(
        dir.path().join("timings.json").exists(),
        "what it learned still goes to the state directory"
    );
}
