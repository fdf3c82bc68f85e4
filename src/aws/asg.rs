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
        .map_err(|e| AwsError::call("autoscaling:DescribeScalingActivities", e))?;
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
    let out = asg
        .describe_instance_refreshes()
        .auto_scaling_group_name(group)
        .max_records(20)
        .send()
        .await
        .map_err(|e| AwsError::call("autoscaling:DescribeInstanceRefreshes", e))?;
    Ok(out
        .instance_refreshes()
        .iter()
        .filter_map(|r| {
            let status = r.status()?.as_str();
            REFRESH_RUNNING.contains(&status).then(|| InFlight {
                id: r.instance_refresh_id().unwrap_or_default().to_string(),
                status: status.to_string(),
                description: r.status_reason().unwrap_or_default().to_string(),
            })
        })
        .collect())
}
