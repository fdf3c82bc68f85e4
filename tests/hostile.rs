//! The hostile cases: what an attacker, a dead network and a cancelled CI job do to
//! amibake, each with the behaviour SECURITY.md promises. One test binary (the SDK is
//! linked once); a module per kind of threat:
//!
//! - `recipe_values`: vars fill values, never structure; templates bounded; no environment;
//! - `units_and_files`: unit files, drop-ins, paths and the `file` step;
//! - `bounded`: every AWS call and wait bounded, signals, no panic once anything exists;
//! - `lifecycle`: sweep leases, promote and prune guards, up-front checks;
//! - `secrets`: masking in every derived form, refusal where a secret would be stored;
//! - `guardrails`: the IAM policy, the CI examples and the emulator's control endpoint.
//!
//! Tests that need the emulator run under `scripts/test.sh` (which sets
//! `AMIBAKE_TEST_ENDPOINT`); without it they fail with one line saying so.

#[path = "support/cli.rs"]
mod cli;
#[path = "support/emulator.rs"]
mod emulator;
#[path = "support/bake_mocks/mod.rs"]
mod mocks;

#[path = "hostile/bounded.rs"]
mod bounded;
#[path = "hostile/guardrails.rs"]
mod guardrails;
#[path = "hostile/lifecycle.rs"]
mod lifecycle;
#[path = "hostile/limits.rs"]
mod limits;
#[path = "hostile/recipe_values.rs"]
mod recipe_values;
#[path = "hostile/secrets.rs"]
mod secrets;
#[path = "hostile/units_and_files.rs"]
mod units_and_files;
