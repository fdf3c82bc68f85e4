//! Inspector (inspector2) calls: the on-demand scan of an AMI and its status.
//!
//! The scan needs no Inspector activation (it is what EC2 Image Builder's
//! `ON_DEMAND_AMI_CVE` scan calls). Its findings and summary are read through EC2
//! (`GetImageFindings`, the image's `ScanResults`: `crate::aws::ec2::images`).

use aws_sdk_inspector2::Client;
use aws_sdk_inspector2::types::{OnDemandResourceType, OnDemandScanStatus};

use super::AwsError;
use super::calls::{INSPECTOR2_GET_ON_DEMAND_SCAN_STATUS, INSPECTOR2_START_ON_DEMAND_SCAN};

/// The error code Inspector answers a caller without the permission with.
pub const ACCESS_DENIED: &str = "AccessDeniedException";
/// The error code of a scan Inspector does not know (yet: just after its start).
pub const NOT_FOUND: &str = "ResourceNotFoundException";

/// Where a scan is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanState {
    InProgress,
    Successful,
    /// Failed, with Inspector's reason (`UNSUPPORTED_OS`, `ACCESS_DENIED`, …) when it gave one.
    Failed(Option<String>),
    /// A status this version does not know, as Inspector wrote it.
    Other(String),
}

/// Starts the on-demand scan of `image_id`; its scan id. `client_token` makes the call
/// idempotent: a retry after a lost answer finds the same scan instead of a second one.
pub async fn start_scan(
    inspector: &Client,
    image_id: &str,
    client_token: &str,
) -> Result<String, AwsError> {
    let out = inspector
        .start_on_demand_scan()
        .resource_id(image_id)
        .resource_type(OnDemandResourceType::Ami)
        .client_token(client_token)
        .send()
        .await
        .map_err(|e| AwsError::call(INSPECTOR2_START_ON_DEMAND_SCAN, e))?;
    Ok(out.scan_id().to_string())
}

/// The state of the scan `scan_id` of `image_id`.
pub async fn scan_state(
    inspector: &Client,
    image_id: &str,
    scan_id: &str,
) -> Result<ScanState, AwsError> {
    let out = inspector
        .get_on_demand_scan_status()
        .resource_id(image_id)
        .scan_id(scan_id)
        .resource_type(OnDemandResourceType::Ami)
        .send()
        .await
        .map_err(|e| AwsError::call(INSPECTOR2_GET_ON_DEMAND_SCAN_STATUS, e))?;
    Ok(match out.scan_status() {
        OnDemandScanStatus::InProgress => ScanState::InProgress,
        OnDemandScanStatus::Successful => ScanState::Successful,
        OnDemandScanStatus::Failed => {
            ScanState::Failed(out.scan_status_reason().map(|r| r.as_str().to_string()))
        }
        other => ScanState::Other(other.as_str().to_string()),
    })
}

/// Whether this caller may read scan statuses in the client's region: asks for a scan id
/// that cannot exist. Inspector checks permissions before it looks the scan up, so
/// `AccessDeniedException` means "not allowed" and any other refusal (the scan is not
/// found, the id is malformed) means "allowed"; transport failures are errors.
pub async fn may_read_scans(inspector: &Client, image_id: &str) -> Result<bool, AwsError> {
    const MADE_UP: &str = "00000000-0000-4000-8000-000000000000";
    match scan_state(inspector, image_id, MADE_UP).await {
        Ok(_) => Ok(true),
        Err(e) if e.code() == Some(ACCESS_DENIED) => Ok(false),
        Err(e) if e.code().is_some() && !e.is_throttling() && !e.outcome_unknown() => Ok(true),
        Err(e) => Err(e),
    }
}
