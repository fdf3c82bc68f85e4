//! `amibake validate` and `amibake plan`: the offline commands, on recipes alone.
//!
//! A bad recipe is shown where it is found: every error on stderr, or with `--json` the
//! recipe's `validate` event (`ok: false`, every error). The run then ends as every
//! failing command does: with `--json` one `error` event (through [`fail`]) that counts
//! the errors without repeating them.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;

use crate::error::{ExitKind, Failure, exit_status};
use crate::plan::{Overrides, Plan};
use crate::recipe::model::RecipeWarning;
use crate::recipe::{self, MissingSecrets, RecipeError, RecipeErrors, VarInputs};
use crate::report::{Mode, Reporter};
use crate::run;
use crate::secret::Masker;

use super::{GlobalArgs, fail, offline_region};

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
    /// What the recipe should change, though it bakes (see [`show_warnings`]).
    warnings: &'a [RecipeWarning],
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

/// How `validate` or `plan` ends when recipes are bad, once their errors are shown: bad
/// input, saying how many recipes and errors (the errors themselves are not repeated).
#[derive(Debug, thiserror::Error)]
#[error("{}", self.summary())]
struct BadRecipes {
    /// The recipes given.
    recipes: usize,
    /// Those with errors.
    invalid: usize,
    /// The errors found in them, all told.
    count: usize,
    /// Whether the search for errors stopped early in one of them: there may be more.
    stopped: bool,
}

impl BadRecipes {
    fn new(recipes: usize) -> BadRecipes {
        BadRecipes {
            recipes,
            invalid: 0,
            count: 0,
            stopped: false,
        }
    }

    fn add(&mut self, errs: &RecipeErrors) {
        self.invalid += 1;
        self.count += errs.count();
        self.stopped |= !errs.complete();
    }

    /// "the recipe has 3 errors" for one recipe, "2 of 5 recipes are invalid" for several.
    fn summary(&self) -> String {
        if self.recipes > 1 {
            let verb = if self.invalid == 1 { "is" } else { "are" };
            return format!(
                "{} of {} recipes {verb} invalid",
                self.invalid, self.recipes
            );
        }
        let errors = if self.count == 1 { "error" } else { "errors" };
        let least = if self.stopped { "at least " } else { "" };
        format!("the recipe has {least}{} {errors}", self.count)
    }

    /// Ends the run: with `--json` the `error` event, after the `validate` events; in text
    /// the errors said it all (with several recipes, a line counting the bad ones).
    fn end(self, global: &GlobalArgs) -> ExitCode {
        if global.json {
            let reporter = Reporter::new(Mode::Json, Masker::default());
            return exit_status(Err(fail(&reporter, &self)));
        }
        if self.recipes > 1 {
            eprintln!("{self}");
        }
        exit_status(Err(self.kind()))
    }
}

/// Bad input; its `error` event counts the errors (`count`), which the `validate` events
/// before it list.
impl Failure for BadRecipes {
    fn kind(&self) -> ExitKind {
        ExitKind::Usage
    }

    fn detail(&self) -> serde_json::Map<String, serde_json::Value> {
        serde_json::Map::from_iter([("count".to_string(), self.count.into())])
    }
}

pub(super) fn validate(global: &GlobalArgs, inputs: &VarInputs, recipes: &[PathBuf]) -> ExitCode {
    let builtins = run::builtins(&offline_region(global));
    let mut bad = BadRecipes::new(recipes.len());
    let stdout = std::io::stdout();
    for path in recipes {
        let outcome = recipe::load(path, inputs, &builtins, MissingSecrets::Placeholder);
        let mut out = stdout.lock();
        match outcome {
            Ok(loaded) => {
                let r = &loaded.recipe;
                let warnings = r.warnings();
                let checks = r.validate.len();
                // The boot test the plan runs: the recipe's checks and the built-ins (an
                // agent recipe gets one even without `boot_test:`).
                let boot_test = crate::plan::boot_test_plan(r);
                let boot = boot_test.as_ref().map_or(0, |b| b.checks.len());
                if global.json {
                    let event = Valid {
                        ok: true,
                        file: path.display().to_string(),
                        recipe: r.name.as_str(),
                        os: r.builder.os,
                        steps: r.steps.len(),
                        checks,
                        boot_test_checks: boot,
                        warnings: &warnings,
                    };
                    let _ = writeln!(out, "{}", json_line(&event));
                } else {
                    show_warnings(path, &warnings);
                    let _ = writeln!(
                        out,
                        "ok: {}: {} ({}, {} steps, {checks} checks, boot test: {})",
                        path.display(),
                        r.name,
                        r.builder.os,
                        r.steps.len(),
                        match &boot_test {
                            None => "off".to_string(),
                            Some(b) => match b.checks.iter().filter(|c| c.is_built_in()).count() {
                                0 => format!("{boot} checks"),
                                built_in => format!("{boot} checks ({built_in} built-in)"),
                            },
                        }
                    );
                }
            }
            Err(err) => {
                bad.add(&err);
                report_recipe_error(global, &err);
            }
        }
    }
    if bad.invalid > 0 {
        bad.end(global)
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
            let mut bad = BadRecipes::new(1);
            bad.add(&err);
            return bad.end(global);
        }
    };
    let plan = Plan::new(&loaded, &region, &builtins.run_id, overrides);
    let warnings = loaded.recipe.warnings();
    let mut out = std::io::stdout().lock();
    if global.json {
        let mut doc = plan.to_json();
        if let Some(map) = doc.as_object_mut() {
            map.insert("warnings".into(), serde_json::json!(warnings));
        }
        loaded.masker.mask_json(&mut doc);
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        );
    } else {
        show_warnings(path, &warnings);
        let _ = write!(out, "{}", loaded.masker.mask(&plan.to_text()));
    }
    ExitCode::SUCCESS
}

/// Prints a good recipe's warnings on stderr, one a line, located like errors are.
fn show_warnings(path: &Path, warnings: &[RecipeWarning]) {
    for w in warnings {
        eprintln!("warning: {}: {w}", path.display());
    }
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
