//! `amibake promote --manifest FILE --to ENV`: the image of a manifest into a promotion channel.

use std::path::PathBuf;

use clap::Args;

use crate::aws::Aws;
use crate::recipe::VarInputs;
use crate::recipe::types::{AccountId, Region};
use crate::report::{Mode, Reporter};

use super::{
    EXIT_USAGE, GlobalArgs, aws_options, interrupted, parse_account, parse_region, poll_scale,
};

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
    /// The recipe file with the promotion list (default: the manifest's recipe_file).
    #[arg(long, value_name = "FILE")]
    pub recipe_file: Option<PathBuf>,
}

pub(super) async fn promote(global: &GlobalArgs, inputs: &VarInputs, args: &PromoteArgs) -> u8 {
    // Every call names its region (the manifest's); the default region only has to exist.
    let mut options = aws_options(global);
    if options.region.is_none() {
        options.region = std::fs::read_to_string(&args.manifest)
            .ok()
            .and_then(|t| serde_json::from_str::<crate::manifest::Manifest>(&t).ok())
            .map(|m| m.region)
            .filter(|r| !r.is_empty());
    }
    let aws = match Aws::load(&options).await {
        Ok(aws) => aws,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let reporter = Reporter::new(
        Mode::detect(global.json, global.no_progress),
        crate::secret::Masker::default(),
    );
    let mut req = crate::promote::PromoteRequest::new(&args.manifest, &args.to);
    req.copy_to = args.copy_to.iter().map(|r| r.to_string()).collect();
    req.share_with = args.share_with.iter().map(|a| a.to_string()).collect();
    req.force = args.force;
    req.recipe_file = args.recipe_file.clone();
    req.inputs = inputs.clone();
    req.poll_scale = poll_scale();
    let result = tokio::select! {
        r = crate::promote::promote(&aws, &req, &reporter) => r,
        () = interrupted() => Err(crate::promote::PromoteError::Interrupted),
    };
    reporter.finish();
    match result {
        Ok(outcome) => {
            reporter.event(
                "done",
                serde_json::to_value(&outcome).unwrap_or_default(),
                &outcome.summary(),
            );
            0
        }
        Err(e) => {
            let mut fields =
                serde_json::json!({ "error": e.to_string(), "exit_code": e.exit_code() });
            if let crate::promote::PromoteError::Refused {
                previous, holds, ..
            } = &e
            {
                fields["refused"] = serde_json::json!(true);
                fields["previous"] = serde_json::json!(previous);
                fields["holds"] = serde_json::json!(holds);
            }
            reporter.event("error", fields, &format!("error: {e}"));
            if matches!(e, crate::promote::PromoteError::Interrupted) {
                reporter.say(
                    "interrupted: copies already started go on in EC2; rerun the same promote to finish (it reuses them)",
                );
            }
            e.exit_code()
        }
    }
}
