//! The report's shape, pure: from a region's images and what uses them, each image's
//! age, state, place among its recipe's builds and against each channel, and whether it
//! is in use and older than `--max-age`. No call here: the unit tests pin every number.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::aws::ec2::Listed;
use crate::fleet::{Use, Uses};
use crate::tags;

/// One image of the report, with every field `--json` gives.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageStatus {
    pub recipe: String,
    pub region: String,
    pub image_id: String,
    pub name: String,
    /// RFC 3339, as EC2 gives it.
    pub created: String,
    /// `None` when the creation date cannot be read.
    pub age_seconds: Option<u64>,
    /// `available`, `disabled`, `deprecated` (available, past its deprecation time),
    /// `pending`, …
    pub state: String,
    pub deprecation_time: Option<String>,
    /// How many complete builds of the recipe in the region are newer (0: the newest).
    pub builds_behind_newest: usize,
    /// The newest complete build of the recipe in the region.
    pub newest: String,
    /// Where the image stands against each channel of the recipe in the region.
    pub channels: Vec<ChannelPosition>,
    /// What the bake pinned: `amibake:source-ami`, `amibake:input-hash`, `amibake:run-id`.
    pub pin: Pin,
    /// The `amibake:scan` tag: the scan's summary (`critical=0 high=1 … highest=high at=…`).
    pub scan: Option<String>,
    /// The `amibake:agent` tag: the CodeDeploy agent pin the image (and so every instance
    /// of it) carries; `None` for a recipe without the agent, or an image baked before
    /// amibake tagged it.
    pub agent_pin: Option<String>,
    /// Every tag of the image (the recipe's own `image.tags` too: an agent version a
    /// recipe tags its images with shows here).
    pub tags: BTreeMap<String, String>,
    pub in_use: bool,
    pub uses: Vec<Use>,
    /// In use and older than `--max-age`.
    pub too_old: bool,
}

/// What the bake pinned, from the image's tags.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Pin {
    pub source_ami: Option<String>,
    pub input_hash: Option<String>,
    pub run_id: Option<String>,
}

/// An image against one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelPosition {
    pub env: String,
    pub parameter: String,
    /// The image the channel holds.
    pub channel_image: String,
    /// `channel` (the image is the channel's), `behind` or `ahead` by `builds`, or
    /// `unknown` (the channel holds an image that is not one of the recipe's builds here).
    pub relation: Relation,
    pub builds: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    Channel,
    Behind,
    Ahead,
    Unknown,
}

impl ChannelPosition {
    /// `prod`, `dev-2`, `staging+1`, `qa?`: the channel and the image's place against it.
    pub fn short(&self) -> String {
        match self.relation {
            Relation::Channel => format!("{}=", self.env),
            Relation::Behind => format!("{}-{}", self.env, self.builds),
            Relation::Ahead => format!("{}+{}", self.env, self.builds),
            Relation::Unknown => format!("{}?", self.env),
        }
    }
}

/// The report of one recipe's images in one region, newest first. `images` are the
/// recipe's complete images there; `uses` what the survey found (channels included).
pub fn shape(
    recipe: &str,
    region: &str,
    mut images: Vec<Listed>,
    uses: &Uses,
    max_age: Option<Duration>,
    now: SystemTime,
) -> Vec<ImageStatus> {
    // Oldest first, as prune orders them: creation date, then name, then id.
    images.sort_by(|a, b| {
        (&a.info.creation_date, &a.info.name, &a.info.id).cmp(&(
            &b.info.creation_date,
            &b.info.name,
            &b.info.id,
        ))
    });
    let rank: BTreeMap<&str, usize> = images
        .iter()
        .enumerate()
        .map(|(n, i)| (i.info.id.as_str(), n))
        .collect();
    let newest = images.last().map(|i| i.info.id.clone()).unwrap_or_default();
    let channels = channels_of(recipe, uses);
    let mut shaped: Vec<ImageStatus> = images
        .iter()
        .enumerate()
        .map(|(n, listed)| {
            let info = &listed.info;
            let age = age(&info.creation_date, now);
            let used: Vec<Use> = uses.of(&info.id).to_vec();
            let in_use = !used.is_empty();
            let tag = |k: &str| info.tags.get(k).cloned();
            ImageStatus {
                recipe: recipe.to_string(),
                region: region.to_string(),
                image_id: info.id.clone(),
                name: info.name.clone(),
                created: info.creation_date.clone(),
                age_seconds: age.map(|a| a.as_secs()),
                state: state(listed, now),
                deprecation_time: listed.deprecation_time.clone(),
                builds_behind_newest: images.len() - 1 - n,
                newest: newest.clone(),
                channels: channels
                    .iter()
                    .map(|(env, parameter, held)| position(env, parameter, held, n, &rank))
                    .collect(),
                pin: Pin {
                    source_ami: tag(tags::SOURCE_AMI),
                    input_hash: tag(tags::INPUT_HASH),
                    run_id: tag(tags::RUN_ID),
                },
                scan: tag(tags::SCAN),
                agent_pin: tag(tags::AGENT),
                tags: info.tags.clone(),
                in_use,
                too_old: in_use && max_age.is_some_and(|max| age.is_some_and(|a| a > max)),
                uses: used,
            }
        })
        .collect();
    shaped.reverse();
    shaped
}

/// The recipe's channels in the region, by environment: (env, parameter, image held).
fn channels_of(recipe: &str, uses: &Uses) -> Vec<(String, String, String)> {
    let prefix = crate::promote::channel_parameter(recipe, "");
    let prefix = prefix.as_str();
    let mut found: Vec<(String, String, String)> = uses
        .iter()
        .flat_map(|(image, used)| {
            used.iter().filter_map(move |u| match u {
                Use::Channel { env, parameter } if parameter.starts_with(prefix) => {
                    Some((env.clone(), parameter.clone(), image.to_string()))
                }
                _ => None,
            })
        })
        .collect();
    found.sort();
    found
}

/// The image at `rank` against the channel holding `held`.
fn position(
    env: &str,
    parameter: &str,
    held: &str,
    rank: usize,
    ranks: &BTreeMap<&str, usize>,
) -> ChannelPosition {
    let (relation, builds) = match ranks.get(held) {
        None => (Relation::Unknown, 0),
        Some(&c) if c == rank => (Relation::Channel, 0),
        Some(&c) if rank < c => (Relation::Behind, c - rank),
        Some(&c) => (Relation::Ahead, rank - c),
    };
    ChannelPosition {
        env: env.to_string(),
        parameter: parameter.to_string(),
        channel_image: held.to_string(),
        relation,
        builds,
    }
}

/// `deprecated` for an available image past its deprecation time, else EC2's state.
fn state(listed: &Listed, now: SystemTime) -> String {
    let past = listed
        .deprecation_time
        .as_deref()
        .and_then(parse)
        .is_some_and(|t| t <= now);
    if listed.info.state.is_available() && past {
        "deprecated".to_string()
    } else {
        listed.info.state.to_string()
    }
}

fn parse(rfc3339: &str) -> Option<SystemTime> {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(SystemTime::from)
}

/// An image's age from its creation date (`2026-11-23T07:05:28.000Z`).
pub fn age(creation_date: &str, now: SystemTime) -> Option<Duration> {
    Some(
        now.duration_since(parse(creation_date)?)
            .unwrap_or_default(),
    )
}

/// An age as the table shows it: whole days, else hours, else minutes, else seconds
/// (`47d`, `5h`, `12m`, `30s`); `?` when unknown.
pub fn short_age(seconds: Option<u64>) -> String {
    match seconds {
        None => "?".to_string(),
        Some(s) if s >= 86_400 => format!("{}d", s / 86_400),
        Some(s) if s >= 3_600 => format!("{}h", s / 3_600),
        Some(s) if s >= 60 => format!("{}m", s / 60),
        Some(s) => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::ec2::ImageInfo;
    use crate::image::ImageState;

    const NOW: &str = "2026-12-06T12:00:00Z";

    fn now() -> SystemTime {
        parse(NOW).unwrap()
    }

    fn image(id: &str, created: &str) -> Listed {
        Listed {
            info: ImageInfo {
                id: id.into(),
                name: format!("web-{id}"),
                state: ImageState::Available,
                state_reason: None,
                root_device_name: None,
                snapshot_ids: vec![],
                encrypted: false,
                creation_date: created.into(),
                tags: [
                    (tags::SOURCE_AMI.to_string(), "ami-src".to_string()),
                    (tags::SCAN.to_string(), "critical=0 highest=low".to_string()),
                    (tags::AGENT.to_string(), "2.1.0".to_string()),
                ]
                .into(),
            },
            deprecation_time: None,
        }
    }

    fn channel(uses: &mut Uses, env: &str, image: &str) {
        let used = Use::Channel {
            env: env.into(),
            parameter: format!("/amibake/web/{env}"),
        };
        uses.add(image, used);
    }

    fn three() -> Vec<Listed> {
        // Given out of order: the report orders them itself.
        vec![
            image("ami-b", "2026-11-26T12:00:00.000Z"),
            image("ami-a", "2026-10-07T12:00:00.000Z"),
            image("ami-c", "2026-12-06T11:00:00.000Z"),
        ]
    }

    #[test]
    fn newest_first_with_builds_behind_the_newest_and_ages() {
        let shaped = shape("web", "eu-west-3", three(), &Uses::default(), None, now());
        let got: Vec<(&str, usize, Option<u64>)> = shaped
            .iter()
            .map(|s| (s.image_id.as_str(), s.builds_behind_newest, s.age_seconds))
            .collect();
        assert_eq!(
            got,
            [
                ("ami-c", 0, Some(3_600)),
                ("ami-b", 1, Some(10 * 86_400)),
                ("ami-a", 2, Some(60 * 86_400)),
            ]
        );
        assert!(shaped.iter().all(|s| s.newest == "ami-c" && !s.in_use));
        assert_eq!(shaped[0].pin.source_ami.as_deref(), Some("ami-src"));
        assert_eq!(shaped[0].scan.as_deref(), Some("critical=0 highest=low"));
        assert_eq!(shaped[0].agent_pin.as_deref(), Some("2.1.0"));
    }

    #[test]
    fn each_image_against_each_channel() {
        let mut uses = Uses::default();
        channel(&mut uses, "prod", "ami-a");
        channel(&mut uses, "dev", "ami-b");
        channel(&mut uses, "qa", "ami-elsewhere");
        let shaped = shape("web", "eu-west-3", three(), &uses, None, now());
        let short = |id: &str| -> Vec<String> {
            let s = shaped.iter().find(|s| s.image_id == id).unwrap();
            s.channels.iter().map(ChannelPosition::short).collect()
        };
        assert_eq!(short("ami-a"), ["dev-1", "prod=", "qa?"]);
        assert_eq!(short("ami-b"), ["dev=", "prod+1", "qa?"]);
        assert_eq!(short("ami-c"), ["dev+1", "prod+2", "qa?"]);
        let a = shaped.iter().find(|s| s.image_id == "ami-a").unwrap();
        assert_eq!(a.channels[0].relation, Relation::Behind);
        assert_eq!(a.channels[0].builds, 1);
        assert_eq!(a.channels[0].channel_image, "ami-b");
        assert!(a.in_use, "a channel is a use");
    }

    #[test]
    fn only_images_in_use_are_too_old() {
        let mut uses = Uses::default();
        channel(&mut uses, "prod", "ami-b");
        let month = Some(Duration::from_secs(30 * 86_400));
        let shaped = shape("web", "eu-west-3", three(), &uses, month, now());
        let too_old: Vec<&str> = shaped
            .iter()
            .filter(|s| s.too_old)
            .map(|s| s.image_id.as_str())
            .collect();
        assert!(too_old.is_empty(), "ami-a is old but unused: {too_old:?}");
        let week = Some(Duration::from_secs(7 * 86_400));
        let shaped = shape("web", "eu-west-3", three(), &uses, week, now());
        let too_old: Vec<&str> = shaped
            .iter()
            .filter(|s| s.too_old)
            .map(|s| s.image_id.as_str())
            .collect();
        assert_eq!(too_old, ["ami-b"]);
    }

    #[test]
    fn deprecated_and_disabled_states() {
        let mut images = three();
        images[0].deprecation_time = Some("2026-12-01T00:00:00Z".into());
        images[2].deprecation_time = Some("2027-01-01T00:00:00Z".into());
        images[1].info.state = ImageState::from("disabled");
        let shaped = shape("web", "eu-west-3", images, &Uses::default(), None, now());
        let states: Vec<(&str, &str)> = shaped
            .iter()
            .map(|s| (s.image_id.as_str(), s.state.as_str()))
            .collect();
        assert_eq!(
            states,
            [
                ("ami-c", "available"),
                ("ami-b", "deprecated"),
                ("ami-a", "disabled")
            ]
        );
    }

    #[test]
    fn short_ages() {
        assert_eq!(short_age(Some(86_400 * 47 + 5)), "47d");
        assert_eq!(short_age(Some(3_600 * 5)), "5h");
        assert_eq!(short_age(Some(125)), "2m");
        assert_eq!(short_age(Some(3)), "3s");
        assert_eq!(short_age(None), "?");
    }
}
