//! `amibake bake RECIPE...`: one bake, or several at once from one process.
//!
//! Several bakes share the process's AWS clients, its request-rate limiter (so together
//! they stay inside EC2's request buckets) and its wait history (so they learn from each
//! other). Every recipe is loaded and checked before anything is created: one bad recipe
//! stops them all with exit 2. Each bake then runs, cleans up and writes its manifest on
//! its own; one failing does not stop the others.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::future::join_all;
use serde_json::json;
use tokio::sync::watch;

use super::report_recipe_error;
use super::{BakeArgs, EXIT_USAGE, GlobalArgs, aws_options, interrupted, poll_scale};
use crate::aws::Aws;
use crate::aws::history::History;
use crate::bake::{Bake, BakeError, BakeOptions};
use crate::journal::{self, Journal};
use crate::manifest::Manifest;
use crate::plan::Plan;
use crate::recipe::{self, LoadedRecipe, MissingSecrets, VarInputs};
use crate::report::{Mode, Reporter};
use crate::run;
use crate::secret::Masker;

/// A recipe loaded and planned, not yet started.
struct Prepared {
    loaded: LoadedRecipe,
    plan: Plan,
    manifest: PathBuf,
}

pub(super) async fn bake(global: &GlobalArgs, inputs: &VarInputs, args: &BakeArgs) -> u8 {
    let aws = match Aws::load(&aws_options(global)).await {
        Ok(aws) => aws,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let region = aws.region().to_string();
    let several = args.recipes.len() > 1;

    let mut prepared = Vec::new();
    for (i, path) in args.recipes.iter().enumerate() {
        let (loaded, plan) = match prepare(global, inputs, args, &region, path).await {
            Ok(ready) => ready,
            Err(code) => return code,
        };
        let manifest = if several {
            numbered(&args.manifest, i + 1)
        } else {
            args.manifest.clone()
        };
        prepared.push(Prepared {
            loaded,
            plan,
            manifest,
        });
    }

    let mode = Mode::detect(global.json, global.no_progress);
    let top = Reporter::new(mode, Masker::default());
    let count = prepared.len();
    let reporters: Vec<Reporter> = prepared
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let masker = p.loaded.masker.clone();
            if several {
                top.labelled(&format!("{}/{count} {}", i + 1, p.plan.recipe), masker)
            } else {
                Reporter::new(mode, masker)
            }
        })
        .collect();

    let history = Arc::new(History::load(journal::state_dir().join("timings.json")));
    let mut bakes = Vec::new();
    for (p, reporter) in prepared.iter().zip(&reporters) {
        let journal = match Journal::create(
            &journal::state_dir(),
            &p.plan.run_id,
            &p.plan.recipe,
            &region,
        )
        .await
        {
            Ok(j) => j,
            Err(e) => {
                eprintln!(
                    "error: cannot write the run journal under {}: {e} (set AMIBAKE_STATE_DIR)",
                    journal::state_dir().display()
                );
                return 1;
            }
        };
        reporter.event(
            "start",
            json!({ "recipe": p.plan.recipe, "run_id": p.plan.run_id, "region": region, "journal": journal.path() }),
            &format!("baking {} in {region} (run {})", p.plan.recipe, p.plan.run_id),
        );
        let options = BakeOptions {
            on_error: args.on_error,
            manifest_path: p.manifest.clone(),
            poll_scale: poll_scale(),
            image_timeout: std::time::Duration::from_secs(90 * 60),
            if_changed: args.if_changed && !args.force,
            verbose: global.verbose > 0,
            history: history.clone(),
        };
        bakes.push(Bake::new(
            aws.clone(),
            p.plan.clone(),
            p.loaded.stable_text.clone(),
            reporter,
            journal,
            options,
        ));
    }

    // Ctrl-C or SIGTERM stops every bake still running; finished ones keep their result.
    let (stop, stopped) = watch::channel(false);
    let signals = tokio::spawn(async move {
        interrupted().await;
        let _ = stop.send(true);
    });
    let outcomes: Vec<u8> = join_all(
        bakes
            .iter()
            .zip(&prepared)
            .zip(&reporters)
            .map(|((bake, p), reporter)| finish(bake, p, reporter, &region, stopped.clone())),
    )
    .await;
    signals.abort();
    let _ = history.save().await;

    let traffic = aws.traffic();
    if several {
        let done = outcomes.iter().filter(|&&c| c == 0).count();
        top.event(
            "summary",
            json!({ "bakes": count, "succeeded": done, "failed": count - done, "api_calls": traffic.total(), "api_calls_by_action": traffic.calls, "rate_limit_wait_seconds": traffic.waited.as_secs_f64() }),
            &format!(
                "{count} bakes: {done} done, {} failed; {} AWS API calls ({:.1}s spent waiting for request-rate buckets)",
                count - done,
                traffic.total(),
                traffic.waited.as_secs_f64()
            ),
        );
    } else if global.verbose > 0 {
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
    worst(&outcomes)
}

/// Loads and plans one recipe; the exit code when it is bad.
async fn prepare(
    global: &GlobalArgs,
    inputs: &VarInputs,
    args: &BakeArgs,
    region: &str,
    path: &Path,
) -> Result<(LoadedRecipe, Plan), u8> {
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
        Ok(Err(err)) => {
            report_recipe_error(global, &err);
            return Err(EXIT_USAGE);
        }
        Err(e) => {
            eprintln!("error: loading the recipe failed: {e}");
            return Err(1);
        }
    };
    let mut plan = Plan::new(&loaded, region, &builtins.run_id);
    for r in &args.copy_to {
        if !plan.image.copy_to.contains(r) && r.as_str() != region {
            plan.image.copy_to.push(r.clone());
        }
    }
    for a in &args.share_with {
        if !plan.image.share_accounts.contains(a) {
            plan.image.share_accounts.push(a.clone());
        }
    }
    Ok((loaded, plan))
}

/// Runs one bake to its end — done, failed or stopped — cleans up after it, writes its
/// manifest and reports; returns its exit code.
async fn finish(
    bake: &Bake<'_>,
    p: &Prepared,
    reporter: &Reporter,
    region: &str,
    mut stopped: watch::Receiver<bool>,
) -> u8 {
    let result = tokio::select! {
        r = bake.run() => r,
        _ = stopped.wait_for(|&s| s) => Err(BakeError::Interrupted),
    };
    if let Err(e) = &result {
        reporter.finish();
        reporter.event(
            "error",
            json!({ "error": e.to_string(), "exit_code": e.exit_code() }),
            &format!("error: {e}"),
        );
        if !matches!(e, BakeError::Input(_)) {
            reporter.say("cleaning up (Ctrl-C again abandons the cleanup; `amibake sweep` finishes it later)");
        }
    }
    let clean = tokio::select! {
        c = bake.cleanup(result.is_err()) => c,
        () = interrupted() => {
            reporter.say("cleanup abandoned: run `amibake sweep` to remove what is left");
            false
        }
    };
    reporter.finish();
    match result {
        Ok(manifest) => report_done(&manifest, p, reporter, region, clean).await,
        Err(e) => e.exit_code(),
    }
}

async fn report_done(
    manifest: &Manifest,
    p: &Prepared,
    reporter: &Reporter,
    region: &str,
    clean: bool,
) -> u8 {
    if let Err(e) = manifest.write(&p.manifest, &p.loaded.masker).await {
        reporter.event(
            "error",
            json!({ "error": format!("cannot write the manifest {}: {e}", p.manifest.display()), "exit_code": 1 }),
            &format!(
                "error: cannot write the manifest {}: {e}",
                p.manifest.display()
            ),
        );
        return 1;
    }
    let copies = manifest.amis.len() - 1;
    let verb = if manifest.reused_from_run.is_some() {
        "up to date, nothing launched:"
    } else {
        "baked"
    };
    reporter.event(
        "done",
        json!({ "manifest": p.manifest, "amis": manifest.amis, "clean": clean, "reused_from_run": manifest.reused_from_run }),
        &format!(
            "{verb} {} in {region}{} in {:.0}s; manifest: {}",
            manifest.amis[0].ami_id,
            if copies > 0 {
                format!(" (+{copies} copies)")
            } else {
                String::new()
            },
            manifest.duration_seconds,
            p.manifest.display()
        ),
    );
    0
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

/// The exit code of several bakes: interrupted wins, then a failed pipeline, then bad
/// input found late (a duplicate AMI name); 0 only when all are done.
fn worst(codes: &[u8]) -> u8 {
    [130, 1, EXIT_USAGE]
        .into_iter()
        .find(|c| codes.contains(c))
        .or_else(|| codes.iter().copied().find(|&c| c != 0))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn the_worst_exit_code_wins() {
        assert_eq!(worst(&[0, 0]), 0);
        assert_eq!(worst(&[0, 2, 1]), 1);
        assert_eq!(worst(&[1, 130, 0]), 130);
        assert_eq!(worst(&[0, 2]), 2);
    }
}
