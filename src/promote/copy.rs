//! Copies to `--copy-to` regions (through the image layer's copy, each reported as it
//! goes; a copy an earlier promote started is taken up again), then sharing.

use std::time::Duration;

use crate::aws::Aws;
use crate::aws::ec2::{self, ImageInfo};
use crate::aws::poll::{self, Schedule};
use crate::event::FromAws;
use crate::image::{self, CopyState, ImageEvent, NotAvailable, Polling};
use crate::manifest::AmiEntry;
use crate::report::Reporter;

use super::target::Target;
use super::{COPY_OF_TAG, PromoteError, PromoteRequest};

/// One region's image of the promotion, and whether this promote copied it there.
pub(super) type Promoting = (AmiEntry, bool);

/// Copies the home image to each of `copies` (CopyImage calls a second apart, the waits
/// in parallel; any failure fails the promotion before a parameter changes), then shares
/// every image with `--share-with`. Returns every region's image, the copies last.
pub(super) async fn copy_and_share(
    aws: &Aws,
    req: &PromoteRequest,
    target: &Target,
    images: Vec<(String, ImageInfo)>,
    copies: &[String],
    reporter: &Reporter,
) -> Result<Vec<Promoting>, PromoteError> {
    let mut copied = Vec::new();
    if !copies.is_empty() {
        let home = &target.home;
        let source = images
            .iter()
            .find(|(r, _)| r == home)
            .map(|(_, i)| i)
            .ok_or_else(|| {
                PromoteError::Usage(format!("the manifest has no AMI in its region {home}"))
            })?;
        copied = copy_all(aws, req, home, source, copies, reporter).await?;
    }
    let all: Vec<Promoting> = images
        .iter()
        .map(|(region, info)| (image::ami_entry(region, info), false))
        .chain(
            copied
                .iter()
                .map(|(r, info)| (image::ami_entry(r, info), true)),
        )
        .collect();
    let sharing = ec2::Sharing {
        accounts: req.share_with.clone(),
        ..ec2::Sharing::default()
    };
    let amis: Vec<AmiEntry> = all.iter().map(|(ami, _)| ami.clone()).collect();
    image::share_all(aws, &amis, &sharing, true, reporter)
        .await
        .map_err(PromoteError::aws("share"))?;
    Ok(all)
}

/// Copies the image to each region, reusing a copy an earlier promote made.
async fn copy_all(
    aws: &Aws,
    req: &PromoteRequest,
    home: &str,
    source: &ImageInfo,
    regions: &[String],
    reporter: &Reporter,
) -> Result<Vec<(String, ImageInfo)>, PromoteError> {
    let targets: Vec<(String, Duration)> = regions
        .iter()
        .map(|r| (r.clone(), req.image_timeout))
        .collect();
    let pace = Duration::from_secs(1).mul_f64(req.poll_scale.min(1.0));
    image::copy_all(
        &targets,
        pace,
        reporter,
        async |region| start_copy(aws, home, source, region, reporter).await,
        async |region, id, timeout| {
            let copy = finish_copy(aws, req, region, id, timeout).await?;
            Ok((region.to_string(), copy))
        },
    )
    .await
    .map_err(PromoteError::CopiesFailed)
}

/// Starts a copy, or finds the one an earlier promote started, and reports which.
async fn start_copy(
    aws: &Aws,
    home: &str,
    source: &ImageInfo,
    region: &str,
    reporter: &Reporter,
) -> Result<String, PromoteError> {
    let dest = aws.ec2(region).map_err(PromoteError::aws("copy"))?;
    let wanted = [(COPY_OF_TAG, source.id.as_str())];
    let earlier = poll::retry(|| ec2::images_tagged(&dest, &wanted))
        .await
        .map_err(PromoteError::aws("copy"))?;
    let (id, state) = match earlier.into_iter().find(|i| i.state.is_live()) {
        Some(found) => (found.id, CopyState::Reused),
        None => {
            let copy = copy_of(home, source, region);
            let id = poll::retry(|| ec2::copy_image(&dest, &copy))
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
