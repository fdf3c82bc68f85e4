//! `amibake restore`: undoes a revoke. EnableImage on the image and every copy first (SSM
//! takes an `aws:ec2:image` value only of an image it can see), then every channel tagged
//! `amibake:revoked-from=ID` whose newest version is still the one revoke wrote goes back
//! to the image and loses the tag. A channel changed since (a promote after the revoke)
//! is left alone and named. Dry run unless `--yes`; a rerun with nothing left says so.

use serde::Serialize;

use crate::aws::ec2;
use crate::aws::{Aws, poll, ssm};
use crate::error::FromAws;
use crate::report::Reporter;
use crate::tags;

use super::apply::write_channel;
use super::history::{restore_description, written_by_revoke};
use super::plan::{ChannelStep, ImageStep};
use super::target::{self, Target};
use super::{RevokeError, RevokeEvent, RevokeRequest};

/// A channel restore leaves alone: revoke moved it, but it changed since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeftAlone {
    pub region: String,
    pub parameter: String,
    pub holds: String,
}

/// Everything restore read and decided.
#[derive(Debug, Clone, Serialize)]
pub struct RestorePlan {
    pub ami: String,
    pub recipe: String,
    pub images: Vec<ImageStep>,
    pub channels: Vec<ChannelStep>,
    pub left_alone: Vec<LeftAlone>,
}

impl RestorePlan {
    pub fn done(&self) -> bool {
        self.images.iter().all(|i| i.done) && self.channels.iter().all(|c| c.done)
    }
}

/// Runs a restore: reads (the plan, printed), then with `--yes` enables the images and
/// moves the channels forward. `req.reason` is not used.
pub async fn restore(
    aws: &Aws,
    req: &RevokeRequest,
    reporter: &Reporter,
) -> Result<RestorePlan, RevokeError> {
    let target = target::resolve(aws, aws.region(), &req.selection).await?;
    let plan = plan(aws, &target).await?;
    reporter.emit(RevokeEvent::restore_plan(&plan, !req.yes));
    for left in &plan.left_alone {
        reporter.emit(RevokeEvent::LeftAlone(left.clone()));
    }
    if plan.done() {
        reporter.emit(RevokeEvent::done("restore", &plan.ami, false, true));
        return Ok(plan);
    }
    if !req.yes {
        reporter.emit(RevokeEvent::done("restore", &plan.ami, true, false));
        return Ok(plan);
    }
    walk(aws, req, &plan, reporter).await?;
    reporter.emit(RevokeEvent::done("restore", &plan.ami, false, false));
    Ok(plan)
}

/// Reads the images' states and each region's channels revoke moved off the image.
async fn plan(aws: &Aws, target: &Target) -> Result<RestorePlan, RevokeError> {
    let images = target
        .images
        .iter()
        .map(|i| ImageStep::of(i, false))
        .collect();
    let mut channels = Vec::new();
    let mut left_alone = Vec::new();
    for image in &target.images {
        let (region, ami) = (image.region.as_str(), image.ami.as_str());
        let client = aws.ssm(region).map_err(RevokeError::aws("channels"))?;
        let prefix = crate::promote::channel_parameter(&target.recipe, "");
        let all = poll::retry(|| ssm::parameters_by_path(&client, &prefix))
            .await
            .map_err(RevokeError::aws("channels"))?;
        for (parameter, value) in all {
            let tagged = poll::retry(|| ssm::parameter_tags(&client, &parameter))
                .await
                .map_err(RevokeError::aws("channels"))?;
            if tagged.get(tags::REVOKED_FROM).map(String::as_str) != Some(ami) {
                continue;
            }
            let env = parameter
                .strip_prefix(&prefix)
                .unwrap_or(&parameter)
                .to_string();
            let history = poll::retry(|| ssm::parameter_history(&client, &parameter))
                .await
                .map_err(RevokeError::aws("history"))?;
            let newest = history.last();
            // Revoke's record names the image revoked (the home region's, for a copy's channel).
            let revoked_it = newest.is_some_and(|v| {
                written_by_revoke(&v.description, ami)
                    || written_by_revoke(&v.description, &target.ami)
            });
            if value == ami || revoked_it {
                // Already holding the image (a restore stopped before untagging): only
                // the tag goes.
                channels.push(ChannelStep {
                    region: region.to_string(),
                    parameter,
                    env,
                    from: value.clone(),
                    to: ami.to_string(),
                    done: false,
                });
            } else {
                left_alone.push(LeftAlone {
                    region: region.to_string(),
                    parameter,
                    holds: value,
                });
            }
        }
    }
    Ok(RestorePlan {
        ami: target.ami.clone(),
        recipe: target.recipe.clone(),
        images,
        channels,
        left_alone,
    })
}

/// Enables the images, then moves each channel forward and removes its tag.
async fn walk(
    aws: &Aws,
    req: &RevokeRequest,
    plan: &RestorePlan,
    reporter: &Reporter,
) -> Result<(), RevokeError> {
    let mut steps: Vec<String> = Vec::new();
    for i in plan.images.iter().filter(|i| !i.done) {
        steps.push(format!("enable {} in {}", i.ami, i.region));
    }
    for c in &plan.channels {
        steps.push(format!(
            "channel {} in {}: {} → {}",
            c.parameter, c.region, c.from, c.to
        ));
    }
    let partial = |n: usize, e: RevokeError| RevokeError::Partial {
        failed: format!("restore of {} stopped at {}: {e}", plan.ami, steps[n]),
        done: steps[..n].to_vec(),
        not_done: steps[n..].to_vec(),
        source: Box::new(e),
    };
    let mut n = 0;
    for i in plan.images.iter().filter(|i| !i.done) {
        let enabled = async {
            let client = aws.ec2(&i.region).map_err(RevokeError::aws("enable"))?;
            poll::retry(|| ec2::enable_image(&client, &i.ami))
                .await
                .map_err(RevokeError::aws("enable"))
        };
        enabled.await.map_err(|e| partial(n, e))?;
        reporter.emit(RevokeEvent::Enabled {
            region: i.region.clone(),
            ami: i.ami.clone(),
        });
        n += 1;
    }
    let at = crate::run::rfc3339(std::time::SystemTime::now());
    let description = restore_description(&plan.ami, &req.user, &at, &req.run_id);
    for c in &plan.channels {
        let moved = async {
            if c.from != c.to {
                let wait = (req.poll_scale, req.parameter_timeout);
                write_channel(aws, c, &description, wait).await?;
            }
            let client = aws.ssm(&c.region).map_err(RevokeError::aws("channel"))?;
            poll::retry(|| ssm::untag_parameter(&client, &c.parameter, &[tags::REVOKED_FROM]))
                .await
                .map_err(RevokeError::aws("channel"))
        };
        moved.await.map_err(|e| partial(n, e))?;
        reporter.emit(RevokeEvent::Moved(c.clone()));
        n += 1;
    }
    Ok(())
}
