//! `amibake plan --check`: the plan's preflight alone, against AWS — is the AMI name free
//! in every region, are the copy regions enabled, the keys usable, the share targets
//! allowed — without creating anything.

use std::path::Path;

use crate::error::{ExitKind, Outcome, Stop};
use crate::plan::{Action, Overrides, Plan};
use crate::recipe::{self, MissingSecrets, VarInputs};
use crate::report::Reporter;
use crate::run;

use super::{Context, fail};

/// Loads the recipe as `plan` does (in the region AWS resolves) and runs its preflight:
/// done when every check passed (or only warnings), bad input when a check failed.
pub(super) async fn plan_check(
    cx: Context<'_>,
    inputs: &VarInputs,
    path: &Path,
    overrides: Overrides,
) -> Outcome {
    let region = cx.aws.region().to_string();
    let builtins = run::builtins(&region);
    let loaded = recipe::load(path, inputs, &builtins, MissingSecrets::Placeholder)
        .map_err(|err| fail(&cx.reporter(), &err))?;
    let plan = Plan::new(&loaded, &region, &builtins.run_id, &overrides);
    let reporter = Reporter::new(cx.mode, loaded.masker.clone());
    let preflight = plan.actions.iter().find_map(|a| match a {
        Action::Preflight(p) => Some(p),
        _ => None,
    });
    // Every plan has one (the image's name is always checked); a plan without would be
    // a bug, said as one rather than passed as "nothing to check".
    let Some(preflight) = preflight else {
        let bug = "internal: the plan has no preflight; please report this";
        return Err(fail(&reporter, &Stop::new(ExitKind::Failed, bug)));
    };
    let checks = preflight.checks.len();
    let hint = "preflight interrupted (it creates nothing)";
    let work = crate::preflight::run(&cx.aws, preflight, &reporter);
    cx.run_until_interrupted(&reporter, hint, work).await?;
    reporter.say(&format!(
        "preflight passed: {checks} check(s), asked from {region} (a warning above is a check amibake could not settle)"
    ));
    reporter.finish();
    Ok(())
}
