//! `amibake prune`: retiring a recipe's old images that nothing uses.

use clap::Args;

use crate::recipe::types::{RecipeName, Region};

use super::{Context, parse_age, parse_recipe_name, parse_region};
use crate::error::Outcome;

/// Flags of `prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// The recipe whose images to prune (its `name`).
    #[arg(long, value_name = "NAME", value_parser = parse_recipe_name)]
    pub recipe: RecipeName,
    /// Keep the newest N images of the recipe in each region (at least 1).
    #[arg(long, value_name = "N", value_parser = parse_keep)]
    pub keep: usize,
    /// Also keep every image younger than this (e.g. `30d`); default: age does not matter.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_age)]
    pub older_than: std::time::Duration,
    /// Print what would be removed and why the rest stays; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also prune in this region (repeatable; the home region is always pruned).
    #[arg(long = "also-region", value_name = "REGION", value_parser = parse_region)]
    pub also_regions: Vec<Region>,
    /// Prune in every region enabled for the account, wherever the recipe's images are.
    #[arg(long, conflicts_with = "also_regions")]
    pub all_regions: bool,
}

pub(super) fn parse_keep(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("--keep must be at least 1: prune always keeps the newest images of a recipe; to remove every image, deregister them by hand (aws ec2 deregister-image)".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{s}` is not a whole number")),
    }
}

pub(super) async fn prune(cx: Context<'_>, args: &PruneArgs) -> Outcome {
    let reporter = cx.reporter();
    let options = crate::prune::PruneOptions {
        recipe: args.recipe.as_str().to_string(),
        keep: args.keep,
        older_than: args.older_than,
        dry_run: args.dry_run,
        also_regions: args.also_regions.iter().map(|r| r.to_string()).collect(),
        all_regions: args.all_regions,
    };
    let hint = "interrupted: run prune again to finish";
    let work = crate::prune::prune(&cx.aws, &options, &reporter);
    cx.run_until_interrupted(&reporter, hint, work).await
}
