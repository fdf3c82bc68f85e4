//! `amibake promote --manifest FILE --to ENV`: the image of a manifest into a promotion channel.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::error::{Outcome, exit_status};
use crate::manifest::Manifest;
use crate::promote::{PromoteError, PromoteEvent, PromoteRequest};
use crate::recipe::VarInputs;
use crate::recipe::types::{AccountId, Region};
use crate::report::{Mode, Reporter};
use crate::secret::Masker;

use super::{Context, GlobalArgs, fail, interrupted, online, parse_account, parse_region};

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
    /// Scan the image with Inspector first and judge the new scan, for an environment the
    /// recipe's `image.scan.require_for` gates (a missing or too old scan is refused
    /// without it). Waits up to `image.scan.timeout`.
    #[arg(long)]
    pub rescan: bool,
    /// The recipe file with the promotion list (default: the manifest's recipe_file).
    #[arg(long, value_name = "FILE")]
    pub recipe_file: Option<PathBuf>,
    /// Print what the promotion would do, per region (channel old → new, copies, shares,
    /// the calls of each step) and the order check's verdict; read only, change nothing.
    /// Exits 0 when the plan is made, even if the promotion would refuse.
    #[arg(long, visible_alias = "dry-run")]
    pub plan: bool,
}

/// Runs `promote`: the manifest is read first, so a manifest that cannot be read is the
/// error (exit 2), not the missing region it would have named; then the command runs
/// online with the manifest's region as the clients' default.
pub(super) fn run(global: &GlobalArgs, inputs: &VarInputs, args: &PromoteArgs) -> ExitCode {
    match home_region(args) {
        Ok(region) => online(global, region, |cx| promote(cx, inputs, args)),
        Err(e) => {
            let mode = Mode::detect(global.json, global.no_progress);
            exit_status(Err(fail(&Reporter::new(mode, Masker::default()), &*e)))
        }
    }
}

/// The region promote's clients default to when neither `--region` nor the SDK's chain
/// names one: the manifest's. Every call names its region anyway (the manifest's); the
/// default only has to exist.
fn home_region(args: &PromoteArgs) -> Result<Option<String>, Box<PromoteError>> {
    let manifest = std::fs::read_to_string(&args.manifest)
        .and_then(|t| serde_json::from_str::<Manifest>(&t).map_err(std::io::Error::other))
        .map_err(|e| Box::new(PromoteError::unreadable_manifest(&args.manifest, e)))?;
    Ok(Some(manifest.region).filter(|r| !r.is_empty()))
}

async fn promote(cx: Context<'_>, inputs: &VarInputs, args: &PromoteArgs) -> Outcome {
    let reporter = cx.reporter();
    let mut req = PromoteRequest::new(&args.manifest, &args.to);
    req.copy_to = args.copy_to.iter().map(|r| r.to_string()).collect();
    req.share_with = args.share_with.iter().map(|a| a.to_string()).collect();
    req.force = args.force;
    req.allow_foreign_image = args.allow_foreign_image;
    req.recipe_file = args.recipe_file.clone();
    req.rescan = args.rescan;
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
            reporter.emit(PromoteEvent::Plan(Box::new(plan)));
            Ok(())
        }
        Err(e) => Err(fail(&reporter, &e)),
    }
}
