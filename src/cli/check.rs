//! `amibake plan --check`: the plan's preflight alone, against AWS — is the AMI name free
//! in every region, are the copy regions enabled, the keys usable, the share targets
//! allowed — without creating anything.

use std::path::Path;

use crate::plan::{Action, Overrides, Plan};
use crate::recipe::{self, MissingSecrets, VarInputs};
use crate::report::Reporter;
use crate::run;

use super::{Context, EXIT_USAGE, report_recipe_error};

/// Loads the recipe as `plan` does (in the region AWS resolves), runs its preflight and
/// returns the exit code: 0 every check passed (or only warnings), 2 a check failed.
pub(super) async fn plan_check(
    cx: Context<'_>,
    inputs: &VarInputs,
    path: &Path,
    overrides: Overrides,
) -> u8 {
    let region = cx.aws.region().to_string();
    let builtins = run::builtins(&region);
    let loaded = match recipe::load(path, inputs, &builtins, MissingSecrets::Placeholder) {
        Ok(l) => l,
        Err(err) => {
            report_recipe_error(cx.global, &err);
            return EXIT_USAGE;
        }
    };
    let plan = Plan::new(&loaded, &region, &builtins.run_id, &overrides);
    let reporter = Reporter::new(cx.mode, loaded.masker.clone());
    let preflight = plan.actions.iter().find_map(|a| match a {
        Action::Preflight(p) => Some(p),
        _ => None,
    });
    // Every plan has one (the image's name is always checked); a plan without would be
    // a bug, said as one rather than passed as "nothing to check".
    let Some(preflight) = preflight else {
        eprintln!("error: internal: the plan has no preflight; please report this");
        return 1;
    };
    let checks = preflight.checks.len();
    let hint = "preflight interrupted (it creates nothing)";
    let work = crate::preflight::run(&cx.aws, preflight, &reporter);
    let code = cx.run_until_interrupted(&reporter, hint, work).await;
    if code == 0 {
        reporter.say(&format!(
            "preflight passed: {checks} check(s), asked from {region} (a warning above is a check amibake could not settle)"
        ));
    }
    reporter.finish();
    code
}
