//! The account's Allowed AMIs settings (GetAllowedImagesSettings) and the facts of an
//! image its criteria look at (DescribeImages), typed for `crate::image::judge`.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{ImageCriterion, SeverityLabel};

use crate::aws::AwsError;
use crate::aws::calls::{EC2_DESCRIBE_IMAGES, EC2_GET_ALLOWED_IMAGES_SETTINGS};
use crate::image::{Criterion, ImageFacts, ScanCondition, Watermark, WatermarkFilter};
use crate::scan::{ScanSummary, Severity};

/// The settings of the client's region, as EC2 states them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedSettings {
    /// `disabled`, `audit-mode`, `enabled` (or a state newer than this code).
    pub state: String,
    pub criteria: Vec<Criterion>,
    /// `account` or `declarative-policy` (then only the organization can change them).
    pub managed_by: Option<String>,
}

/// GetAllowedImagesSettings.
pub async fn allowed_images_settings(ec2: &Client) -> Result<AllowedSettings, AwsError> {
    let out = ec2
        .get_allowed_images_settings()
        .send()
        .await
        .map_err(|e| AwsError::call(EC2_GET_ALLOWED_IMAGES_SETTINGS, e))?;
    Ok(AllowedSettings {
        state: out.state().unwrap_or_default().to_string(),
        criteria: out.image_criteria().iter().map(criterion).collect(),
        managed_by: out.managed_by().map(|m| m.as_str().to_string()),
    })
}

fn criterion(c: &ImageCriterion) -> Criterion {
    let days = |d: Option<i32>| d.map(|d| u32::try_from(d).unwrap_or(0));
    let mut unknown = Vec::new();
    let scan = c.scan_result_condition().map(|s| {
        let mut limits = crate::scan::ScanLimits::default();
        if let Some(label) = s.maximum_severity_label() {
            match severity(label) {
                Some(sev) => limits.max_severity = Some(sev),
                None => unknown.push(format!(
                    "ScanResultCondition MaximumSeverityLabel {:?}",
                    label.as_str()
                )),
            }
        }
        let fix_days = [
            (
                Severity::Informational,
                s.max_days_since_informational_fix_available(),
            ),
            (Severity::Low, s.max_days_since_low_fix_available()),
            (Severity::Medium, s.max_days_since_medium_fix_available()),
            (Severity::High, s.max_days_since_high_fix_available()),
            (
                Severity::Critical,
                s.max_days_since_critical_fix_available(),
            ),
        ];
        for (sev, d) in fix_days {
            if let Some(d) = days(d) {
                limits.max_days_since_fix.insert(sev, d);
            }
        }
        ScanCondition {
            limits,
            max_days_since_scan: days(s.max_days_since_last_finding_scan()),
        }
    });
    Criterion {
        providers: c.image_providers().to_vec(),
        names: c.image_names().to_vec(),
        product_codes: c.marketplace_product_codes().to_vec(),
        max_days_since_created: days(
            c.creation_date_condition()
                .and_then(|d| d.maximum_days_since_created()),
        ),
        max_days_since_deprecated: days(
            c.deprecation_time_condition()
                .and_then(|d| d.maximum_days_since_deprecated()),
        ),
        scan,
        watermarks: c
            .image_watermarks()
            .iter()
            .map(|w| WatermarkFilter {
                key: w.watermark_key().map(str::to_string),
                source_region: w.source_image_region().map(str::to_string),
                max_days_since_source_created: days(w.maximum_days_since_source_image_created()),
                max_days_since_watermarked: days(w.maximum_days_since_watermark_created()),
            })
            .collect(),
        unknown,
    }
}

fn severity(label: &SeverityLabel) -> Option<Severity> {
    Severity::from_label(label.as_str())
}

/// What the criteria look at in the image `id`; `None` when EC2 does not show it (it does
/// not exist, is not shared with this account, or Allowed AMIs hides it). `own` asks EC2
/// whether the caller owns it (DescribeImages with `Owners: self`), which needs no account
/// id and no other permission.
pub async fn image_facts(ec2: &Client, id: &str) -> Result<Option<ImageFacts>, AwsError> {
    let described = match ec2.describe_images().image_ids(id).send().await {
        Ok(out) => out,
        Err(e) => {
            return AwsError::call(EC2_DESCRIBE_IMAGES, e)
                .absent_if(&["InvalidAMIID.NotFound", "InvalidAMIID.Malformed"]);
        }
    };
    let Some(img) = described.images().first() else {
        return Ok(None);
    };
    // The id as a filter, not ImageIds: the owner applies to a filtered listing (moto
    // ignores Owners beside ImageIds).
    let own = ec2
        .describe_images()
        .owners("self")
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("image-id")
                .values(id)
                .build(),
        )
        .send()
        .await
        .map_err(|e| AwsError::call(EC2_DESCRIBE_IMAGES, e))?
        .images()
        .iter()
        .any(|i| i.image_id() == Some(id));
    let time = |t: Option<&aws_smithy_types::DateTime>| {
        t.and_then(|t| std::time::SystemTime::try_from(*t).ok())
            .map(crate::run::rfc3339)
    };
    Ok(Some(ImageFacts {
        id: id.to_string(),
        owner_id: img.owner_id().unwrap_or_default().to_string(),
        owner_alias: img.image_owner_alias().map(str::to_string),
        own,
        name: img.name().unwrap_or_default().to_string(),
        creation_date: img.creation_date().unwrap_or_default().to_string(),
        deprecation_time: img.deprecation_time().map(str::to_string),
        product_codes: img
            .product_codes()
            .iter()
            .filter_map(|p| p.product_code_id().map(str::to_string))
            .collect(),
        scan: img
            .scan_results()
            .map(|r| ScanSummary::from_ec2(Some(r), &[])),
        watermarks: img
            .image_watermarks()
            .iter()
            .map(|w| Watermark {
                key: w.watermark_key().unwrap_or_default().to_string(),
                source_region: w.source_image_region().unwrap_or_default().to_string(),
                source_created: time(w.source_image_creation_time()),
                created: time(w.watermark_creation_time()),
            })
            .collect(),
        image_allowed: img.image_allowed(),
    }))
}
