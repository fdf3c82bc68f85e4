//! AWS errors: the SDK error kept as the source, plus what amibake needs to decide —
//! the error code, and whether waiting and trying again can help.

use std::error::Error as StdError;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Codes that mean "slow down": retried with jittered backoff.
const THROTTLING: [&str; 6] = [
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
    "RequestThrottledException",
];

/// Codes that mean "not visible yet": EC2 and SSM are eventually consistent, so an id
/// returned a moment ago may not be found for a while.
const NOT_YET_VISIBLE: [&str; 4] = [
    "InvalidInstanceID.NotFound",
    "InvocationDoesNotExist",
    "InvalidAMIID.NotFound",
    "InvalidGroup.NotFound",
];

/// Codes of a failure on AWS's side (5xx): the request may have been carried out.
const SERVER_FAULTS: [&str; 8] = [
    "InternalError",
    "InternalFailure",
    "InternalServerException",
    "InternalServerError",
    "ServiceUnavailable",
    "Unavailable",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// A failed AWS call.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("{action} failed{}{}", code_suffix(.code), message_suffix(.message))]
    Call {
        /// e.g. `ec2:RunInstances`.
        action: &'static str,
        code: Option<String>,
        /// The service's own explanation, when it sent one.
        message: Option<String>,
        /// The SDK error, with its whole chain.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    #[error("no AWS region: pass --region, set AWS_REGION, or set one in the profile")]
    NoRegion,
    #[error("no {service} client for region {region}")]
    NoClient {
        service: &'static str,
        region: String,
    },
}

fn code_suffix(code: &Option<String>) -> String {
    code.as_deref()
        .map(|c| format!(" ({c})"))
        .unwrap_or_default()
}

fn message_suffix(message: &Option<String>) -> String {
    message
        .as_deref()
        .map(|m| format!(": {m}"))
        .unwrap_or_default()
}

impl AwsError {
    /// Wraps an SDK error from `action`.
    pub fn call<E, R>(action: &'static str, err: SdkError<E, R>) -> AwsError
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let code = err.code().map(str::to_string);
        let message = err.message().map(str::to_string);
        AwsError::Call {
            action,
            code,
            message,
            source: Box::new(err),
        }
    }

    /// An error amibake finds in an answer (not one the service sent).
    pub fn local(
        action: &'static str,
        code: Option<&str>,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> AwsError {
        AwsError::Call {
            action,
            code: code.map(str::to_string),
            message: None,
            source: source.into(),
        }
    }

    /// The AWS error code, when the service sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Call { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// `None` when the error says the thing asked for is not there (one of `codes`), else
    /// the error: for lookups where "not found" is an answer, not a failure.
    pub fn absent_if<T>(self, codes: &[&str]) -> Result<Option<T>, AwsError> {
        match self.code() {
            Some(code) if codes.contains(&code) => Ok(None),
            _ => Err(self),
        }
    }

    /// Throttling: retry after a jittered pause.
    pub fn is_throttling(&self) -> bool {
        self.code().is_some_and(|c| THROTTLING.contains(&c))
    }

    /// Eventual consistency: the thing exists but is not visible yet.
    pub fn is_not_yet_visible(&self) -> bool {
        self.code().is_some_and(|c| NOT_YET_VISIBLE.contains(&c))
    }

    /// Whether the call may have been carried out although it failed: no answer at all (a
    /// timeout, a dropped connection) or a failure on AWS's side. A create that fails so
    /// may have created its resource; one refused with any other code did not.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            AwsError::Call { code: None, .. } => true,
            AwsError::Call { code: Some(c), .. } => SERVER_FAULTS.contains(&c.as_str()),
            _ => false,
        }
    }

    /// Whether trying again later can help (throttling, eventual consistency, or a
    /// transport error such as a timeout or a dropped connection).
    pub fn is_transient(&self) -> bool {
        if self.is_throttling() || self.is_not_yet_visible() {
            return true;
        }
        match self {
            AwsError::Call { source, .. } => {
                // Transport failures carry no code; the SDK's own retries already ran, but
                // a phase that polls for minutes should not die of one dropped connection.
                let text = format!("{source:?}");
                self.code().is_none()
                    && (text.contains("DispatchFailure") || text.contains("TimeoutError"))
            }
            _ => false,
        }
    }

    /// The whole chain, one cause per `: `, for the user. A service error's own message
    /// says it all; transport errors need their causes.
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        if matches!(
            self,
            AwsError::Call {
                message: Some(_),
                ..
            }
        ) {
            return out;
        }
        let mut source = self.source();
        while let Some(s) = source {
            let text = s.to_string();
            if !out.contains(&text) {
                out.push_str(": ");
                out.push_str(&text);
            }
            source = s.source();
        }
        out
    }
}
