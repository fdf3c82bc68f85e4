//! The verdict on each image of a region: which stay, and why.

use std::time::{Duration, SystemTime};

use crate::aws::ec2::ImageInfo;

use super::{PruneOptions, Reason, Verdict};
use crate::fleet::Uses;

/// Decides, newest first, which images stay and why. Images are ordered by creation
/// date, then by name (bakes name images with a timestamp, and EC2 dates may tie within
/// a second), then by id.
pub fn decide(
    region: &str,
    mut images: Vec<ImageInfo>,
    uses: &Uses,
    options: &PruneOptions,
    now: SystemTime,
) -> Vec<Verdict> {
    images.sort_by(|a, b| {
        (&b.creation_date, &b.name, &b.id).cmp(&(&a.creation_date, &a.name, &a.id))
    });
    images
        .into_iter()
        .enumerate()
        .map(|(rank, image)| {
            let mut reasons = Vec::new();
            if rank < options.keep {
                reasons.push(Reason::Newest { keep: options.keep });
            }
            match age(&image.creation_date, now) {
                Some(age) if age < options.older_than => reasons.push(Reason::Young {
                    older_than_seconds: options.older_than.as_secs(),
                }),
                Some(_) => {}
                None => reasons.push(Reason::UnknownAge),
            }
            if !image.state.is_available() {
                reasons.push(Reason::State {
                    state: image.state.clone(),
                });
            }
            reasons.extend(uses.of(&image.id).iter().cloned().map(Reason::InUse));
            Verdict {
                region: region.to_string(),
                image,
                reasons,
            }
        })
        .collect()
}

/// An image's age from its creation date (`2026-11-23T07:05:28.000Z`).
fn age(creation_date: &str, now: SystemTime) -> Option<Duration> {
    let created = time::OffsetDateTime::parse(
        creation_date,
        &time::format_description::well_known::Rfc3339,
    )
    .ok()?;
    Some(
        now.duration_since(SystemTime::from(created))
            .unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::fleet::Use;
    use crate::image::ImageState;

    fn image(id: &str, name: &str, created: &str) -> ImageInfo {
        ImageInfo {
            id: id.to_string(),
            name: name.to_string(),
            state: ImageState::Available,
            state_reason: None,
            root_device_name: None,
            snapshot_ids: vec![format!("snap-{id}")],
            encrypted: false,
            creation_date: created.to_string(),
            tags: BTreeMap::new(),
        }
    }

    fn options(keep: usize, older_than: Duration) -> PruneOptions {
        PruneOptions {
            recipe: "web".to_string(),
            keep,
            older_than,
            dry_run: false,
            also_regions: Vec::new(),
            all_regions: false,
        }
    }

    fn now() -> SystemTime {
        SystemTime::from(time::macros::datetime!(2026-11-23 12:00:00 UTC))
    }

    #[test]
    fn keeps_the_newest_and_every_referenced_image() {
        let images = vec![
            image("ami-1", "web-1", "2026-11-20T10:00:00.000Z"),
            image("ami-3", "web-3", "2026-11-22T10:00:00.000Z"),
            image("ami-2", "web-2", "2026-11-21T10:00:00.000Z"),
            image("ami-4", "web-4", "2026-11-23T10:00:00.000Z"),
        ];
        let mut uses = Uses::default();
        uses.add(
            "ami-1",
            Use::Channel {
                env: "prod".into(),
                parameter: "/amibake/web/prod".into(),
            },
        );
        let v = decide("r", images, &uses, &options(2, Duration::ZERO), now());
        let ids: Vec<_> = v.iter().map(|v| v.image.id.as_str()).collect();
        assert_eq!(ids, ["ami-4", "ami-3", "ami-2", "ami-1"]);
        assert_eq!(v[0].reasons, [Reason::Newest { keep: 2 }]);
        assert_eq!(v[1].reasons, [Reason::Newest { keep: 2 }]);
        assert!(v[2].removed());
        assert_eq!(v[3].reasons[0].text(), "channel prod");
    }

    #[test]
    fn young_images_stay_and_ties_order_by_name() {
        let images = vec![
            image("ami-b", "web-20261123-110000", "2026-11-23T11:00:00.000Z"),
            image("ami-a", "web-20261123-110001", "2026-11-23T11:00:00.000Z"),
            image("ami-c", "web-old", "2026-10-01T00:00:00.000Z"),
        ];
        let v = decide(
            "r",
            images,
            &Uses::default(),
            &options(1, Duration::from_secs(7200)),
            now(),
        );
        assert_eq!(v[0].image.id, "ami-a", "the later name wins a tie");
        assert_eq!(
            v[1].reasons,
            [Reason::Young {
                older_than_seconds: 7200
            }]
        );
        assert_eq!(v[1].reasons[0].text(), "younger than 2h");
        assert!(v[2].removed());
    }

    #[test]
    fn an_unreadable_date_or_a_pending_image_is_kept() {
        let mut pending = image("ami-p", "p", "2026-01-01T00:00:00.000Z");
        pending.state = ImageState::Pending;
        let images = vec![
            image("ami-n", "n", "2026-11-23T00:00:00.000Z"),
            pending,
            image("ami-x", "x", ""),
        ];
        let v = decide(
            "r",
            images,
            &Uses::default(),
            &options(1, Duration::ZERO),
            now(),
        );
        assert!(v.iter().all(|v| !v.removed()), "{v:?}");
        assert!(v.iter().any(|v| v.reasons == [Reason::UnknownAge]));
        assert!(v.iter().any(|v| v.reasons
            == [Reason::State {
                state: ImageState::Pending
            }]));
    }
}
