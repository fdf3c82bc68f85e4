//! What `status` tells its user: the report (one `status` event with every image and the
//! summary), the plan of `--plan`, and progress (a usage report made, a listing cut at
//! its bound). The JSON field names are the contract (docs/commands.md, `status`).

use std::fmt;

use serde::Serialize;

use crate::event::{Progress, Said};

use super::StatusOptions;
use super::report::{ImageStatus, short_age};

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

/// The report in numbers, and what is too old.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub images: usize,
    pub in_use: usize,
    pub unused: usize,
    pub recipes: Vec<String>,
    pub regions: Vec<String>,
    /// The oldest image in use: id, region, age in seconds.
    pub oldest_in_use: Option<TooOld>,
    /// `--max-age`: every image in use that is older.
    pub too_old: Vec<TooOld>,
}

impl Summary {
    pub(super) fn of(options: &StatusOptions, images: &[ImageStatus]) -> Summary {
        let in_use: Vec<&ImageStatus> = images.iter().filter(|i| i.in_use).collect();
        let mut recipes: Vec<String> = images.iter().map(|i| i.recipe.clone()).collect();
        recipes.extend(options.recipe.clone());
        recipes.sort();
        recipes.dedup();
        Summary {
            images: images.len(),
            in_use: in_use.len(),
            unused: images.len() - in_use.len(),
            recipes,
            regions: options.regions.clone(),
            oldest_in_use: in_use
                .iter()
                .filter(|i| i.age_seconds.is_some())
                .max_by_key(|i| i.age_seconds)
                .map(|i| TooOld::of(i)),
            too_old: images
                .iter()
                .filter(|i| i.too_old)
                .map(TooOld::of)
                .collect(),
        }
    }

    /// The one-line summary under the table.
    pub fn line(&self) -> String {
        if self.images == 0 {
            let recipe = match self.recipes.as_slice() {
                [] => String::new(),
                _ => format!(" of {}", self.recipes.join(", ")),
            };
            return format!("no complete images{recipe} in {}", self.regions.join(", "));
        }
        // The recipe count only with several (each table header names its recipe).
        let recipes = if self.recipes.len() > 1 {
            format!(" of {} recipes", self.recipes.len())
        } else {
            String::new()
        };
        let mut line = format!(
            "{}{recipes} in {}: {} in use, {} unused",
            super::plural(self.images, "image"),
            super::plural(self.regions.len(), "region"),
            self.in_use,
            self.unused
        );
        if let Some(o) = &self.oldest_in_use {
            let age = short_age(Some(o.age_seconds));
            // The region only when there are several: the line fits 100 columns.
            let region = if self.regions.len() > 1 {
                format!(", {}", o.region)
            } else {
                String::new()
            };
            line.push_str(&format!("; oldest in use {} ({age}{region})", o.image_id));
        }
        if !self.too_old.is_empty() {
            line.push_str(&format!("; {} too old", self.too_old.len()));
        }
        line
    }
}

/// An image in use, with its age and what uses it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TooOld {
    pub image_id: String,
    pub region: String,
    pub recipe: String,
    pub age_seconds: u64,
    /// What uses it, as the table says it.
    pub used_by: Vec<String>,
}

impl TooOld {
    fn of(i: &ImageStatus) -> TooOld {
        TooOld {
            image_id: i.image_id.clone(),
            region: i.region.clone(),
            recipe: i.recipe.clone(),
            age_seconds: i.age_seconds.unwrap_or_default(),
            used_by: i.uses.iter().map(|u| u.text()).collect(),
        }
    }

    /// `ami-0abc in eu-west-3, 47d old, used by ASG web (stack web) via lt-0abc v1, …`
    pub fn text(&self) -> String {
        format!(
            "{} in {}, {} old, used by {}",
            self.image_id,
            self.region,
            short_age(Some(self.age_seconds)),
            self.used_by.join(", ")
        )
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
