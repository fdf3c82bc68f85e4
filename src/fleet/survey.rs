//! The survey of what still uses a recipe's images in a region: channel parameters,
//! Auto Scaling groups (through launch templates and launch configurations), instances that are not
//! terminated, the images stacks record (`amibake:image-id`, and
//! `amibake:previous-image-id`, which `rollback` needs), and last whatever else EC2's
//! DescribeImageReferences names (launch templates no group uses, SSM parameters outside
//! the channels, Image Builder recipes): amibake's own checks name the why (which group,
//! which channel), EC2's catches what they cannot see; then the other accounts a shared
//! image's newest usage report names. Every call reads; a failed one fails the survey (an
//! image is never called unused on a guess).

use crate::aws::ec2::{self, ImageInfo};
use crate::aws::{Aws, AwsError, asg, cfn, poll, ssm};
use crate::tags;

use super::{Use, Uses};

/// Looks up the channel parameters, Auto Scaling groups, instances, stacks, other
/// references and other accounts that use any of `images` (the recipe's images in
/// `region`).
pub async fn survey(
    aws: &Aws,
    region: &str,
    recipe: &str,
    images: &[ImageInfo],
) -> Result<Uses, AwsError> {
    survey_recipes(aws, region, &[recipe.to_string()], images).await
}

/// [`survey`] for the images of several recipes at once (`status --all`): the channels of
/// each recipe, and every other part read once for all the images.
pub async fn survey_recipes(
    aws: &Aws,
    region: &str,
    recipes: &[String],
    images: &[ImageInfo],
) -> Result<Uses, AwsError> {
    let mut uses = Uses::default();
    let ssm_client = aws.ssm(region)?;
    let ec2_client = aws.ec2(region)?;
    for recipe in recipes {
        channels(&ssm_client, recipe, &mut uses).await?;
    }
    groups(&ec2_client, &aws.asg(region)?, &ssm_client, &mut uses).await?;
    instances(&ec2_client, images, &mut uses).await?;
    stacks(&aws.cfn(region)?, &ssm_client, &mut uses).await?;
    described(&ec2_client, images, &mut uses).await?;
    accounts(&ec2_client, images, &mut uses).await?;
    Ok(uses)
}

/// The other accounts that use a shared image, as its newest available usage report says
/// (reports that exist; none is made here). An account with a count of 0 uses nothing.
async fn accounts(
    ec2_client: &aws_sdk_ec2::Client,
    images: &[ImageInfo],
    uses: &mut Uses,
) -> Result<(), AwsError> {
    let ids: Vec<String> = images.iter().map(|i| i.id.clone()).collect();
    if ids.is_empty() {
        return Ok(());
    }
    let reports = poll::retry(|| ec2::image_usage_reports(ec2_client, &ids, true)).await?;
    let newest = newest_reports(reports);
    if newest.is_empty() {
        return Ok(());
    }
    let report_ids: Vec<String> = newest.iter().map(|r| r.report_id.clone()).collect();
    let entries = poll::retry(|| ec2::image_usage_entries(ec2_client, &report_ids)).await?;
    for report in &newest {
        let of_report = entries
            .iter()
            .filter(|e| e.report_id == report.report_id && e.usage_count > 0);
        for e in of_report {
            let used = Use::Account {
                account_id: e.account_id.clone(),
                resource_type: e.resource_type.clone(),
                usage_count: e.usage_count,
                report_id: report.report_id.clone(),
                report_created: report.created.clone(),
            };
            uses.add(&report.image_id, used);
        }
    }
    Ok(())
}

/// The newest available report of each image (by creation time, then id).
pub(crate) fn newest_reports(reports: Vec<ec2::UsageReport>) -> Vec<ec2::UsageReport> {
    let mut newest: std::collections::BTreeMap<String, ec2::UsageReport> = Default::default();
    for r in reports.into_iter().filter(|r| r.state == "available") {
        let newer = newest
            .get(&r.image_id)
            .is_none_or(|kept| (&r.created, &r.report_id) > (&kept.created, &kept.report_id));
        if newer {
            newest.insert(r.image_id.clone(), r);
        }
    }
    newest.into_values().collect()
}

/// The resource types prune asks EC2 about. Not instances: EC2 counts terminated ones
/// too, and `instances` above already keeps every image an instance still has.
const DESCRIBED: &[&str] = &[
    "ec2:LaunchTemplate",
    "ssm:Parameter",
    "imagebuilder:ImageRecipe",
    "imagebuilder:ContainerRecipe",
];

/// What DescribeImageReferences names that the checks above did not already. A launch
/// template a group uses is left out: `groups` already kept the image of the version the
/// group launches, and EC2 would also name older versions (its latest 10), which would
/// keep every image a roll replaced. The same parameter as a channel is not said twice.
async fn described(
    ec2_client: &aws_sdk_ec2::Client,
    images: &[ImageInfo],
    uses: &mut Uses,
) -> Result<(), AwsError> {
    let ids: Vec<String> = images.iter().map(|i| i.id.clone()).collect();
    let found = poll::retry(|| ec2::image_references(ec2_client, &ids, DESCRIBED)).await?;
    let group_templates: Vec<String> = uses
        .0
        .values()
        .flatten()
        .filter_map(|r| match r {
            Use::Asg {
                launch_template, ..
            } => Some(launch_template.clone()),
            _ => None,
        })
        .collect();
    for r in found {
        let name = r.resource_name();
        let said = match r.resource_type.as_str() {
            "ec2:LaunchTemplate" => group_templates.contains(&name),
            "ssm:Parameter" => uses
                .of(&r.image_id)
                .iter()
                .any(|known| matches!(known, Use::Channel { parameter, .. } if *parameter == name)),
            _ => false,
        };
        if !said {
            let reason = Use::Referenced {
                resource_type: r.resource_type,
                name,
                arn: r.arn,
            };
            uses.add(&r.image_id, reason);
        }
    }
    Ok(())
}

/// The images stacks record: the one amibake rolled each onto, and the one `rollback`
/// goes back to (an AMI id, or an SSM parameter naming one, as `roll --ami` takes).
async fn stacks(
    cfn_client: &aws_sdk_cloudformation::Client,
    ssm_client: &aws_sdk_ssm::Client,
    uses: &mut Uses,
) -> Result<(), AwsError> {
    let stacks = poll::retry(|| cfn::stacks_with_tags(cfn_client)).await?;
    for (stack, stack_tags) in &stacks {
        for (key, reason) in [
            (
                tags::PREVIOUS_IMAGE,
                Use::RollbackTarget {
                    stack: stack.clone(),
                },
            ),
            (
                tags::IMAGE,
                Use::StackImage {
                    stack: stack.clone(),
                },
            ),
        ] {
            let Some(value) = stack_tags.get(key) else {
                continue;
            };
            let image = match value.strip_prefix("resolve:ssm:").unwrap_or(value) {
                param if param.starts_with('/') => {
                    match poll::retry(|| ssm::get_parameter(ssm_client, param)).await? {
                        Some(image) => image,
                        None => continue,
                    }
                }
                id => id.to_string(),
            };
            uses.add(&image, reason);
        }
    }
    Ok(())
}

/// The channel parameters `/amibake/<recipe>/*`.
async fn channels(
    ssm_client: &aws_sdk_ssm::Client,
    recipe: &str,
    uses: &mut Uses,
) -> Result<(), AwsError> {
    let prefix = crate::promote::channel_parameter(recipe, "");
    let channels = poll::retry(|| ssm::parameters_by_path(ssm_client, &prefix)).await?;
    for (name, value) in &channels {
        uses.add(
            value,
            Use::Channel {
                env: name.strip_prefix(&prefix).unwrap_or(name).to_string(),
                parameter: name.clone(),
            },
        );
    }
    Ok(())
}

/// The images Auto Scaling groups launch.
async fn groups(
    ec2_client: &aws_sdk_ec2::Client,
    asg_client: &aws_sdk_autoscaling::Client,
    ssm_client: &aws_sdk_ssm::Client,
    uses: &mut Uses,
) -> Result<(), AwsError> {
    let groups = poll::retry(|| asg::groups(asg_client)).await?;
    for group in &groups {
        for source in &group.sources {
            let used = match source {
                asg::GroupSource::LaunchTemplate { id, name, version } => {
                    let template = (id.as_deref(), name.as_deref(), version.as_str());
                    launch_template(ec2_client, ssm_client, group, template).await?
                }
                asg::GroupSource::LaunchConfiguration(lc) => {
                    poll::retry(|| asg::launch_configuration_image(asg_client, lc))
                        .await?
                        .map(|image| {
                            let used = Use::LaunchConfiguration {
                                group: group.name.clone(),
                                name: lc.clone(),
                                stack: group.stack.clone(),
                            };
                            (image, used)
                        })
                }
            };
            if let Some((image, reason)) = used {
                uses.add(&image, reason);
            }
        }
    }
    Ok(())
}

/// The image a group's launch template version (id, name, version) launches, if any.
async fn launch_template(
    ec2_client: &aws_sdk_ec2::Client,
    ssm_client: &aws_sdk_ssm::Client,
    group: &asg::Group,
    (id, name, version): (Option<&str>, Option<&str>, &str),
) -> Result<Option<(String, Use)>, AwsError> {
    let found = poll::retry(|| ec2::launch_template_image(ec2_client, id, name, version)).await?;
    let Some(lt) = found else { return Ok(None) };
    let Some(image) = lt.image_id else {
        return Ok(None);
    };
    // A launch template may name its image through an SSM parameter.
    let image = match image.strip_prefix("resolve:ssm:") {
        Some(param) => match poll::retry(|| ssm::get_parameter(ssm_client, param)).await? {
            Some(value) => value,
            None => return Ok(None),
        },
        None => image,
    };
    let reason = Use::Asg {
        group: group.name.clone(),
        launch_template: lt.template_id,
        version: lt.version,
        stack: group.stack.clone(),
    };
    Ok(Some((image, reason)))
}

/// Instances launched from any of `images` that are not terminated.
async fn instances(
    ec2_client: &aws_sdk_ec2::Client,
    images: &[ImageInfo],
    uses: &mut Uses,
) -> Result<(), AwsError> {
    let ids: Vec<String> = images.iter().map(|i| i.id.clone()).collect();
    let instances = poll::retry(|| ec2::instances_of_images(ec2_client, &ids)).await?;
    for i in instances {
        let reason = Use::Instance {
            id: i.id,
            state: i.state,
        };
        uses.add(&i.image_id, reason);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(image: &str, id: &str, state: &str, created: &str) -> ec2::UsageReport {
        ec2::UsageReport {
            report_id: id.into(),
            image_id: image.into(),
            state: state.into(),
            state_reason: None,
            created: created.into(),
        }
    }

    #[test]
    fn the_newest_available_report_of_each_image_is_read() {
        let newest = newest_reports(vec![
            report("ami-1", "amiur-old", "available", "2026-11-01T00:00:00Z"),
            report("ami-1", "amiur-new", "available", "2026-12-01T00:00:00Z"),
            report("ami-1", "amiur-pending", "pending", "2026-12-06T00:00:00Z"),
            report("ami-2", "amiur-error", "error", "2026-12-01T00:00:00Z"),
            report("ami-3", "amiur-b", "available", "2026-12-01T00:00:00Z"),
            report("ami-3", "amiur-a", "available", "2026-12-01T00:00:00Z"),
        ]);
        let picked: Vec<(&str, &str)> = newest
            .iter()
            .map(|r| (r.image_id.as_str(), r.report_id.as_str()))
            .collect();
        assert_eq!(picked, [("ami-1", "amiur-new"), ("ami-3", "amiur-b")]);
    }
}
