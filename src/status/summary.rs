//! The report in numbers: how many images, how many in use, the oldest in use, and what
//! `--max-age` finds too old. The event carries it and the text prints its line.

use serde::Serialize;

use super::StatusOptions;
use super::report::{ImageStatus, short_age};

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
