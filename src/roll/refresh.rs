//! Following an instance refresh while the stack update runs: its progress (percent
//! complete, instances still to update, a checkpoint reached, bake time) as events and on
//! the progress bar, and why it failed when the stack rolls back.

use std::collections::HashSet;

use crate::aws::AwsError;
use crate::aws::asg::{self, Refresh};
use crate::aws::cfn::StackInfo;
use crate::error::FromAws;

use super::policy::{self, Policy};
use super::{Roll, RollError, RollEvent, lock};

/// What the watch follows besides the stack's events: the groups whose refresh the
/// update starts, and the refreshes that ran before it (not this roll's).
#[derive(Debug, Clone, Default)]
pub(super) struct Follow {
    pub groups: Vec<String>,
    pub before: HashSet<String>,
}

impl Roll<'_> {
    /// The policy of the template the stack will run; for an instance refresh, refuses
    /// what it could not roll back and returns what the watch follows.
    pub(super) async fn policy(
        &self,
        cfn: &aws_sdk_cloudformation::Client,
        stack: &StackInfo,
        new_template: Option<&str>,
    ) -> Result<(Policy, Option<Follow>), RollError> {
        let body = match new_template {
            Some(body) => body.to_string(),
            None => crate::aws::poll::retry(|| crate::aws::cfn::template_of(cfn, &stack.id))
                .await
                .map_err(RollError::aws("template"))?,
        };
        let policy = Policy::of_template(&body);
        if policy != Policy::InstanceRefresh {
            return Ok((policy, None));
        }
        let groups = crate::aws::poll::retry(|| self.groups(cfn, stack))
            .await
            .map_err(RollError::aws("refresh"))?;
        let asg = self
            .aws
            .asg(self.region())
            .map_err(RollError::aws("refresh"))?;
        let versions = self.versions(&asg, &groups).await?;
        let parameter = &self.req.image_parameter;
        let from_ssm = stack
            .parameters
            .iter()
            .any(|p| p.key == *parameter && p.resolved.is_some());
        policy::check_refresh(&body, parameter, from_ssm, &versions)?;
        let mut before = HashSet::new();
        for group in &groups {
            let known = crate::aws::poll::retry(|| asg::refreshes(&asg, group))
                .await
                .map_err(RollError::aws("refresh"))?;
            before.extend(known.into_iter().map(|r| r.id));
        }
        Ok((policy, Some(Follow { groups, before })))
    }

    /// The launch template versions the groups use now.
    async fn versions(
        &self,
        asg: &aws_sdk_autoscaling::Client,
        groups: &[String],
    ) -> Result<Vec<String>, RollError> {
        let sources = crate::aws::poll::retry(|| asg::group_sources(asg))
            .await
            .map_err(RollError::aws("refresh"))?;
        Ok(sources
            .into_iter()
            .filter(|(name, _)| groups.contains(name))
            .flat_map(|(_, sources)| sources)
            .filter_map(|s| match s {
                asg::GroupSource::LaunchTemplate { version, .. } => Some(version),
                _ => None,
            })
            .collect())
    }

    /// Reads this roll's refresh of each group and reports it when it moved on.
    pub(super) async fn follow_refresh(&self, follow: &Follow) -> Result<(), AwsError> {
        let asg = self.aws.asg(self.region())?;
        for group in &follow.groups {
            let refreshes = asg::refreshes(&asg, group).await?;
            let Some(now) = refreshes
                .into_iter()
                .find(|r| !follow.before.contains(&r.id))
            else {
                continue;
            };
            let mut last = lock(&self.refresh);
            if last.as_ref() == Some(&now) {
                continue;
            }
            *last = Some(now.clone());
            drop(last);
            self.reporter.emit(RollEvent::Refresh {
                group: group.clone(),
                refresh: now,
            });
        }
        Ok(())
    }

    /// Why this roll's refresh failed, when it did.
    pub(super) fn refresh_failure(&self) -> Option<String> {
        let last = lock(&self.refresh);
        let r = last.as_ref()?;
        let failed = matches!(
            r.status.as_str(),
            "Failed" | "Cancelled" | "RollbackInProgress" | "RollbackSuccessful" | "RollbackFailed"
        );
        failed.then(|| {
            format!(
                "instance refresh {} {}: {}",
                r.id,
                r.status,
                r.reason.as_deref().unwrap_or("Auto Scaling gave no reason")
            )
        })
    }
}

/// How a refresh reads on a line and on the progress bar.
pub(super) fn describe(r: &Refresh) -> String {
    let mut s = format!("instance refresh {} {}", r.id, r.status);
    if let Some(p) = r.percent_complete {
        s.push_str(&format!(", {p}% complete"));
    }
    if let Some(n) = r.instances_to_update {
        s.push_str(&format!(", {n} to update"));
    }
    if let (true, Some(b)) = (r.status == "Baking", r.bake_time) {
        s.push_str(&format!(" (bake time {b}s)"));
    }
    if let Some(reason) = r.reason.as_deref().filter(|r| !r.is_empty()) {
        s.push_str(&format!(": {reason}"));
    }
    s
}
