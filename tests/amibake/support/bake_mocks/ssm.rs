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
        let send_command = mock!(C::send_command).then_compute_output(send_command_answer);
        let get_command_invocation =
            mock!(C::get_command_invocation).then_output(|| invocation("Success", 0, "", ""));
        SsmRules {
            describe_instance_information,
            send_command,
            get_command_invocation,
        }
    }
}

/// SendCommand's answer: the command id is [`command_id`] of the comment.
pub fn send_command_answer(
    req: &aws_sdk_ssm::operation::send_command::SendCommandInput,
) -> aws_sdk_ssm::operation::send_command::SendCommandOutput {
    aws_sdk_ssm::operation::send_command::SendCommandOutput::builder()
        .command(
            aws_sdk_ssm::types::Command::builder()
                .command_id(command_id(req.comment().unwrap_or_default()))
                .build(),
        )
        .build()
}

/// A SendCommand rule for the commands whose label ends with `label_suffix` (a step's
/// or a check's name), to count them apart from the rest.
pub fn sends_of(label_suffix: &'static str) -> Rule {
    mock!(aws_sdk_ssm::Client::send_command)
        .match_requests(move |req| {
            req.comment()
                .is_some_and(|c| command_id(c).ends_with(label_suffix))
        })
        .then_compute_output(send_command_answer)
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
