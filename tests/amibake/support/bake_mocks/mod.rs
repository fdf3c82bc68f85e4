//! aws-smithy-mocks clients for the bake unit tests (`mocks::bake`).
//!
//! Every EC2 and SSM operation a bake makes has a default rule here that answers the
//! way AWS would for a run that goes well. The few answers that depend on what happened
//! earlier (an instance's state after StopInstances, an image that exists only after
//! CreateImage) are computed from [`World`], a small record the rules share; a test
//! sets a knob on it or puts its own rule in front of the defaults
//! ([`Mocks::override_ec2`], [`Mocks::override_ssm`]) and asserts calls with
//! [`Rule::num_calls`].
//!
//! The rules for the calls whose parameters matter check them as AWS would be asked
//! (SendCommand: target, document, script, timeouts; CreateTags: this run's image and
//! snapshot, amibake's keys; ModifyImageAttribute: this run's image, permissions added) and
//! record the request in [`World`] (`launched`, `sent`, `tagged`, `shared`) for tests to
//! compare with the plan. A request that fails a check panics in the rule; the bake
//! reports that as an error, so a test asserting success or a specific error fails.
//!
//! Rules that delete things match only the ids this run created, so a stray
//! DeregisterImage of the source AMI, or a TerminateInstances of an id nobody launched,
//! finds no rule and fails the test at once (the interceptor panics).
//!
//! The SDK clients are built by hand (no `test-util` feature on the SDK crates): mock
//! HTTP client, static credentials, the SDK's standard retries (3 attempts) sleeping on
//! tokio's clock, so `#[tokio::test(start_paused = true)]` runs retries and polls in
//! no wall time.
#![allow(dead_code)] // each test uses a different part

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use amibake::aws::Aws;
use amibake::bake::{Bake, BakeOptions};
use amibake::journal::Journal;
use amibake::plan::{Overrides, Plan};
use amibake::recipe::{self, MissingSecrets, VarInputs};
use amibake::report::Reporter;
use amibake::secret::Masker;
use aws_sdk_ec2::operation::create_tags::CreateTagsInput;
use aws_sdk_ec2::operation::describe_images::{DescribeImagesError, DescribeImagesOutput};
use aws_sdk_ec2::operation::describe_instances::{DescribeInstancesError, DescribeInstancesOutput};
use aws_sdk_ec2::operation::modify_image_attribute::ModifyImageAttributeInput;
use aws_sdk_ec2::operation::run_instances::RunInstancesInput;
use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, Image, ImageState, Instance, InstanceState,
    InstanceStateName, Reservation, Tag,
};
use aws_sdk_ssm::operation::send_command::SendCommandInput;
use aws_smithy_mocks::{MockResponse, Rule, mock};
use aws_smithy_types::error::ErrorMetadata;

mod ec2;
use crate::support::sdk;
mod ssm;

pub use ec2::*;
pub use sdk::*;
pub use ssm::*;

pub const HOME: &str = "us-east-1";
/// Regions a recipe may copy to; each has its own EC2 client.
pub const COPY_REGIONS: [&str; 2] = ["us-west-2", "eu-west-1"];
pub const RUN_ID: &str = "run-1";
pub const SOURCE_AMI: &str = "ami-0123456789abcdef0";
pub const SOURCE_SNAPSHOT: &str = "snap-0source000000000";
pub const BUILDER: &str = "i-builder";
pub const BOOT_TEST: &str = "i-boot-test";
pub const TEMP_GROUP: &str = "sg-temp";
/// The account's default EBS key in every region: customer managed, its policy lets
/// [`SHARE_ACCOUNT`] use it.
pub const DEFAULT_KEY_ID: &str = "mock-ebs-default";
pub const SHARE_ACCOUNT: &str = "111122223333";

/// One shell step, an existing security group (no temporary one), no copies.
pub const ONE_STEP: &str = r#"
name: mock-bake
source: { ami: ami-0123456789abcdef0 }
builder:
  iam_instance_profile: amibake-builder
  security_group_ids: [sg-0123456789abcdef0]
  ready_timeout: 30s
steps:
  - name: provision
    shell: "echo provisioning"
image:
  name: "mock-bake-{{ timestamp }}"
"#;

/// [`ONE_STEP`] with no ready timeout of its own, its image copied to `copy_to` (a YAML
/// list of regions).
pub fn one_step_copied_to(copy_to: &str) -> String {
    let recipe = ONE_STEP.replace("  ready_timeout: 30s\n", "");
    format!("{recipe}  copy_to: {copy_to}\n")
}

/// Asserts that cleanup removed this run's image in `region` and its snapshot, once each.
pub fn assert_image_removed_in(m: &Mocks, region: &str) {
    let ec2 = m.ec2(region);
    assert_eq!(
        ec2.deregister_image.num_calls(),
        1,
        "DeregisterImage in {region}"
    );
    assert_eq!(
        ec2.delete_snapshot.num_calls(),
        1,
        "DeleteSnapshot in {region}"
    );
}

/// The AMI this run makes in `region`: the baked image at home, a copy elsewhere.
pub fn ami_in(region: &str) -> String {
    if region == HOME {
        format!("ami-baked-{region}")
    } else {
        format!("ami-copy-{region}")
    }
}

/// The snapshot behind [`ami_in`].
pub fn snapshot_in(region: &str) -> String {
    if region == HOME {
        format!("snap-baked-{region}")
    } else {
        format!("snap-copy-{region}")
    }
}

/// What the mocked AWS has seen so far: the answers that depend on earlier calls.
#[derive(Debug, Default)]
pub struct World {
    /// Instance id → state name.
    pub instances: BTreeMap<String, String>,
    /// Image id (this run's, any region) → state; pending turns available once described.
    pub images: BTreeMap<String, String>,
    /// Instances that stay `pending` until terminated.
    pub stuck_pending: BTreeSet<String>,
    /// Instance id → the instance type it was launched with.
    pub instance_types: BTreeMap<String, String>,
    /// Instance id → the RunInstances request that launched it.
    pub launched: BTreeMap<String, RunInstancesInput>,
    /// Every SendCommand request, in order (each already checked by [`checked_send`]).
    pub sent: Vec<SendCommandInput>,
    /// Every CreateTags request (any region), in order.
    pub tagged: Vec<CreateTagsInput>,
    /// Every ModifyImageAttribute request (any region), in order.
    pub shared: Vec<ModifyImageAttributeInput>,
}

pub type Shared = Arc<Mutex<World>>;

fn lock(world: &Shared) -> MutexGuard<'_, World> {
    world.lock().unwrap_or_else(|e| e.into_inner())
}

/// The mocked AWS of one test.
pub struct Mocks {
    world: Shared,
    ec2: BTreeMap<&'static str, Ec2Rules>,
    pub ssm: SsmRules,
    ec2_overrides: BTreeMap<&'static str, Vec<Rule>>,
    ssm_overrides: Vec<Rule>,
}

impl Mocks {
    pub fn new() -> Mocks {
        let world = Shared::default();
        let ec2 = std::iter::once(HOME)
            .chain(COPY_REGIONS)
            .map(|r| (r, Ec2Rules::new(r, &world)))
            .collect();
        let ssm = SsmRules::new(&world);
        Mocks {
            world,
            ec2,
            ssm,
            ec2_overrides: BTreeMap::new(),
            ssm_overrides: Vec::new(),
        }
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }

    pub fn shared(&self) -> Shared {
        self.world.clone()
    }

    /// The default EC2 rules of `region`.
    pub fn ec2(&self, region: &str) -> &Ec2Rules {
        &self.ec2[region]
    }

    /// Answers EC2 calls in `region` with `rule` before the defaults (while it matches
    /// and is not exhausted).
    pub fn override_ec2(&mut self, region: &'static str, rule: &Rule) {
        self.ec2_overrides
            .entry(region)
            .or_default()
            .push(rule.clone());
    }

    /// Answers SSM calls with `rule` before the defaults.
    pub fn override_ssm(&mut self, rule: &Rule) {
        self.ssm_overrides.push(rule.clone());
    }

    /// Puts a SendCommand rule for the commands whose label ends with `label_suffix` (a
    /// step's or a check's name) in front of the defaults, to count them apart from the
    /// rest; it checks and records each request as the default does.
    pub fn sends_of(&mut self, label_suffix: &'static str) -> Rule {
        let w = self.world.clone();
        let rule = mock!(aws_sdk_ssm::Client::send_command)
            .match_requests(move |req| {
                req.comment()
                    .is_some_and(|c| command_id(c).ends_with(label_suffix))
            })
            .then_compute_output(move |req| checked_send(&w, req));
        self.override_ssm(&rule);
        rule
    }

    /// Clients for every region, wired to the rules.
    pub fn aws(&self) -> Aws {
        // A test's own rules come before the defaults.
        let ec2 = self.ec2.iter().map(|(region, rules)| {
            let overrides = self.ec2_overrides.get(region).into_iter().flatten();
            let client = mock_client!(aws_sdk_ec2, region, overrides.chain(rules.all()));
            (region.to_string(), client)
        });
        let defaults = [
            &self.ssm.describe_instance_information,
            &self.ssm.send_command,
            &self.ssm.get_command_invocation,
        ];
        let rules = self.ssm_overrides.iter().chain(defaults);
        let ssm = [(HOME.to_string(), mock_client!(aws_sdk_ssm, HOME, rules))];
        let kms = kms_rules();
        let mut aws = Aws::from_clients(HOME, ec2.collect::<Vec<_>>(), ssm);
        for region in std::iter::once(HOME).chain(COPY_REGIONS) {
            aws = aws.with_kms(region, mock_client!(aws_sdk_kms, region, kms.iter()));
        }
        aws
    }
}

/// KMS as the preflight sees it: the default EBS key is enabled and symmetric, its policy
/// lets [`SHARE_ACCOUNT`] use it, no grants.
fn kms_rules() -> [Rule; 3] {
    use aws_sdk_kms::Client as K;
    use aws_sdk_kms::types::{KeyManagerType, KeyMetadata, KeyState};
    let describe_key = mock!(K::describe_key).then_output(|| {
        let meta = KeyMetadata::builder()
            .key_id(DEFAULT_KEY_ID)
            .key_state(KeyState::Enabled)
            .key_manager(KeyManagerType::Customer)
            .build()
            .expect("key metadata");
        aws_sdk_kms::operation::describe_key::DescribeKeyOutput::builder()
            .key_metadata(meta)
            .build()
    });
    let policy = serde_json::json!({ "Statement": [{
        "Effect": "Allow", "Principal": { "AWS": format!("arn:aws:iam::{SHARE_ACCOUNT}:root") },
        "Action": "kms:*", "Resource": "*" }] });
    let get_key_policy = mock!(K::get_key_policy).then_output(move || {
        aws_sdk_kms::operation::get_key_policy::GetKeyPolicyOutput::builder()
            .policy(policy.to_string())
            .build()
    });
    let list_grants = mock!(K::list_grants)
        .then_output(|| aws_sdk_kms::operation::list_grants::ListGrantsOutput::builder().build());
    [describe_key, get_key_policy, list_grants]
}

/// The reporter of a test: keeps the events for the test to assert on.
pub fn reporter() -> Reporter {
    Reporter::memory(Masker::default())
}

/// A bake of `recipe_yaml` (written to `dir`) in [`HOME`] as run [`RUN_ID`], journaling
/// into `dir`, cleaning up on error.
pub async fn bake<'a>(aws: Aws, recipe_yaml: &str, reporter: &'a Reporter, dir: &Path) -> Bake<'a> {
    bake_with(aws, recipe_yaml, reporter, dir, &Overrides::default()).await
}

/// [`bake`], its plan with the command line's `overrides` (`--on-error keep`, …).
pub async fn bake_with<'a>(
    aws: Aws,
    recipe_yaml: &str,
    reporter: &'a Reporter,
    dir: &Path,
    overrides: &Overrides,
) -> Bake<'a> {
    let path = dir.join("recipe.yaml");
    std::fs::write(&path, recipe_yaml).expect("write the recipe");
    let loaded = recipe::load(
        &path,
        &VarInputs::default(),
        &amibake::run::builtins(HOME),
        MissingSecrets::Error,
    )
    .unwrap_or_else(|e| panic!("the test recipe loads: {e:?}"));
    let plan = Plan::new(&loaded, HOME, RUN_ID, overrides);
    let journal = Journal::create(dir, RUN_ID, &plan.recipe, HOME)
        .await
        .expect("create the journal");
    let options = BakeOptions {
        poll_scale: 1.0,
        verbose: false,
        history: std::sync::Arc::new(amibake::aws::history::History::in_memory()),
    };
    Bake::new(aws, plan, loaded.stable_text, reporter, journal, options)
}

/// The journal's lines.
pub fn journal(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("runs").join(format!("{RUN_ID}.jsonl")))
        .expect("read the journal")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}
