//! `amibake outdated RECIPE`: is the newest image of a recipe behind? The same decision
//! `bake --if-changed` makes ([`crate::rebuild::Decision`]), and nothing baked: the newest
//! image's scan results answer when the recipe reads them (`rebuild.fix_severity`) and
//! they say fixes are pending; otherwise the probe — a small instance launched from that
//! image, terminated before the command ends, like a bake's — asks the package manager.
//! The exit code is the answer, for CI and for people.

use std::path::PathBuf;

use clap::Args;

use super::bake::prepare;
use super::{Context, Signals, fail};
use crate::bake::{Bake, BakeError, BakeOptions, WaitHistory};
use crate::error::{ExitKind, Failure, Outcome, Stop};
use crate::journal::{self, Journal};
use crate::manifest::Manifest;
use crate::plan::{Overrides, Plan};
use crate::recipe::VarInputs;
use crate::recipe::model::Updates;
use crate::report::Reporter;

/// `amibake outdated`'s arguments.
#[derive(Debug, Clone, Args)]
pub struct OutdatedArgs {
    /// The recipe file.
    #[arg(value_name = "RECIPE")]
    pub recipe: PathBuf,
    /// What counts: `security` (pending security updates), `any` (any pending update).
    /// Default: the recipe's `rebuild.updates`, or `security` when that is `inputs`.
    #[arg(long, value_enum, value_name = "WHAT")]
    pub rebuild_for: Option<Updates>,
}

pub(super) async fn outdated(cx: Context<'_>, inputs: &VarInputs, args: &OutdatedArgs) -> Outcome {
    let region = cx.aws.region().to_string();
    let top = cx.reporter();
    let mut overrides = Overrides {
        reuse: true,
        rebuild_for: args.rebuild_for,
        ..Overrides::default()
    };
    let (loaded, mut plan) = prepare(&top, inputs, &overrides, &region, &args.recipe).await?;
    if args.rebuild_for == Some(Updates::Inputs) {
        let why = "`outdated --rebuild-for inputs` would ask nothing of the image: use security or any (or `plan --if-changed`)";
        return Err(fail(&top, &Stop::new(ExitKind::Usage, why.to_string())));
    }
    if plan
        .rebuild
        .as_ref()
        .is_none_or(|r| r.updates == Updates::Inputs)
    {
        overrides.rebuild_for = Some(Updates::Security);
        plan = Plan::new(&loaded, &region, &plan.run_id, &overrides);
    }
    let plan = plan.outdated();
    let reporter = Reporter::new(cx.mode, loaded.masker.clone());
    let journal =
        match Journal::create(&journal::state_dir(), &plan.run_id, &plan.recipe, &region).await {
            Ok(j) => j,
            Err(e) => {
                let why = format!("cannot write the run journal: {e} (set AMIBAKE_STATE_DIR)");
                return Err(fail(&top, &Stop::with_source(ExitKind::Usage, why, e)));
            }
        };
    let waits = WaitHistory::open(journal::state_dir().join("timings.json"), &top);
    let options = BakeOptions {
        poll_scale: cx.poll_scale,
        verbose: cx.global.verbose > 0,
        history: waits.history.clone(),
    };
    let bake = Bake::new(
        cx.aws.clone(),
        plan,
        loaded.stable_text.clone(),
        &reporter,
        journal,
        options,
    );
    let mut signals = Signals::listen(|_, _| {});
    let result = tokio::select! {
        r = bake.outdated() => r,
        _ = signals.first() => Err(BakeError::Interrupted),
    };
    if let Err(e) = &result {
        fail(&reporter, e);
    }
    // The cleanup (the probe, the temporary security group) on every path.
    let closed = match &result {
        Ok(_) => Some(Manifest::default()),
        Err(_) => None,
    };
    let abandon = async {
        signals.repeated().await;
        reporter.say("cleanup abandoned: the same signal came again");
    };
    let closing = bake.close(closed, abandon).await;
    waits.save(&top).await;
    let decision = result.map_err(|e| e.kind())?;
    if let Err(e) = closing {
        return Err(fail(&reporter, &e));
    }
    match decision.reason.rebuilds() {
        true => Err(ExitKind::Outdated),
        false => Ok(()),
    }
}
