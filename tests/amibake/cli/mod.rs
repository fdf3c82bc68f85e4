//! The offline commands run as a user runs them: `validate`, `plan`, and shellcheck over
//! every script amibake renders; how the AWS commands fail before their first call.

mod errors;
mod generate;
mod plan;
mod plan_actions;
mod plan_flags;
mod plan_rebuild;
mod promote_errors;
mod shellcheck;
mod validate;
mod validate_every_error;
