//! `amibake roll` and `amibake rollback`: an Auto Scaling group onto an image (or back), asking
//! on a terminal first unless `--yes`.

use std::future::Future;
use std::io::Write as _;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use clap::Args;
use tokio::sync::{oneshot, watch};

use super::{Context, fail, interrupted, parse_key_value};
use crate::error::Outcome;
use crate::roll::{Ask, Confirm, Roll, RollError, RollEvent, RollRequest, Target};

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
    /// A new template (default when creating: cfn-templates/asg-rolling.yaml; for an
    /// instance refresh: cfn-templates/asg-instance-refresh.yaml).
    #[arg(long, value_name = "FILE")]
    pub template: Option<PathBuf>,
    /// Set a stack parameter (repeatable); every other parameter keeps its value.
    #[arg(long = "parameter", value_name = "K=V", value_parser = parse_key_value)]
    pub parameters: Vec<(String, String)>,
    /// A CloudWatch alarm that rolls the update back when it goes off (repeatable).
    #[arg(long = "rollback-alarm", value_name = "ARN")]
    pub rollback_alarms: Vec<String>,
    #[command(flatten)]
    pub change: ChangeArgs,
}

/// Flags of `rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The CloudFormation stack.
    #[arg(long, value_name = "NAME")]
    pub stack: String,
    #[command(flatten)]
    pub change: ChangeArgs,
}

/// Flags `roll` and `rollback` share: which parameter carries the image, and how the
/// change goes ahead.
#[derive(Debug, Args)]
pub struct ChangeArgs {
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

impl ChangeArgs {
    /// A request to move `stack` onto `target` the way these flags say.
    fn request(&self, stack: &str, target: Target) -> RollRequest {
        let mut req = RollRequest::new(stack, target);
        req.image_parameter = self.image_parameter.clone();
        req.plan = self.plan;
        req.yes = self.yes;
        req.wait_for_idle = self.wait_for_idle;
        req
    }
}

impl RollArgs {
    /// The image the flags name (clap requires one of them, and --recipe with --channel).
    fn target(&self) -> Option<Target> {
        match (&self.ami, &self.manifest, &self.channel, &self.recipe) {
            (Some(ami), _, _, _) => Some(Target::Ami(ami.clone())),
            (None, Some(path), _, _) => Some(Target::Manifest(path.clone())),
            (None, None, Some(env), Some(recipe)) => Some(Target::Channel {
                recipe: recipe.clone(),
                env: env.clone(),
            }),
            _ => None,
        }
    }
}

pub(super) async fn roll(cx: Context<'_>, args: &RollArgs) -> Outcome {
    let Some(target) = args.target() else {
        let usage = RollError::Usage(
            "name the image: --ami, --manifest, or --channel with --recipe".into(),
        );
        return Err(fail(&cx.reporter(), &usage));
    };
    let mut req = args.change.request(&args.stack, target);
    req.template = args.template.clone();
    req.parameters = args.parameters.clone();
    req.rollback_alarms = args.rollback_alarms.clone();
    run_roll(cx, req).await
}

pub(super) async fn rollback(cx: Context<'_>, args: &RollbackArgs) -> Outcome {
    run_roll(cx, args.change.request(&args.stack, Target::Previous)).await
}

/// Runs a roll or rollback to its end, asking on the terminal when there is one; ends
/// with `done`, or with the error and its exit code.
async fn run_roll(cx: Context<'_>, mut req: RollRequest) -> Outcome {
    req.poll_scale = cx.poll_scale;
    let region = cx.aws.region().to_string();
    let stack = req.stack.clone();
    let reporter = cx.reporter();
    let interrupts = Interrupts::watch();
    let confirm: Confirm<'_> = if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        Some(&interrupts)
    } else {
        None
    };
    let roll = Roll::new(cx.aws.clone(), req, &reporter);
    let result = tokio::select! {
        r = roll.run(confirm) => r,
        () = interrupts.stopped() => Err(RollError::Interrupted),
    };
    let result = if interrupts.seen() {
        Err(RollError::Interrupted)
    } else {
        result
    };
    reporter.finish();
    match result {
        Ok(outcome) => {
            reporter.emit(RollEvent::Done { outcome, region });
            Ok(())
        }
        Err(e) => {
            // The hint first: the `error` event is the last line of a failed run.
            if matches!(e, RollError::Interrupted) {
                reporter.say(&format!(
                    "if the change set was executed, the update goes on in CloudFormation; to stop it: aws cloudformation cancel-update-stack --stack-name {stack} --region {region}"
                ));
            }
            Err(fail(&reporter, &e))
        }
    }
}

/// Ctrl-C and SIGTERM during a roll, and the questions it asks on the terminal. An
/// interrupt while a question waits answers it "no" (the roll then deletes its change
/// set and ends); any other stops the roll where it is. Either way the roll ends as
/// interrupted.
struct Interrupts {
    /// How many interrupts were seen (counted by `watcher`).
    count: watch::Receiver<u32>,
    /// How many of them answered a question "no".
    answered: AtomicU32,
    /// A question waits for its answer.
    asking: AtomicBool,
    watcher: tokio::task::JoinHandle<()>,
}

impl Interrupts {
    /// Starts counting interrupts (until dropped).
    fn watch() -> Interrupts {
        let (counter, count) = watch::channel(0);
        let watcher = tokio::spawn(async move {
            loop {
                interrupted().await;
                counter.send_modify(|n| *n += 1);
            }
        });
        Interrupts {
            count,
            answered: AtomicU32::new(0),
            asking: AtomicBool::new(false),
            watcher,
        }
    }

    /// Resolves on an interrupt that answered no question.
    async fn stopped(&self) {
        let mut count = self.count.clone();
        let unanswered = |&n: &u32| {
            !self.asking.load(Ordering::SeqCst) && n > self.answered.load(Ordering::SeqCst)
        };
        if count.wait_for(unanswered).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Whether any interrupt came.
    fn seen(&self) -> bool {
        *self.count.borrow() > 0
    }
}

impl Drop for Interrupts {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

/// Asks on the terminal (stderr): yes only for `y` or `yes`. The answer is awaited
/// alongside the interrupts, so Ctrl-C answers "no".
impl Ask for Interrupts {
    fn ask<'a>(&'a self, question: &'a str) -> Pin<Box<dyn Future<Output = bool> + 'a>> {
        Box::pin(async move {
            eprint!("{question} [y/N] ");
            let _ = std::io::stderr().flush();
            self.asking.store(true, Ordering::SeqCst);
            let mut count = self.count.clone();
            let pending = |&n: &u32| n > self.answered.load(Ordering::SeqCst);
            let yes = tokio::select! {
                line = read_line() => line.is_some_and(|l| {
                    matches!(l.trim().to_ascii_lowercase().as_str(), "y" | "yes")
                }),
                Ok(n) = count.wait_for(pending) => {
                    self.answered.store(*n, Ordering::SeqCst);
                    eprintln!();
                    false
                }
            };
            self.asking.store(false, Ordering::SeqCst);
            yes
        })
    }
}

/// One line of stdin (`None` when it cannot be read). The read blocks until the user
/// presses Enter, so it runs on a thread of its own; not `spawn_blocking`, whose threads
/// the runtime waits for when it shuts down (an interrupted roll would then hang until
/// Enter).
async fn read_line() -> Option<String> {
    let (answer, line) = oneshot::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = std::io::stdin().read_line(&mut line);
        let _ = answer.send(read.ok().map(|_| line));
    });
    line.await.ok().flatten()
}
