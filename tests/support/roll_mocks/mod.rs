//! aws-smithy-mocks clients for the roll unit tests (`tests/roll_mocks.rs`).
//!
//! A tiny CloudFormation answers from [`World`], a record the rules share: the stack
//! (status, parameters, outputs, tags), its events (oldest first, served newest first in
//! pages of `page_size` with a NextToken), the change set CloudFormation computes, and a
//! *script*: what each DescribeStacks after ExecuteChangeSet reveals (new events, a new
//! status). When the script ends in UPDATE_COMPLETE the stack takes the change set's
//! parameters and tags and the launch template version grows by one, as CloudFormation
//! would show it. Auto Scaling, EC2 (DescribeImages) and SSM (GetParameter) answer what
//! a roll asks.
//!
//! The SDK clients are built by hand, as in `tests/support/bake_mocks/` (no `test-util` feature):
//! mock HTTP client, static credentials, retries sleeping on tokio's clock, so
//! `#[tokio::test(start_paused = true)]` runs every poll in no wall time.
#![allow(dead_code)] // each test uses a different part

mod rules;
mod seen;
mod world;

use std::sync::MutexGuard;
use std::time::Duration;

use amibake::aws::Aws;
use amibake::report::Reporter;
use amibake::roll::{RollRequest, Target};
use amibake::secret::Masker;
use aws_sdk_ec2::config::{AsyncSleep, BehaviorVersion, Credentials, Region, Sleep};
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client};
use aws_smithy_types::retry::RetryConfig;

pub use rules::Rules;
pub use seen::*;
pub use world::*;

pub const REGION: &str = "us-east-1";
pub const STACK: &str = "web";
pub const STACK_ID: &str = "arn:aws:cloudformation:us-east-1:111122223333:stack/web/0a1b2c3d";
pub const ASG: &str = "web-AutoScalingGroup-1ABC";
pub const AMI_A: &str = "ami-0aaaaaaaaaaaaaaaa";
pub const AMI_B: &str = "ami-0bbbbbbbbbbbbbbbb";
/// An SSM parameter holding [`AMI_B`].
pub const PARAM_B: &str = "/golden/web/latest";
pub const TOKEN: &str = "amibake-test-token";
pub const OTHER_TOKEN: &str = "someone-elses-token";
pub const ALARM: &str = "arn:aws:cloudwatch:us-east-1:111122223333:alarm:web-5xx";

pub const STACK_TYPE: &str = "AWS::CloudFormation::Stack";
pub const ASG_TYPE: &str = "AWS::AutoScaling::AutoScalingGroup";
pub const LT_TYPE: &str = "AWS::EC2::LaunchTemplate";

/// The SDK's sleeps on tokio's clock, paused in these tests.
#[derive(Debug)]
struct TokioSleep;

impl AsyncSleep for TokioSleep {
    fn sleep(&self, duration: Duration) -> Sleep {
        Sleep::new(tokio::time::sleep(duration))
    }
}

/// The mocked AWS of one test.
pub struct Mocks {
    pub world: Shared,
    pub rules: Rules,
}

impl Default for Mocks {
    fn default() -> Self {
        Self::new()
    }
}

/// A client of the SDK crate `$sdk` answered by `$rules`: mock HTTP, static
/// credentials, retries sleeping on tokio's clock (each SDK has its own config type).
macro_rules! client {
    ($sdk:ident, $creds:expr, $rules:expr) => {
        $sdk::Client::from_conf(
            $sdk::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(REGION))
                .credentials_provider($creds)
                .http_client(create_mock_http_client())
                .sleep_impl(TokioSleep)
                .retry_config(RetryConfig::standard().with_max_attempts(3))
                .interceptor(interceptor($rules))
                .build(),
        )
    };
}

impl Mocks {
    pub fn new() -> Mocks {
        let world = Shared::default();
        let rules = Rules::new(&world);
        Mocks { world, rules }
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }

    /// Clients wired to the rules.
    pub fn aws(&self) -> Aws {
        let r = &self.rules;
        let creds = Credentials::new("AKIDMOCK", "mock", None, None, "test");
        let cfn = client!(
            aws_sdk_cloudformation,
            creds.clone(),
            &[
                &r.describe_stacks,
                &r.describe_stack_events,
                &r.list_stack_resources,
                &r.create_change_set,
                &r.describe_change_set,
                &r.delete_change_set,
                &r.execute_change_set,
                &r.create_stack,
            ]
        );
        let asg = client!(
            aws_sdk_autoscaling,
            creds.clone(),
            &[
                &r.describe_scaling_activities,
                &r.describe_instance_refreshes
            ]
        );
        let ec2 = client!(aws_sdk_ec2, creds.clone(), &[&r.describe_images]);
        let ssm = client!(aws_sdk_ssm, creds, &[&r.get_parameter]);
        Aws::from_clients(
            REGION,
            [(REGION.to_string(), ec2)],
            [(REGION.to_string(), ssm)],
        )
        .with_cfn(REGION, cfn)
        .with_asg(REGION, asg)
    }
}

/// Answers every call to a client from `rules`, whichever matches.
fn interceptor(rules: &[&Rule]) -> MockResponseInterceptor {
    let mut i = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
    for rule in rules {
        i = i.with_rule(rule);
    }
    i
}

/// A roll of [`STACK`] onto `target` with `--yes` and the test token.
pub fn request(target: Target) -> RollRequest {
    let mut req = RollRequest::new(STACK, target);
    req.yes = true;
    req.token = TOKEN.to_string();
    req
}

/// The reporter of a test: it keeps the events for the test to read back
/// (`Reporter::recorded`).
pub fn reporter() -> Reporter {
    Reporter::memory(Masker::default())
}
