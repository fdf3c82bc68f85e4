//! Auto Scaling calls a roll makes: is the group busy scaling or refreshing?
//!
//! Rolling while the group scales out skips the new instances (and a terminating
//! lifecycle hook can stall the update), so a roll first asks whether anything is in
//! flight.

use aws_sdk_autoscaling::Client;

use super::AwsError;

/// Scaling activity status codes that mean the activity is over.
const ACTIVITY_DONE: [&str; 3] = ["Successful", "Failed", "Cancelled"];

/// Instance refresh statuses that mean a refresh is still running.
const REFRESH_RUNNING: [&str; 5] = [
    "Pending",
    "InProgress",
    "Cancelling",
    "RollbackInProgress",
    "Baking",
];

/// Something the group is doing right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    pub id: String,
    /// The activity's status code or the refresh's status.
    pub status: String,
    /// The activity's description (e.g. `Launching a new EC2 instance: i-…`), or empty.
    pub description: String,
}

/// The group's scaling activities that have not finished. Activities come newest
/// first, so the first page holds every one still in progress.
pub async fn activities_in_progress(asg: &Client, group: &str) -> Result<Vec<InFlight>, AwsError> {
    let out = asg
        .describe_scaling_activities()
        .auto_scaling_group_name(group)
        .max_records(50)
        .send()
        .await
        .map_err(|e| {
            AwsError::call(
                crate::aws::calls::AUTOSCALING_DESCRIBE_SCALING_ACTIVITIES,
                e,
            )
        })?;
    Ok(out
        .activities()
        .iter()
        .filter_map(|a| {
            let status = a.status_code()?.as_str();
            (!ACTIVITY_DONE.contains(&status)).then(|| InFlight {
                id: a.activity_id().unwrap_or_default().to_string(),
                status: status.to_string(),
                description: a.description().unwrap_or_default().to_string(),
            })
        })
        .collect())
}

/// The group's instance refreshes that are still running.
pub async fn refreshes_running(asg: &Client, group: &str) -> Result<Vec<InFlight>, AwsError> {
    Ok(refreshes(asg, group)
        .await?
        .into_iter()
        .filter(|r| !r.is_over())
        .map(|r| InFlight {
            id: r.id,
            status: r.status,
            description: r.reason.unwrap_or_default(),
        })
        .collect())
}

/// An instance refresh as DescribeInstanceRefreshes shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Refresh {
    pub id: String,
    /// `Pending`, `InProgress`, `Baking`, `Successful`, `Failed`, `RollbackInProgress`,
    /// `RollbackSuccessful`, …
    pub status: String,
    /// Why it is where it is (a checkpoint, the alarm that fired, the instances that
    /// failed), when AWS says.
    pub reason: Option<String>,
    pub percent_complete: Option<i32>,
    pub instances_to_update: Option<i32>,
    /// The preferences' checkpoints and bake time (seconds), as the refresh runs them.
    pub checkpoints: Vec<i32>,
    pub bake_time: Option<i32>,
}

impl Refresh {
    /// Whether the refresh is over (it succeeded, failed, was cancelled or rolled back).
    pub fn is_over(&self) -> bool {
        !REFRESH_RUNNING.contains(&self.status.as_str())
    }
}

/// The group's instance refreshes, newest first (the last 20).
pub async fn refreshes(asg: &Client, group: &str) -> Result<Vec<Refresh>, AwsError> {
    let out = asg
        .describe_instance_refreshes()
        .auto_scaling_group_name(group)
        .max_records(20)
        .send()
        .await
        .map_err(|e| {
            AwsError::call(
                crate::aws::calls::AUTOSCALING_DESCRIBE_INSTANCE_REFRESHES,
                e,
            )
        })?;
    Ok(out
        .instance_refreshes()
        .iter()
        .map(|r| {
            let prefs = r.preferences();
            Refresh {
                id: r.instance_refresh_id().unwrap_or_default().to_string(),
                status: r
                    .status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                reason: r.status_reason().map(str::to_string),
                percent_complete: r.percentage_complete(),
                instances_to_update: r.instances_to_update(),
                checkpoints: prefs
                    .map(|p| p.checkpoint_percentages().to_vec())
                    .unwrap_or_default(),
                bake_time: prefs.and_then(|p| p.bake_time()),
            }
        })
        .collect())
}

/// Where an Auto Scaling group gets its image from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupSource {
    /// A launch template (directly or in a mixed instances policy, including overrides);
    /// `version` is `$Latest`, `$Default` or a number (`$Default` when the group names none).
    LaunchTemplate {
        id: Option<String>,
        name: Option<String>,
        version: String,
    },
    LaunchConfiguration(String),
}

/// Every Auto Scaling group of the region with its image sources.
pub async fn group_sources(asg: &Client) -> Result<Vec<(String, Vec<GroupSource>)>, AwsError> {
    Ok(groups(asg)
        .await?
        .into_iter()
        .map(|g| (g.name, g.sources))
        .collect())
}

/// An Auto Scaling group: its name, the stack that made it (its
/// `aws:cloudformation:stack-name` tag) and where it gets its image from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub stack: Option<String>,
    pub sources: Vec<GroupSource>,
}

/// Every Auto Scaling group of the region (every page).
pub async fn groups(asg: &Client) -> Result<Vec<Group>, AwsError> {
    use aws_sdk_autoscaling::types::LaunchTemplateSpecification;
    let spec = |s: &LaunchTemplateSpecification| GroupSource::LaunchTemplate {
        id: s.launch_template_id().map(str::to_string),
        name: s.launch_template_name().map(str::to_string),
        version: s.version().unwrap_or("$Default").to_string(),
    };
    let mut groups = Vec::new();
    let mut pages = asg.describe_auto_scaling_groups().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            AwsError::call(
                crate::aws::calls::AUTOSCALING_DESCRIBE_AUTO_SCALING_GROUPS,
                e,
            )
        })?;
        for g in page.auto_scaling_groups() {
            let mut sources = Vec::new();
            if let Some(lt) = g.launch_template() {
                sources.push(spec(lt));
            }
            if let Some(lt) = g.mixed_instances_policy().and_then(|p| p.launch_template()) {
                if let Some(s) = lt.launch_template_specification() {
                    sources.push(spec(s));
                }
                for o in lt.overrides() {
                    if let Some(s) = o.launch_template_specification() {
                        sources.push(spec(s));
                    }
                }
            }
            if let Some(lc) = g.launch_configuration_name() {
                sources.push(GroupSource::LaunchConfiguration(lc.to_string()));
            }
            sources.dedup();
            let stack = g
                .tags()
                .iter()
                .find(|t| t.key() == Some(STACK_NAME_TAG))
                .and_then(|t| t.value())
                .map(str::to_string);
            groups.push(Group {
                name: g.auto_scaling_group_name().unwrap_or_default().to_string(),
                stack,
                sources,
            });
        }
    }
    Ok(groups)
}

/// The tag CloudFormation puts on what a stack creates.
const STACK_NAME_TAG: &str = "aws:cloudformation:stack-name";

/// The image of a launch configuration, `None` when it does not exist.
pub async fn launch_configuration_image(
    asg: &Client,
    name: &str,
) -> Result<Option<String>, AwsError> {
    let out = asg
        .describe_launch_configurations()
        .launch_configuration_names(name)
        .send()
        .await
        .map_err(|e| {
            AwsError::call(
                crate::aws::calls::AUTOSCALING_DESCRIBE_LAUNCH_CONFIGURATIONS,
                e,
            )
        })?;
    Ok(out
        .launch_configurations()
        .first()
        .and_then(|c| c.image_id())
        .map(str::to_string))
}
