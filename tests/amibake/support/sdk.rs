//! What the aws-smithy-mocks helpers share: SDK clients built by hand (no `test-util`
//! feature on the SDK crates) on a mock HTTP client, with static credentials, the SDK's
//! standard retries (3 attempts) and its sleeps on tokio's clock, so
//! `#[tokio::test(start_paused = true)]` runs retries and polls in no wall time; and
//! errors shaped as the services send them.
#![allow(dead_code)] // each test binary uses a different part

use std::time::Duration;

use aws_sdk_ec2::config::{AsyncSleep, Sleep};
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode};
use aws_smithy_types::error::ErrorMetadata;

/// The SDK's sleeps (retry backoff) on tokio's clock, paused in these tests.
#[derive(Debug)]
pub struct TokioSleep;

impl AsyncSleep for TokioSleep {
    fn sleep(&self, duration: Duration) -> Sleep {
        Sleep::new(tokio::time::sleep(duration))
    }
}

/// An interceptor answering with the first of `rules` that matches.
pub fn interceptor<'r>(rules: impl IntoIterator<Item = &'r Rule>) -> MockResponseInterceptor {
    let mut i = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
    for rule in rules {
        i = i.with_rule(rule);
    }
    i
}

/// An error as the service sends it: the code is what amibake (and the SDK's retry
/// classifier) looks at.
pub fn meta(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

/// EC2's throttling error.
pub fn throttled() -> ErrorMetadata {
    meta("RequestLimitExceeded", "Request limit exceeded.")
}

/// A client of the SDK crate `$sdk` in `$region` answering from `$rules` (an iterator of
/// `&Rule`, first match wins).
macro_rules! mock_client {
    ($sdk:ident, $region:expr, $rules:expr) => {
        $sdk::Client::from_conf(
            $sdk::Config::builder()
                .behavior_version(aws_sdk_ec2::config::BehaviorVersion::latest())
                .region(aws_sdk_ec2::config::Region::new($region.to_string()))
                .credentials_provider(aws_sdk_ec2::config::Credentials::new(
                    "AKIDMOCK", "mock", None, None, "test",
                ))
                .http_client(aws_smithy_mocks::create_mock_http_client())
                .sleep_impl(TokioSleep)
                .retry_config(aws_smithy_types::retry::RetryConfig::standard().with_max_attempts(3))
                .interceptor(interceptor($rules))
                .build(),
        )
    };
}
pub(crate) use mock_client;
