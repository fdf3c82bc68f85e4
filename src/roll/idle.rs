//! The stack and its groups busy or idle: refuse, or with `--wait-for-idle` wait.

use std::sync::Mutex;

use crate::aws::cfn::{self, StackInfo};
use crate::aws::poll;
use crate::aws::{AwsError, asg};
use crate::error::FromAws;

use super::event::SPINNER;
use super::{ASG_OUTPUT, IDLE, Roll, RollError, RollEvent, gone, lock};

impl Roll<'_> {
    /// The Auto Scaling groups of the stack: its `AsgName` output, else its resources.
    pub(super) async fn groups(
        &self,
        cfn: &aws_sdk_cloudformation::Client,
        stack: &StackInfo,
    ) -> Result<Vec<String>, AwsError> {
        if let Some(name) = stack.output(ASG_OUTPUT) {
            return Ok(vec![name.to_string()]);
        }
        cfn::resources_of_type(cfn, &stack.id, cfn::ASG_TYPE).await
    }

    /// What keeps the stack or its group busy, if anything.
    pub(super) async fn busy(
        &self,
        cfn: &aws_sdk_cloudformation::Client,
        stack: &StackInfo,
    ) -> Result<Option<String>, AwsError> {
        if stack.status.ends_with("_IN_PROGRESS") {
            return Ok(Some(format!("stack {} is {}", stack.name, stack.status)));
        }
        let groups = self.groups(cfn, stack).await?;
        if groups.is_empty() {
            return Ok(None);
        }
        let asg = self.aws.asg(self.region())?;
        for group in &groups {
            let activities = asg::activities_in_progress(&asg, group).await?;
            if let Some(a) = activities.first() {
                return Ok(Some(format!(
                    "Auto Scaling group {group} has {} scaling {} in progress ({}: {})",
                    activities.len(),
                    if activities.len() == 1 {
                        "activity"
                    } else {
                        "activities"
                    },
                    a.status,
                    a.description
                )));
            }
            let refreshes = asg::refreshes_running(&asg, group).await?;
            if let Some(r) = refreshes.first() {
                return Ok(Some(format!(
                    "Auto Scaling group {group} has instance refresh {} {}",
                    r.id, r.status
                )));
            }
        }
        Ok(None)
    }

    /// Returns the stack once neither it nor its group is busy: at once, after waiting
    /// (`--wait-for-idle`), or refuses.
    pub(super) async fn wait_idle(
        &self,
        cfn: &aws_sdk_cloudformation::Client,
        stack: StackInfo,
    ) -> Result<StackInfo, RollError> {
        let busy = poll::retry(|| self.busy(cfn, &stack))
            .await
            .map_err(RollError::aws("idle check"))?;
        let Some(what) = busy else {
            return Ok(stack);
        };
        if !self.req.wait_for_idle {
            return Err(RollError::Busy { what });
        }
        self.reporter.emit(RollEvent::Waiting {
            stack: stack.name.clone(),
            busy: what.clone(),
        });
        let last = Mutex::new(what);
        let result = poll::until(self.schedule(IDLE), self.req.idle_timeout, || async {
            let now = cfn::describe_stack(cfn, &stack.id)
                .await?
                .ok_or_else(|| gone(&stack.id))?;
            match self.busy(cfn, &now).await? {
                None => Ok(Some(now)),
                Some(what) => {
                    self.reporter.spin(SPINNER, &what);
                    *lock(&last) = what;
                    Ok(None)
                }
            }
        })
        .await;
        let now = result.map_err(|e| {
            let what = "waiting for the stack and its group to be idle".to_string();
            RollError::waited(e, "idle check", what, lock(&last).clone())
        })?;
        self.reporter.emit(RollEvent::Idle {
            stack: now.name.clone(),
            status: now.status.clone(),
        });
        Ok(now)
    }
}
