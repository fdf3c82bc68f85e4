//! The command line: argument parsing, dispatch, and the one place a failure is shown.
//!
//! Here: the arguments every command shares, the dispatch, the runtime and the
//! [`Context`] every command that calls AWS starts from (its clients, its output mode, how
//! it ends on a failure or an interrupt); each command runs in a module of its own
//! (`validate` also holds `plan`, `roll` also `rollback`). Every command ends a failure
//! through [`fail`]: one `error` event with `--json`, else one `error:` line, and the
//! [`ExitKind`] whose code the process exits with ([`crate::error`] decides the codes);
//! so does a command line clap refuses, under `--json`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod bake;
mod check;
mod generate;
mod outdated;
mod promote;
mod prune;
mod revoke;
mod roll;
mod signals;
// The fleet report.
mod status;
mod sweep;
mod validate;

use promote::PromoteArgs;
use prune::{PruneArgs, prune};
use roll::{RollArgs, RollbackArgs, roll, rollback};
use sweep::{SweepArgs, sweep};
use validate::{plan, validate};

use signals::interrupted;
pub use signals::{Signal, Signals};

use crate::aws::{Aws, AwsOptions};
use crate::error::{ExitKind, Failure, Outcome, Stop, exit_status};
use crate::plan::OnError;
use crate::recipe::VarInputs;
use crate::recipe::types::{AccountId, AmiId, RecipeName, Region};
use crate::report::{Mode, Reporter};
use crate::secret::Masker;

#[derive(Debug, Parser)]
#[command(
    name = "amibake",
    version = env!("AMIBAKE_VERSION"),
    about = "Bake golden AMIs over SSM, prove they boot right, and roll Auto Scaling groups onto them.",
    after_help = "Examples:\n  amibake validate recipes/*.yaml\n  amibake plan recipes/al2023-tomcat-codedeploy.yaml --var agent_version=2.1.0\n  amibake bake recipes/al2023-tomcat-codedeploy.yaml --if-changed\n  amibake promote --manifest amibake-manifest.json --to dev\n  amibake roll --stack web-dev --channel dev --recipe al2023-tomcat-codedeploy --yes\n  amibake rollback --stack web-dev\n  amibake sweep --dry-run\n\nExit codes: 0 done, 1 the pipeline failed, 2 bad input or usage (nothing created), 130 interrupted (SIGINT, SIGTERM or SIGHUP)."
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
    /// Print every API call and script a bake would run, offline (no AWS calls); with
    /// --check, run only the preflight (the image name, copies, shares and keys) against AWS.
    #[command(
        after_help = "Examples:\n  amibake plan recipes/al2023-tomcat-codedeploy.yaml\n  amibake plan --json recipes/web.yaml | jq '.actions[].action'\n  amibake plan recipes/web.yaml --copy-to us-west-2 --share-with 111122223333\n  amibake plan recipes/web.yaml --if-changed --history ssm   # the reuse check and the history, as bake would\n  amibake plan recipes/web.yaml --on-error keep --manifest out/web.json   # what a failure keeps, where the manifest goes\n  amibake plan --check recipes/web.yaml --share-with 111122223333   # online: regions, keys, key policies\n\nExit codes with --check: 0 every check passed (warnings allowed), 2 a check failed (each printed with its fix), 1 an AWS call failed."
    )]
    Plan {
        /// The recipe file (one; `bake` takes several).
        #[arg(value_name = "RECIPE")]
        recipe: PathBuf,
        #[command(flatten)]
        overrides: OverrideArgs,
        /// Online: run only the preflight (the image name free in each region, copy regions
        /// enabled, keys usable in each region, share targets allowed by the key policy or
        /// grants); creates nothing.
        #[arg(long)]
        check: bool,
    },
    /// Bake the image: builder over SSM, checks, image, copies, boot test; writes a manifest.
    #[command(
        after_help = "Examples:\n  amibake bake recipes/al2023-tomcat-codedeploy.yaml --region eu-west-1\n  amibake bake recipes/web.yaml --copy-to us-west-2 --share-with 111122223333 --manifest out/web.json\n  amibake bake recipes/web.yaml --endpoint-url http://127.0.0.1:5000   # a local emulator\n  amibake bake recipes/web.yaml recipes/worker.yaml recipes/batch.yaml   # three at once\n\nCtrl-C, SIGTERM or SIGHUP stops the bake, cleans up, and exits 130 (only the same signal again abandons the cleanup, printing what is left and the sweep command). With several recipes, every bake runs to its own end; the exit code is the worst of them (130, then 1, then 2)."
    )]
    Bake(BakeArgs),
    /// Is the newest image of a recipe behind? Its scan results (`rebuild.fix_severity`)
    /// or a probe instance launched from it say which updates are pending; nothing is baked.
    #[command(
        after_help = "Examples:\n  amibake outdated recipes/web.yaml\n  amibake outdated recipes/web.yaml --rebuild-for any\n  amibake --json outdated recipes/web.yaml | jq -c 'select(.event == \"rebuild_decision\")'\n\nThe newest image is the newest available one of the recipe with the recipe's current inputs (rendered recipe, source AMI, amibake's major version), as `bake --if-changed` finds it. The probe is a small instance launched from it (no inbound rule, IMDSv2, tagged and journaled), terminated before the command ends.\n\nExit codes: 0 current, 3 a rebuild is due (updates or fixes pending, changed inputs, or no image yet), 1 failed, 2 bad input (nothing created), 130 interrupted."
    )]
    Outdated(outdated::OutdatedArgs),
    /// Remove what interrupted runs left behind: instances, temporary security groups,
    /// incomplete AMIs and their snapshots, found by amibake's tags.
    #[command(
        after_help = "Examples:\n  amibake sweep --dry-run\n  amibake sweep --older-than 30m --region eu-west-1\n  amibake sweep --older-than 2h --all-regions\n\nA run is left alone when its journal on this machine ends clean, when its lease (amibake:lease-until, which a live bake keeps renewing) is in the future, or when it is younger than --older-than. Swept: the home region, every region a run journaled here used, each --also-region, and with --all-regions every enabled region. AMIs of successful bakes (tagged amibake:complete) are never touched."
    )]
    Sweep(SweepArgs),
    /// Deregister a recipe's older AMIs and delete their snapshots, keeping the newest N
    /// and every image still in use.
    #[command(
        after_help = "Examples:\n  amibake prune --recipe web-tomcat --keep 3 --dry-run\n  amibake prune --recipe web-tomcat --keep 2 --older-than 30d --also-region us-west-2\n  amibake prune --recipe web-tomcat --keep 2 --all-regions\n\nOnly images of finished bakes (tagged amibake:recipe=NAME and amibake:complete=true) are considered, in the home region (--region) and each --also-region, or in every enabled region with --all-regions. An image always stays when it is among the newest N of its region, younger than --older-than, the value of a channel parameter /amibake/NAME/*, the image of a launch template version (or launch configuration) an Auto Scaling group uses, the image of an instance that is not terminated, a stack's amibake:image-id or amibake:previous-image-id (what rollback goes back to), anything else DescribeImageReferences names (a launch template no group uses, an SSM parameter, an Image Builder recipe), or used by another account according to the image's newest available usage report: the same survey `amibake status` reports. Each image is printed with why it stays, or with the snapshots removed with it.\n\nExit codes: 0 done (or nothing to prune), 1 an AWS call failed, 2 bad input (nothing removed), 130 interrupted."
    )]
    Prune(PruneArgs),
    /// Roll a CloudFormation stack's Auto Scaling group onto an AMI (change set, watch, self-rollback).
    #[command(
        after_help = "Examples:\n  amibake roll --stack web --manifest amibake-manifest.json\n  amibake roll --stack web --ami ami-0123456789abcdef0 --plan\n  amibake roll --stack web-dev --channel dev --recipe web-tomcat --yes   # the AMI `promote` put in /amibake/web-tomcat/dev\n  amibake roll --stack web --ami /golden/web/latest --rollback-alarm arn:aws:cloudwatch:eu-west-1:111122223333:alarm:web-5xx --yes\n  amibake roll --stack web --ami ami-0123456789abcdef0 --template cfn-templates/asg-rolling.yaml \\\n      --parameter VpcId=vpc-0abc --parameter Subnets=subnet-0a,subnet-0b --parameter InstanceProfile=web   # creates the stack\n  amibake roll --stack web --ami ami-0123456789abcdef0 --template cfn-templates/asg-instance-refresh.yaml --yes   # now by instance refresh\n\nThe update policy of the template (rolling update or instance refresh) replaces the instances; amibake says which and follows it.\n\nExit codes: 0 rolled (or already on the AMI, or --plan), 1 refused while busy or the update failed and rolled back, 2 bad input or an instance refresh that could not roll back (nothing changed), 130 interrupted."
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
        after_help = "Examples:\n  amibake promote --manifest amibake-manifest.json --to dev\n  amibake promote --manifest amibake-manifest.json --to staging --copy-to us-west-2 --share-with 111122223333\n  amibake promote --manifest amibake-manifest.json --to prod --plan    # what it would do; changes nothing\n  amibake promote --manifest amibake-manifest.json --to prod --force   # skip the order check\n  amibake roll --stack web-dev --channel dev --recipe web-tomcat --yes  # roll what dev holds\n\nThe order comes from the recipe's `promotion: [dev, staging, prod]`: an image enters an environment only when the environment before it holds that image (in the manifest's region), unless --force. The parameter (data type aws:ec2:image) records who promoted, when and from which run in its description and tags.\n\nExit codes: 0 promoted (or already there, or --plan computed), 1 refused by the order check or a copy/AWS call failed, 2 bad input (unknown environment, unreadable manifest or recipe; nothing changed), 130 interrupted."
    )]
    Promote(PromoteArgs),
    /// The fleet report: a recipe's images (or every amibake image) in each region, what
    /// uses each, how old and how far behind each is. Reads only.
    #[command(
        after_help = "Examples:\n  amibake status --recipe web-tomcat\n  amibake status --all --region eu-west-1 --also-region us-west-2\n  amibake status --recipe web-tomcat --max-age 30d   # CI: exit 1 when an image in use is older\n  amibake --json status --recipe web-tomcat | jq '.images[] | select(.in_use)'\n  amibake status --recipe web-tomcat --plan         # the calls it would make; makes none\n  amibake status --recipe web-tomcat --usage-report # also which other accounts use a shared image\n\nOnly complete images of amibake's bakes (amibake:complete=true) are reported, disabled ones too, in the home region (--region) and each --also-region. An image is in use when the survey prune keeps by finds it: a channel /amibake/RECIPE/ENV, an Auto Scaling group's launch template version or launch configuration, an instance that is not terminated, a stack's amibake:image-id or amibake:previous-image-id, anything DescribeImageReferences names, or another account in the image's newest available usage report. BEHIND counts the recipe's newer complete builds in the region; CHANNELS shows each channel as ENV= (the image is the channel's), ENV-N (N builds behind it), ENV+N (ahead) or ENV? (the channel holds an image that is not one of the recipe's builds here). Status only reads, except --usage-report, which creates a usage report of each image (CreateImageUsageReport).\n\nExit codes: 0 reported (also when there are no images), 1 an image in use is older than --max-age (each named) or an AWS call failed, 2 bad input (an unknown flag, a bad duration or recipe name), 130 interrupted."
    )]
    Status(status::StatusArgs),
    /// Pull a bad image everywhere: move every channel that holds it back to what it held
    /// before, disable it and every copy, print what still uses it; dry run unless --yes.
    #[command(
        after_help = "Examples:\n  amibake revoke --ami ami-0123456789abcdef0 --also-region us-west-2 --reason \"CVE-2026-1234 in openssl\"   # dry run: the plan\n  amibake revoke --manifest amibake-manifest.json --reason \"broken agent\" --yes --roll-back-stacks\n  amibake restore --ami ami-0123456789abcdef0 --also-region us-west-2 --yes   # undo it\n\nEach channel /amibake/RECIPE/ENV holding the image (or a copy) goes back to the value its SSM history held before, skipping images that cannot launch; its new version records who, when, the run and --reason, and the tag amibake:revoked-from=ID. Then DisableImage on the image and every copy; with --roll-back-stacks each stack on it rolls back to its amibake:previous-image-id. Nothing is deregistered or deleted. A rerun does what is left, or says everything is revoked already.\n\nExit codes: 0 done (or the dry run printed, or nothing left to do), 1 an AWS call or a rollback failed (what was done and not is listed; rerun to finish), 2 bad input (nothing changed), 130 interrupted."
    )]
    Revoke(revoke::RevokeArgs),
    /// Undo a revoke: enable the image and its copies, and move every channel revoke moved
    /// off it (and that did not change since) back to it; dry run unless --yes.
    #[command(
        after_help = "Examples:\n  amibake restore --ami ami-0123456789abcdef0 --also-region us-west-2\n  amibake restore --manifest amibake-manifest.json --yes\n\nA channel tagged amibake:revoked-from=ID whose newest version is revoke's goes back to ID and loses the tag; one changed since (a promote after the revoke) is left alone and named. Stacks are not rolled forward (amibake roll does that).\n\nExit codes: 0 done (or the dry run printed, or nothing left to do), 1 an AWS call failed, 2 bad input (nothing changed), 130 interrupted."
    )]
    Restore(revoke::RestoreArgs),
    /// Print shell completions or the man page (for packagers and `just completions`).
    #[command(hide = true)]
    Generate { artifact: generate::Artifact },
}

fn parse_recipe_name(s: &str) -> Result<RecipeName, String> {
    RecipeName::try_from(s.to_string())
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
    #[command(flatten)]
    pub overrides: OverrideArgs,
}

/// What `plan` and `bake` add to a recipe from the command line: `plan` takes the same
/// flags as `bake` and prints the actions they add or change (the cleanup after a failure,
/// where the manifest goes); the bake then reads them from its plan.
#[derive(Debug, Clone, Args)]
pub struct OverrideArgs {
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
    /// With --if-changed: what to rebuild for, instead of the recipe's `rebuild.updates`:
    /// `inputs` (changed inputs only), `security` (also pending security updates), `any`
    /// (also any pending update).
    #[arg(long, value_enum, value_name = "WHAT", requires = "if_changed")]
    pub rebuild_for: Option<crate::recipe::model::Updates>,
    /// Where the wait history lives: `local` (the state directory only), `ssm` (also an SSM
    /// parameter per recipe, /amibake-wait-history/RECIPE in the bake's region, so a fresh
    /// CI runner waits as warm as the last bake did) or `ssm:/PATH` (parameters under /PATH).
    #[arg(
        long,
        value_name = "WHERE",
        env = "AMIBAKE_HISTORY",
        default_value = "local"
    )]
    pub history: crate::aws::history::account::Location,
    /// Where to write the manifest. With several recipes, the Nth bake writes it with `.N`
    /// before the extension (amibake-manifest.1.json, amibake-manifest.2.json, …).
    #[arg(long, value_name = "PATH", default_value = crate::plan::DEFAULT_MANIFEST)]
    pub manifest: PathBuf,
    /// What to do with the builder and a half-made image when the bake fails.
    #[arg(long, value_enum, default_value_t = OnError::Cleanup)]
    pub on_error: OnError,
}

impl OverrideArgs {
    fn overrides(&self) -> crate::plan::Overrides {
        use crate::aws::history::account::Location;
        crate::plan::Overrides {
            copy_to: self.copy_to.clone(),
            share_with: self.share_with.clone(),
            reuse: self.if_changed && !self.force,
            forced: self.if_changed && self.force,
            rebuild_for: self.rebuild_for,
            history_prefix: match &self.history {
                Location::Local => None,
                Location::Ssm { prefix } => Some(prefix.clone()),
            },
            on_error: self.on_error,
            manifest: self.manifest.clone(),
        }
    }
}

fn parse_region(s: &str) -> Result<Region, String> {
    Region::try_from(s.to_string())
}

/// An AMI id (`ami-` and 8 or 17 hex digits), checked before any AWS call.
fn parse_ami_id(s: &str) -> Result<String, String> {
    AmiId::try_from(s.to_string()).map(String::from)
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
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return refused(e),
    };
    let inputs = VarInputs {
        var_files: cli.global.var_files.clone(),
        vars: cli.global.vars.clone(),
        env_vars: Vec::new(),
    }
    .with_process_env();
    match &cli.command {
        Command::Validate { recipes } => validate(&cli.global, &inputs, recipes),
        Command::Plan {
            recipe,
            overrides,
            check: true,
        } => online(&cli.global, None, |cx| {
            check::plan_check(cx, &inputs, recipe, overrides.overrides())
        }),
        Command::Plan {
            recipe, overrides, ..
        } => plan(&cli.global, &inputs, recipe, &overrides.overrides()),
        Command::Bake(args) => online(&cli.global, None, |cx| bake::bake(cx, &inputs, args)),
        Command::Outdated(args) => online(&cli.global, None, |cx| {
            outdated::outdated(cx, &inputs, args)
        }),
        Command::Sweep(args) => online(&cli.global, None, |cx| sweep(cx, args)),
        Command::Prune(args) => online(&cli.global, None, |cx| prune(cx, args)),
        Command::Roll(args) => online(&cli.global, None, |cx| roll(cx, args)),
        Command::Rollback(args) => online(&cli.global, None, |cx| rollback(cx, args)),
        Command::Promote(args) => promote::run(&cli.global, &inputs, args),
        Command::Status(args) => online(&cli.global, None, |cx| status::status(cx, args)),
        Command::Revoke(args) => revoke::run_revoke(&cli.global, args),
        Command::Restore(args) => revoke::run_restore(&cli.global, args),
        Command::Generate { artifact } => generate::generate(&cli.global, *artifact),
    }
}

/// A command line clap does not run. `--help` and `--version` (and the help shown when
/// nothing is asked) print as clap prints them; any other refusal is bad usage, said as
/// clap says it on stderr, or with `--json` among the arguments as an `error` event
/// through [`fail`] (clap's message without its usage: that is for `--help`).
fn refused(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let shown_as_is = matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    let json = std::env::args_os()
        .skip(1)
        .take_while(|arg| arg != "--")
        .any(|arg| arg == "--json");
    if shown_as_is || !json {
        e.exit();
    }
    let text = e.render().to_string();
    let said: Vec<&str> = text
        .lines()
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .collect();
    let said = said.join("\n");
    let message = said.trim();
    let message = message.strip_prefix("error: ").unwrap_or(message);
    let failure = Stop::with_source(ExitKind::Usage, message, e);
    let reporter = Reporter::new(Mode::Json, Masker::default());
    exit_status(Err(fail(&reporter, &failure)))
}

/// What every command that calls AWS starts from, built once: its flags, the AWS clients
/// and how it reports.
pub struct Context<'a> {
    pub global: &'a GlobalArgs,
    pub aws: Aws,
    pub mode: Mode,
    /// The scale of every poll interval (`AMIBAKE_POLL_SCALE`, default 1).
    pub poll_scale: f64,
}

impl Context<'_> {
    /// A reporter in the command's output mode, masking nothing (a bake's reporter masks
    /// its recipe's secrets).
    pub fn reporter(&self) -> Reporter {
        Reporter::new(self.mode, Masker::default())
    }

    /// Runs a command's work until it ends or the user interrupts it: done, failed (its
    /// failure shown), or interrupted on Ctrl-C, SIGTERM or SIGHUP (`hint`, then the
    /// `error` event).
    pub async fn run_until_interrupted<T, E: Failure>(
        &self,
        reporter: &Reporter,
        hint: &str,
        work: impl std::future::Future<Output = Result<T, E>>,
    ) -> Outcome {
        tokio::select! {
            r = work => r.map(drop).map_err(|e| fail(reporter, &e)),
            () = interrupted() => {
                reporter.say(hint);
                Err(fail(reporter, &Stop::interrupted()))
            }
        }
    }
}

/// Ends a command that failed, the one way every failure is shown: its `error` event
/// (`--json`: `error`, `exit_code` and the failure's detail), or its `error:` line;
/// returns how the process ends.
pub fn fail(reporter: &Reporter, failure: &dyn Failure) -> ExitKind {
    reporter.finish();
    reporter.emit(failure.event());
    failure.kind()
}

/// Runs a command that calls AWS: starts the runtime, loads the AWS configuration (the
/// region: the flag, the SDK's chain, else `fallback_region`) and hands the command its
/// context. A configuration that does not load is bad input, nothing called.
fn online<'g, F, Fut>(
    global: &'g GlobalArgs,
    fallback_region: Option<String>,
    command: F,
) -> ExitCode
where
    F: FnOnce(Context<'g>) -> Fut,
    Fut: std::future::Future<Output = Outcome>,
{
    let mode = Mode::detect(global.json, global.no_progress);
    with_runtime(mode, async move {
        let mut options = aws_options(global);
        if options.region.is_none() {
            options.region = fallback_region;
        }
        let aws = Aws::load(&options).await.map_err(|e| {
            let failure = Stop::with_source(ExitKind::Usage, e.to_string(), e);
            fail(&Reporter::new(mode, Masker::default()), &failure)
        })?;
        let cx = Context {
            global,
            aws,
            mode,
            poll_scale: poll_scale(),
        };
        command(cx).await
    })
}

/// Runs an AWS command on a tokio runtime (offline commands never start one: `validate`
/// stays fast).
fn with_runtime(mode: Mode, fut: impl std::future::Future<Output = Outcome>) -> ExitCode {
    let outcome = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(fut),
        Err(e) => {
            let failure = Stop::with_source(
                ExitKind::Failed,
                format!("cannot start the async runtime: {e}"),
                e,
            );
            Err(fail(&Reporter::new(mode, Masker::default()), &failure))
        }
    };
    exit_status(outcome)
}

/// The scale of every poll interval (`AMIBAKE_POLL_SCALE`, default 1).
fn poll_scale() -> f64 {
    std::env::var("AMIBAKE_POLL_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|v: &f64| v.is_finite() && *v > 0.0 && *v <= 10.0)
        .unwrap_or(1.0)
}

fn aws_options(global: &GlobalArgs) -> AwsOptions {
    AwsOptions {
        region: global.region.clone(),
        profile: global.profile.clone(),
        endpoint_url: global.endpoint_url.clone(),
        timeouts: duration_env("AMIBAKE_API_TIMEOUT")
            .map(crate::aws::CallTimeouts::from_attempt)
            .unwrap_or_default(),
    }
}

/// A duration from the environment (`90s`, `5m`); unset or unreadable is `None` (with a
/// warning for the latter: the default applies).
pub(crate) fn duration_env(name: &str) -> Option<std::time::Duration> {
    let value = std::env::var(name).ok()?;
    match value.parse::<crate::recipe::types::Duration>() {
        Ok(d) if !d.get().is_zero() => Some(d.get()),
        _ => {
            eprintln!("warning: {name} must be a duration such as 90s or 5m; using the default");
            None
        }
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
