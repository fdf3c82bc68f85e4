//! `amibake sweep`: removing what interrupted runs left, by tags and journals.

use clap::Args;

use crate::journal;

use super::{Context, parse_age};

/// Flags of `sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Only runs at least this old (by the start time in their run id); `0s` for all.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_age)]
    pub older_than: std::time::Duration,
    /// List what would be removed, remove nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub(super) async fn sweep(cx: Context<'_>, args: &SweepArgs) -> u8 {
    let reporter = cx.reporter();
    let options = crate::sweep::SweepOptions {
        older_than: args.older_than,
        dry_run: args.dry_run,
        poll_scale: cx.poll_scale,
    };
    let (region, journals) = (cx.aws.region(), journal::state_dir());
    let hint = "interrupted: run sweep again to finish";
    let work = crate::sweep::sweep(&cx.aws, region, &journals, &options, &reporter);
    cx.run_until_interrupted(&reporter, hint, work).await
}
