//! The command line: argument parsing, dispatch and exit codes.
//!
//! Exit codes are part of the contract (README, "Commands"): 0 done, 1 the pipeline failed,
//! 2 bad input or usage (nothing was created), 130 interrupted.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod bake;

use crate::aws::{Aws, AwsOptions};
use crate::bake::OnError;
use crate::journal;
use crate::plan::Plan;
use crate::recipe::types::{AccountId, RecipeName, Region};
use crate::recipe::{self, MissingSecrets, RecipeError, VarInputs};
use crate::report::{Mode, Reporter};
use crate::run;

/// Exit code: bad input or usage; nothing was created.
pub const EXIT_USAGE: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "amibake",
    version,
    about = "Bake golden AMIs over SSM, prove they boot right, and roll Auto Scaling groups onto them.",
    after_help = "Examples:\n  amibake validate recipes/*.yaml\n  amibake plan recipes/al2023-tomcat-codedeploy.yaml --var agent_version=1.7.1-110\n  amibake bake recipes/al2023-tomcat-codedeploy.yaml --if-changed\n  amibake promote --manifest amibake-manifest.json --to dev\n  amibake roll --stack web-dev --channel dev --recipe al2023-tomcat-codedeploy --yes\n  amibake rollback --stack web-dev\n  amibake sweep --dry-run\n\nExit codes: 0 done, 1 the pipeline failed, 2 bad input or usage (nothing created), 130 interrupted."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// AWS region (default: the SDK's chain: AWS_REGION, the profile, IMDS).
    #[arg(long, global = true, env = "AWS_REGION", value_name = "REGION")]
    pub region: Option<String>,
    /// AWS shared-config profile.
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// Send every AWS call to this endpoint (a local emulator); AWS_ENDPOINT_URL also works.
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Set a recipe var (repeatable; wins over --var-file and the recipe).
    #[arg(long = "var", global = true, value_name = "K=V", value_parser = parse_key_value)]
    pub vars: Vec<(String, String)>,
    /// Read recipe vars from a YAML map (repeatable; later files win).
    #[arg(long = "var-file", global = true, value_name = "FILE")]
    pub var_files: Vec<PathBuf>,
    /// Machine output: one JSON event per line on stdout (plan: one JSON document).
    #[arg(long, global = true)]
    pub json: bool,
    /// Plain timestamped lines instead of progress bars, even on a terminal.
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// More detail: bake also streams the output of checks and of the boot test's
    /// cloud-init wait.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse, render and check recipes offline (no AWS calls).
    #[command(
        after_help = "Examples:\n  amibake validate recipes/*.yaml\n  amibake validate --json recipes/web.yaml --var-file prod.yaml"
    )]
    Validate {
        /// Recipe files.
        #[arg(required = true, value_name = "RECIPE")]
        recipes: Vec<PathBuf>,
    },
    /// Print every API call and script a bake would run, offline (no AWS calls).
    #[command(
        after_help = "Examples:\n  amibake plan recipes/al2023-tomcat-codedeploy.yaml\n  amibake plan --json recipes/web.yaml | jq '.steps[].command.script.display'"
    )]
    Plan {
        /// The recipe file.
        #[arg(value_name = "RECIPE")]
        recipe: PathBuf,
    },
    /// Bake the image: builder over SSM, checks, image, copies, boot test; writes a manifest.
    #[command(
        after_help = "Examples:\n  amibake bake recipes/al2023-tomcat-codedeploy.yaml --region eu-west-1\n  amibake bake recipes/web.yaml --copy-to us-west-2 --share-with 111122223333 --manifest out/web.json\n  amibake bake recipes/web.yaml --endpoint-url http://127.0.0.1:5000   # a local emulator\n  amibake bake recipes/web.yaml recipes/worker.yaml recipes/batch.yaml   # three at once\n\nCtrl-C or SIGTERM stops the bake, cleans up, and exits 130. With several recipes, every bake runs to its own end; the exit code is the worst of them (130, then 1, then 2)."
    )]
    Bake(BakeArgs),
    /// Remove what interrupted runs left behind: instances, temporary security groups,
    /// incomplete AMIs and their snapshots, found by amibake's tags.
    #[command(
        after_help = "Examples:\n  amibake sweep --dry-run\n  amibake sweep --older-than 30m --region eu-west-1\n\nA run is left alone when its journal on this machine ends clean, or when it is younger than --older-than (it may still be running elsewhere). AMIs of successful bakes (tagged amibake:complete) are never touched."
    )]
    Sweep(SweepArgs),
    /// Deregister a recipe's older AMIs and delete their snapshots, keeping the newest N
    /// and every image still in use.
    #[command(
        after_help = "Examples:\n  amibake prune --recipe web-tomcat --keep 3 --dry-run\n  amibake prune --recipe web-tomcat --keep 2 --older-than 30d --also-region us-west-2\n  amibake prune --recipe web-tomcat --keep 2 --all-regions\n\nOnly images of finished bakes (tagged amibake:recipe=NAME and amibake:complete=true) are considered, in the home region (--region) and each --also-region, or in every enabled region with --all-regions. An image always stays when it is among the newest N of its region, younger than --older-than, the value of a channel parameter /amibake/NAME/*, the image of a launch template version (or launch configuration) an Auto Scaling group uses, or the image of an instance that is not terminated. Each image is printed with why it stays, or with the snapshots removed with it.\n\nExit codes: 0 done (or nothing to prune), 1 an AWS call failed, 2 bad input (nothing removed), 130 interrupted."
    )]
    Prune(PruneArgs),
    /// Roll a CloudFormation stack's Auto Scaling group onto an AMI (change set, watch, self-rollback).
    #[command(
        after_help = "Examples:\n  amibake roll --stack web --manifest amibake-manifest.json\n  amibake roll --stack web --ami ami-0123456789abcdef0 --plan\n  amibake roll --stack web-dev --channel dev --recipe web-tomcat --yes   # the AMI `promote` put in /amibake/web-tomcat/dev\n  amibake roll --stack web --ami /golden/web/latest --rollback-alarm arn:aws:cloudwatch:eu-west-1:111122223333:alarm:web-5xx --yes\n  amibake roll --stack web --ami ami-0123456789abcdef0 --template cfn-templates/asg-rolling.yaml \\\n      --parameter VpcId=vpc-0abc --parameter Subnets=subnet-0a,subnet-0b --parameter InstanceProfile=web   # creates the stack\n\nExit codes: 0 rolled (or already on the AMI, or --plan), 1 refused while busy or the update failed and rolled back, 2 bad input (nothing changed), 130 interrupted."
    )]
    Roll(RollArgs),
    /// Roll a stack back to the image it ran before its last roll.
    #[command(
        after_help = "Examples:\n  amibake rollback --stack web\n  amibake rollback --stack web --yes --wait-for-idle\n\nExit codes as for roll; 1 also when no previous image is recorded on the stack."
    )]
    Rollback(RollbackArgs),
    /// Promote a baked image into an environment's channel: the SSM parameter
    /// /amibake/<recipe>/<env> in every region of the manifest, in the recipe's promotion order.
    #[command(
        after_help = "Examples:\n  amibake promote --manifest amibake-manifest.json --to dev\n  amibake promote --manifest amibake-manifest.json --to staging --copy-to us-west-2 --share-with 111122223333\n  amibake promote --manifest amibake-manifest.json --to prod --force   # skip the order check\n  amibake roll --stack web-dev --channel dev --recipe web-tomcat --yes  # roll what dev holds\n\nThe order comes from the recipe's `promotion: [dev, staging, prod]`: an image enters an environment only when the environment before it holds that image (in the manifest's region), unless --force. The parameter (data type aws:ec2:image) records who promoted, when and from which run in its description and tags.\n\nExit codes: 0 promoted (or already there), 1 refused by the order check or a copy/AWS call failed, 2 bad input (unknown environment, unreadable manifest or recipe; nothing changed), 130 interrupted."
    )]
    Promote(PromoteArgs),
}

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

/// Flags of `roll`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("image").required(true).args(["ami", "manifest", "channel"])))]
pub struct RollArgs {
    /// The CloudFormation stack (created when it does not exist).
    #[arg(long, value_name = "NAME")]
    pub stack: String,
    /// The AMI: an id, or an SSM parameter holding one (/path or resolve:ssm:/path).
    #[arg(long, value_name = "ID")]
    pub ami: Option<String>,
    /// A bake's manifest: its AMI in the stack's region.
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// An environment's channel: the AMI `amibake promote` put in /amibake/<recipe>/<env>
    /// in the stack's region (needs --recipe).
    #[arg(long, value_name = "ENV", requires = "recipe")]
    pub channel: Option<String>,
    /// The recipe whose channel --channel names.
    #[arg(long, value_name = "NAME", requires = "channel")]
    pub recipe: Option<String>,
    /// A new template (default when creating: cfn-templates/asg-rolling.yaml).
    #[arg(long, value_name = "FILE")]
    pub template: Option<PathBuf>,
    /// The stack parameter that carries the AMI.
    #[arg(long, value_name = "NAME", default_value = crate::roll::DEFAULT_IMAGE_PARAMETER)]
    pub image_parameter: String,
    /// Set a stack parameter (repeatable); every other parameter keeps its value.
    #[arg(long = "parameter", value_name = "K=V", value_parser = parse_key_value)]
    pub parameters: Vec<(String, String)>,
    /// A CloudWatch alarm that rolls the update back when it goes off (repeatable).
    #[arg(long = "rollback-alarm", value_name = "ARN")]
    pub rollback_alarms: Vec<String>,
    /// Show the change set's changes, then delete it; change nothing.
    #[arg(long)]
    pub plan: bool,
    /// Execute without asking (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Wait while the stack or its Auto Scaling group is busy instead of refusing.
    #[arg(long)]
    pub wait_for_idle: bool,
}

/// Flags of `rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The CloudFormation stack.
    #[arg(long, value_name = "NAME")]
    pub stack: String,
    /// The stack parameter that carries the AMI.
    #[arg(long, value_name = "NAME", default_value = crate::roll::DEFAULT_IMAGE_PARAMETER)]
    pub image_parameter: String,
    /// Show the change set's changes, then delete it; change nothing.
    #[arg(long)]
    pub plan: bool,
    /// Execute without asking (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Wait while the stack or its Auto Scaling group is busy instead of refusing.
    #[arg(long)]
    pub wait_for_idle: bool,
}

/// Flags of `sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Only runs at least this old (by the start time in their run id); `0s` for all.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_age)]
    pub older_than: std::time::Duration,
    /// List what would be removed, remove nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Flags of `prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// The recipe whose images to prune (its `name`).
    #[arg(long, value_name = "NAME", value_parser = parse_recipe_name)]
    pub recipe: RecipeName,
    /// Keep the newest N images of the recipe in each region (at least 1).
    #[arg(long, value_name = "N", value_parser = parse_keep)]
    pub keep: usize,
    /// Also keep every image younger than this (e.g. `30d`); default: age does not matter.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_age)]
    pub older_than: std::time::Duration,
    /// Print what would be removed and why the rest stays; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also prune in this region (repeatable; the home region is always pruned).
    #[arg(long = "also-region", value_name = "REGION", value_parser = parse_region)]
    pub also_regions: Vec<Region>,
    /// Prune in every region enabled for the account, wherever the recipe's images are.
    #[arg(long, conflicts_with = "also_regions")]
    pub all_regions: bool,
}

fn parse_recipe_name(s: &str) -> Result<RecipeName, String> {
    RecipeName::try_from(s.to_string())
}

fn parse_keep(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("--keep must be at least 1: prune always keeps the newest images of a recipe; to remove every image, deregister them by hand (aws ec2 deregister-image)".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{s}` is not a whole number")),
    }
}

fn parse_age(s: &str) -> Result<std::time::Duration, String> {
    if s == "0" || s == "0s" {
        return Ok(std::time::Duration::ZERO);
    }
    s.parse::<crate::recipe::types::Duration>().map(|d| d.get())
}

/// Flags of `bake`.
#[derive(Debug, Args)]
pub struct BakeArgs {
    /// The recipe file; several bake at once from this one process, sharing its AWS
    /// clients and request-rate limits.
    #[arg(required = true, value_name = "RECIPE")]
    pub recipes: Vec<PathBuf>,
    /// Where to write the manifest. With several recipes, the Nth bake writes it with `.N`
    /// before the extension (amibake-manifest.1.json, amibake-manifest.2.json, …).
    #[arg(long, value_name = "PATH", default_value = "amibake-manifest.json")]
    pub manifest: PathBuf,
    /// What to do with the builder and a half-made image when the bake fails.
    #[arg(long, value_enum, default_value_t = OnError::Cleanup)]
    pub on_error: OnError,
    /// Also copy the image to this region (repeatable; adds to the recipe's copy_to).
    #[arg(long = "copy-to", value_name = "REGION", value_parser = parse_region)]
    pub copy_to: Vec<Region>,
    /// Also share the image with this account (repeatable; adds to the recipe's share_with).
    #[arg(long = "share-with", value_name = "ACCOUNT", value_parser = parse_account)]
    pub share_with: Vec<AccountId>,
    /// Bake only when the inputs changed: when an available image of this recipe with the
    /// same input hash (rendered recipe, resolved source AMI, amibake major version) exists
    /// in every region, write its manifest and exit 0 without launching anything.
    #[arg(long)]
    pub if_changed: bool,
    /// With --if-changed: bake anyway.
    #[arg(long, requires = "if_changed")]
    pub force: bool,
}

fn parse_region(s: &str) -> Result<Region, String> {
    Region::try_from(s.to_string())
}

fn parse_account(s: &str) -> Result<AccountId, String> {
    AccountId::try_from(s.to_string())
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not K=V")),
    }
}

/// Parses the command line, runs the command and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let inputs = VarInputs {
        var_files: cli.global.var_files.clone(),
        vars: cli.global.vars.clone(),
        env_vars: Vec::new(),
    }
    .with_process_env();
    match &cli.command {
        Command::Validate { recipes } => validate(&cli.global, &inputs, recipes),
        Command::Plan { recipe } => plan(&cli.global, &inputs, recipe),
        Command::Bake(args) => with_runtime(bake::bake(&cli.global, &inputs, args)),
        Command::Sweep(args) => with_runtime(sweep(&cli.global, args)),
        Command::Prune(args) => with_runtime(prune(&cli.global, args)),
        Command::Roll(args) => with_runtime(roll(&cli.global, args)),
        Command::Rollback(args) => with_runtime(rollback(&cli.global, args)),
        Command::Promote(args) => with_runtime(promote(&cli.global, &inputs, args)),
    }
}

/// Runs an AWS command on a tokio runtime (offline commands never start one: `validate`
/// stays fast).
fn with_runtime(fut: impl std::future::Future<Output = u8>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => ExitCode::from(rt.block_on(fut)),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The scale of every poll interval (`AMIBAKE_POLL_SCALE`, default 1).
fn poll_scale() -> f64 {
    std::env::var("AMIBAKE_POLL_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|v: &f64| *v > 0.0)
        .unwrap_or(1.0)
}

async fn sweep(global: &GlobalArgs, args: &SweepArgs) -> u8 {
    let aws = match Aws::load(&aws_options(global)).await {
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
    let options = crate::sweep::SweepOptions {
        older_than: args.older_than,
        dry_run: args.dry_run,
        poll_scale: poll_scale(),
    };
    let region = aws.region().to_string();
    let journals = journal::state_dir();
    let result = tokio::select! {
        r = crate::sweep::sweep(&aws, &region, &journals, &options, &reporter) => r,
        () = interrupted() => {
            reporter.say("interrupted: run sweep again to finish");
            return 130;
        }
    };
    match result {
        Ok(found) => {
            if found.is_empty() {
                reporter.event(
                    "done",
                    serde_json::json!({ "found": 0 }),
                    &format!("nothing to sweep in {region}"),
                );
            }
            0
        }
        Err(e) => {
            reporter.event(
                "error",
                serde_json::json!({ "error": e.chain() }),
                &format!("error: {}", e.chain()),
            );
            1
        }
    }
}

fn aws_options(global: &GlobalArgs) -> AwsOptions {
    AwsOptions {
        region: global.region.clone(),
        profile: global.profile.clone(),
        endpoint_url: global.endpoint_url.clone(),
    }
}

/// The region offline commands render with: the flag, then the environment.
fn offline_region(global: &GlobalArgs) -> String {
    global
        .region
        .clone()
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .unwrap_or_else(|| "us-east-1".to_string())
}

fn validate(global: &GlobalArgs, inputs: &VarInputs, recipes: &[PathBuf]) -> ExitCode {
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
                    let event = serde_json::json!({
                        "event": "validate", "ok": true, "file": path.display().to_string(),
                        "recipe": r.name.as_str(), "os": r.builder.os, "steps": r.steps.len(),
                        "checks": checks, "boot_test_checks": boot,
                    });
                    let _ = writeln!(out, "{event}");
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
        ExitCode::from(EXIT_USAGE)
    } else {
        ExitCode::SUCCESS
    }
}

fn plan(global: &GlobalArgs, inputs: &VarInputs, path: &Path) -> ExitCode {
    let region = offline_region(global);
    let builtins = run::builtins(&region);
    let loaded = match recipe::load(path, inputs, &builtins, MissingSecrets::Placeholder) {
        Ok(l) => l,
        Err(err) => {
            report_recipe_error(global, &err);
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let plan = Plan::new(&loaded, &region, &builtins.run_id);
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

/// Prints a recipe error: located text on stderr, or a JSON event on stdout.
fn report_recipe_error(global: &GlobalArgs, err: &RecipeError) {
    if global.json {
        let event = serde_json::json!({ "event": "validate", "ok": false, "error": err });
        println!("{event}");
    } else {
        eprintln!("error: {err}");
    }
}

async fn roll(global: &GlobalArgs, args: &RollArgs) -> u8 {
    let target = match (&args.ami, &args.manifest, &args.channel, &args.recipe) {
        (Some(ami), _, _, _) => crate::roll::Target::Ami(ami.clone()),
        (None, Some(path), _, _) => crate::roll::Target::Manifest(path.clone()),
        (None, None, Some(env), Some(recipe)) => crate::roll::Target::Channel {
            recipe: recipe.clone(),
            env: env.clone(),
        },
        // clap requires one of them (and --recipe with --channel).
        _ => return EXIT_USAGE,
    };
    let mut req = crate::roll::RollRequest::new(&args.stack, target);
    req.template = args.template.clone();
    req.image_parameter = args.image_parameter.clone();
    req.parameters = args.parameters.clone();
    req.rollback_alarms = args.rollback_alarms.clone();
    req.plan = args.plan;
    req.yes = args.yes;
    req.wait_for_idle = args.wait_for_idle;
    run_roll(global, req).await
}

async fn rollback(global: &GlobalArgs, args: &RollbackArgs) -> u8 {
    let mut req = crate::roll::RollRequest::new(&args.stack, crate::roll::Target::Previous);
    req.image_parameter = args.image_parameter.clone();
    req.plan = args.plan;
    req.yes = args.yes;
    req.wait_for_idle = args.wait_for_idle;
    run_roll(global, req).await
}

/// Runs a roll or rollback: asks on the terminal, prints the outcome, maps the exit code.
async fn run_roll(global: &GlobalArgs, mut req: crate::roll::RollRequest) -> u8 {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let aws = match Aws::load(&aws_options(global)).await {
        Ok(aws) => aws,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    req.poll_scale = std::env::var("AMIBAKE_POLL_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|v: &f64| *v > 0.0)
        .unwrap_or(1.0);
    let region = aws.region().to_string();
    let stack = req.stack.clone();
    let reporter = Reporter::new(
        Mode::detect(global.json, global.no_progress),
        crate::secret::Masker::default(),
    );
    // Ctrl-C while the question waits for an answer counts as "no" (the change set is
    // deleted), then as an interrupt.
    let interrupted_flag = Arc::new(AtomicBool::new(false));
    let watcher = {
        let flag = interrupted_flag.clone();
        tokio::spawn(async move {
            interrupted().await;
            flag.store(true, Ordering::SeqCst);
        })
    };
    let ask = |question: &str| ask_on_terminal(question, &interrupted_flag);
    let confirm: crate::roll::Confirm<'_> = if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        Some(&ask)
    } else {
        None
    };
    let roll = crate::roll::Roll::new(aws, req, &reporter);
    let mut result = tokio::select! {
        r = roll.run(confirm) => r,
        () = interrupted() => Err(crate::roll::RollError::Interrupted),
    };
    watcher.abort();
    if interrupted_flag.load(Ordering::SeqCst) {
        result = Err(crate::roll::RollError::Interrupted);
    }
    reporter.finish();
    match result {
        Ok(outcome) => {
            let mut fields = serde_json::to_value(&outcome).unwrap_or_default();
            if let serde_json::Value::Object(map) = &mut fields {
                map.insert("region".into(), region.into());
            }
            reporter.event("done", fields, &outcome.summary());
            0
        }
        Err(e) => {
            let mut fields =
                serde_json::json!({ "error": e.to_string(), "exit_code": e.exit_code() });
            match &e {
                crate::roll::RollError::RollbackFailed {
                    resources,
                    reason,
                    command,
                    ..
                } => {
                    fields["resources"] = serde_json::json!(resources);
                    fields["reason"] = serde_json::json!(reason);
                    fields["command"] = serde_json::json!(command);
                }
                crate::roll::RollError::RolledBack { reason, ami, .. } => {
                    fields["reason"] = serde_json::json!(reason);
                    fields["ami"] = serde_json::json!(ami);
                }
                crate::roll::RollError::ChangeSetFailed { reason, .. }
                | crate::roll::RollError::Failed { reason, .. } => {
                    fields["reason"] = serde_json::json!(reason);
                }
                _ => {}
            }
            reporter.event("error", fields, &format!("error: {e}"));
            if matches!(e, crate::roll::RollError::Interrupted) {
                reporter.say(&format!(
                    "if the change set was executed, the update goes on in CloudFormation; to stop it: aws cloudformation cancel-update-stack --stack-name {stack} --region {region}"
                ));
            }
            e.exit_code()
        }
    }
}

/// Asks a yes/no question on the terminal (stderr), reading the answer on a thread of its
/// own so that Ctrl-C (seen through `interrupted`) can end the wait.
fn ask_on_terminal(question: &str, interrupted: &std::sync::atomic::AtomicBool) -> bool {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let answer = std::io::stdin().read_line(&mut line).map(|_| line);
        let _ = tx.send(answer);
    });
    loop {
        match rx.recv_timeout(std::time::Duration::from_millis(100)) {
            Ok(Ok(line)) => {
                return matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes");
            }
            Ok(Err(_)) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return false,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if interrupted.load(std::sync::atomic::Ordering::SeqCst) {
                    eprintln!();
                    return false;
                }
            }
        }
    }
}

async fn prune(global: &GlobalArgs, args: &PruneArgs) -> u8 {
    let aws = match Aws::load(&aws_options(global)).await {
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
    let mut regions = vec![aws.region().to_string()];
    if args.all_regions {
        let found = match aws.ec2(aws.region()) {
            Ok(ec2) => crate::aws::poll::retry(|| crate::aws::ec2::enabled_regions(&ec2)).await,
            Err(e) => Err(e),
        };
        match found {
            Ok(all) => regions.extend(all.into_iter().filter(|r| r != aws.region())),
            Err(e) => {
                eprintln!("error: {}", e.chain());
                return 1;
            }
        }
    }
    for r in &args.also_regions {
        if !regions.iter().any(|x| x == r.as_str()) {
            regions.push(r.as_str().to_string());
        }
    }
    let options = crate::prune::PruneOptions {
        recipe: args.recipe.as_str().to_string(),
        keep: args.keep,
        older_than: args.older_than,
        dry_run: args.dry_run,
    };
    let result = tokio::select! {
        r = crate::prune::prune(&aws, &regions, &options, &reporter) => r,
        () = interrupted() => {
            reporter.say("interrupted: run prune again to finish");
            return 130;
        }
    };
    match result {
        Ok(verdicts) => {
            let removed = verdicts.iter().filter(|v| v.removed()).count();
            let kept = verdicts.len() - removed;
            let text = if removed == 0 {
                format!(
                    "nothing to prune for {} in {} ({kept} image(s) kept)",
                    options.recipe,
                    regions.join(", ")
                )
            } else {
                format!(
                    "{} {removed} image(s) of {} in {}; kept {kept}",
                    if options.dry_run {
                        "would remove"
                    } else {
                        "removed"
                    },
                    options.recipe,
                    regions.join(", ")
                )
            };
            reporter.event(
                "done",
                serde_json::json!({ "recipe": options.recipe, "regions": regions, "kept": kept, "removed": removed, "dry_run": options.dry_run }),
                &text,
            );
            0
        }
        Err(e) => {
            reporter.event(
                "error",
                serde_json::json!({ "error": e.chain() }),
                &format!("error: {}", e.chain()),
            );
            1
        }
    }
}

async fn promote(global: &GlobalArgs, inputs: &VarInputs, args: &PromoteArgs) -> u8 {
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
