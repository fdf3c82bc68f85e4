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
//! outside the channels, an Image Builder recipe). Every image is reported with the
//! reasons it stays, or with the snapshots that go with it.
//!
//! The references are looked up in each region right before its images are removed, and
//! a failed lookup stops the prune there: an image is never removed on a guess.
//!
//! Here: the options, the reasons, and [`prune`] region by region; `references` (what
//! uses an image), `decide` (the verdicts) and `event`.

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
mod references;

pub use decide::decide;
pub use event::PruneEvent;
pub use references::References;

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
    /// A stack's `amibake:previous-image-id`: what `rollback --stack` goes back to.
    RollbackTarget { stack: String },
    /// A stack's `amibake:image-id`: the image amibake last rolled it onto.
    StackImage { stack: String },
    /// Another resource of the account and region that EC2 (DescribeImageReferences)
    /// says refers to it and no check above found: a launch template no group uses (in
    /// any of its latest versions), an SSM parameter outside the channels, an Image
    /// Builder recipe. Deregistering would break whoever launches from it next.
    Referenced {
        /// As EC2 names it: `ec2:LaunchTemplate`, `ssm:Parameter`, `ec2:Instance`, …
        resource_type: String,
        /// `lt-0abc`, `/golden/web`, `i-0abc`, …
        name: String,
        arn: String,
    },
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
            Reason::RollbackTarget { stack } => format!("rollback target of stack {stack}"),
            Reason::StackImage { stack } => format!("image of stack {stack}"),
            Reason::Referenced {
                resource_type,
                name,
                ..
            } => match resource_type.as_str() {
                "ec2:LaunchTemplate" => format!("launch template {name}"),
                "ssm:Parameter" => format!("SSM parameter {name}"),
                "ec2:Instance" => format!("instance {name}"),
                _ => format!("{resource_type} {name}"),
            },
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
        let refs = references::references(aws, region, &options.recipe, &images)
            .await
            .map_err(PruneError::aws("references"))?;
        let verdicts = decide(region, images, &refs, options, SystemTime::now());
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
