//! The EC2 side of the bake mocks: one region's default rules and the answers that
//! depend on [`World`].

use super::*;

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
    /// DescribeRegions (the preflight asks at home): every region enabled.
    pub describe_regions: Rule,
    /// GetEbsDefaultKmsKeyId: the account's default EBS key is [`DEFAULT_KEY_ID`], a
    /// customer managed key (so images may be shared).
    pub get_ebs_default_kms_key_id: Rule,
}

impl Ec2Rules {
    pub(super) fn new(region: &'static str, world: &Shared) -> Ec2Rules {
        use aws_sdk_ec2::Client as C;
        let w = world.clone();
        let describe_images = mock!(C::describe_images)
            .then_compute_response(move |req| describe_images_answer(&w, region, req.image_ids()));
        let run_instances = run_instances(world);
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
        let create_image = create_image(region, world);
        let copy_image = copy_image(region, world);
        let create_tags = create_tags(region, world);
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
        let modify_image_attribute = modify_image_attribute(region, world);
        let modify_snapshot_attribute = mock!(C::modify_snapshot_attribute).then_output(|| {
            aws_sdk_ec2::operation::modify_snapshot_attribute::ModifySnapshotAttributeOutput::builder()
                .build()
        });
        let enable_image_deprecation = mock!(C::enable_image_deprecation).then_output(|| {
            aws_sdk_ec2::operation::enable_image_deprecation::EnableImageDeprecationOutput::builder(
            )
            .build()
        });
        let describe_regions = mock!(C::describe_regions).then_output(|| {
            let regions = std::iter::once(HOME).chain(COPY_REGIONS).map(|r| {
                aws_sdk_ec2::types::Region::builder()
                    .region_name(r)
                    .opt_in_status("opt-in-not-required")
                    .build()
            });
            aws_sdk_ec2::operation::describe_regions::DescribeRegionsOutput::builder()
                .set_regions(Some(regions.collect()))
                .build()
        });
        let get_ebs_default_kms_key_id = mock!(C::get_ebs_default_kms_key_id).then_output(move || {
            aws_sdk_ec2::operation::get_ebs_default_kms_key_id::GetEbsDefaultKmsKeyIdOutput::builder()
                .kms_key_id(format!("arn:aws:kms:{region}:123456789012:key/{DEFAULT_KEY_ID}"))
                .build()
        });
        Ec2Rules {
            describe_regions,
            get_ebs_default_kms_key_id,
            describe_images,
            run_instances,
            describe_instances,
            stop_instances,
            terminate_builder: terminate(world, BUILDER),
            terminate_boot_test: terminate(world, BOOT_TEST),
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

    pub(super) fn all(&self) -> [&Rule; 18] {
        [
            &self.describe_regions,
            &self.get_ebs_default_kms_key_id,
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

/// RunInstances: the builder or the boot-test instance by its ClientToken, running at once
/// (or stuck pending), with the instance type it was launched with and the whole request
/// recorded ([`World::launched`]).
fn run_instances(world: &Shared) -> Rule {
    let w = world.clone();
    mock!(aws_sdk_ec2::Client::run_instances).then_compute_output(move |req| {
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
        w.launched.insert(id.to_string(), req.clone());
        aws_sdk_ec2::operation::run_instances::RunInstancesOutput::builder()
            .instances(Instance::builder().instance_id(id).build())
            .build()
    })
}

/// TerminateInstances of `id` alone.
fn terminate(world: &Shared, id: &'static str) -> Rule {
    let w = world.clone();
    mock!(aws_sdk_ec2::Client::terminate_instances)
        .match_requests(move |req| req.instance_ids() == [id])
        .then_compute_output(move |_| {
            lock(&w)
                .instances
                .insert(id.to_string(), "terminated".into());
            aws_sdk_ec2::operation::terminate_instances::TerminateInstancesOutput::builder().build()
        })
}

/// CreateTags as the bake sends it once an image is complete, or the test fails: this
/// region's image and its snapshot, `amibake:complete=true` (and the scan's summary, when
/// the recipe scans). Recorded in [`World::tagged`].
fn create_tags(region: &'static str, world: &Shared) -> Rule {
    let w = world.clone();
    mock!(aws_sdk_ec2::Client::create_tags).then_compute_output(move |req| {
        assert_eq!(
            req.resources(),
            [ami_in(region), snapshot_in(region)],
            "CreateTags in {region} of this run's image and its snapshot"
        );
        let tags: BTreeMap<&str, &str> = req
            .tags()
            .iter()
            .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))
            .collect();
        assert_eq!(
            tags.get("amibake:complete"),
            Some(&"true"),
            "CreateTags in {region}: {tags:?}"
        );
        assert!(
            tags.keys()
                .all(|k| ["amibake:complete", "amibake:scan"].contains(k)),
            "only amibake's after-creation keys in {region}: {tags:?}"
        );
        lock(&w).tagged.push(req.clone());
        aws_sdk_ec2::operation::create_tags::CreateTagsOutput::builder().build()
    })
}

/// ModifyImageAttribute as a share sends it, or the test fails: this region's image,
/// launch permissions added and none removed. Recorded in [`World::shared`].
fn modify_image_attribute(region: &'static str, world: &Shared) -> Rule {
    let w = world.clone();
    mock!(aws_sdk_ec2::Client::modify_image_attribute).then_compute_output(move |req| {
        assert_eq!(
            req.image_id(),
            Some(ami_in(region).as_str()),
            "the share in {region} is of this run's image"
        );
        let perms = req.launch_permission();
        assert!(
            perms.is_some_and(|p| !p.add().is_empty() && p.remove().is_empty()),
            "the share in {region} adds launch permissions and removes none: {perms:?}"
        );
        lock(&w).shared.push(req.clone());
        aws_sdk_ec2::operation::modify_image_attribute::ModifyImageAttributeOutput::builder()
            .build()
    })
}

/// CreateImage of the builder: [`ami_in`] the region, pending.
fn create_image(region: &'static str, world: &Shared) -> Rule {
    let w = world.clone();
    mock!(aws_sdk_ec2::Client::create_image).then_compute_output(move |req| {
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
    })
}

/// CopyImage of the home image into this region: [`ami_in`] the region, pending.
fn copy_image(region: &'static str, world: &Shared) -> Rule {
    let w = world.clone();
    mock!(aws_sdk_ec2::Client::copy_image).then_compute_output(move |req| {
        assert_eq!(req.source_image_id(), Some(ami_in(HOME).as_str()));
        assert_eq!(req.source_region(), Some(HOME));
        let id = ami_in(region);
        lock(&w).images.insert(id.clone(), "pending".into());
        aws_sdk_ec2::operation::copy_image::CopyImageOutput::builder()
            .image_id(id)
            .build()
    })
}

/// DescribeImages by id: the source AMI at home, and this run's images while they exist
/// (a pending image is available from the second look on). Unknown ids get EC2's
/// `InvalidAMIID.NotFound`. A query by filter alone (the preflight's AMI-name check)
/// finds nothing: the name is free.
pub fn describe_images_answer(
    world: &Shared,
    region: &str,
    ids: &[String],
) -> MockResponse<DescribeImagesOutput, DescribeImagesError> {
    if ids.is_empty() {
        return MockResponse::Output(DescribeImagesOutput::builder().build());
    }
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
