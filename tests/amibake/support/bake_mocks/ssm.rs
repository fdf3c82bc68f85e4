//! The SSM side of the bake mocks: the agent's registration, SendCommand and
//! GetCommandInvocation, and helpers to script invocations.

use super::*;

/// The default rules of the SSM client (home region only).
pub struct SsmRules {
    pub describe_instance_information: Rule,
    pub send_command: Rule,
    /// Every invocation succeeds at once, exit 0, no output.
    pub get_command_invocation: Rule,
}

impl SsmRules {
    pub(super) fn new(world: &Shared) -> SsmRules {
        use aws_sdk_ssm::Client as C;
        use aws_sdk_ssm::types::{InstanceInformation, PingStatus};
        let w = world.clone();
        let describe_instance_information = mock!(C::describe_instance_information)
            .then_compute_output(move |req| {
                let id = req
                    .filters()
                    .iter()
                    .find(|f| f.key() == "InstanceIds")
                    .and_then(|f| f.values().first())
                    .cloned()
                    .unwrap_or_default();
                // The agent registers once the instance runs.
                let running = lock(&w).instances.get(&id).is_some_and(|s| s == "running");
                let mut out = aws_sdk_ssm::operation::describe_instance_information::DescribeInstanceInformationOutput::builder();
                if running {
                    out = out.instance_information_list(
                        InstanceInformation::builder()
                            .instance_id(id)
                            .ping_status(PingStatus::Online)
                            .last_ping_date_time(aws_smithy_types::DateTime::from(
                                std::time::SystemTime::now(),
                            ))
                            .build(),
                    );
                }
                out.build()
            });
        let w = world.clone();
        let send_command =
            mock!(C::send_command).then_compute_output(move |req| checked_send(&w, req));
        let get_command_invocation =
            mock!(C::get_command_invocation).then_output(|| invocation("Success", 0, "", ""));
        SsmRules {
            describe_instance_information,
            send_command,
            get_command_invocation,
        }
    }
}

/// SendCommand as AWS would take it, or the test fails: one target, an instance this run
/// launched and that is running; the run's comment; a delivery timeout; and for
/// `AWS-RunShellScript` one non-empty script and one `executionTimeout` in SSM's range
/// (30 s to 48 h). The request is recorded in [`World::sent`] for tests to compare with
/// the plan ([`assert_sent`]); the answer's command id is [`command_id`] of the comment.
pub fn checked_send(
    world: &Shared,
    req: &SendCommandInput,
) -> aws_sdk_ssm::operation::send_command::SendCommandOutput {
    let comment = req.comment().unwrap_or_default();
    assert!(
        comment.starts_with(&format!("amibake {RUN_ID} ")),
        "SendCommand's comment names the run: {comment:?}"
    );
    let mut w = lock(world);
    let targets = req.instance_ids();
    assert!(
        targets.len() == 1
            && w.instances
                .get(&targets[0])
                .is_some_and(|state| state == "running"),
        "SendCommand to one running instance of this run, not {targets:?} ({:?})",
        w.instances
    );
    assert_eq!(req.timeout_seconds(), Some(600), "the delivery timeout");
    let document = req.document_name().unwrap_or_default();
    assert!(!document.is_empty(), "SendCommand names a document");
    if document == "AWS-RunShellScript" {
        let params = req.parameters().cloned().unwrap_or_default();
        let commands = &params["commands"];
        assert!(
            commands.len() == 1 && !commands[0].trim().is_empty(),
            "one non-empty script: {commands:?}"
        );
        let timeout = &params["executionTimeout"];
        let secs: Vec<u64> = timeout.iter().filter_map(|t| t.parse().ok()).collect();
        assert!(
            secs.len() == 1 && (30..=172_800).contains(&secs[0]),
            "one executionTimeout in SSM's range: {timeout:?}"
        );
    }
    w.sent.push(req.clone());
    aws_sdk_ssm::operation::send_command::SendCommandOutput::builder()
        .command(
            aws_sdk_ssm::types::Command::builder()
                .command_id(command_id(comment))
                .build(),
        )
        .build()
}

/// Asserts that the one command labelled `label` (see [`command_id`]) ran `script` with
/// `AWS-RunShellScript` on `instance`, with `timeout` as its `executionTimeout`.
pub fn assert_sent(m: &Mocks, label: &str, instance: &str, script: &str, timeout: u64) {
    let w = m.world();
    let sent: Vec<&SendCommandInput> = w
        .sent
        .iter()
        .filter(|r| command_id(r.comment().unwrap_or_default()) == label)
        .collect();
    assert_eq!(
        sent.len(),
        1,
        "one SendCommand labelled {label:?}: {sent:?}"
    );
    let req = sent[0];
    assert_eq!(req.document_name(), Some("AWS-RunShellScript"), "{label}");
    assert_eq!(req.instance_ids(), [instance], "{label}");
    let params = req.parameters().cloned().unwrap_or_default();
    assert_eq!(params["commands"], [script], "{label}: the plan's script");
    assert_eq!(
        params["executionTimeout"],
        [timeout.to_string()],
        "{label}: the plan's timeout"
    );
}

/// The command id the mocked SendCommand hands out: the comment without its
/// `amibake <run-id> ` prefix, i.e. the step or check label (`step 1/1 provision`,
/// `boot-test check ordering`), so GetCommandInvocation rules can match on it.
pub fn command_id(comment: &str) -> String {
    comment
        .strip_prefix(&format!("amibake {RUN_ID} "))
        .unwrap_or(comment)
        .to_string()
}

/// A GetCommandInvocation answer.
pub fn invocation(
    status: &str,
    response_code: i32,
    stdout: &str,
    stderr: &str,
) -> aws_sdk_ssm::operation::get_command_invocation::GetCommandInvocationOutput {
    aws_sdk_ssm::operation::get_command_invocation::GetCommandInvocationOutput::builder()
        .status(aws_sdk_ssm::types::CommandInvocationStatus::from(status))
        .status_details(status)
        .response_code(response_code)
        .standard_output_content(stdout)
        .standard_error_content(stderr)
        .build()
}

/// What GetCommandInvocation says just after SendCommand.
pub fn invocation_does_not_exist()
-> aws_sdk_ssm::operation::get_command_invocation::GetCommandInvocationError {
    aws_sdk_ssm::operation::get_command_invocation::GetCommandInvocationError::InvocationDoesNotExist(
        aws_sdk_ssm::types::error::InvocationDoesNotExist::builder()
            .meta(ErrorMetadata::builder().code("InvocationDoesNotExist").build())
            .build(),
    )
}
