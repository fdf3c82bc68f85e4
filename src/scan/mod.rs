//! The image scan's core, shared by `bake` (the scan phase), `promote` (the gate) and the
//! `--if-changed` decision: severities, what a scan found ([`Finding`], [`ScanSummary`]),
//! the limits it is judged by ([`ScanLimits`], [`Violation`]), and the regions Inspector
//! serves ([`regions`]).
//!
//! Pure: no AWS calls and no clock of its own (the caller passes `now`). The calls are in
//! `crate::aws::inspector` and `crate::aws::ec2::images`.

mod finding;
mod limits;
pub mod regions;
mod severity;
mod summary;

pub use finding::{Finding, parse_title, worst};
pub use limits::{ScanLimits, Violation};
pub use severity::Severity;
pub use summary::{ScanSummary, parse_time};
