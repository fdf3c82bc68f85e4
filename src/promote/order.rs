//! The order check: an image enters an environment only when the one before it holds it
//! (in the manifest's home region), unless `--force`.

use serde::Serialize;

use crate::aws::poll;
use crate::aws::{Aws, ssm};
use crate::error::FromAws;
use crate::report::Reporter;

use super::target::Target;
use super::{PromoteError, PromoteEvent, PromoteRequest, channel_parameter};

/// The order check's finding: what the environment before holds at home.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderCheck {
    /// The environment before (`None`: the first environment, nothing to check).
    pub previous: Option<String>,
    /// Its channel parameter, read in `region`.
    pub parameter: Option<String>,
    pub region: String,
    pub holds: Option<String>,
    /// The image it must hold: the manifest's at home.
    pub ami: String,
    /// The environment before holds the image (or there is none).
    pub passes: bool,
}

impl OrderCheck {
    /// The refusal the check makes (whether or not `--force` overrides it).
    pub(super) fn refusal(&self, req: &PromoteRequest) -> Option<PromoteError> {
        if self.passes {
            return None;
        }
        Some(PromoteError::Refused {
            env: req.env.clone(),
            previous: self.previous.clone().unwrap_or_default(),
            parameter: self.parameter.clone().unwrap_or_default(),
            region: self.region.clone(),
            ami: self.ami.clone(),
            holds: self.holds.clone(),
        })
    }
}

impl OrderCheck {
    /// One line: what was checked and how it went.
    pub fn summary(&self, env: &str) -> String {
        let (Some(previous), Some(parameter)) = (&self.previous, &self.parameter) else {
            return format!("none ({env} is the first environment)");
        };
        let holds = self.holds.as_deref().unwrap_or("nothing (no channel)");
        let verdict = if self.passes { "passes" } else { "refuses" };
        format!(
            "{verdict}: {previous} holds {holds} in {} ({parameter}), {env} needs {}",
            self.region, self.ami
        )
    }
}

/// Reads what the environment before the target's holds at home.
pub(super) async fn check_order(aws: &Aws, target: &Target) -> Result<OrderCheck, PromoteError> {
    let order = &target.order;
    let previous = target.index.checked_sub(1).map(|i| order.envs[i].clone());
    let mut check = OrderCheck {
        previous: previous.clone(),
        parameter: None,
        region: target.home.clone(),
        holds: None,
        passes: true,
        ami: target.home_ami.clone(),
    };
    let Some(previous) = previous else {
        return Ok(check);
    };
    let parameter = channel_parameter(&order.recipe, &previous);
    let ssm_client = aws.ssm(&target.home).map_err(PromoteError::aws("order"))?;
    let holds = poll::retry(|| ssm::get_parameter(&ssm_client, &parameter))
        .await
        .map_err(PromoteError::aws("order"))?;
    check.passes = holds.as_deref() == Some(target.home_ami.as_str());
    check.parameter = Some(parameter);
    check.holds = holds;
    Ok(check)
}

/// Says how the check went: passed (when there was one to pass), or overridden by
/// `--force`. Returns whether it was forced.
pub(super) fn report(check: &OrderCheck, req: &PromoteRequest, reporter: &Reporter) -> bool {
    if let Some(refusal) = check.refusal(req) {
        reporter.emit(PromoteEvent::Forced {
            warning: refusal.to_string(),
        });
        return true;
    }
    if let (Some(previous), Some(parameter)) = (&check.previous, &check.parameter) {
        reporter.emit(PromoteEvent::Order {
            previous: previous.clone(),
            parameter: parameter.clone(),
            holds: check.holds.clone(),
            ok: true,
            env: req.env.clone(),
            region: check.region.clone(),
        });
    }
    false
}
