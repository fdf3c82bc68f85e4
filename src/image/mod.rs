//! The image layer: resolving, waiting for, copying, sharing and removing AMIs (with
//! their snapshots), and tearing down what a run created — written once, on the raw calls
//! of [`crate::aws::ec2`], and used by bake, promote, prune and sweep.
//!
//! - `state`: [`ImageState`], what EC2 says an image is, typed.
//! - `allowed`: the account's Allowed AMIs settings, and whether an image meets them
//!   ([`judge`]): roll's preflight.
//! - `check`: an AMI id resolved to an image that exists and is available ([`available`]).
//! - `wait`: waiting until an image (or a copy) is available ([`wait_available`]).
//! - `copy`: copies to other regions, started in turn, waited for together, every region
//!   reported ([`copy_all`]).
//! - `deprecate`: when an image is deprecated, checked against EC2's limit
//!   ([`deprecate_at`]).
//! - `scan`: Inspector's scan of an image and reading the scan it has ([`scan_image`],
//!   [`read_scan`]).
//! - `share`: sharing images and their snapshots ([`share_all`]).
//! - `teardown`: terminating instances, deleting the temporary security group,
//!   deregistering images with their snapshots ([`Teardown`]).
//! - `event`: what all of this tells the user ([`ImageEvent`]).

mod allowed;
mod check;
mod copy;
mod deprecate;
mod error;
mod event;
mod scan;
mod share;
mod state;
mod teardown;
mod wait;

pub use allowed::{
    AllowedState, Criterion, Failed, ImageFacts, ScanCondition, Verdict, Watermark,
    WatermarkFilter, judge,
};
pub use check::{Unusable, available, describe};
pub use copy::copy_all;
pub use deprecate::deprecate_at;
pub use error::CallFailed;
pub use event::{CopyState, ImageEvent, Resource, ResourceKind, ResourceState};
pub use scan::{ScanError, Scanned, read_scan, scan_image};
pub use share::share_all;
pub use state::ImageState;
pub use teardown::Teardown;
pub use wait::{NotAvailable, Polling, wait_available};

use crate::aws::ec2::ImageInfo;
use crate::manifest::AmiEntry;

/// The manifest's entry of an image in `region`.
pub fn ami_entry(region: &str, image: &ImageInfo) -> AmiEntry {
    AmiEntry {
        region: region.to_string(),
        ami_id: image.id.clone(),
        name: image.name.clone(),
        snapshot_ids: image.snapshot_ids.clone(),
    }
}
