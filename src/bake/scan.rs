//! The image scan (`Action::Scan`, beside the copies and the boot test): Inspector's
//! on-demand scan of the home-region image, its findings read through EC2 and judged
//! against the recipe's limits. Over the limit, failed or timed out, the bake fails and
//! its images are removed as after a failed boot test.

use std::time::{Duration, Instant, SystemTime};

use crate::aws::ec2;
use crate::aws::inspector::{self, ScanState};
use crate::aws::poll::{self, PollError, Schedule};
use crate::scan::{Finding, ScanLimits, ScanSummary, worst};

use super::event::BakeEvent;
use super::{Bake, BakeError};
use crate::error::FromAws;

/// How many findings an over-the-limit error lists.
const WORST_SHOWN: usize = 10;

/// How long a scan just started may be unknown to GetOnDemandScanStatus (eventual
/// consistency) before "not found" is an error rather than a wait.
const NOT_FOUND_GRACE: Duration = Duration::from_secs(120);

impl Bake<'_> {
    /// Scans `image_id`, waits at most `timeout`, judges the result: its summary when it
    /// passes.
    pub(super) async fn scan(
        &self,
        image_id: &str,
        timeout: Duration,
        limits: &ScanLimits,
    ) -> Result<ScanSummary, BakeError> {
        let inspector = self
            .aws
            .inspector(self.region())
            .map_err(BakeError::aws("scan"))?;
        let ec2c = self.ec2(self.region())?;
        // One scan per image and run: a retried start finds the same scan.
        let token = format!("amibake-{}-{image_id}", self.plan.run_id);
        let token: String = token.chars().take(64).collect();
        let scan_id = poll::retry(|| inspector::start_scan(&inspector, image_id, &token))
            .await
            .map_err(BakeError::aws("scan"))?;
        self.reporter.say(&format!(
            "scanning {image_id} with Inspector (scan {scan_id}, timeout {}s)",
            timeout.as_secs()
        ));
        let started = Instant::now();
        let state = poll::until(self.schedule(Schedule::IMAGE), timeout, || async {
            match inspector::scan_state(&inspector, image_id, &scan_id).await {
                Ok(ScanState::InProgress) => Ok(None),
                Err(e) if not_visible_yet(&e, started.elapsed()) => Ok(None),
                Ok(done) => Ok(Some(done)),
                Err(e) => Err(e),
            }
        })
        .await
        .map_err(|e| match e {
            PollError::Timeout(after) => BakeError::Timeout {
                phase: "scan".into(),
                after,
                hint: format!(
                    "Inspector's scan {scan_id} of {image_id} did not end; raise \
                     `image.scan.timeout` or look at the scan in the Inspector console"
                ),
            },
            PollError::Aws(a) => BakeError::aws("scan")(a),
        })?;
        match state {
            ScanState::Successful => {}
            ScanState::Failed(reason) => {
                return Err(BakeError::ScanFailed {
                    image: image_id.to_string(),
                    reason: failure_reason(reason.as_deref()),
                });
            }
            ScanState::Other(status) => {
                return Err(BakeError::ScanFailed {
                    image: image_id.to_string(),
                    reason: format!("unknown scan status {status}"),
                });
            }
            ScanState::InProgress => unreachable!("the poll ends on a final state"),
        }
        let findings = poll::retry(|| ec2::image_findings(&ec2c, image_id))
            .await
            .map_err(BakeError::aws("scan"))?;
        let summary = poll::retry(|| ec2::scan_summary(&ec2c, image_id, &findings))
            .await
            .map_err(BakeError::aws("scan"))?
            .unwrap_or_else(|| ScanSummary::from_findings(&findings));
        let violations: Vec<String> = limits
            .judge(&summary, SystemTime::now())
            .iter()
            .map(ToString::to_string)
            .collect();
        self.reporter.emit(BakeEvent::Scan {
            image: image_id.to_string(),
            scan_id: scan_id.clone(),
            passed: violations.is_empty(),
            summary: summary.clone(),
            violations: violations.clone(),
        });
        if !violations.is_empty() {
            return Err(BakeError::ScanOverLimit {
                image: image_id.to_string(),
                violations,
                worst: worst_lines(&findings),
            });
        }
        Ok(summary)
    }
}

/// Whether `e` says the scan is unknown while it may just not be visible yet: a scan
/// just started, for [`NOT_FOUND_GRACE`] after its start.
fn not_visible_yet(e: &crate::aws::AwsError, since_start: Duration) -> bool {
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
        "INTERNAL_ERROR" => "an error inside Inspector; bake again",
        _ => "see the scan in the Inspector console",
    };
    format!("{reason} ({meaning})")
}

fn worst_lines(findings: &[Finding]) -> Vec<String> {
    worst(findings, WORST_SHOWN)
        .iter()
        .map(Finding::line)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::AwsError;
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
