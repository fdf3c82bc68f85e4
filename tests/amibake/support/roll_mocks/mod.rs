//! aws-smithy-mocks clients for the roll unit tests (`mocks::roll`).
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
//! The SDK clients are built as `tests/amibake/support/sdk.rs` builds them: retries and polls
//! sleep on tokio's paused clock.
#![allow(dead_code)] // each test uses a different part

mod rules;
use crate::support::sdk;
mod seen;
mod world;

use std::sync::MutexGuard;

use amibake::aws::Aws;
use amibake::report::Reporter;
use amibake::roll::{RollRequest, Target};
use amibake::secret::Masker;

pub use rules::Rules;
pub use sdk::*;
#[allow(unused_imports)] // not every test binary asserts on what was seen
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

/// The shipped templates, as GetTemplate answers them.
pub const ROLLING_TEMPLATE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/cfn-templates/asg-rolling.yaml"
));
pub const REFRESH_TEMPLATE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/cfn-templates/asg-instance-refresh.yaml"
));

pub const STACK_TYPE: &str = "AWS::CloudFormation::Stack";
pub const ASG_TYPE: &str = "AWS::AutoScaling::AutoScalingGroup";
pub const LT_TYPE: &str = "AWS::EC2::LaunchTemplate";

/// The mocked AWS of one test.
pub struct Mocks {
    pub world: Shared,
    pub rules: Rules,
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
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            REGION,
            [
                &r.describe_stacks,
                &r.describe_stack_events,
                &r.list_stack_resources,
                &r.create_change_set,
                &r.describe_change_set,
                &r.delete_change_set,
                &r.execute_change_set,
                &r.create_stack,
                &r.get_template,
            ]
        );
        let asg = mock_client!(
            aws_sdk_autoscaling,
            REGION,
            [
                &r.describe_scaling_activities,
                &r.describe_instance_refreshes,
                &r.describe_auto_scaling_groups
            ]
        );
        let ec2 = mock_client!(
            aws_sdk_ec2,
            REGION,
            [&r.describe_images, &r.get_allowed_images_settings]
        );
        let ssm = mock_client!(aws_sdk_ssm, REGION, [&r.get_parameter]);
        Aws::from_clients(
            REGION,
            [(REGION.to_string(), ec2)],
            [(REGION.to_string(), ssm)],
        )
        .with_cfn(REGION, cfn)
        .with_asg(REGION, asg)
    }
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
