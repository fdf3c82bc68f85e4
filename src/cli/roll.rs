//! `amibake roll` and `amibake rollback`: an Auto Scaling group onto an image (or back), asking
//! on a terminal first unless `--yes`.

use std::io::Write as _;
use std::path::PathBuf;

use clap::Args;

use super::{Context, EXIT_USAGE, interrupted, parse_key_value};

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

pub(super) async fn roll(cx: Context<'_>, args: &RollArgs) -> u8 {
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
    run_roll(cx, req).await
}

pub(super) async fn rollback(cx: Context<'_>, args: &RollbackArgs) -> u8 {
    let mut req = crate::roll::RollRequest::new(&args.stack, crate::roll::Target::Previous);
    req.image_parameter = args.image_parameter.clone();
    req.plan = args.plan;
    req.yes = args.yes;
    req.wait_for_idle = args.wait_for_idle;
    run_roll(cx, req).await
}

/// Runs a roll or rollback: asks on the terminal, prints the outcome, maps the exit code.
pub(super) async fn run_roll(cx: Context<'_>, mut req: crate::roll::RollRequest) -> u8 {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let aws = cx.aws.clone();
    req.poll_scale = cx.poll_scale;
    let region = aws.region().to_string();
    let stack = req.stack.clone();
    let reporter = cx.reporter();
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
pub(super) fn ask_on_terminal(question: &str, interrupted: &std::sync::atomic::AtomicBool) -> bool {
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
