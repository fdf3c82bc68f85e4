//! Inspector's on-demand scan of an image, start to summary, and the reading of the scan an
//! image already has — written once for `bake` (the scan phase) and `promote` (the gate
//! and `--rescan`).
//!
//! The scan is started with a client token, so a retried start finds the same scan; its
//! status is polled on our own schedule until it ends or `timeout` passes; the findings
//! are read through EC2 (GetImageFindings, every page) and the summary from the image's
//! `ScanResults`. Judging against limits is the caller's (`crate::scan::ScanLimits`).

use std::time::{Duration, Instant};

use crate::aws::inspector::{self, ScanState};
use crate::aws::poll::{self, PollError, Schedule};
use crate::aws::{Aws, AwsError, ec2};
use crate::scan::{Finding, ScanSummary};

/// What a finished scan found.
#[derive(Debug, Clone)]
pub struct Scanned {
    /// Inspector's id of the scan (empty for a scan read from the image, not made).
    pub scan_id: String,
    pub summary: ScanSummary,
    pub findings: Vec<Finding>,
}

/// Why a scan gave no findings.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The scan did not end within the wait.
    #[error("Inspector's scan {scan_id} of {image} did not end within {}s", .after.as_secs())]
    Timeout {
        image: String,
        scan_id: String,
        after: Duration,
    },
    /// Inspector ended the scan as failed (`UNSUPPORTED_OS`, `ACCESS_DENIED`, …).
    #[error("Inspector's scan of {image} failed: {reason}")]
    Failed { image: String, reason: String },
    #[error(transparent)]
    Aws(#[from] AwsError),
}

/// The longest client token Inspector takes.
const MAX_TOKEN: usize = 64;

/// How long a scan just started may be unknown to GetOnDemandScanStatus (eventual
/// consistency) before "not found" is an error rather than a wait.
const NOT_FOUND_GRACE: Duration = Duration::from_secs(120);

/// Scans `image_id` in `region` and reads what it found. `token` names this scan: the same
/// token on a retry finds the same scan, a new token starts a new one. `say` tells the
/// user the scan started (its id and the wait).
pub async fn scan_image(
    aws: &Aws,
    region: &str,
    image_id: &str,
    token: &str,
    schedule: Schedule,
    timeout: Duration,
    say: impl Fn(&str),
) -> Result<Scanned, ScanError> {
    let inspector = aws.inspector(region)?;
    let token: String = token.chars().take(MAX_TOKEN).collect();
    let scan_id = poll::retry(|| inspector::start_scan(&inspector, image_id, &token)).await?;
    say(&format!(
        "scanning {image_id} with Inspector (scan {scan_id}, timeout {}s)",
        timeout.as_secs()
    ));
    let started = Instant::now();
    let state = poll::until(schedule, timeout, || async {
        match inspector::scan_state(&inspector, image_id, &scan_id).await {
            Ok(ScanState::InProgress) => Ok(None),
            Err(e) if not_visible_yet(&e, started.elapsed()) => Ok(None),
            Ok(done) => Ok(Some(done)),
            Err(e) => Err(e),
        }
    })
    .await
    .map_err(|e| match e {
        PollError::Timeout(after) => ScanError::Timeout {
            image: image_id.to_string(),
            scan_id: scan_id.clone(),
            after,
        },
        PollError::Aws(a) => ScanError::Aws(a),
    })?;
    let failed = |reason: String| ScanError::Failed {
        image: image_id.to_string(),
        reason,
    };
    match state {
        ScanState::Successful => {}
        ScanState::Failed(reason) => return Err(failed(failure_reason(reason.as_deref()))),
        ScanState::Other(status) => return Err(failed(format!("unknown scan status {status}"))),
        ScanState::InProgress => return Err(failed("the scan is still in progress".into())),
    }
    let ec2c = aws.ec2(region)?;
    let findings = poll::retry(|| ec2::image_findings(&ec2c, image_id)).await?;
    let stated = poll::retry(|| ec2::scan_summary(&ec2c, image_id, &[])).await?;
    let mut scanned = counted(stated, findings);
    scanned.scan_id = scan_id;
    Ok(scanned)
}

/// Whether `e` says the scan is unknown while it may just not be visible yet: a scan
/// just started, for [`NOT_FOUND_GRACE`] after its start.
fn not_visible_yet(e: &AwsError, since_start: Duration) -> bool {
    e.code() == Some(inspector::NOT_FOUND) && since_start < NOT_FOUND_GRACE
}

/// Inspector's reason for a failed scan, with what it means for the recipe.
fn failure_reason(reason: Option<&str>) -> String {
    let Some(reason) = reason else {
        return "no reason given (see the scan in the Inspector console)".into();
    };
    let meaning = match reason {
        "UNSUPPORTED_OS" => {
            "Inspector does not scan this image's operating system; use a supported OS or \
             remove `image.scan`"
        }
        "ACCESS_DENIED" => {
            "Inspector could not read the image; if its snapshots are encrypted with a \
             customer managed key, the key policy must let Inspector use it"
        }
        "RESOURCE_TERMINATED" => "the image was deregistered while it was scanned",
        "INTERNAL_ERROR" => "an error inside Inspector; scan again",
        _ => "see the scan in the Inspector console",
    };
    format!("{reason} ({meaning})")
}

/// The latest scan `image_id` has (its `ScanResults`, then its findings); `None` when the
/// image has no scan results (never scanned) or EC2 does not know it — then no findings
/// are asked for.
pub async fn read_scan(
    ec2c: &aws_sdk_ec2::Client,
    image_id: &str,
) -> Result<Option<Scanned>, AwsError> {
    let Some(stated) = poll::retry(|| ec2::scan_summary(ec2c, image_id, &[])).await? else {
        return Ok(None);
    };
    let findings = poll::retry(|| ec2::image_findings(ec2c, image_id)).await?;
    Ok(Some(counted(Some(stated), findings)))
}

/// The image's stated summary (date, highest, fix dates) with the findings counted; only
/// the findings' counts when EC2 states nothing.
fn counted(stated: Option<ScanSummary>, findings: Vec<Finding>) -> Scanned {
    let mut summary = ScanSummary::from_findings(&findings);
    if let Some(stated) = stated {
        summary.highest = summary.highest.max(stated.highest);
        summary.scanned_at = stated.scanned_at;
        summary.fix_available_since = stated.fix_available_since;
    }
    Scanned {
        scan_id: String::new(),
        summary,
        findings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::calls::INSPECTOR2_GET_ON_DEMAND_SCAN_STATUS;

    fn error(code: &str) -> AwsError {
        AwsError::local(INSPECTOR2_GET_ON_DEMAND_SCAN_STATUS, Some(code), "test")
    }

    #[test]
    fn an_unknown_scan_is_waited_for_only_just_after_its_start() {
        let not_found = error(inspector::NOT_FOUND);
        assert!(not_visible_yet(&not_found, Duration::from_secs(5)));
        assert!(!not_visible_yet(&not_found, NOT_FOUND_GRACE));
        assert!(!not_visible_yet(
            &error("AccessDeniedException"),
            Duration::ZERO
        ));
    }

    #[test]
    fn a_failed_scan_says_what_its_reason_means() {
        let unsupported = failure_reason(Some("UNSUPPORTED_OS"));
        assert!(unsupported.starts_with("UNSUPPORTED_OS ("), "{unsupported}");
        assert!(unsupported.contains("operating system"), "{unsupported}");
        assert!(failure_reason(None).contains("no reason given"));
        assert!(failure_reason(Some("NEW_REASON")).starts_with("NEW_REASON ("));
    }
}
