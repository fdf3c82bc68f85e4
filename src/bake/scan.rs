//! The image scan (`Action::Scan`, beside the copies and the boot test): Inspector's
//! on-demand scan of the home-region image (the image layer's [`image::scan_image`]),
//! judged against the recipe's limits. Over the limit, failed or timed out, the bake fails
//! and its images are removed as after a failed boot test.

use std::time::{Duration, SystemTime};

use crate::aws::poll::Schedule;
use crate::image::{self, ScanError};
use crate::scan::{Finding, ScanLimits, ScanSummary, worst};

use super::event::BakeEvent;
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
        // One scan per image and run: a retried start finds the same scan.
        let token = format!("amibake-{}-{image_id}", self.plan.run_id);
        let schedule = self.schedule(Schedule::IMAGE);
        let scanned = image::scan_image(
            &self.aws,
            self.region(),
            image_id,
            &token,
            schedule,
            timeout,
            |s| self.reporter.say(s),
        )
        .await
        .map_err(|e| match e {
            ScanError::Timeout { scan_id, after, .. } => BakeError::Timeout {
                phase: "scan".into(),
                after,
                hint: format!(
                    "Inspector's scan {scan_id} of {image_id} did not end; raise \
                     `image.scan.timeout` or look at the scan in the Inspector console"
                ),
            },
            ScanError::Failed { image, reason } => BakeError::ScanFailed { image, reason },
            ScanError::Aws(a) => BakeError::aws("scan")(a),
        })?;
        let violations: Vec<String> = limits
            .judge(&scanned.summary, SystemTime::now())
            .iter()
            .map(ToString::to_string)
            .collect();
        self.reporter.emit(BakeEvent::Scan {
            image: image_id.to_string(),
            scan_id: scanned.scan_id.clone(),
            passed: violations.is_empty(),
            summary: scanned.summary.clone(),
            violations: violations.clone(),
        });
        if !violations.is_empty() {
            return Err(BakeError::ScanOverLimit {
                image: image_id.to_string(),
                violations,
                worst: worst_lines(&scanned.findings),
            });
        }
        Ok(scanned.summary)
    }
}

fn worst_lines(findings: &[Finding]) -> Vec<String> {
    worst(findings, WORST_SHOWN)
        .iter()
        .map(Finding::line)
        .collect()
}
