//! What `prune` tells its user: one variant per kind of event (the JSON `event` field).

use std::fmt;

use serde::Serialize;

use crate::event::Said;

use super::{PruneOptions, Reason, Verdict};

/// An event of `prune`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum PruneEvent {
    /// An image goes (or would go, in a dry run), with its snapshots.
    Remove {
        region: String,
        ami: String,
        name: String,
        created: String,
        snapshots: Vec<String>,
        dry_run: bool,
    },
    /// An image stays, for these reasons.
    Kept {
        region: String,
        ami: String,
        name: String,
        created: String,
        reasons: Vec<Reason>,
    },
    /// Every region is pruned.
    Done {
        recipe: String,
        regions: Vec<String>,
        kept: usize,
        removed: usize,
        dry_run: bool,
    },
}

impl PruneEvent {
    /// The event of an image's verdict: removed or kept.
    pub fn verdict(v: &Verdict, dry_run: bool) -> PruneEvent {
        let img = &v.image;
        let (region, ami, name, created) = (
            v.region.clone(),
            img.id.clone(),
            img.name.clone(),
            img.creation_date.clone(),
        );
        if v.removed() {
            PruneEvent::Remove {
                region,
                ami,
                name,
                created,
                snapshots: img.snapshot_ids.clone(),
                dry_run,
            }
        } else {
            PruneEvent::Kept {
                region,
                ami,
                name,
                created,
                reasons: v.reasons.clone(),
            }
        }
    }

    /// The summary of a prune of `regions`.
    pub fn done(options: &PruneOptions, regions: Vec<String>, verdicts: &[Verdict]) -> PruneEvent {
        let removed = verdicts.iter().filter(|v| v.removed()).count();
        PruneEvent::Done {
            recipe: options.recipe.clone(),
            regions,
            kept: verdicts.len() - removed,
            removed,
            dry_run: options.dry_run,
        }
    }
}

impl fmt::Display for PruneEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PruneEvent::Remove {
                region,
                ami,
                created,
                snapshots,
                dry_run,
                ..
            } => write!(
                f,
                "{} {ami} in {region} ({created}, snapshots {})",
                if *dry_run { "would remove" } else { "removing" },
                if snapshots.is_empty() {
                    "none".to_string()
                } else {
                    snapshots.join(", ")
                }
            ),
            PruneEvent::Kept {
                region,
                ami,
                reasons,
                ..
            } => {
                let why: Vec<String> = reasons.iter().map(Reason::text).collect();
                write!(f, "kept {ami} in {region} ({})", why.join(", "))
            }
            PruneEvent::Done {
                recipe,
                regions,
                kept,
                removed: 0,
                ..
            } => write!(
                f,
                "nothing to prune for {recipe} in {} ({kept} image(s) kept)",
                regions.join(", ")
            ),
            PruneEvent::Done {
                recipe,
                regions,
                kept,
                removed,
                dry_run,
            } => write!(
                f,
                "{} {removed} image(s) of {recipe} in {}; kept {kept}",
                if *dry_run { "would remove" } else { "removed" },
                regions.join(", ")
            ),
        }
    }
}

/// No spinner.
impl Said for PruneEvent {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::ec2::ImageInfo;
    use crate::event::Event;
    use crate::image::ImageState;

    fn verdict(reasons: Vec<Reason>) -> Verdict {
        Verdict {
            region: "r".into(),
            image: ImageInfo {
                id: "ami-1".into(),
                name: "web-1".into(),
                state: ImageState::Available,
                state_reason: None,
                root_device_name: None,
                snapshot_ids: vec!["snap-1".into()],
                encrypted: false,
                creation_date: "2026-11-20T10:00:00.000Z".into(),
                tags: Default::default(),
            },
            reasons,
        }
    }

    #[test]
    fn verdicts_keep_their_json_and_lines() {
        let removed = Event::from(PruneEvent::verdict(&verdict(Vec::new()), false));
        assert_eq!(
            removed.to_json(),
            serde_json::json!({
                "event": "remove", "region": "r", "ami": "ami-1", "name": "web-1",
                "created": "2026-11-20T10:00:00.000Z", "snapshots": ["snap-1"], "dry_run": false,
            })
        );
        assert_eq!(
            removed.to_string(),
            "removing ami-1 in r (2026-11-20T10:00:00.000Z, snapshots snap-1)"
        );
        let kept = Event::from(PruneEvent::verdict(
            &verdict(vec![Reason::Newest { keep: 2 }]),
            false,
        ));
        assert_eq!(kept.to_json()["reasons"][0]["kind"], "newest");
        assert_eq!(kept.to_string(), "kept ami-1 in r (newest 2)");
        let target = Event::from(PruneEvent::verdict(
            &verdict(vec![Reason::InUse(crate::fleet::Use::RollbackTarget {
                stack: "web-prod".into(),
            })]),
            false,
        ));
        assert_eq!(
            target.to_json()["reasons"][0],
            serde_json::json!({ "kind": "rollback_target", "stack": "web-prod" })
        );
        assert_eq!(
            target.to_string(),
            "kept ami-1 in r (rollback target of stack web-prod)"
        );
    }

    #[test]
    fn done_says_what_went_or_that_nothing_did() {
        let options = PruneOptions {
            recipe: "web".into(),
            keep: 1,
            older_than: std::time::Duration::ZERO,
            dry_run: true,
            also_regions: Vec::new(),
            all_regions: false,
        };
        let regions = vec!["r".to_string(), "s".to_string()];
        let none = PruneEvent::done(
            &options,
            regions.clone(),
            &[verdict(vec![Reason::UnknownAge])],
        );
        assert_eq!(
            none.to_string(),
            "nothing to prune for web in r, s (1 image(s) kept)"
        );
        let some = PruneEvent::done(&options, regions, &[verdict(Vec::new())]);
        assert_eq!(
            some.to_string(),
            "would remove 1 image(s) of web in r, s; kept 0"
        );
        assert_eq!(
            Event::from(some).to_json(),
            serde_json::json!({
                "event": "done", "recipe": "web", "regions": ["r", "s"], "kept": 0,
                "removed": 1, "dry_run": true,
            })
        );
    }
}
