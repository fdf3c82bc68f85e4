//! Image usage reports: which other accounts use a shared image (CreateImageUsageReport,
//! DescribeImageUsageReports, DescribeImageUsageReportEntries). Reading existing reports
//! is part of what uses an image (`fleet`); creating one is a write that only
//! `status --usage-report` makes, on request.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, ImageUsageResourceTypeRequest};

use crate::aws::AwsError;
use crate::aws::calls::{
    EC2_CREATE_IMAGE_USAGE_REPORT, EC2_DESCRIBE_IMAGE_USAGE_REPORT_ENTRIES,
    EC2_DESCRIBE_IMAGE_USAGE_REPORTS,
};

/// The most entries read for one report: an image used by more accounts than this is
/// reported with the first ones (a broken or hostile answer cannot fill the memory).
pub const MAX_USAGE_ENTRIES: usize = 10_000;
/// The most reports read for one call (reports expire after 30 days; a recipe's images
/// have a few each).
pub const MAX_USAGE_REPORTS: usize = 1_000;
/// Image or report ids per call (EC2 takes at most 200 values a list).
pub const IDS_PER_CALL: usize = 200;

/// Starts a usage report of a shared image over instances and launch templates in the
/// accounts it is shared with; returns the report id (`amiur-…`). `token` makes a retry
/// return the same report.
pub async fn create_image_usage_report(
    ec2: &Client,
    image_id: &str,
    token: &str,
) -> Result<String, AwsError> {
    let out = ec2
        .create_image_usage_report()
        .image_id(image_id)
        .resource_types(
            ImageUsageResourceTypeRequest::builder()
                .resource_type("ec2:Instance")
                .build(),
        )
        .resource_types(
            ImageUsageResourceTypeRequest::builder()
                .resource_type("ec2:LaunchTemplate")
                .build(),
        )
        .client_token(token)
        .send()
        .await
        .map_err(|e| AwsError::call(EC2_CREATE_IMAGE_USAGE_REPORT, e))?;
    Ok(out.report_id().unwrap_or_default().to_string())
}

/// A usage report as DescribeImageUsageReports tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageReport {
    pub report_id: String,
    pub image_id: String,
    /// `pending`, `available`, `error`, …
    pub state: String,
    pub state_reason: Option<String>,
    /// RFC 3339; empty when EC2 gives none.
    pub created: String,
}

/// Every usage report of any of `image_ids` (`ids` calls of at most [`IDS_PER_CALL`],
/// every page, at most [`MAX_USAGE_REPORTS`] in all); `available_only` asks EC2 for those
/// whose entries can be read.
pub async fn image_usage_reports(
    ec2: &Client,
    image_ids: &[String],
    available_only: bool,
) -> Result<Vec<UsageReport>, AwsError> {
    let mut found = Vec::new();
    for ids in image_ids.chunks(IDS_PER_CALL) {
        let mut request = ec2
            .describe_image_usage_reports()
            .set_image_ids(Some(ids.to_vec()));
        if available_only {
            request = request.filters(Filter::builder().name("state").values("available").build());
        }
        let mut pages = request.into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::call(EC2_DESCRIBE_IMAGE_USAGE_REPORTS, e))?;
            found.extend(page.image_usage_reports().iter().map(report));
            if found.len() >= MAX_USAGE_REPORTS {
                found.truncate(MAX_USAGE_REPORTS);
                return Ok(found);
            }
        }
    }
    Ok(found)
}

/// One report by id, `None` when EC2 does not know it.
pub async fn image_usage_report(
    ec2: &Client,
    report_id: &str,
) -> Result<Option<UsageReport>, AwsError> {
    let out = ec2
        .describe_image_usage_reports()
        .report_ids(report_id)
        .send()
        .await
        .map_err(|e| AwsError::call(EC2_DESCRIBE_IMAGE_USAGE_REPORTS, e))?;
    Ok(out.image_usage_reports().first().map(report))
}

fn report(r: &aws_sdk_ec2::types::ImageUsageReport) -> UsageReport {
    UsageReport {
        report_id: r.report_id().unwrap_or_default().to_string(),
        image_id: r.image_id().unwrap_or_default().to_string(),
        state: r.state().unwrap_or_default().to_string(),
        state_reason: r.state_reason().map(str::to_string),
        created: r
            .creation_time()
            .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
            .unwrap_or_default(),
    }
}

/// One account's use of an image, by resource type, as one report says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUsage {
    pub report_id: String,
    pub image_id: String,
    pub account_id: String,
    pub resource_type: String,
    pub usage_count: i64,
}

/// The entries of these available usage reports (calls of at most [`IDS_PER_CALL`]
/// report ids, every page, at most [`MAX_USAGE_ENTRIES`] in all).
pub async fn image_usage_entries(
    ec2: &Client,
    report_ids: &[String],
) -> Result<Vec<ImageUsage>, AwsError> {
    let mut found = Vec::new();
    for ids in report_ids.chunks(IDS_PER_CALL) {
        let mut pages = ec2
            .describe_image_usage_report_entries()
            .set_report_ids(Some(ids.to_vec()))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| AwsError::call(EC2_DESCRIBE_IMAGE_USAGE_REPORT_ENTRIES, e))?;
            found.extend(
                page.image_usage_report_entries()
                    .iter()
                    .map(|e| ImageUsage {
                        report_id: e.report_id().unwrap_or_default().to_string(),
                        image_id: e.image_id().unwrap_or_default().to_string(),
                        account_id: e.account_id().unwrap_or_default().to_string(),
                        resource_type: e.resource_type().unwrap_or_default().to_string(),
                        usage_count: e.usage_count().unwrap_or_default(),
                    }),
            );
            if found.len() >= MAX_USAGE_ENTRIES {
                found.truncate(MAX_USAGE_ENTRIES);
                return Ok(found);
            }
        }
    }
    Ok(found)
}
