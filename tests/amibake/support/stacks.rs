//! Stacks in the emulator, for the roll tests: the default network to create one in, the
//! arguments that create one from a template, and what a stack and its group look like.
#![allow(dead_code)] // each test binary uses a different part

use super::emulator::*;

/// The region's default VPC and two of its subnets (the emulator seeds no parameters).
pub async fn default_network(region: &str) -> (String, Vec<String>) {
    let ec2 = ec2(region).await;
    let vpc = ec2
        .describe_vpcs()
        .send()
        .await
        .expect("DescribeVpcs")
        .vpcs()
        .iter()
        .find(|v| v.is_default() == Some(true))
        .and_then(|v| v.vpc_id())
        .expect("a default VPC")
        .to_string();
    let subnets: Vec<String> = ec2
        .describe_subnets()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("vpc-id")
                .values(&vpc)
                .build(),
        )
        .send()
        .await
        .expect("DescribeSubnets")
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_id().map(str::to_string))
        .take(2)
        .collect();
    assert!(!subnets.is_empty(), "the default VPC has subnets");
    (vpc, subnets)
}

/// The stack: status, a parameter, an output, a tag.
pub struct StackView {
    pub status: String,
    pub params: std::collections::BTreeMap<String, String>,
    pub outputs: std::collections::BTreeMap<String, String>,
    pub tags: std::collections::BTreeMap<String, String>,
}

/// The stack `name`, or `None` when CloudFormation says it does not exist; any other
/// error fails the test (it is not "no stack").
pub async fn stack(region: &str, name: &str) -> Option<StackView> {
    let out = match cfn(region).describe_stacks().stack_name(name).send().await {
        Ok(out) => out,
        Err(e) => {
            let missing = format!("Stack with id {name} does not exist");
            let service = e.as_service_error();
            if service.is_some_and(|s| s.meta().code() == Some("ValidationError"))
                && service.and_then(|s| s.meta().message()) == Some(missing.as_str())
            {
                return None;
            }
            panic!("DescribeStacks {name} in {region}: {e:?}");
        }
    };
    let s = out.stacks().first()?;
    Some(StackView {
        status: s.stack_status().unwrap().as_str().to_string(),
        params: map(s
            .parameters()
            .iter()
            .map(|p| (p.parameter_key(), p.parameter_value()))),
        outputs: map(s
            .outputs()
            .iter()
            .map(|o| (o.output_key(), o.output_value()))),
        tags: map(s.tags().iter().map(|t| (t.key(), t.value()))),
    })
}

/// Keys and values the SDK gives as options, as a map (a missing value is empty).
pub fn map<'a>(
    pairs: impl Iterator<Item = (Option<&'a str>, Option<&'a str>)>,
) -> std::collections::BTreeMap<String, String> {
    pairs
        .map(|(k, v)| (k.unwrap().to_string(), v.unwrap_or_default().to_string()))
        .collect()
}

/// The launch template (id, version) the stack's group points at.
pub async fn group_launch_template(region: &str, group: &str) -> (String, String) {
    let out = asg(region)
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(group)
        .send()
        .await
        .expect("DescribeAutoScalingGroups");
    let lt = out.auto_scaling_groups()[0]
        .launch_template()
        .expect("the group uses a launch template");
    (
        lt.launch_template_id().unwrap().to_string(),
        lt.version().unwrap().to_string(),
    )
}

/// The image of a launch template version.
pub async fn launch_template_image(region: &str, lt: &str, version: &str) -> String {
    ec2(region)
        .await
        .describe_launch_template_versions()
        .launch_template_id(lt)
        .versions(version)
        .send()
        .await
        .expect("DescribeLaunchTemplateVersions")
        .launch_template_versions()[0]
        .launch_template_data()
        .and_then(|d| d.image_id())
        .expect("an image id")
        .to_string()
}

/// The names of the change sets CloudFormation keeps (moto lists every stack's).
pub async fn change_sets(region: &str, name: &str) -> Vec<String> {
    cfn(region)
        .list_change_sets()
        .stack_name(name)
        .send()
        .await
        .expect("ListChangeSets")
        .summaries()
        .iter()
        .filter_map(|c| c.change_set_name().map(str::to_string))
        .collect()
}
/// A region made ready for a roll test (its knobs set): a state directory, a runtime, the
/// default network to create a stack in (VPC, subnets) and two Amazon images to roll
/// between.
pub fn roll_region(region: &str, knobs: serde_json::Value) -> RollRegion {
    configure(region, knobs);
    let rt = rt();
    let network = rt.block_on(default_network(region));
    let images = rt.block_on(two_amis(region));
    (tempfile::tempdir().unwrap(), rt, network, images)
}

/// What [`roll_region`] makes ready.
pub type RollRegion = (
    tempfile::TempDir,
    tokio::runtime::Runtime,
    (String, Vec<String>),
    (String, String),
);

/// `amibake --json ARGS… --yes`, ARGS those of [`create_args`]: creates the stack and
/// asserts it succeeded; what it printed.
pub fn create_stack(
    region: &str,
    state: &std::path::Path,
    args: &[String],
) -> std::process::Output {
    let out = amibake(region, state)
        .arg("--json")
        .args(args)
        .arg("--yes")
        .output()
        .expect("run amibake");
    expect_exit(&out, 0);
    out
}

/// `roll --stack NAME --ami AMI` creating the stack from `template`.
pub fn create_args(
    template: &str,
    name: &str,
    ami: &str,
    vpc: &str,
    subnets: &[String],
) -> Vec<String> {
    [
        "roll",
        "--stack",
        name,
        "--ami",
        ami,
        "--template",
        template,
        "--parameter",
        &format!("VpcId={vpc}"),
        "--parameter",
        &format!("Subnets={}", subnets.join(",")),
        "--parameter",
        "InstanceProfile=amibake-builder",
        "--parameter",
        "MinSize=1",
        "--parameter",
        "DesiredCapacity=1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}
