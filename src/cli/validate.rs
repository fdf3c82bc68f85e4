//! `amibake validate` and `amibake plan`: the offline commands, on recipes alone.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;

use crate::error::{ExitKind, exit_status};
use crate::plan::{Overrides, Plan};
use crate::recipe::{self, MissingSecrets, RecipeError, RecipeErrors, VarInputs};
use crate::run;

use super::{GlobalArgs, offline_region};

/// `validate --json`'s line for a good recipe.
#[derive(Serialize)]
#[serde(tag = "event", rename = "validate")]
struct Valid<'a> {
    ok: bool,
    file: String,
    recipe: &'a str,
    os: crate::recipe::model::Os,
    steps: usize,
    checks: usize,
    boot_test_checks: usize,
}

/// `validate --json`'s line for a bad recipe (`plan --json`'s too): `error` is the
/// first error, then every error shown, how many and whether some are not.
#[derive(Serialize)]
#[serde(tag = "event", rename = "validate")]
struct Invalid<'a> {
    ok: bool,
    error: &'a RecipeError,
    #[serde(flatten)]
    errors: &'a RecipeErrors,
}

pub(super) fn validate(global: &GlobalArgs, inputs: &VarInputs, recipes: &[PathBuf]) -> ExitCode {
    let builtins = run::builtins(&offline_region(global));
    let mut failed = 0usize;
    let stdout = std::io::stdout();
    for path in recipes {
        let outcome = recipe::load(path, inputs, &builtins, MissingSecrets::Placeholder);
        let mut out = stdout.lock();
        match outcome {
            Ok(loaded) => {
                let r = &loaded.recipe;
                let checks = r.validate.len();
                let boot = r
                    .boot_test
                    .as_ref()
                    .filter(|b| b.enabled)
                    .map_or(0, |b| b.checks.len());
                if global.json {
                    let event = Valid {
                        ok: true,
                        file: path.display().to_string(),
                        recipe: r.name.as_str(),
                        os: r.builder.os,
                        steps: r.steps.len(),
                        checks,
                        boot_test_checks: boot,
                    };
                    let _ = writeln!(out, "{}", json_line(&event));
                } else {
                    let _ = writeln!(
                        out,
                        "ok: {}: {} ({}, {} steps, {checks} checks, boot test: {})",
                        path.display(),
                        r.name,
                        r.builder.os,
                        r.steps.len(),
                        if r.boot_test.as_ref().is_some_and(|b| b.enabled) {
                            format!("{boot} checks")
                        } else {
                            "off".into()
                        }
                    );
                }
            }
            Err(err) => {
                failed += 1;
                report_recipe_error(global, &err);
            }
        }
    }
    if failed > 0 {
        if !global.json && recipes.len() > 1 {
            eprintln!("{failed} of {} recipes are invalid", recipes.len());
        }
        exit_status(Err(ExitKind::Usage))
    } else {
        ExitCode::SUCCESS
    }
}

pub(super) fn plan(
    global: &GlobalArgs,
    inputs: &VarInputs,
    path: &Path,
    overrides: &Overrides,
) -> ExitCode {
    let region = offline_region(global);
    let builtins = run::builtins(&region);
    let loaded = match recipe::load(path, inputs, &builtins, MissingSecrets::Placeholder) {
        Ok(l) => l,
        Err(err) => {
            report_recipe_error(global, &err);
            return exit_status(Err(ExitKind::Usage));
        }
    };
    let plan = Plan::new(&loaded, &region, &builtins.run_id, overrides);
    let mut out = std::io::stdout().lock();
    if global.json {
        let mut doc = plan.to_json();
        loaded.masker.mask_json(&mut doc);
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        );
    } else {
        let _ = write!(out, "{}", loaded.masker.mask(&plan.to_text()));
    }
    ExitCode::SUCCESS
}

/// Prints a recipe's errors: each located on stderr, then how many there were; or one
/// JSON line on stdout (see [`Invalid`]).
fn report_recipe_error(global: &GlobalArgs, errs: &RecipeErrors) {
    if global.json {
        let event = Invalid {
            ok: false,
            error: errs.first(),
            errors: errs,
        };
        println!("{}", json_line(&event));
    } else {
        eprintln!("error: {errs}");
    }
}

/// One JSON line, its keys in the order every amibake JSON line has them (sorted).
fn json_line(event: &impl Serialize) -> serde_json::Value {
    serde_json::to_value(event).unwrap_or_default()
}
