//! Copies to `--copy-to` regions (through the image layer's copy, each reported as it
//! goes; a copy an earlier promote started is taken up again), then sharing. The plan
//! holds each copy's request ([`CopyPlan`]); the walk sends that request.

use std::time::Duration;

use crate::aws::Aws;
use crate::aws::ec2::{self, ImageInfo};
use crate::aws::poll::{self, Schedule};
use crate::error::FromAws;
use crate::image::{self, CopyState, ImageEvent, NotAvailable, Polling};
use crate::manifest::AmiEntry;
use crate::report::Reporter;

use super::plan::{CopyPlan, RegionPlan};
use super::target::Target;
use super::{COPY_OF_TAG, PromoteError, PromoteRequest};

/// The copy of the home image into `region`, looking for one an earlier promote made.
/// `regions` holds the manifest's regions (the home one among them).
pub(super) async fn plan_copy(
    aws: &Aws,
    target: &Target,
    regions: &[RegionPlan],
    region: &str,
) -> Result<CopyPlan, PromoteError> {
    let home = &target.home;
    let source = regions
        .iter()
        .find(|r| &r.region == home)
        .and_then(|r| r.image.as_ref())
        .ok_or_else(|| {
            PromoteError::Usage(format!("the manifest has no AMI in its region {home}"))
        })?;
    let dest = aws.ec2(region).map_err(PromoteError::aws("copy"))?;
    let wanted = [(COPY_OF_TAG, source.id.as_str())];
    let earlier = poll::retry(|| ec2::images_tagged(&dest, &wanted))
        .await
        .map_err(PromoteError::aws("copy"))?;
    let request = copy_of(home, source, region);
    Ok(CopyPlan {
        from_region: home.clone(),
        source: source.id.clone(),
        name: request.name.clone(),
        reuse: earlier
            .into_iter()
            .find(|i| i.state.is_live())
            .map(|i| i.id),
        encrypted: request.encrypted,
        kms_key_id: request.kms_key_id.clone(),
        request,
    })
}

/// Makes (or takes up) the plan's copies (CopyImage calls a second apart, the waits in
/// parallel; any failure fails the promotion before a parameter changes), then shares
/// every region's image with `--share-with`. Each copied region learns its image.
pub(super) async fn copy_and_share(
    aws: &Aws,
    req: &PromoteRequest,
    regions: &mut [RegionPlan],
    reporter: &Reporter,
) -> Result<(), PromoteError> {
    let copies: Vec<(String, CopyPlan)> = regions
        .iter()
        .filter_map(|r| r.copy.clone().map(|c| (r.region.clone(), c)))
        .collect();
    if !copies.is_empty() {
        for (region, info) in copy_all(aws, req, &copies, reporter).await? {
            if let Some(r) = regions.iter_mut().find(|r| r.region == region) {
                r.new = Some(info.id.clone());
                r.image = Some(info);
            }
        }
    }
    let sharing = ec2::Sharing {
        accounts: req.share_with.clone(),
        ..ec2::Sharing::default()
    };
    let amis: Vec<AmiEntry> = regions
        .iter()
        .filter_map(|r| r.image.as_ref().map(|i| image::ami_entry(&r.region, i)))
        .collect();
    image::share_all(aws, &amis, &sharing, true, reporter)
        .await
        .map_err(PromoteError::aws("share"))
}

/// Makes each copy, or takes up the one an earlier promote made.
async fn copy_all(
    aws: &Aws,
    req: &PromoteRequest,
    copies: &[(String, CopyPlan)],
    reporter: &Reporter,
) -> Result<Vec<(String, ImageInfo)>, PromoteError> {
    let targets: Vec<(String, Duration)> = copies
        .iter()
        .map(|(r, _)| (r.clone(), req.image_timeout))
        .collect();
    let pace = Duration::from_secs(1).mul_f64(req.poll_scale.min(1.0));
    let plan_of = |region: &str| copies.iter().find(|(r, _)| r == region).map(|(_, c)| c);
    image::copy_all(
        &targets,
        pace,
        reporter,
        async |region| match plan_of(region) {
            Some(copy) => start_copy(aws, copy, region, reporter).await,
            None => Err(PromoteError::CopiesFailed(vec![format!(
                "{region}: no copy planned"
            )])),
        },
        async |region, id, timeout| {
            let copy = finish_copy(aws, req, region, id, timeout).await?;
            Ok((region.to_string(), copy))
        },
    )
    .await
    .map_err(PromoteError::CopiesFailed)
}

/// Starts the planned copy, or takes up the earlier one, and reports which.
async fn start_copy(
    aws: &Aws,
    copy: &CopyPlan,
    region: &str,
    reporter: &Reporter,
) -> Result<String, PromoteError> {
    let (id, state) = match &copy.reuse {
        Some(id) => (id.clone(), CopyState::Reused),
        None => {
            let dest = aws.ec2(region).map_err(PromoteError::aws("copy"))?;
            let id = poll::retry(|| ec2::copy_image(&dest, &copy.request))
                .await
                .map_err(PromoteError::aws("copy"))?;
            (id, CopyState::Pending)
        }
    };
    reporter.emit(ImageEvent::copy(region, state, Some(&id), None));
    Ok(id)
}

/// The copy of `source` into `region`: tagged like it and as its copy, encrypted when it
/// is (an unencrypted image stays shareable across accounts).
fn copy_of(home: &str, source: &ImageInfo, region: &str) -> ec2::Copy {
    let mut tags = source.tags.clone();
    tags.insert(COPY_OF_TAG.to_string(), source.id.clone());
    ec2::Copy {
        source_region: home.to_string(),
        source_image_id: source.id.clone(),
        name: source.name.clone(),
        description: format!("{} from {home}, copied by amibake promote", source.id),
        encrypted: source.encrypted,
        kms_key_id: None,
        tags,
        client_token: format!("amibake-promote-{}-{region}", source.id),
    }
}

/// Waits for a copy. CopyImage tagged its snapshots like the image at creation (the IAM
/// policy allows no CreateTags of those keys afterwards).
async fn finish_copy(
    aws: &Aws,
    req: &PromoteRequest,
    region: &str,
    id: &str,
    timeout: Duration,
) -> Result<ImageInfo, PromoteError> {
    let dest = aws.ec2(region).map_err(PromoteError::aws("copy"))?;
    let polling = Polling::Schedule(Schedule::IMAGE.scaled(req.poll_scale));
    let image = image::wait_available(&dest, id, polling, timeout)
        .await
        .map_err(|e| match e {
            NotAvailable::Wait(e) => PromoteError::poll(
                "copy",
                format!("copy {id} in {region}"),
                format!(
                    "it may still finish: rerun the same promote to pick it up ({COPY_OF_TAG} tag)"
                ),
            )(e),
            NotAvailable::Failed { state, reason } => PromoteError::CopiesFailed(vec![format!(
                "{region}: {id} is {state}: {}",
                reason.unwrap_or_default()
            )]),
        })?;
    Ok(image)
}
