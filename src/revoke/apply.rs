//! Walking a revoke's plan with `--yes`: the channels first (so nothing new promotes or
//! rolls from them), then DisableImage on the image and every copy, then each stack
//! rolled back through the roll code. Each step is reported as it is done; a failure
//! stops the walk and names what was done and what was not (a rerun does the rest).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::aws::ec2;
use crate::aws::{Aws, poll, ssm};
use crate::error::FromAws;
use crate::report::Reporter;
use crate::roll::{Roll, RollRequest, Target as RollTarget};
use crate::tags;

use super::history::revoke_description;
use super::plan::{ChannelStep, ImageStep, StackStep};
use super::{PARAMETER, RevokeError, RevokeEvent, RevokePlan, RevokeRequest};

/// One write of the walk, as the failure report names it.
enum Step<'p> {
    Channel(&'p ChannelStep),
    Disable(&'p ImageStep),
    Stack(&'p StackStep),
}

impl Step<'_> {
    fn text(&self) -> String {
        match self {
            Step::Channel(c) => format!(
                "channel {} in {}: {} → {}",
                c.parameter, c.region, c.from, c.to
            ),
            Step::Disable(i) => format!("disable {} in {}", i.ami, i.region),
            Step::Stack(s) => format!("roll stack {} in {} back to {}", s.stack, s.region, s.to),
        }
    }
}

/// Walks the plan's steps not done yet, in order.
pub(super) async fn apply(
    aws: &Aws,
    req: &RevokeRequest,
    plan: &RevokePlan,
    reporter: &Reporter,
) -> Result<(), RevokeError> {
    let steps: Vec<Step> = plan
        .channels
        .iter()
        .filter(|c| !c.done)
        .map(Step::Channel)
        .chain(plan.images.iter().filter(|i| !i.done).map(Step::Disable))
        .chain(plan.stacks.iter().map(Step::Stack))
        .collect();
    let at = crate::run::rfc3339(std::time::SystemTime::now());
    let description = revoke_description(&plan.ami, &req.user, &at, &req.run_id, &plan.reason);
    let mut done = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let result = match step {
            Step::Channel(c) => {
                let tag = BTreeMap::from([(tags::REVOKED_FROM.to_string(), c.from.clone())]);
                let wait = (req.poll_scale, req.parameter_timeout);
                let write = write_channel(aws, c, &description, wait).await;
                match write {
                    Ok(()) => tag_channel(aws, c, &tag).await,
                    Err(e) => Err(e),
                }
                .map(|()| RevokeEvent::Moved((*c).clone()))
            }
            Step::Disable(img) => disable(aws, img).await.map(|()| RevokeEvent::Disabled {
                region: img.region.clone(),
                ami: img.ami.clone(),
            }),
            Step::Stack(s) => roll_back(aws, req, s, reporter).await,
        };
        match result {
            Ok(event) => {
                reporter.emit(event);
                done.push(step.text());
            }
            Err(e) => {
                return Err(RevokeError::Partial {
                    failed: format!("revoke of {} stopped at {}: {e}", plan.ami, step.text()),
                    done,
                    not_done: steps[i..].iter().map(Step::text).collect(),
                    source: Box::new(e),
                });
            }
        }
    }
    Ok(())
}

/// Points a channel at the step's `to`, with this description, and waits until SSM
/// shows the new version (it checks an `aws:ec2:image` value asynchronously).
pub(super) async fn write_channel(
    aws: &Aws,
    step: &ChannelStep,
    description: &str,
    (poll_scale, timeout): (f64, Duration),
) -> Result<(), RevokeError> {
    let (region, parameter, value) = (&step.region, &step.parameter, &step.to);
    let client = aws.ssm(region).map_err(RevokeError::aws("channel"))?;
    let data_type = crate::promote::IMAGE_DATA_TYPE;
    let version =
        poll::retry(|| ssm::put_parameter(&client, parameter, value, description, data_type))
            .await
            .map_err(RevokeError::aws("channel"))?;
    poll::until(PARAMETER.scaled(poll_scale), timeout, || async {
        Ok(ssm::get_parameter_with_metadata(&client, parameter)
            .await?
            .filter(|p| p.version >= version && p.value == *value)
            .map(|_| ()))
    })
    .await
    .map_err(RevokeError::poll(
        "channel",
        format!("{parameter} in {region}"),
        format!("SSM did not show version {version} = {value}: it refuses an aws:ec2:image value that is not an available AMI of {region}"),
    ))
}

/// Records on a channel that revoke moved it off an image.
async fn tag_channel(
    aws: &Aws,
    step: &ChannelStep,
    tag: &BTreeMap<String, String>,
) -> Result<(), RevokeError> {
    let client = aws.ssm(&step.region).map_err(RevokeError::aws("channel"))?;
    poll::retry(|| ssm::tag_parameter(&client, &step.parameter, tag))
        .await
        .map_err(RevokeError::aws("channel"))
}

/// Disables one image.
async fn disable(aws: &Aws, img: &ImageStep) -> Result<(), RevokeError> {
    let client = aws.ec2(&img.region).map_err(RevokeError::aws("disable"))?;
    poll::retry(|| ec2::disable_image(&client, &img.ami))
        .await
        .map_err(RevokeError::aws("disable"))
}

/// Rolls a stack back to its previous image with the roll code (`rollback --stack`,
/// without asking: `--yes` was given to revoke).
async fn roll_back(
    aws: &Aws,
    req: &RevokeRequest,
    step: &StackStep,
    reporter: &Reporter,
) -> Result<RevokeEvent, RevokeError> {
    let mut roll_req = RollRequest::new(&step.stack, RollTarget::Previous);
    roll_req.yes = true;
    roll_req.poll_scale = req.poll_scale;
    let regional = aws.in_region(&step.region);
    let roll = Roll::new(regional, roll_req, reporter);
    let outcome = roll.run(None).await.map_err(|e| RevokeError::Roll {
        stack: step.stack.clone(),
        region: step.region.clone(),
        source: Box::new(e),
    })?;
    Ok(RevokeEvent::RolledBack {
        region: step.region.clone(),
        stack: step.stack.clone(),
        summary: outcome.summary(),
    })
}
