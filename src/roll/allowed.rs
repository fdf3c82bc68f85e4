//! The Allowed AMIs preflight: before a change set (or a new stack) exists, the account's
//! Allowed AMIs settings are read and the image judged against them. EC2 refuses to launch
//! an image they do not allow, but only when the new instances launch, minutes into the
//! update; refusing here changes nothing. Enabled settings that refuse the image (or that
//! this version cannot judge: failing closed) stop the roll with exit 2; audit mode only
//! warns; disabled settings (an account that never set them) say nothing. Enabled settings
//! without a criterion allow only the account's own images, as EC2 reads them.
//!
//! A caller not allowed to read the settings is warned and the roll goes on: the read is a
//! courtesy, EC2 still enforces the settings at launch (and CloudFormation rolls back), so a
//! missing read permission should not block a deploy that may well be allowed.

use std::fmt;
use std::time::SystemTime;

use crate::aws::ec2;
use crate::aws::poll;
use crate::error::FromAws;
use crate::image::{self, AllowedState, Verdict};

use super::{Roll, RollError, RollEvent};

impl Roll<'_> {
    /// Refuses `ami` when the region's enabled Allowed AMIs settings do not allow it;
    /// warns in audit mode.
    pub(super) async fn check_allowed(&self, ami: &str) -> Result<(), RollError> {
        let region = self.region().to_string();
        let client = self
            .aws
            .ec2(&region)
            .map_err(RollError::aws("allowed images"))?;
        let settings = match poll::retry(|| ec2::allowed_images_settings(&client)).await {
            Ok(s) => s,
            Err(e) if matches!(e.code(), Some("UnauthorizedOperation" | "AccessDenied")) => {
                self.reporter.emit(RollEvent::AllowedUnchecked {
                    region,
                    ami: ami.to_string(),
                    reason: e.chain(),
                });
                return Ok(());
            }
            Err(e) => return Err(RollError::aws("allowed images")(e)),
        };
        let state = AllowedState::from_name(&settings.state);
        // Enabled without criteria is not "no settings": only the account's own images
        // are allowed then, so it is judged like any other.
        if state == Some(AllowedState::Disabled) {
            return Ok(());
        }
        let facts = poll::retry(|| ec2::image_facts(&client, ami))
            .await
            .map_err(RollError::aws("allowed images"))?;
        let verdict = match (&state, facts) {
            (None, _) => Verdict::Unjudged {
                why: format!(
                    "the settings' state {:?} is unknown to this amibake (fails closed)",
                    settings.state
                ),
            },
            (_, None) => Verdict::Unjudged {
                why: format!("EC2 no longer shows {ami} (Allowed AMIs hides what it refuses)"),
            },
            (_, Some(facts)) => image::judge(&settings.criteria, &facts, SystemTime::now()),
        };
        let allowed = matches!(verdict, Verdict::Allowed { .. });
        let enforced = state != Some(AllowedState::AuditMode);
        if enforced && !allowed {
            return Err(RollError::NotAllowed(Box::new(Refusal {
                ami: ami.to_string(),
                region,
                state: settings.state,
                criteria: settings.criteria.len(),
                verdict,
                managed_by: settings.managed_by,
            })));
        }
        self.reporter.emit(RollEvent::AllowedImages {
            region,
            ami: ami.to_string(),
            state: settings.state,
            criteria: settings.criteria.len(),
            verdict,
        });
        Ok(())
    }
}

impl Roll<'_> {
    /// Why EC2 may not show an image: enabled Allowed AMIs settings hide every image they
    /// refuse (DescribeImages leaves it out), which looks like an image that does not
    /// exist. Empty when they are not enabled or cannot be read.
    pub(super) async fn hidden_hint(&self) -> String {
        let region = self.region();
        let Ok(client) = self.aws.ec2(region) else {
            return String::new();
        };
        match poll::retry(|| ec2::allowed_images_settings(&client)).await {
            Ok(s) if s.state == "enabled" => format!(
                "; or the account's Allowed AMIs settings hide it: they are enabled in {region} with {} criteria, and EC2 shows no image they refuse (aws ec2 get-allowed-images-settings --region {region})",
                s.criteria.len()
            ),
            _ => String::new(),
        }
    }
}

/// Enabled settings refuse the image: what the error says.
#[derive(Debug)]
pub struct Refusal {
    pub ami: String,
    pub region: String,
    pub state: String,
    /// How many criteria the settings hold.
    pub criteria: usize,
    pub verdict: Verdict,
    pub managed_by: Option<String>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Refusal {
            ami,
            region,
            state,
            criteria,
            verdict,
            managed_by,
        } = self;
        let said = match verdict {
            Verdict::Unjudged { .. } => "cannot be judged against",
            _ => "meets none of",
        };
        write!(
            f,
            "Allowed AMIs ({state}) in {region} refuse {ami}: it {said} the account's {criteria} criteria:{}\nnothing was changed; fix: roll an image the criteria allow, {}",
            reasons(verdict),
            settings_fix(managed_by.as_deref(), region)
        )
    }
}

/// The lines that say why the image is not allowed: per criterion, what it fails.
pub(super) fn reasons(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Allowed { why, .. } => format!(" {why}"),
        Verdict::Unjudged { why } => format!(" {why}"),
        Verdict::Refused { failures } if failures.is_empty() => {
            " the settings hold no criterion, so only the account's own images are allowed".into()
        }
        Verdict::Refused { failures } => failures
            .iter()
            .map(|f| format!("\n  criterion {}: {}", f.criterion, f.conditions.join("; ")))
            .collect(),
    }
}

/// How to change the settings, or who can.
fn settings_fix(managed_by: Option<&str>, region: &str) -> String {
    if managed_by == Some("declarative-policy") {
        "the settings come from the organization's declarative policy: ask its administrators to allow the image".to_string()
    } else {
        format!(
            "or allow it: aws ec2 replace-image-criteria-in-allowed-images-settings --region {region} (see aws ec2 get-allowed-images-settings --region {region})"
        )
    }
}
