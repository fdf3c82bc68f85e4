//! `amibake promote --manifest FILE --to ENV`: the image of a manifest into a promotion channel.

use std::path::PathBuf;

use clap::Args;

use crate::error::Outcome;
use crate::promote::{PromoteError, PromoteEvent, PromoteRequest};
use crate::recipe::VarInputs;
use crate::recipe::types::{AccountId, Region};

use super::{Context, fail, interrupted, parse_account, parse_region};

/// Flags of `promote`.
#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// A bake's manifest: the recipe, its file and the AMI in each region.
    #[arg(long, value_name = "FILE")]
    pub manifest: PathBuf,
    /// The environment to promote to (one of the recipe's `promotion` list).
    #[arg(long = "to", value_name = "ENV")]
    pub to: String,
    /// First copy the image to this region and promote it there too (repeatable).
    #[arg(long = "copy-to", value_name = "REGION", value_parser = parse_region)]
    pub copy_to: Vec<Region>,
    /// Share every region's image with this account (repeatable).
    #[arg(long = "share-with", value_name = "ACCOUNT", value_parser = parse_account)]
    pub share_with: Vec<AccountId>,
    /// Promote even when the environment before ENV does not hold this image.
    #[arg(long)]
    pub force: bool,
    /// Promote an image the guard refuses (not owned by this account, not tagged as a
    /// complete bake of this recipe): a loud warning, and the channel is tagged
    /// amibake:foreign-image=true.
    #[arg(long)]
    pub allow_foreign_image: bool,
    /// The recipe file with the promotion list (default: the manifest's recipe_file).
    #[arg(long, value_name = "FILE")]
    pub recipe_file: Option<PathBuf>,
    /// Print what the promotion would do, per region (channel old → new, copies, shares,
    /// the calls of each step) and the order check's verdict; read only, change nothing.
    /// Exits 0 when the plan is made, even if the promotion would refuse.
    #[arg(long, visible_alias = "dry-run")]
    pub plan: bool,
}

/// The region promote's clients default to when neither `--region` nor the SDK's chain
/// names one: the manifest's. Every call names its region anyway (the manifest's); the
/// default only has to exist.
pub(super) fn home_region(args: &PromoteArgs) -> Option<String> {
    std::fs::read_to_string(&args.manifest)
        .ok()
        .and_then(|t| serde_json::from_str::<crate::manifest::Manifest>(&t).ok())
        .map(|m| m.region)
        .filter(|r| !r.is_empty())
}

pub(super) async fn promote(cx: Context<'_>, inputs: &VarInputs, args: &PromoteArgs) -> Outcome {
    let reporter = cx.reporter();
    let mut req = PromoteRequest::new(&args.manifest, &args.to);
    req.copy_to = args.copy_to.iter().map(|r| r.to_string()).collect();
    req.share_with = args.share_with.iter().map(|a| a.to_string()).collect();
    req.force = args.force;
    req.allow_foreign_image = args.allow_foreign_image;
    req.recipe_file = args.recipe_file.clone();
    req.inputs = inputs.clone();
    req.poll_scale = cx.poll_scale;
    if args.plan {
        return plan(cx, &req).await;
    }
    let result = tokio::select! {
        r = crate::promote::promote(&cx.aws, &req, &reporter) => r,
        () = interrupted() => Err(PromoteError::Interrupted),
    };
    reporter.finish();
    match result {
        Ok(outcome) => {
            reporter.emit(PromoteEvent::Done(outcome));
            Ok(())
        }
        Err(e) => {
            if matches!(e, PromoteError::Interrupted) {
                reporter.say(
                    "interrupted: copies already started go on in EC2; rerun the same promote to finish (it reuses them)",
                );
            }
            Err(fail(&reporter, &e))
        }
    }
}

/// `--plan`: the plan the real promote would walk, as one event; done once it is made.
async fn plan(cx: Context<'_>, req: &PromoteRequest) -> Outcome {
    let reporter = cx.reporter();
    let result = tokio::select! {
        r = crate::promote::plan(&cx.aws, req, &reporter) => r,
        () = interrupted() => Err(PromoteError::Interrupted),
    };
    reporter.finish();
    match result {
        Ok(plan) => {
            reporter.emit(PromoteEvent::Plan(plan));
            Ok(())
        }
        Err(e) => Err(fail(&reporter, &e)),
    }
}
