//! `amibake revoke` and `amibake restore`: a bad image pulled everywhere, and put back.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::error::Outcome;
use crate::manifest::Manifest;
use crate::recipe::types::Region;
use crate::revoke::{RevokeRequest, Selection};

use super::{Context, GlobalArgs, online, parse_region};

/// Which image: an AMI id in the home region, or a bake's manifest.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct Which {
    /// The image, in the home region (--region); its copies are looked for in each
    /// --also-region.
    #[arg(long, value_name = "ID", value_parser = super::parse_ami_id)]
    pub ami: Option<String>,
    /// A bake's manifest: its image in every region it names.
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
}

/// Flags of `revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    #[command(flatten)]
    pub which: Which,
    /// Also disable the image's copies in this region (repeatable): images tagged
    /// amibake:copy-of=ID, or with the image's run id and recipe.
    #[arg(long = "also-region", value_name = "REGION", value_parser = parse_region)]
    pub also_regions: Vec<Region>,
    /// Why: recorded on every channel moved (one line of text).
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// Do it; without --yes, print what would be done and change nothing.
    #[arg(long)]
    pub yes: bool,
    /// Also roll each stack on the image back to its previous image (`rollback`).
    #[arg(long)]
    pub roll_back_stacks: bool,
}

/// Flags of `restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub which: Which,
    /// Also enable the image's copies in this region (repeatable), as for revoke.
    #[arg(long = "also-region", value_name = "REGION", value_parser = parse_region)]
    pub also_regions: Vec<Region>,
    /// Do it; without --yes, print what would be done and change nothing.
    #[arg(long)]
    pub yes: bool,
}

impl Which {
    fn selection(&self, also: &[Region]) -> Selection {
        Selection {
            ami: self.ami.clone(),
            manifest: self.manifest.clone(),
            also_regions: also.iter().map(|r| r.to_string()).collect(),
        }
    }

    /// The region the clients default to when neither --region nor the SDK's chain names
    /// one: the manifest's (an unreadable manifest is reported by the command itself).
    fn fallback_region(&self) -> Option<String> {
        let path = self.manifest.as_ref()?;
        let text = std::fs::read_to_string(path).ok()?;
        let manifest: Manifest = serde_json::from_str(&text).ok()?;
        Some(manifest.region).filter(|r| !r.is_empty())
    }
}

pub(super) fn run_revoke(global: &GlobalArgs, args: &RevokeArgs) -> ExitCode {
    online(global, args.which.fallback_region(), |cx| revoke(cx, args))
}

pub(super) fn run_restore(global: &GlobalArgs, args: &RestoreArgs) -> ExitCode {
    online(global, args.which.fallback_region(), |cx| restore(cx, args))
}

async fn revoke(cx: Context<'_>, args: &RevokeArgs) -> Outcome {
    let reporter = cx.reporter();
    let selection = args.which.selection(&args.also_regions);
    let mut req = RevokeRequest::new(selection, &args.reason);
    req.yes = args.yes;
    req.roll_back_stacks = args.roll_back_stacks;
    req.poll_scale = cx.poll_scale;
    let hint = "interrupted: rerun the same revoke to finish (it skips what is done)";
    let work = crate::revoke::revoke(&cx.aws, &req, &reporter);
    cx.run_until_interrupted(&reporter, hint, work).await
}

async fn restore(cx: Context<'_>, args: &RestoreArgs) -> Outcome {
    let reporter = cx.reporter();
    let selection = args.which.selection(&args.also_regions);
    let mut req = RevokeRequest::new(selection, "");
    req.yes = args.yes;
    req.poll_scale = cx.poll_scale;
    let hint = "interrupted: rerun the same restore to finish (it skips what is done)";
    let work = crate::revoke::restore(&cx.aws, &req, &reporter);
    cx.run_until_interrupted(&reporter, hint, work).await
}
