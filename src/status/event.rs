//! What `status` tells its user: the report (one `status` event with every image and the
//! summary), the plan of `--plan`, and progress (a usage report made, a listing cut at
//! its bound). The JSON field names are the contract (docs/commands.md, `status`).

use std::fmt;

use serde::Serialize;

use crate::event::{Progress, Said};

use super::StatusOptions;
use super::report::ImageStatus;
use super::summary::Summary;

/// An event of `status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum StatusEvent {
    /// The report: every image of every region, newest first per recipe and region.
    Status {
        /// The recipe asked for; `null` with `--all`.
        recipe: Option<String>,
        regions: Vec<String>,
        max_age_seconds: Option<u64>,
        images: Vec<ImageStatus>,
        summary: Summary,
    },
    /// `--plan`: the calls each region would get; none was made.
    StatusPlan {
        recipe: Option<String>,
        regions: Vec<RegionCalls>,
    },
    /// `--usage-report`: a report made (`pending`), then `available`.
    UsageReport {
        region: String,
        image_id: String,
        report_id: String,
        state: String,
    },
    /// More images than the listing's bound: the first `shown` are reported.
    Truncated { region: String, shown: usize },
}

impl StatusEvent {
    pub(super) fn report(
        options: &StatusOptions,
        images: &[ImageStatus],
        summary: &Summary,
    ) -> StatusEvent {
        StatusEvent::Status {
            recipe: options.recipe.clone(),
            regions: options.regions.clone(),
            max_age_seconds: options.max_age.map(|d| d.as_secs()),
            images: images.to_vec(),
            summary: summary.clone(),
        }
    }
}

/// `--plan`: the calls of one region, by part.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionCalls {
    pub region: String,
    pub parts: Vec<PlannedPart>,
}

/// One part of a report and the calls it makes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedPart {
    pub what: String,
    pub calls: Vec<String>,
}

impl fmt::Display for StatusEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatusEvent::Status {
                images, summary, ..
            } => f.write_str(&super::text::render(images, summary)),
            StatusEvent::StatusPlan { recipe, regions } => {
                let what = recipe
                    .as_ref()
                    .map(|r| format!("recipe {r}"))
                    .unwrap_or_else(|| "every amibake recipe".to_string());
                writeln!(
                    f,
                    "status of {what}: the calls, made by none of this (--plan)"
                )?;
                for r in regions {
                    writeln!(f, "\nin {}:", r.region)?;
                    for (n, part) in r.parts.iter().enumerate() {
                        writeln!(f, "{:>2}. {}", n + 1, part.what)?;
                        writeln!(f, "    api: {}", part.calls.join(", "))?;
                    }
                }
                Ok(())
            }
            StatusEvent::UsageReport {
                region,
                image_id,
                report_id,
                state,
            } => write!(
                f,
                "usage report {report_id} of {image_id} in {region}: {state}"
            ),
            StatusEvent::Truncated { region, shown } => write!(
                f,
                "warning: more images in {region} than a report reads; the first {shown} are reported"
            ),
        }
    }
}

impl Said for StatusEvent {
    fn progress(&self) -> Option<Progress> {
        match self {
            StatusEvent::UsageReport {
                image_id, state, ..
            } if state == "pending" => Some(Progress::Show {
                label: format!("usage report {image_id}"),
                message: "waiting for the usage report".to_string(),
            }),
            StatusEvent::UsageReport { image_id, .. } => Some(Progress::Clear {
                label: format!("usage report {image_id}"),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::TooOld;

    fn summary(regions: &[&str]) -> Summary {
        Summary {
            images: 3,
            in_use: 2,
            unused: 1,
            recipes: vec!["web".into()],
            regions: regions.iter().map(|r| r.to_string()).collect(),
            oldest_in_use: Some(TooOld {
                image_id: "ami-0aaaaaaaaaaaaaaaa".into(),
                region: "us-west-2".into(),
                recipe: "web".into(),
                age_seconds: 46 * 86_400,
                used_by: vec!["channel prod".into()],
            }),
            too_old: vec![],
        }
    }

    #[test]
    fn the_summary_names_the_oldest_in_use_and_its_region_when_there_are_several() {
        assert_eq!(
            summary(&["eu-west-3"]).line(),
            "3 images in 1 region: 2 in use, 1 unused; oldest in use ami-0aaaaaaaaaaaaaaaa (46d)"
        );
        assert_eq!(
            summary(&["eu-west-3", "us-west-2"]).line(),
            "3 images in 2 regions: 2 in use, 1 unused; oldest in use ami-0aaaaaaaaaaaaaaaa (46d, us-west-2)"
        );
        let mut two = summary(&["eu-west-3"]);
        two.recipes.push("worker".into());
        two.too_old = vec![two.oldest_in_use.clone().unwrap()];
        assert_eq!(
            two.line(),
            "3 images of 2 recipes in 1 region: 2 in use, 1 unused; oldest in use ami-0aaaaaaaaaaaaaaaa (46d); 1 too old"
        );
        let mut none = summary(&["eu-west-3"]);
        none.images = 0;
        assert_eq!(none.line(), "no complete images of web in eu-west-3");
    }
}
