//! The preflight's scan check: Inspector serves the region, and the identity may read a
//! scan's status and the image's findings — before anything is created, so a recipe with
//! `image.scan` never bakes an image it cannot scan.

use crate::aws::{Aws, calls, ec2, poll};

use super::run::{Finding, PreflightError};
use super::{Check, CheckState};

/// A made-up AMI id: the scan permission checks need a resource, and Inspector and EC2
/// judge the permission before they look it up.
const MADE_UP_AMI: &str = "ami-00000000000000000";

/// Whether Inspector can scan the image in `region` for this identity: the region is one
/// Inspector serves (no call otherwise), and the identity may read a scan's status
/// (`inspector2:GetOnDemandScanStatus` of a made-up scan: `AccessDeniedException` means
/// not allowed) and the image's findings (`ec2:GetImageFindings` with DryRun).
pub(super) async fn scan_check(
    aws: &Aws,
    check: &Check,
    region: &str,
    served: bool,
) -> Result<Finding, PreflightError> {
    let grant = "allow inspector2:StartOnDemandScan, inspector2:GetOnDemandScanStatus and \
                 ec2:GetImageFindings to the identity amibake runs as \
                 (cfn-templates/amibake-iam.yaml grants them; see docs/bake.md, \"The image scan\")";
    if !served {
        return Ok(Finding::new(
            check,
            CheckState::Fail,
            crate::scan::regions::unserved(region),
            Some(format!(
                "bake in a region Inspector serves and copy the image to {region} \
                 (image.copy_to), or remove image.scan; if Inspector serves {region} since \
                 the list's date, a newer amibake knows it"
            )),
        ));
    }
    let inspector = aws.inspector(region)?;
    let mut missing = Vec::new();
    match poll::retry(|| crate::aws::inspector::may_read_scans(&inspector, MADE_UP_AMI)).await {
        Ok(true) => {}
        Ok(false) => missing.push(calls::INSPECTOR2_GET_ON_DEMAND_SCAN_STATUS),
        // No answer at all: no endpoint there, or none reachable from here.
        Err(e) if e.code().is_none() => {
            return Ok(Finding::new(
                check,
                CheckState::Fail,
                format!(
                    "Inspector's endpoint in {region} did not answer ({}): the image \
                     could not be scanned",
                    e.chain()
                ),
                Some(format!(
                    "check that this machine reaches inspector2.{region}.amazonaws.com \
                     (a proxy, a VPC endpoint) and try again, or remove image.scan"
                )),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    let ec2c = aws.ec2(region)?;
    match poll::retry(|| ec2::may_get_image_findings(&ec2c, MADE_UP_AMI)).await {
        Ok(true) => {}
        Ok(false) => missing.push(calls::EC2_GET_IMAGE_FINDINGS),
        Err(e) => return Err(e.into()),
    }
    if missing.is_empty() {
        let text = format!(
            "Inspector serves {region}, and this identity may read its scans and the image's findings"
        );
        return Ok(Finding::new(check, CheckState::Pass, text, None));
    }
    Ok(Finding::new(
        check,
        CheckState::Fail,
        format!(
            "cannot scan the image in {region}: {} not allowed",
            missing.join(" and ")
        ),
        Some(grant.to_string()),
    ))
}
