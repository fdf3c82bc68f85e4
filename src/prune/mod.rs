//! `amibake prune`: deregisters a recipe's older AMIs and deletes their snapshots.
//!
//! Only images a bake finished (`amibake:recipe=NAME`, `amibake:complete=true`) are
//! considered; incomplete ones are `sweep`'s business. In each region the newest `keep`
//! (by creation date) stay, and so does every image younger than `--older-than` or still
//! in use: the value of a channel parameter `/amibake/NAME/*`, the image of a launch
//! template version (or launch configuration) that an Auto Scaling group launches, or
//! the image of an instance that is not terminated, or a stack's `amibake:image-id` or
//! `amibake:previous-image-id` (what `rollback` goes back to), or anything else EC2's
//! DescribeImageReferences names (a launch template no group uses, an SSM parameter
//! outside the channels, an Image Builder recipe), or another account, as a shared image's
//! newest available usage report says. Every image is reported with the reasons it
//! stays, or with the snapshots that go with it.
//!
//! The references are looked up in each region right before its images are removed, and
//! a failed lookup stops the prune there: an image is never removed on a guess.
//!
//! Here: the options, the reasons, and [`prune`] region by region; `decide` (the
//! verdicts) and `event`. What uses an image is [`crate::fleet`]'s survey, which
//! `status` and `revoke` read too.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::aws::Aws;
use crate::aws::ec2::{self, ImageInfo};
use crate::aws::poll::{self, Schedule};
use crate::error::FromAws;
use crate::image::{CallFailed, ImageState, Teardown};
use crate::report::Reporter;
use crate::tags;

mod decide;
mod event;

pub use crate::fleet::{Use, Uses};
pub use decide::decide;
pub use event::PruneEvent;

/// What prune fails with: an AWS call (exit 1).
pub type PruneError = CallFailed;

/// What to prune.
#[derive(Debug, Clone)]
pub struct PruneOptions {
    pub recipe: String,
    /// The newest images kept per region (at least 1).
    pub keep: usize,
    /// Images younger than this stay whatever their rank.
    pub older_than: Duration,
    pub dry_run: bool,
    /// Regions pruned besides the home region.
    pub also_regions: Vec<String>,
    /// Prune in every region enabled for the account instead.
    pub all_regions: bool,
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
    State { state: ImageState },
    /// Something of the account and region uses it (a channel, a group, an instance,
    /// a stack, anything DescribeImageReferences names): see [`Use`]. Serialized as the
    /// use itself (`{"kind": "channel", …}`).
    #[serde(untagged)]
    InUse(Use),
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
            Reason::InUse(used) => used.text(),
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

/// Prunes each region the options name in turn, then reports what it did (`done`);
/// returns every verdict (removed images have no reasons).
pub async fn prune(
    aws: &Aws,
    options: &PruneOptions,
    reporter: &Reporter,
) -> Result<Vec<Verdict>, PruneError> {
    let regions = regions(aws, options).await?;
    let pruner = Pruner {
        aws,
        options,
        reporter,
    };
    let mut all = Vec::new();
    for region in &regions {
        all.extend(pruner.region(region).await?);
    }
    reporter.emit(PruneEvent::done(options, regions, &all));
    Ok(all)
}

/// The home region, then every `--also-region`, or with `--all-regions` every region
/// enabled for the account.
pub async fn regions(aws: &Aws, options: &PruneOptions) -> Result<Vec<String>, PruneError> {
    let home = aws.region().to_string();
    let mut regions = vec![home.clone()];
    if options.all_regions {
        let ec2 = aws.ec2(&home).map_err(PruneError::aws("regions"))?;
        let all = poll::retry(|| ec2::enabled_regions(&ec2))
            .await
            .map_err(PruneError::aws("regions"))?;
        regions.extend(all.into_iter().filter(|r| *r != home));
    }
    for r in &options.also_regions {
        if !regions.contains(r) {
            regions.push(r.clone());
        }
    }
    Ok(regions)
}

/// A prune under way: the clients, what to prune, where it reports.
struct Pruner<'a> {
    aws: &'a Aws,
    options: &'a PruneOptions,
    reporter: &'a Reporter,
}

impl Pruner<'_> {
    /// Prunes one region: the recipe's images there, what uses them, the verdicts (each
    /// reported) and, unless a dry run, the removals.
    async fn region(&self, region: &str) -> Result<Vec<Verdict>, PruneError> {
        let (aws, options, reporter) = (self.aws, self.options, self.reporter);
        let ec2 = aws.ec2(region).map_err(PruneError::aws("images"))?;
        let filter = [
            (tags::RECIPE, options.recipe.as_str()),
            (tags::COMPLETE, "true"),
        ];
        let images = poll::retry(|| ec2::images_tagged(&ec2, &filter))
            .await
            .map_err(PruneError::aws("images"))?;
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let uses = crate::fleet::survey(aws, region, &options.recipe, &images)
            .await
            .map_err(PruneError::aws("references"))?;
        let verdicts = decide(region, images, &uses, options, SystemTime::now());
        for v in &verdicts {
            reporter.emit(PruneEvent::verdict(v, options.dry_run));
        }
        if !options.dry_run {
            let teardown = Teardown::new(&ec2, Schedule::INSTANCE);
            for v in verdicts.iter().filter(|v| v.removed()) {
                teardown
                    .deregister_image(&v.image)
                    .await
                    .map_err(PruneError::aws("remove"))?;
            }
        }
        Ok(verdicts)
    }
}
