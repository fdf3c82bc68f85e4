//! `amibake prune`: deregisters a recipe's older AMIs and deletes their snapshots.
//!
//! Only images a bake finished (`amibake:recipe=NAME`, `amibake:complete=true`) are
//! considered; incomplete ones are `sweep`'s business. In each region the newest `keep`
//! (by creation date) stay, and so does every image younger than `--older-than` or still
//! in use: the value of a channel parameter `/amibake/NAME/*`, the image of a launch
//! template version (or launch configuration) that an Auto Scaling group launches, or
//! the image of an instance that is not terminated. Every image is reported with the
//! reasons it stays, or with the snapshots that go with it.
//!
//! The references are looked up in each region right before its images are removed, and
//! a failed lookup stops the prune there: an image is never removed on a guess.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};
mod event;
pub use event::PruneEvent;

use serde::Serialize;
use serde_json::json;

use crate::aws::ec2::{self, ImageInfo};
use crate::aws::poll::{self, Schedule};
use crate::aws::{Aws, AwsError, asg};
use crate::report::Reporter;
use crate::tags;

/// What to prune.
#[derive(Debug, Clone)]
pub struct PruneOptions {
    pub recipe: String,
    /// The newest images kept per region (at least 1).
    pub keep: usize,
    /// Images younger than this stay whatever their rank.
    pub older_than: Duration,
    pub dry_run: bool,
}

/// Why an image stays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// Among the newest `keep` of the region.
    Newest { keep: usize },
    /// Younger than `--older-than`.
    Young { older_than_seconds: u64 },
    /// Its creation date could not be read, so its age is unknown.
    UnknownAge,
    /// Not `available` (e.g. still `pending`).
    State { state: String },
    /// The value of a channel parameter.
    Channel { env: String, parameter: String },
    /// The image of a launch template version an Auto Scaling group uses.
    Asg {
        group: String,
        launch_template: String,
        version: i64,
    },
    /// The image of a launch configuration an Auto Scaling group uses.
    LaunchConfiguration { group: String, name: String },
    /// An instance that is not terminated runs (or can start again) from it.
    Instance { id: String, state: String },
}

impl Reason {
    /// The reason as the user reads it: `newest 2`, `channel prod`, …
    pub fn text(&self) -> String {
        match self {
            Reason::Newest { keep } => format!("newest {keep}"),
            Reason::Young { older_than_seconds } => format!(
                "younger than {}",
                crate::recipe::types::Duration::from_secs(*older_than_seconds)
            ),
            Reason::UnknownAge => "creation date unknown".to_string(),
            Reason::State { state } => format!("state {state}"),
            Reason::Channel { env, .. } => format!("channel {env}"),
            Reason::Asg {
                group,
                launch_template,
                version,
            } => format!("ASG {group} via {launch_template} v{version}"),
            Reason::LaunchConfiguration { group, name } => {
                format!("ASG {group} via launch configuration {name}")
            }
            Reason::Instance { id, state } => format!("{state} instance {id}"),
        }
    }
}

/// One image of the recipe and what prune decided about it.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub region: String,
    pub image: ImageInfo,
    /// Empty: the image is removed (or would be, in a dry run).
    pub reasons: Vec<Reason>,
}

impl Verdict {
    pub fn removed(&self) -> bool {
        self.reasons.is_empty()
    }
}

/// Prunes each region in turn; returns every verdict (removed images have no reasons).
pub async fn prune(
    aws: &Aws,
    regions: &[String],
    options: &PruneOptions,
    reporter: &Reporter,
) -> Result<Vec<Verdict>, AwsError> {
    let mut all = Vec::new();
    for region in regions {
        all.extend(prune_region(aws, region, options, reporter).await?);
    }
    Ok(all)
}

async fn prune_region(
    aws: &Aws,
    region: &str,
    options: &PruneOptions,
    reporter: &Reporter,
) -> Result<Vec<Verdict>, AwsError> {
    let ec2 = aws.ec2(region)?;
    let filter = [
        (tags::RECIPE, options.recipe.as_str()),
        (tags::COMPLETE, "true"),
    ];
    let images = poll::retry(|| ec2::images_tagged(&ec2, &filter)).await?;
    if images.is_empty() {
        return Ok(Vec::new());
    }
    let refs = references(aws, region, &options.recipe, &images).await?;
    let verdicts = decide(region, images, &refs, options, SystemTime::now());

    for v in &verdicts {
        let img = &v.image;
        if v.removed() {
            reporter.event(
                "remove",
                json!({ "region": region, "ami": img.id, "name": img.name, "created": img.creation_date, "snapshots": img.snapshot_ids, "dry_run": options.dry_run }),
                &format!(
                    "{} {} in {region} ({}, snapshots {})",
                    if options.dry_run {
                        "would remove"
                    } else {
                        "removing"
                    },
                    img.id,
                    img.creation_date,
                    if img.snapshot_ids.is_empty() {
                        "none".to_string()
                    } else {
                        img.snapshot_ids.join(", ")
                    }
                ),
            );
        } else {
            let why: Vec<String> = v.reasons.iter().map(Reason::text).collect();
            reporter.event(
                "kept",
                json!({ "region": region, "ami": img.id, "name": img.name, "created": img.creation_date, "reasons": v.reasons }),
                &format!("kept {} in {region} ({})", img.id, why.join(", ")),
            );
        }
    }
    if !options.dry_run {
        for v in verdicts.iter().filter(|v| v.removed()) {
            remove(&ec2, &v.image).await?;
        }
    }
    Ok(verdicts)
}

/// Deregisters the image and deletes its snapshots. Just after deregistration a snapshot
/// can still count as in use for a moment: that is waited out.
async fn remove(ec2: &aws_sdk_ec2::Client, image: &ImageInfo) -> Result<(), AwsError> {
    poll::while_in_use(
        Schedule::INSTANCE,
        Duration::from_secs(120),
        "InvalidSnapshot.InUse",
        "ec2:DeleteSnapshot",
        &format!("a snapshot of {}", image.id),
        || ec2::delete_image(ec2, image),
    )
    .await
}

/// What refers to which image in a region.
#[derive(Debug, Clone, Default)]
pub struct References(BTreeMap<String, Vec<Reason>>);

impl References {
    pub fn add(&mut self, image_id: &str, reason: Reason) {
        let reasons = self.0.entry(image_id.to_string()).or_default();
        if !reasons.contains(&reason) {
            reasons.push(reason);
        }
    }

    pub fn of(&self, image_id: &str) -> &[Reason] {
        self.0.get(image_id).map(Vec::as_slice).unwrap_or_default()
    }
}

/// Looks up channel parameters, Auto Scaling groups and instances that use any of
/// `images`.
async fn references(
    aws: &Aws,
    region: &str,
    recipe: &str,
    images: &[ImageInfo],
) -> Result<References, AwsError> {
    let mut refs = References::default();
    let ssm = aws.ssm(region)?;
    let prefix = format!("/amibake/{recipe}/");
    let channels = poll::retry(|| parameters_by_path(&ssm, &prefix)).await?;
    for (name, value) in &channels {
        refs.add(
            value,
            Reason::Channel {
                env: name.strip_prefix(&prefix).unwrap_or(name).to_string(),
                parameter: name.clone(),
            },
        );
    }

    let ec2 = aws.ec2(region)?;
    let asg_client = aws.asg(region)?;
    let groups = poll::retry(|| asg::group_sources(&asg_client)).await?;
    for (group, sources) in &groups {
        for source in sources {
            match source {
                asg::GroupSource::LaunchTemplate { id, name, version } => {
                    let found = poll::retry(|| {
                        ec2::launch_template_image(&ec2, id.as_deref(), name.as_deref(), version)
                    })
                    .await?;
                    let Some(lt) = found else { continue };
                    let Some(image) = lt.image_id else { continue };
                    // A launch template may name its image through an SSM parameter.
                    let image = match image.strip_prefix("resolve:ssm:") {
                        Some(param) => {
                            match poll::retry(|| crate::aws::ssm::get_parameter(&ssm, param))
                                .await?
                            {
                                Some(v) => v,
                                None => continue,
                            }
                        }
                        None => image,
                    };
                    refs.add(
                        &image,
                        Reason::Asg {
                            group: group.clone(),
                            launch_template: lt.template_id.clone(),
                            version: lt.version,
                        },
                    );
                }
                asg::GroupSource::LaunchConfiguration(lc) => {
                    if let Some(image) =
                        poll::retry(|| asg::launch_configuration_image(&asg_client, lc)).await?
                    {
                        refs.add(
                            &image,
                            Reason::LaunchConfiguration {
                                group: group.clone(),
                                name: lc.clone(),
                            },
                        );
                    }
                }
            }
        }
    }

    let ids: Vec<String> = images.iter().map(|i| i.id.clone()).collect();
    let instances = poll::retry(|| ec2::instances_of_images(&ec2, &ids)).await?;
    for i in instances {
        refs.add(
            &i.image_id,
            Reason::Instance {
                id: i.id,
                state: i.state,
            },
        );
    }
    Ok(refs)
}

/// Every parameter under `path` (recursively): name and value.
async fn parameters_by_path(
    ssm: &aws_sdk_ssm::Client,
    path: &str,
) -> Result<Vec<(String, String)>, AwsError> {
    let mut found = Vec::new();
    let mut pages = ssm
        .get_parameters_by_path()
        .path(path.trim_end_matches('/'))
        .recursive(true)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::call("ssm:GetParametersByPath", e))?;
        for p in page.parameters() {
            if let (Some(name), Some(value)) = (p.name(), p.value()) {
                found.push((name.to_string(), value.to_string()));
            }
        }
    }
    Ok(found)
}

/// Decides, newest first, which images stay and why. Images are ordered by creation
/// date, then by name (bakes name images with a timestamp, and EC2 dates may tie within
/// a second), then by id.
pub fn decide(
    region: &str,
    mut images: Vec<ImageInfo>,
    refs: &References,
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
            if image.state != "available" {
                reasons.push(Reason::State {
                    state: image.state.clone(),
                });
            }
            reasons.extend(refs.of(&image.id).iter().cloned());
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
    use super::*;

    fn image(id: &str, name: &str, created: &str) -> ImageInfo {
        ImageInfo {
            id: id.to_string(),
            name: name.to_string(),
            state: "available".to_string(),
            state_reason: None,
            root_device_name: None,
            snapshot_ids: vec![format!("snap-{id}")],
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
        let mut refs = References::default();
        refs.add(
            "ami-1",
            Reason::Channel {
                env: "prod".into(),
                parameter: "/amibake/web/prod".into(),
            },
        );
        let v = decide("r", images, &refs, &options(2, Duration::ZERO), now());
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
            &References::default(),
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
        pending.state = "pending".into();
        let images = vec![
            image("ami-n", "n", "2026-11-23T00:00:00.000Z"),
            pending,
            image("ami-x", "x", ""),
        ];
        let v = decide(
            "r",
            images,
            &References::default(),
            &options(1, Duration::ZERO),
            now(),
        );
        assert!(v.iter().all(|v| !v.removed()), "{v:?}");
        assert!(v.iter().any(|v| v.reasons == [Reason::UnknownAge]));
        assert!(v.iter().any(|v| v.reasons
            == [Reason::State {
                state: "pending".into()
            }]));
    }

    #[test]
    fn reasons_read_like_the_help_says() {
        assert_eq!(
            Reason::Asg {
                group: "web-asg".into(),
                launch_template: "lt-0abc".into(),
                version: 3
            }
            .text(),
            "ASG web-asg via lt-0abc v3"
        );
        assert_eq!(
            Reason::Instance {
                id: "i-1".into(),
                state: "running".into()
            }
            .text(),
            "running instance i-1"
        );
    }
}
