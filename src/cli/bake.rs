//! `amibake bake RECIPE...`: one bake, or several at once from one process.
//!
//! Several bakes share the process's AWS clients, its request-rate limiter (so together
//! they stay inside EC2's request buckets) and its wait history (so they learn from each
//! other). Every recipe is loaded and checked before anything is created: one bad recipe
//! stops them all with exit 2. Each bake then walks its plan on its own — cleanup, the
//! history write and the manifest are its closing actions ([`Bake::close`]); one failing
//! does not stop the others. Here: starting the bakes, the signals, the exit codes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::future::join_all;

use super::{BakeArgs, Context, Signal, Signals, duration_env, fail};
use crate::aws::history::History;
use crate::bake::{Bake, BakeError, BakeEvent, BakeOptions, WaitHistory};
use crate::error::{ExitKind, Failure, Outcome, Stop};
use crate::journal::{self, Journal};
use crate::plan::{Overrides, Plan};
use crate::recipe::{self, LoadedRecipe, MissingSecrets, VarInputs};
use crate::report::Reporter;
use crate::run;

/// A recipe loaded and planned, not yet started: the plan holds everything the bake
/// does, down to where it writes its manifest.
struct Prepared {
    loaded: LoadedRecipe,
    plan: Plan,
}

pub(super) async fn bake(cx: Context<'_>, inputs: &VarInputs, args: &BakeArgs) -> Outcome {
    let region = cx.aws.region().to_string();
    let mut prepared = Vec::new();
    for (i, path) in args.recipes.iter().enumerate() {
        let mut overrides = args.overrides.overrides();
        if args.recipes.len() > 1 {
            overrides.manifest = numbered(&overrides.manifest, i + 1);
        }
        let (loaded, plan) = prepare(&cx.reporter(), inputs, &overrides, &region, path).await?;
        prepared.push(Prepared { loaded, plan });
    }

    for manifest in prepared.iter().filter_map(|p| p.plan.manifest()) {
        if let Err(e) = crate::manifest::check_writable(manifest).await {
            return Err(fail(&cx.reporter(), &Stop::new(ExitKind::Usage, e)));
        }
    }
    let top = cx.reporter();
    // SIGINT, SIGTERM or SIGHUP stops every bake still running (finished ones keep their
    // result) and starts the cleanups; only the same signal again abandons them. Listening
    // starts before anything is created.
    let signals = {
        let line = Reporter::new(cx.mode, crate::secret::Masker::default());
        Signals::listen(move |first: Signal, other: Signal| {
            line.say(&format!(
                "{} ignored: cleanup goes on ({} again abandons it)",
                other.name(),
                first.name()
            ));
        })
    };
    let reporters = reporters(&cx, &top, &prepared);
    let waits = WaitHistory::open(journal::state_dir().join("timings.json"), &top);
    let history = waits.history.clone();
    let journals = open_journals(&cx, &prepared, &reporters).await?;
    let bakes: Vec<Bake<'_>> = prepared
        .iter()
        .zip(&reporters)
        .zip(journals)
        .map(|((p, reporter), journal)| start(&cx, p, reporter, journal, history.clone()))
        .collect();

    let outcomes: Vec<Outcome> = join_all(
        bakes
            .iter()
            .zip(&reporters)
            .map(|(bake, reporter)| finish(bake, reporter, signals.clone())),
    )
    .await;
    waits.save(&top).await;
    summarize(&cx, &top, &outcomes);
    ExitKind::worst(&outcomes)
}

/// One reporter per bake: with several, each labels its lines (`2/3 web`) and they share
/// the terminal's bars; each masks its own recipe's secrets.
fn reporters(cx: &Context<'_>, top: &Reporter, prepared: &[Prepared]) -> Vec<Reporter> {
    let count = prepared.len();
    prepared
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let masker = p.loaded.masker.clone();
            if count > 1 {
                top.labelled(&format!("{}/{count} {}", i + 1, p.plan.recipe), masker)
            } else {
                Reporter::new(cx.mode, masker)
            }
        })
        .collect()
}

/// Opens every bake's journal before any bake is announced: when one cannot be written,
/// nothing starts — bad input found before anything was created, like a manifest that
/// cannot be written ([`ExitKind::Usage`]).
async fn open_journals(
    cx: &Context<'_>,
    prepared: &[Prepared],
    reporters: &[Reporter],
) -> Result<Vec<Journal>, ExitKind> {
    let state = journal::state_dir();
    let runs: Vec<(&str, &str)> = prepared
        .iter()
        .map(|p| (p.plan.run_id.as_str(), p.plan.recipe.as_str()))
        .collect();
    create_journals(&state, cx.aws.region(), &runs)
        .await
        .map_err(|(n, e)| {
            let why = format!(
                "cannot write the run journal under {}: {e} (set AMIBAKE_STATE_DIR)",
                state.display()
            );
            fail(&reporters[n], &Stop::with_source(ExitKind::Usage, why, e))
        })
}

/// Creates the journal of each `(run id, recipe)` under `state`, all or none: when the
/// Nth cannot be written, those before it are closed clean (their bakes never ran, so
/// `sweep` leaves their region alone) and the error comes back with N.
async fn create_journals(
    state: &Path,
    region: &str,
    runs: &[(&str, &str)],
) -> Result<Vec<Journal>, (usize, std::io::Error)> {
    let mut journals = Vec::new();
    for (n, (run_id, recipe)) in runs.iter().enumerate() {
        match Journal::create(state, run_id, recipe, region).await {
            Ok(j) => journals.push(j),
            Err(e) => {
                for opened in &journals {
                    let _ = opened.mark_clean().await;
                }
                return Err((n, e));
            }
        }
    }
    Ok(journals)
}

/// Announces a bake (its `start` event, and its plan with `--json` or `-v`) and readies it
/// to walk that plan.
fn start<'r>(
    cx: &Context<'_>,
    p: &Prepared,
    reporter: &'r Reporter,
    journal: Journal,
    history: Arc<History>,
) -> Bake<'r> {
    let region = cx.aws.region().to_string();
    reporter.emit(BakeEvent::Start {
        recipe: p.plan.recipe.clone(),
        run_id: p.plan.run_id.clone(),
        region,
        journal: journal.path().to_path_buf(),
    });
    // The plan it walks, as `plan` shows it (the reporter masks the recipe's secrets).
    if cx.global.json || cx.global.verbose > 0 {
        reporter.emit(BakeEvent::Plan {
            plan: p.plan.to_json(),
            text: p.plan.to_text(),
        });
    }
    let options = BakeOptions {
        poll_scale: cx.poll_scale,
        verbose: cx.global.verbose > 0,
        history,
    };
    let bake = Bake::new(
        cx.aws.clone(),
        p.plan.clone(),
        p.loaded.stable_text.clone(),
        reporter,
        journal,
        options,
    )
    .writing_manifest(p.loaded.masker.clone());
    match duration_env("AMIBAKE_CLEANUP_TIMEOUT") {
        Some(budget) => bake.with_cleanup_budget(budget),
        None => bake,
    }
}

/// The process's AWS traffic: a summary event after several bakes, a line with `-v`.
fn summarize(cx: &Context<'_>, top: &Reporter, outcomes: &[Outcome]) {
    let traffic = cx.aws.traffic();
    if outcomes.len() > 1 {
        let succeeded = outcomes.iter().filter(|o| o.is_ok()).count();
        top.emit(BakeEvent::Summary {
            bakes: outcomes.len(),
            succeeded,
            failed: outcomes.len() - succeeded,
            api_calls: traffic.total(),
            api_calls_by_action: traffic.calls.clone(),
            rate_limit_wait_seconds: traffic.waited.as_secs_f64(),
        });
    } else if cx.global.verbose > 0 {
        let by_action: Vec<String> = traffic
            .calls
            .iter()
            .map(|(a, n)| format!("{a} {n}"))
            .collect();
        top.say(&format!(
            "{} AWS API calls: {}",
            traffic.total(),
            by_action.join(", ")
        ));
    }
}

/// Loads and plans one recipe; fails when it is bad.
pub(super) async fn prepare(
    reporter: &Reporter,
    inputs: &VarInputs,
    overrides: &Overrides,
    region: &str,
    path: &Path,
) -> Result<(LoadedRecipe, Plan), ExitKind> {
    let builtins = run::builtins(region);
    // Reading and rendering the recipe is file I/O: keep it off the async workers.
    let load = {
        let (path, inputs, builtins) = (path.to_path_buf(), inputs.clone(), builtins.clone());
        tokio::task::spawn_blocking(move || {
            recipe::load(&path, &inputs, &builtins, MissingSecrets::Error)
        })
    };
    let loaded = match load.await {
        Ok(Ok(l)) => l,
        Ok(Err(err)) => return Err(fail(reporter, &err)),
        Err(e) => {
            let why = format!("loading the recipe failed: {e}");
            return Err(fail(reporter, &Stop::with_source(ExitKind::Failed, why, e)));
        }
    };
    for warning in loaded.recipe.warnings() {
        reporter.say(&format!("warning: {}: {warning}", path.display()));
    }
    let plan = Plan::new(&loaded, region, &builtins.run_id, overrides);
    Ok((loaded, plan))
}

/// Runs one bake to its end — done, failed or stopped — then its closing actions
/// (cleanup, history, manifest); reports how it ended. The first signal stops the walk
/// and starts the cleanup; the same signal again abandons the cleanup.
async fn finish(bake: &Bake<'_>, reporter: &Reporter, mut signals: Signals) -> Outcome {
    let result = tokio::select! {
        r = bake.run_leased() => r,
        _ = signals.first() => Err(BakeError::Interrupted),
    };
    if let Err(e) = &result {
        fail(reporter, e);
        if !matches!(e, BakeError::Input(_) | BakeError::Preflight(_)) {
            let again = match signals.got() {
                Some(signal) => format!("{} again", signal.name()),
                None => "the same signal twice".to_string(),
            };
            reporter.say(&format!(
                "cleaning up ({again} abandons the cleanup; `amibake sweep` finishes it later)"
            ));
        }
    }
    let failed = result.as_ref().err().map(|e| e.kind());
    let abandon = async {
        signals.repeated().await;
        reporter.finish();
        reporter.say("cleanup abandoned: the same signal came again");
    };
    // One error event per bake: a closing failure after the bake failed is only a line.
    match (failed, bake.close(result.ok(), abandon).await) {
        (None, Ok(())) => Ok(()),
        (None, Err(e)) => Err(fail(reporter, &e)),
        (Some(kind), Ok(())) => Err(kind),
        (Some(kind), Err(e)) => {
            reporter.say(&format!("closing the failed bake failed too: {e}"));
            Err(kind)
        }
    }
}

/// `amibake-manifest.json` → `amibake-manifest.3.json`.
fn numbered(path: &Path, n: usize) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}.{n}.{}", ext.to_string_lossy()),
        None => format!("{stem}.{n}"),
    };
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn when_a_journal_cannot_be_written_those_before_it_end_clean() {
        let state = tempfile::tempdir().expect("tempdir");
        // The second run's journal path is a directory: it cannot be opened as a file.
        let blocked = journal::path(state.path(), "run-b");
        std::fs::create_dir_all(&blocked).expect("a directory where the journal goes");
        let runs = [("run-a", "web"), ("run-b", "worker"), ("run-c", "batch")];
        let err = create_journals(state.path(), "eu-west-1", &runs).await;
        assert_eq!(err.map(|_| ()).map_err(|(n, _)| n), Err(1));
        assert!(journal::ends_clean(state.path(), "run-a").await);
        assert!(!journal::path(state.path(), "run-c").exists());
    }

    #[test]
    fn several_manifests_are_numbered_before_the_extension() {
        assert_eq!(
            numbered(Path::new("amibake-manifest.json"), 3),
            PathBuf::from("amibake-manifest.3.json")
        );
        assert_eq!(
            numbered(Path::new("out/web"), 1),
            PathBuf::from("out/web.1")
        );
    }
}
