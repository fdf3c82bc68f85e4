//! The plan of a promotion: everything `promote` reads before it changes anything — the
//! order check, the images and the guard's verdict on them, the copies an earlier promote
//! left, every region's channel — and, from that, what it would write. `promote --plan`
//! prints this value; `promote` computes the same value and walks it ([`super::walk`]),
//! so what the plan says is what the run does. `survey` computes it; each step names its
//! calls from `calls`.

use std::fmt;

use serde::Serialize;

use crate::aws::ec2::{self, ImageInfo};
use crate::error::{ExitKind, Failure};

use super::gate::ScanGate;
use super::guard;
use super::order::OrderCheck;
use super::{PromoteError, PromoteEvent, PromoteRequest};

/// One step of a region's promotion and the AWS calls it makes (`write`: it changes
/// something; the plan makes only the reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub step: &'static str,
    pub write: bool,
    pub calls: &'static [&'static str],
}

impl Step {
    pub(super) const fn read(step: &'static str, calls: &'static [&'static str]) -> Step {
        Step {
            step,
            write: false,
            calls,
        }
    }

    pub(super) const fn write(step: &'static str, calls: &'static [&'static str]) -> Step {
        Step {
            step,
            write: true,
            calls,
        }
    }
}

/// One region of the promotion: its image (the manifest's, or the copy to make or reuse),
/// the sharing, and the channel before and after.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionPlan {
    pub region: String,
    pub parameter: String,
    /// What the channel holds now (`None`: the parameter does not exist).
    pub old: Option<String>,
    /// The image the channel will hold (`None`: a copy not started yet, whose id CopyImage
    /// answers).
    pub new: Option<String>,
    /// The copy into this region (`None`: the manifest has the image here).
    pub copy: Option<CopyPlan>,
    /// Accounts the image (and its snapshots) will be shared with.
    pub share_with: Vec<String>,
    /// The channel already holds the image: no write.
    pub unchanged: bool,
    pub steps: Vec<Step>,
    /// The manifest's image here (a copy's is known once it is available).
    #[serde(skip)]
    pub(super) image: Option<ImageInfo>,
}

/// A copy of the home image into a region: the request CopyImage gets, or the copy an
/// earlier promote made, which is reused.
#[derive(Debug, Clone, Serialize)]
pub struct CopyPlan {
    pub from_region: String,
    pub source: String,
    pub name: String,
    /// An earlier promote's copy (tagged amibake:copy-of), taken up instead of a new one.
    pub reuse: Option<String>,
    pub encrypted: bool,
    /// The key the copy is encrypted with (`None`: the region's default EBS key, when
    /// encrypted).
    pub kms_key_id: Option<String>,
    #[serde(skip)]
    pub(super) request: ec2::Copy,
}

/// Two plans of a copy are the same copy when what they show is (the request is made from
/// the same source).
impl PartialEq for CopyPlan {
    fn eq(&self, other: &CopyPlan) -> bool {
        (&self.from_region, &self.source, &self.name, &self.reuse)
            == (&other.from_region, &other.source, &other.name, &other.reuse)
            && (self.encrypted, &self.kms_key_id) == (other.encrypted, &other.kms_key_id)
    }
}

/// What the real promote would do with this plan: go on, or refuse (and exit how).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub refuses: bool,
    /// Why it refuses (the error the real promote prints).
    pub reason: Option<String>,
    /// The exit code the real promote ends with when it refuses.
    pub exit_code: Option<u8>,
}

/// A whole promotion, computed by reading only.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromotePlan {
    pub recipe: String,
    pub env: String,
    /// The image in the manifest's home region.
    pub ami: String,
    pub home_region: String,
    pub parameter: String,
    pub run_id: String,
    pub order: OrderCheck,
    /// What the guard finds wrong with each image it refuses ("AMI … in …: why").
    pub foreign: Vec<String>,
    /// The scan gate of an environment in `image.scan.require_for` (`None`: no scan needed).
    pub scan: Option<ScanGate>,
    /// Regions in the order their channels are written: the home region last.
    pub regions: Vec<RegionPlan>,
    pub verdict: Verdict,
}

impl PromotePlan {
    /// Why the real promote stops before changing anything: the order check (unless
    /// `--force`), then the guard (unless `--allow-foreign-image`), then the scan gate
    /// (which `--force` does not lift: `--rescan` makes a new scan to judge).
    pub(super) fn refusal(&self, req: &PromoteRequest) -> Option<PromoteError> {
        if let Some(refused) = self.order.refusal(req).filter(|_| !req.force) {
            return Some(refused);
        }
        if !self.foreign.is_empty() && !req.allow_foreign_image {
            return Some(guard::refusal(&self.recipe, &self.foreign));
        }
        self.scan
            .as_ref()
            .and_then(|gate| gate.refusal(&self.ami, &self.env))
    }

    pub(super) fn verdict(&self, req: &PromoteRequest) -> Verdict {
        let refusal = self.refusal(req);
        Verdict {
            refuses: refusal.is_some(),
            exit_code: refusal.as_ref().map(|e| e.kind().code()),
            reason: refusal.map(|e| e.to_string()),
        }
    }
}

impl PromotePlan {
    /// The `start` event of the walk: what goes where, home first, the copies' regions
    /// included.
    pub(super) fn start(&self) -> PromoteEvent {
        let mut regions: Vec<String> = self.regions.iter().map(|r| r.region.clone()).collect();
        regions.sort_by_key(|r| *r != self.home_region);
        PromoteEvent::Start {
            recipe: self.recipe.clone(),
            env: self.env.clone(),
            ami: self.ami.clone(),
            region: self.home_region.clone(),
            parameter: self.parameter.clone(),
            regions,
            run_id: self.run_id.clone(),
        }
    }
}

/// The plan as `promote --plan` prints it: the order check, the guard, each region's
/// channel, copy, sharing and calls, and the verdict.
impl fmt::Display for PromotePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "plan: promote {} ({}, run {}) to {} ({})",
            self.ami, self.recipe, self.run_id, self.env, self.parameter
        )?;
        writeln!(f, "  order check: {}", self.order.summary(&self.env))?;
        for what in &self.foreign {
            writeln!(f, "  guard: refuses {what}")?;
        }
        if let Some(gate) = &self.scan {
            writeln!(f, "  scan gate: {}", gate.summary())?;
        }
        for region in &self.regions {
            region.fmt(f)?;
        }
        match &self.verdict.reason {
            Some(reason) => write!(
                f,
                "verdict: promote would refuse (exit {}): {reason}",
                self.verdict.exit_code.unwrap_or(ExitKind::Failed.code())
            ),
            None if self.scan.as_ref().is_some_and(|g| g.rescan) => f.write_str(
                "verdict: promote would rescan the image, then go ahead only if the new scan \
                 passes (nothing was changed)",
            ),
            None => f.write_str("verdict: promote would go ahead (nothing was changed)"),
        }
    }
}

impl fmt::Display for RegionPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let old = self.old.as_deref().unwrap_or("(new)");
        let new = self.new.as_deref().unwrap_or("(the copy)");
        let unchanged = if self.unchanged { " (unchanged)" } else { "" };
        writeln!(f, "  {}: channel {old} → {new}{unchanged}", self.region)?;
        if let Some(c) = &self.copy {
            let key = match (c.encrypted, &c.kms_key_id) {
                (false, _) => "unencrypted".to_string(),
                (true, None) => "encrypted with the region's default EBS key".to_string(),
                (true, Some(k)) => format!("encrypted with KMS key {k}"),
            };
            match &c.reuse {
                Some(id) => writeln!(f, "    copy: reuse {id} (an earlier copy of {})", c.source)?,
                None => writeln!(f, "    copy: {} from {} ({key})", c.source, c.from_region)?,
            }
        }
        if !self.share_with.is_empty() {
            writeln!(f, "    share with: {}", self.share_with.join(", "))?;
        }
        for step in &self.steps {
            let kind = if step.write { "write" } else { "read" };
            writeln!(f, "    {kind} {}: {}", step.step, step.calls.join(", "))?;
        }
        Ok(())
    }
}
