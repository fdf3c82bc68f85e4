//! Sharing images, and their snapshots, with other accounts, organizations or everyone.

use crate::aws::ec2::{self, Sharing};
use crate::aws::{Aws, AwsError, poll};
use crate::manifest::AmiEntry;
use crate::report::Reporter;

use super::ImageEvent;

/// Shares every image as `sharing` says, region after region, each reported (naming the
/// accounts when `name_accounts`); nothing when `sharing` shares with nobody.
pub async fn share_all(
    aws: &Aws,
    amis: &[AmiEntry],
    sharing: &Sharing,
    name_accounts: bool,
    reporter: &Reporter,
) -> Result<(), AwsError> {
    if sharing.is_empty() {
        return Ok(());
    }
    for ami in amis {
        let ec2 = aws.ec2(&ami.region)?;
        poll::retry(|| ec2::share_image(&ec2, &ami.ami_id, &ami.snapshot_ids, sharing)).await?;
        reporter.emit(ImageEvent::Share {
            region: ami.region.clone(),
            ami_id: ami.ami_id.clone(),
            accounts: name_accounts.then(|| sharing.accounts.clone()),
        });
    }
    Ok(())
}
