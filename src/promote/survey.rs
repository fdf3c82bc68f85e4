//! Computing the plan of a promotion by reading only: the order check, the images and
//! the guard's verdict, the scan gate's reading of the home image's scan, the copies an
//! earlier promote left, every region's channel. The
//! plan's value is in `plan`; the steps' calls in `calls`.

use crate::aws::Aws;
use crate::aws::ec2::ImageInfo;
use crate::report::Reporter;

use super::calls;
use super::copy;
use super::gate::ScanGate;
use super::guard;
use super::order;
use super::plan::{CopyPlan, PromotePlan, RegionPlan, Step, Verdict};
use super::target::Target;
use super::{PromoteError, PromoteRequest, channel};

/// Computes the plan: reads only (GetParameter, DescribeImages), writes nothing.
pub async fn plan(
    aws: &Aws,
    req: &PromoteRequest,
    reporter: &Reporter,
) -> Result<PromotePlan, PromoteError> {
    let target = Target::load(req).await?;
    if req.rescan && target.order.scan.is_none() {
        return Err(PromoteError::Usage(format!(
            "--rescan: {} needs no scan (the recipe's image.scan.require_for does not list \
             it); drop --rescan, or add {} to image.scan.require_for",
            req.env, req.env
        )));
    }
    let copies = target.copy_regions(req, reporter);
    let order = order::check_order(aws, &target).await?;
    let images = target.images(aws).await?;
    let foreign = guard::check_baked(aws, &target.order.recipe, &images).await?;
    let scan = match &target.order.scan {
        Some(requirement) => Some(
            ScanGate::survey(
                aws,
                req,
                &target.home,
                &target.home_ami,
                requirement.clone(),
            )
            .await?,
        ),
        None => None,
    };
    let mut regions = Vec::new();
    for (region, info) in images {
        let gated = scan.as_ref().filter(|_| region == target.home);
        regions.push(region_plan(aws, req, &target, region, gated, None, Some(info)).await?);
    }
    for region in copies {
        let copy = copy::plan_copy(aws, &target, &regions, &region).await?;
        regions.push(region_plan(aws, req, &target, region, None, Some(copy), None).await?);
    }
    regions.sort_by_key(|r| r.region == target.home);
    let mut plan = PromotePlan {
        recipe: target.order.recipe.clone(),
        env: req.env.clone(),
        ami: target.home_ami.clone(),
        home_region: target.home.clone(),
        parameter: target.parameter.clone(),
        run_id: target.manifest.run_id.clone(),
        order,
        foreign,
        scan,
        regions,
        verdict: Verdict {
            refuses: false,
            reason: None,
            exit_code: None,
        },
    };
    plan.verdict = plan.verdict(req);
    Ok(plan)
}

/// One region: the channel read, and the steps the walk takes there (at home, the scan
/// gate's when the environment has one).
async fn region_plan(
    aws: &Aws,
    req: &PromoteRequest,
    target: &Target,
    region: String,
    gate: Option<&ScanGate>,
    copy: Option<CopyPlan>,
    image: Option<ImageInfo>,
) -> Result<RegionPlan, PromoteError> {
    let old = channel::read(aws, &target.parameter, &region).await?;
    let new = match (&image, &copy) {
        (Some(info), _) => Some(info.id.clone()),
        (None, Some(c)) => c.reuse.clone(),
        (None, None) => None,
    };
    let unchanged = new.is_some() && old == new;
    let mut steps = Vec::new();
    if region == target.home {
        steps.push(Step::read("order check", calls::ORDER));
    }
    match &copy {
        None => {
            steps.push(Step::read("image exists", calls::IMAGE_EXISTS));
            steps.push(Step::read("guard", calls::GUARD));
            if let Some(gate) = gate {
                steps.push(Step::read("scan gate", calls::SCAN_GATE));
                if gate.rescan {
                    steps.push(Step::write("rescan", calls::RESCAN));
                }
            }
        }
        Some(c) => {
            steps.push(Step::read("find an earlier copy", calls::FIND_COPY));
            steps.push(match c.reuse {
                Some(_) => Step::read("wait for the earlier copy", calls::WAIT_COPY),
                None => Step::write("copy", calls::COPY),
            });
        }
    }
    if !req.share_with.is_empty() {
        steps.push(Step::write("share", share_calls(image.as_ref())));
    }
    steps.push(Step::read("read the channel", calls::READ_CHANNEL));
    if !unchanged {
        steps.push(Step::write("write the channel", calls::WRITE_CHANNEL));
    }
    Ok(RegionPlan {
        parameter: target.parameter.clone(),
        region,
        old,
        new,
        copy,
        share_with: req.share_with.clone(),
        unchanged,
        steps,
        image,
    })
}

/// Sharing grants launch permission on the image, then create-volume permission on each
/// snapshot (a copy's snapshots are unknown until it exists: counted as some).
fn share_calls(image: Option<&ImageInfo>) -> &'static [&'static str] {
    match image {
        Some(i) if i.snapshot_ids.is_empty() => &calls::SHARE[..1],
        _ => calls::SHARE,
    }
}
