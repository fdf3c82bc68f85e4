//! `amibake status`: the fleet report of a recipe's images (or every amibake image).

use clap::Args;

use crate::error::Outcome;
use crate::recipe::types::{RecipeName, Region};
use crate::report::Mode;
use crate::status::StatusOptions;

use super::{Context, parse_age, parse_recipe_name, parse_region};

/// Flags of `status`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["recipe", "all"])))]
pub struct StatusArgs {
    /// The recipe whose images to report (its `name`).
    #[arg(long, value_name = "NAME", value_parser = parse_recipe_name)]
    pub recipe: Option<RecipeName>,
    /// Every image amibake made (tagged amibake:created-by=amibake), by recipe.
    #[arg(long)]
    pub all: bool,
    /// Also report this region (repeatable; the home region, --region, always is).
    #[arg(long = "also-region", value_name = "REGION", value_parser = parse_region)]
    pub also_regions: Vec<Region>,
    /// Exit 1 when an image in use is older than this (e.g. `30d`), naming each; images
    /// nothing uses never fail it.
    #[arg(long, value_name = "DURATION", value_parser = parse_age)]
    pub max_age: Option<std::time::Duration>,
    /// Print the calls the report makes in each region; make none.
    #[arg(long)]
    pub plan: bool,
    /// Make a fresh usage report of each image first (CreateImageUsageReport: the one
    /// write status ever makes), so the report names the other accounts using a shared
    /// image; without it, the newest available report is read.
    #[arg(long)]
    pub usage_report: bool,
    /// With --usage-report: how long to wait for each report to be available.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_age, requires = "usage_report")]
    pub usage_report_wait: std::time::Duration,
}

pub(super) async fn status(cx: Context<'_>, args: &StatusArgs) -> Outcome {
    let reporter = cx.reporter();
    let mut regions = vec![cx.aws.region().to_string()];
    for r in &args.also_regions {
        if !regions.contains(&r.to_string()) {
            regions.push(r.to_string());
        }
    }
    let options = StatusOptions {
        recipe: args.recipe.as_ref().map(|r| r.as_str().to_string()),
        regions,
        max_age: args.max_age,
        usage_report: args.usage_report,
        usage_report_wait: args.usage_report_wait,
        poll_scale: cx.poll_scale,
    };
    let json = cx.mode == Mode::Json;
    if args.plan {
        let plan = crate::status::plan(&options);
        if json {
            reporter.emit(plan);
        } else {
            print!("{plan}");
        }
        return Ok(());
    }
    let hint = "interrupted: status only reads (a usage report already asked for is kept by EC2)";
    let work = async {
        let report = crate::status::status(&cx.aws, &options, &reporter).await?;
        reporter.finish();
        if json {
            reporter.emit(report.event(&options));
        } else {
            print!("{}", report.text());
        }
        report.judged(&options)
    };
    cx.run_until_interrupted(&reporter, hint, work).await
}
