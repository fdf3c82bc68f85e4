//! `amibake sweep`: removing what interrupted runs left, by tags, leases and journals.

use clap::Args;

use crate::error::Outcome;
use crate::journal;
use crate::recipe::types::Region;

use super::{Context, parse_age, parse_region};

/// Flags of `sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Only runs at least this old (by the start time in their run id); `0s` for all. A
    /// run whose lease a live bake keeps renewing stays, whatever its age.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_age)]
    pub older_than: std::time::Duration,
    /// List what would be removed, remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also sweep this region (repeatable); the home region and every region a run
    /// journaled on this machine used are always swept.
    #[arg(long = "also-region", value_name = "REGION", value_parser = parse_region)]
    pub also_regions: Vec<Region>,
    /// Sweep every region enabled for the account (a fresh CI runner has no journals to
    /// name the regions its bakes copied to).
    #[arg(long)]
    pub all_regions: bool,
}

pub(super) async fn sweep(cx: Context<'_>, args: &SweepArgs) -> Outcome {
    let reporter = cx.reporter();
    let options = crate::sweep::SweepOptions {
        older_than: args.older_than,
        dry_run: args.dry_run,
        poll_scale: cx.poll_scale,
        also_regions: args.also_regions.iter().map(|r| r.to_string()).collect(),
        all_regions: args.all_regions,
    };
    let (region, journals) = (cx.aws.region(), journal::state_dir());
    let hint = "interrupted: run sweep again to finish";
    let work = crate::sweep::sweep(&cx.aws, region, &journals, &options, &reporter);
    cx.run_until_interrupted(&reporter, hint, work).await
}
