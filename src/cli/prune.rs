//! `amibake prune`: retiring a recipe's old images that nothing uses.

use clap::Args;

use crate::recipe::types::{RecipeName, Region};

use super::{Context, interrupted, parse_age, parse_recipe_name, parse_region};

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

pub(super) async fn prune(cx: Context<'_>, args: &PruneArgs) -> u8 {
    let aws = &cx.aws;
    let reporter = cx.reporter();
    let mut regions = vec![aws.region().to_string()];
    if args.all_regions {
        let found = match aws.ec2(aws.region()) {
            Ok(ec2) => crate::aws::poll::retry(|| crate::aws::ec2::enabled_regions(&ec2)).await,
            Err(e) => Err(e),
        };
        match found {
            Ok(all) => regions.extend(all.into_iter().filter(|r| r != aws.region())),
            Err(e) => {
                eprintln!("error: {}", e.chain());
                return 1;
            }
        }
    }
    for r in &args.also_regions {
        if !regions.iter().any(|x| x == r.as_str()) {
            regions.push(r.as_str().to_string());
        }
    }
    let options = crate::prune::PruneOptions {
        recipe: args.recipe.as_str().to_string(),
        keep: args.keep,
        older_than: args.older_than,
        dry_run: args.dry_run,
    };
    let result = tokio::select! {
        r = crate::prune::prune(aws, &regions, &options, &reporter) => r,
        () = interrupted() => {
            reporter.say("interrupted: run prune again to finish");
            return 130;
        }
    };
    match result {
        Ok(verdicts) => {
            let removed = verdicts.iter().filter(|v| v.removed()).count();
            let kept = verdicts.len() - removed;
            let text = if removed == 0 {
                format!(
                    "nothing to prune for {} in {} ({kept} image(s) kept)",
                    options.recipe,
                    regions.join(", ")
                )
            } else {
                format!(
                    "{} {removed} image(s) of {} in {}; kept {kept}",
                    if options.dry_run {
                        "would remove"
                    } else {
                        "removed"
                    },
                    options.recipe,
                    regions.join(", ")
                )
            };
            reporter.event(
                "done",
                serde_json::json!({ "recipe": options.recipe, "regions": regions, "kept": kept, "removed": removed, "dry_run": options.dry_run }),
                &text,
            );
            0
        }
        Err(e) => {
            reporter.event(
                "error",
                serde_json::json!({ "error": e.chain() }),
                &format!("error: {}", e.chain()),
            );
            1
        }
    }
}
