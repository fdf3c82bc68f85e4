//! aws-smithy-mocks clients for the bake unit tests (`tests/bake_mocks.rs`).
//!
//! Every EC2 and SSM operation a bake makes has a default rule here that answers the
//! way AWS would for a run that goes well. The few answers that depend on what happened
//! earlier (an instance's state after StopInstances, an image that exists only after
//! CreateImage) are computed from [`World`], a small record the rules share; a test
//! sets a knob on it or puts its own rule in front of the defaults
//! ([`Mocks::override_ec2`], [`Mocks::override_ssm`]) and asserts calls with
//! [`Rule::num_calls`].
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
use std::time::Duration;

use amibake::aws::Aws;
use amibake::bake::{Bake, BakeOptions, OnError};
use amibake::journal::Journal;
use amibake::plan::{Overrides, Plan};
use amibake::recipe::{self, MissingSecrets, VarInputs};
use amibake::report::Reporter;
use amibake::secret::Masker;
use aws_sdk_ec2::config::{AsyncSleep, BehaviorVersion, Credentials, Region, Sleep};
use aws_sdk_ec2::operation::describe_images::{DescribeImagesError, DescribeImagesOutput};
use aws_sdk_ec2::operation::describe_instances::{DescribeInstancesError, DescribeInstancesOutput};
use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, Image, ImageState, Instance, InstanceState,
    InstanceStateName, Reservation, Tag,
};
use aws_smithy_mocks::{
    MockResponse, MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock,
};
use aws_smithy_types::error::ErrorMetadata;
use aws_smithy_types::retry::RetryConfig;

pub const HOME: &str = "us-east-1";
/// Regions a recipe may copy to; each has its own EC2 client.
pub const COPY_REGIONS: [&str; 2] = ["us-west-2", "eu-west-1"];
pub const RUN_ID: &str = "run-1";
pub const SOURCE_AMI: &str = "ami-0123456789abcdef0";
pub const SOURCE_SNAPSHOT: &str = "snap-0source000000000";
pub const BUILDER: &str = "i-builder";
pub const BOOT_TEST: &str = "i-boot-test";
pub const TEMP_GROUP: &str = "sg-temp";

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
}

pub type Shared = Arc<Mutex<World>>;

fn lock(world: &Shared) -> MutexGuard<'_, World> {
    world.lock().unwrap_or_else(|e| e.into_inner())
}

/// An error as the service sends it: the code is what amibake (and the SDK's retry
/// classifier) looks at.
pub fn meta(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

pub fn throttled() -> ErrorMetadata {
    meta("RequestLimitExceeded", "Request limit exceeded.")
}

/// The default rules of one region's EC2 client, kept so tests can count calls.
pub struct Ec2Rules {
    pub describe_images: Rule,
    pub run_instances: Rule,
    pub describe_instances: Rule,
    pub stop_instances: Rule,
    /// TerminateInstances of the builder.
    pub terminate_builder: Rule,
    /// TerminateInstances of the boot-test instance.
    pub terminate_boot_test: Rule,
    pub create_image: Rule,
    pub copy_image: Rule,
    pub create_tags: Rule,
    /// DeregisterImage of [`ami_in`] this region.
    pub deregister_image: Rule,
    /// DeleteSnapshot of [`snapshot_in`] this region.
    pub delete_snapshot: Rule,
    pub create_security_group: Rule,
    pub delete_security_group: Rule,
    pub modify_image_attribute: Rule,
    pub modify_snapshot_attribute: Rule,
    pub enable_image_deprecation: Rule,
}

impl Ec2Rules {
    fn new(region: &'static str, world: &Shared) -> Ec2Rules {
        use aws_sdk_ec2::Client as C;
        let w = world.clone();
        let describe_images = mock!(C::describe_images)
            .then_compute_response(move |req| describe_images_answer(&w, region, req.image_ids()));
        let w = world.clone();
        let run_instances = mock!(C::run_instances).then_compute_output(move |req| {
            let token = req.client_token().unwrap_or_default();
            let id = if token.ends_with("-builder") {
                BUILDER
            } else if token.ends_with("-boot-test") {
                BOOT_TEST
            } else {
                panic!("RunInstances with an unexpected ClientToken {token:?}")
            };
            let mut w = lock(&w);
            let state = if w.stuck_pending.contains(id) {
                "pending"
            } else {
                "running"
            };
            w.instances.insert(id.to_string(), state.to_string());
            let instance_type = req.instance_type().map(|t| t.as_str().to_string());
            w.instance_types
                .insert(id.to_string(), instance_type.unwrap_or_default());
            aws_sdk_ec2::operation::run_instances::RunInstancesOutput::builder()
                .instances(Instance::builder().instance_id(id).build())
                .build()
        });
        let w = world.clone();
        let describe_instances = mock!(C::describe_instances)
            .then_compute_response(move |req| describe_instances_answer(&w, req.instance_ids()));
        let w = world.clone();
        let stop_instances = mock!(C::stop_instances).then_compute_output(move |req| {
            for id in req.instance_ids() {
                lock(&w).instances.insert(id.clone(), "stopped".into());
            }
            aws_sdk_ec2::operation::stop_instances::StopInstancesOutput::builder().build()
        });
        let terminate =
            |id: &'static str| {
                let w = world.clone();
                mock!(C::terminate_instances)
                .match_requests(move |req| req.instance_ids() == [id])
                .then_compute_output(move |_| {
                    lock(&w).instances.insert(id.to_string(), "terminated".into());
                    aws_sdk_ec2::operation::terminate_instances::TerminateInstancesOutput::builder()
                        .build()
                })
            };
        let w = world.clone();
        let create_image = mock!(C::create_image).then_compute_output(move |req| {
            assert_eq!(
                req.instance_id(),
                Some(BUILDER),
                "CreateImage of the builder"
            );
            let id = ami_in(region);
            lock(&w).images.insert(id.clone(), "pending".into());
            aws_sdk_ec2::operation::create_image::CreateImageOutput::builder()
                .image_id(id)
                .build()
        });
        let w = world.clone();
        let copy_image = mock!(C::copy_image).then_compute_output(move |req| {
            assert_eq!(req.source_image_id(), Some(ami_in(HOME).as_str()));
            assert_eq!(req.source_region(), Some(HOME));
            let id = ami_in(region);
            lock(&w).images.insert(id.clone(), "pending".into());
            aws_sdk_ec2::operation::copy_image::CopyImageOutput::builder()
                .image_id(id)
                .build()
        });
        let create_tags = mock!(C::create_tags).then_output(|| {
            aws_sdk_ec2::operation::create_tags::CreateTagsOutput::builder().build()
        });
        let w = world.clone();
        let deregister_image = mock!(C::deregister_image)
            .match_requests(move |req| req.image_id() == Some(ami_in(region).as_str()))
            .then_compute_output(move |req| {
                lock(&w).images.remove(req.image_id().unwrap_or_default());
                aws_sdk_ec2::operation::deregister_image::DeregisterImageOutput::builder().build()
            });
        let delete_snapshot = mock!(C::delete_snapshot)
            .match_requests(move |req| req.snapshot_id() == Some(snapshot_in(region).as_str()))
            .then_output(|| {
                aws_sdk_ec2::operation::delete_snapshot::DeleteSnapshotOutput::builder().build()
            });
        let create_security_group = mock!(C::create_security_group).then_output(|| {
            aws_sdk_ec2::operation::create_security_group::CreateSecurityGroupOutput::builder()
                .group_id(TEMP_GROUP)
                .build()
        });
        let delete_security_group = mock!(C::delete_security_group)
            .match_requests(|req| req.group_id() == Some(TEMP_GROUP))
            .then_output(|| {
                aws_sdk_ec2::operation::delete_security_group::DeleteSecurityGroupOutput::builder()
                    .build()
            });
        let modify_image_attribute = mock!(C::modify_image_attribute).then_output(|| {
            aws_sdk_ec2::operation::modify_image_attribute::ModifyImageAttributeOutput::builder()
                .build()
        });
        let modify_snapshot_attribute = mock!(C::modify_snapshot_attribute).then_output(|| {
            aws_sdk_ec2::operation::modify_snapshot_attribute::ModifySnapshotAttributeOutput::builder()
                .build()
        });
        let enable_image_deprecation = mock!(C::enable_image_deprecation).then_output(|| {
            aws_sdk_ec2::operation::enable_image_deprecation::EnableImageDeprecationOutput::builder(
            )
            .build()
        });
        Ec2Rules {
            describe_images,
            run_instances,
            describe_instances,
            stop_instances,
            terminate_builder: terminate(BUILDER),
            terminate_boot_test: terminate(BOOT_TEST),
            create_image,
            copy_image,
            create_tags,
            deregister_image,
            delete_snapshot,
            create_security_group,
            delete_security_group,
            modify_image_attribute,
            modify_snapshot_attribute,
            enable_image_deprecation,
        }
    }

    fn all(&self) -> [&Rule; 16] {
        [
            &self.describe_images,
            &self.run_instances,
            &self.describe_instances,
            &self.stop_instances,
            &self.terminate_builder,
            &self.terminate_boot_test,
            &self.create_image,
            &self.copy_image,
            &self.create_tags,
            &self.deregister_image,
            &self.delete_snapshot,
            &self.create_security_group,
            &self.delete_security_group,
            &self.modify_image_attribute,
            &self.modify_snapshot_attribute,
            &self.enable_image_deprecation,
        ]
    }
}

/// DescribeImages by id: the source AMI at home, and this run's images while they exist
/// (a pending image is available from the second look on). Unknown ids get EC2's
/// `InvalidAMIID.NotFound`.
pub fn describe_images_answer(
    world: &Shared,
    region: &str,
    ids: &[String],
) -> MockResponse<DescribeImagesOutput, DescribeImagesError> {
    let id = ids.first().map(String::as_str).unwrap_or_default();
    let image = if id == SOURCE_AMI && region == HOME {
        Some(source_image())
    } else {
        let mut w = lock(world);
        w.images.get_mut(id).map(|state| {
            let shown = state.clone();
            *state = "available".into();
            image(id, "mock-bake", &shown, &snapshot_in(region))
        })
    };
    match image {
        Some(i) => MockResponse::Output(DescribeImagesOutput::builder().images(i).build()),
        None => MockResponse::Error(DescribeImagesError::generic(meta(
            "InvalidAMIID.NotFound",
            &format!("The image id '[{id}]' does not exist"),
        ))),
    }
}

/// The source AMI as DescribeImages shows it.
pub fn source_image() -> Image {
    image(
        SOURCE_AMI,
        "al2023-ami-2023.6-x86_64",
        "available",
        SOURCE_SNAPSHOT,
    )
}

fn image(id: &str, name: &str, state: &str, snapshot: &str) -> Image {
    Image::builder()
        .image_id(id)
        .name(name)
        .state(ImageState::from(state))
        .root_device_name("/dev/xvda")
        .creation_date("2026-01-01T00:00:00.000Z")
        .block_device_mappings(
            BlockDeviceMapping::builder()
                .device_name("/dev/xvda")
                .ebs(EbsBlockDevice::builder().snapshot_id(snapshot).build())
                .build(),
        )
        .tags(Tag::builder().key("amibake:run-id").value(RUN_ID).build())
        .build()
}

/// DescribeInstances by id, from [`World::instances`]; an id EC2 has not shown yet gets
/// `InvalidInstanceID.NotFound`.
pub fn describe_instances_answer(
    world: &Shared,
    ids: &[String],
) -> MockResponse<DescribeInstancesOutput, DescribeInstancesError> {
    let id = ids.first().map(String::as_str).unwrap_or_default();
    match lock(world).instances.get(id) {
        Some(state) => MockResponse::Output(
            DescribeInstancesOutput::builder()
                .reservations(
                    Reservation::builder()
                        .instances(
                            Instance::builder()
                                .instance_id(id)
                                .state(
                                    InstanceState::builder()
                                        .name(InstanceStateName::from(state.as_str()))
                                        .build(),
                                )
                                .build(),
                        )
                        .build(),
                )
                .build(),
        ),
        None => MockResponse::Error(DescribeInstancesError::generic(meta(
            "InvalidInstanceID.NotFound",
            &format!("The instance ID '{id}' does not exist"),
        ))),
    }
}

/// The default rules of the SSM client (home region only).
pub struct SsmRules {
    pub describe_instance_information: Rule,
    pub send_command: Rule,
    /// Every invocation succeeds at once, exit 0, no output.
    pub get_command_invocation: Rule,
}

impl SsmRules {
    fn new(world: &Shared) -> SsmRules {
        use aws_sdk_ssm::Client as C;
        use aws_sdk_ssm::types::{InstanceInformation, PingStatus};
        let w = world.clone();
        let describe_instance_information = mock!(C::describe_instance_information)
            .then_compute_output(move |req| {
                let id = req
                    .filters()
                    .iter()
                    .find(|f| f.key() == "InstanceIds")
                    .and_then(|f| f.values().first())
                    .cloned()
                    .unwrap_or_default();
                // The agent registers once the instance runs.
                let running = lock(&w).instances.get(&id).is_some_and(|s| s == "running");
                let mut out = aws_sdk_ssm::operation::describe_instance_information::DescribeInstanceInformationOutput::builder();
                if running {
                    out = out.instance_information_list(
                        InstanceInformation::builder()
                            .instance_id(id)
                            .ping_status(PingStatus::Online)
                            .last_ping_date_time(aws_smithy_types::DateTime::from(
                                std::time::SystemTime::now(),
                            ))
                            .build(),
                    );
                }
                out.build()
            });
        let send_command = mock!(C::send_command).then_compute_output(send_command_answer);
        let get_command_invocation =
            mock!(C::get_command_invocation).then_output(|| invocation("Success", 0, "", ""));
        SsmRules {
            describe_instance_information,
            send_command,
            get_command_invocation,
        }
    }
}

/// SendCommand's answer: the command id is [`command_id`] of the comment.
pub fn send_command_answer(
    req: &aws_sdk_ssm::operation::send_command::SendCommandInput,
) -> aws_sdk_ssm::operation::send_command::SendCommandOutput {
    aws_sdk_ssm::operation::send_command::SendCommandOutput::builder()
        .command(
            aws_sdk_ssm::types::Command::builder()
                .command_id(command_id(req.comment().unwrap_or_default()))
                .build(),
        )
        .build()
}

/// A SendCommand rule for the commands whose label ends with `label_suffix` (a step's
/// or a check's name), to count them apart from the rest.
pub fn sends_of(label_suffix: &'static str) -> Rule {
    mock!(aws_sdk_ssm::Client::send_command)
        .match_requests(move |req| {
            req.comment()
                .is_some_and(|c| command_id(c).ends_with(label_suffix))
        })
        .then_compute_output(send_command_answer)
}

/// The command id the mocked SendCommand hands out: the comment without its
/// `amibake <run-id> ` prefix, i.e. the step or check label (`step 1/1 provision`,
/// `boot-test check ordering`), so GetCommandInvocation rules can match on it.
pub fn command_id(comment: &str) -> String {
    comment
        .strip_prefix(&format!("amibake {RUN_ID} "))
        .unwrap_or(comment)
        .to_string()
}

/// A GetCommandInvocation answer.
pub fn invocation(
    status: &str,
    response_code: i32,
    stdout: &str,
    stderr: &str,
) -> aws_sdk_ssm::operation::get_command_invocation::GetCommandInvocationOutput {
    aws_sdk_ssm::operation::get_command_invocation::GetCommandInvocationOutput::builder()
        .status(aws_sdk_ssm::types::CommandInvocationStatus::from(status))
        .status_details(status)
        .response_code(response_code)
        .standard_output_content(stdout)
        .standard_error_content(stderr)
        .build()
}

/// What GetCommandInvocation says just after SendCommand.
pub fn invocation_does_not_exist()
-> aws_sdk_ssm::operation::get_command_invocation::GetCommandInvocationError {
    aws_sdk_ssm::operation::get_command_invocation::GetCommandInvocationError::InvocationDoesNotExist(
        aws_sdk_ssm::types::error::InvocationDoesNotExist::builder()
            .meta(ErrorMetadata::builder().code("InvocationDoesNotExist").build())
            .build(),
    )
}

/// The SDK's sleeps (retry backoff) on tokio's clock, paused in these tests.
#[derive(Debug)]
struct TokioSleep;

impl AsyncSleep for TokioSleep {
    fn sleep(&self, duration: Duration) -> Sleep {
        Sleep::new(tokio::time::sleep(duration))
    }
}

/// The mocked AWS of one test.
pub struct Mocks {
    world: Shared,
    ec2: BTreeMap<&'static str, Ec2Rules>,
    pub ssm: SsmRules,
    ec2_overrides: BTreeMap<&'static str, Vec<Rule>>,
    ssm_overrides: Vec<Rule>,
}

impl Default for Mocks {
    fn default() -> Self {
        Self::new()
    }
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

    /// Clients for every region, wired to the rules.
    pub fn aws(&self) -> Aws {
        let ec2 = self.ec2.iter().map(|(region, rules)| {
            let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
            for rule in self.ec2_overrides.get(region).into_iter().flatten() {
                interceptor = interceptor.with_rule(rule);
            }
            for rule in rules.all() {
                interceptor = interceptor.with_rule(rule);
            }
            let conf = aws_sdk_ec2::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(*region))
                .credentials_provider(Credentials::new("AKIDMOCK", "mock", None, None, "test"))
                .http_client(create_mock_http_client())
                .sleep_impl(TokioSleep)
                .retry_config(RetryConfig::standard().with_max_attempts(3))
                .interceptor(interceptor)
                .build();
            (region.to_string(), aws_sdk_ec2::Client::from_conf(conf))
        });
        let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
        for rule in &self.ssm_overrides {
            interceptor = interceptor.with_rule(rule);
        }
        for rule in [
            &self.ssm.describe_instance_information,
            &self.ssm.send_command,
            &self.ssm.get_command_invocation,
        ] {
            interceptor = interceptor.with_rule(rule);
        }
        let conf = aws_sdk_ssm::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(HOME))
            .credentials_provider(Credentials::new("AKIDMOCK", "mock", None, None, "test"))
            .http_client(create_mock_http_client())
            .sleep_impl(TokioSleep)
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .interceptor(interceptor)
            .build();
        let ssm = [(HOME.to_string(), aws_sdk_ssm::Client::from_conf(conf))];
        Aws::from_clients(HOME, ec2.collect::<Vec<_>>(), ssm)
    }
}

/// The reporter of a test: keeps the events for the test to assert on.
pub fn reporter() -> Reporter {
    Reporter::memory(Masker::default())
}

/// A bake of `recipe_yaml` (written to `dir`) in [`HOME`] as run [`RUN_ID`], journaling
/// into `dir`, cleaning up on error.
pub async fn bake<'a>(aws: Aws, recipe_yaml: &str, reporter: &'a Reporter, dir: &Path) -> Bake<'a> {
    let path = dir.join("recipe.yaml");
    std::fs::write(&path, recipe_yaml).expect("write the recipe");
    let loaded = recipe::load(
        &path,
        &VarInputs::default(),
        &amibake::run::builtins(HOME),
        MissingSecrets::Error,
    )
    .unwrap_or_else(|e| panic!("the test recipe loads: {e:?}"));
    let plan = Plan::new(&loaded, HOME, RUN_ID, &Overrides::default());
    let journal = Journal::create(dir, RUN_ID, &plan.recipe, HOME)
        .await
        .expect("create the journal");
    let options = BakeOptions {
        on_error: OnError::Cleanup,
        poll_scale: 1.0,
        if_changed: false,
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
