//! The image scan (`Action::Scan`, beside the copies and the boot test): Inspector's
//! on-demand scan of the home-region image, its findings read through EC2 and judged
//! against the recipe's limits. Over the limit, failed or timed out, the bake fails and
//! its images are removed as after a failed boot test.

use std::time::{Duration, SystemTime};

use crate::aws::ec2;
use crate::aws::inspector::{self, ScanState};
use crate::aws::poll::{self, PollError, Schedule};
use crate::scan::{Finding, ScanLimits, ScanSummary, worst};

use super::{Bake, BakeError};
use crate::error::FromAws;

/// How many findings an over-the-limit error lists.
const WORST_SHOWN: usize = 10;

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
        let state = poll::until(self.schedule(Schedule::IMAGE), timeout, || async {
            match inspector::scan_state(&inspector, image_id, &scan_id).await {
                Ok(ScanState::InProgress) => Ok(None),
                // Just started: the status may not be visible yet.
                Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
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
                    reason: reason.unwrap_or_else(|| "no reason given".into()),
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
        self.reporter
            .say(&format!("scan of {image_id}: {}", summary.line()));
        let violations = limits.judge(&summary, SystemTime::now());
        if !violations.is_empty() {
            return Err(BakeError::ScanOverLimit {
                image: image_id.to_string(),
                violations: violations.iter().map(ToString::to_string).collect(),
                worst: worst_lines(&findings),
            });
        }
        Ok(summary)
    }
}

fn worst_lines(findings: &[Finding]) -> Vec<String> {
    worst(findings, WORST_SHOWN)
        .iter()
        .map(Finding::line)
        .collect()
}
