//! The AWS calls of each step of a promotion, declared once here (as bake's are in
//! `crate::plan::calls`): the plan lists them per region, and the modules that make the
//! calls stay free of the plan.

use crate::aws::calls;

/// The order check: the environment before's channel, at home.
pub(super) const ORDER: &[&str] = &[calls::SSM_GET_PARAMETER];
/// Finding each image of the manifest.
pub(super) const IMAGE_EXISTS: &[&str] = &[calls::EC2_DESCRIBE_IMAGES];
/// The guard: DescribeImages with Owners=self.
pub(super) const GUARD: &[&str] = &[calls::EC2_DESCRIBE_IMAGES];
/// The scan gate: the image's `ScanResults`, then its findings.
pub(super) const SCAN_GATE: &[&str] = &[calls::EC2_DESCRIBE_IMAGES, calls::EC2_GET_IMAGE_FINDINGS];
/// `--rescan`: Inspector's scan of the image, its status until it ends, what it found.
pub(super) const RESCAN: &[&str] = &[
    calls::INSPECTOR2_START_ON_DEMAND_SCAN,
    calls::INSPECTOR2_GET_ON_DEMAND_SCAN_STATUS,
    calls::EC2_GET_IMAGE_FINDINGS,
    calls::EC2_DESCRIBE_IMAGES,
];
/// Looking for a copy an earlier promote made (DescribeImages by the copy-of tag).
pub(super) const FIND_COPY: &[&str] = &[calls::EC2_DESCRIBE_IMAGES];
/// Waiting for a copy to be available.
pub(super) const WAIT_COPY: &[&str] = &[calls::EC2_DESCRIBE_IMAGES];
/// Making a copy, and waiting for it.
pub(super) const COPY: &[&str] = &[calls::EC2_COPY_IMAGE, calls::EC2_DESCRIBE_IMAGES];
/// Sharing: launch permission on the image, create-volume permission on each snapshot.
pub(super) const SHARE: &[&str] = &[
    calls::EC2_MODIFY_IMAGE_ATTRIBUTE,
    calls::EC2_MODIFY_SNAPSHOT_ATTRIBUTE,
];
/// Reading a channel.
pub(super) const READ_CHANNEL: &[&str] = &[calls::SSM_GET_PARAMETER];
/// Writing a channel: the value, the reads until SSM shows it, the tags.
pub(super) const WRITE_CHANNEL: &[&str] = &[
    calls::SSM_PUT_PARAMETER,
    calls::SSM_GET_PARAMETER,
    calls::SSM_ADD_TAGS_TO_RESOURCE,
];
