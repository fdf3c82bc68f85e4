//! The hostile cases: what an attacker, a dead network and a cancelled CI job do to
//! amibake, each with the behaviour SECURITY.md promises. A module per kind of
//! threat:
//!
//! - `recipe_values`: vars fill values, never structure; templates bounded; no environment;
//! - `units_and_files`: unit files, drop-ins, paths and the `file` step;
//! - `bounded`: every AWS call and wait bounded, signals, no panic once anything exists;
//! - `lifecycle`: sweep leases, promote and prune guards, up-front checks;
//! - `secrets`: masking in every derived form, refusal where a secret would be stored;
//! - `iam`: the IAM policy grants exactly the calls the code makes;
//! - `emulator_doors`: only local programs may reconfigure the emulator or call it.
//!
//! Tests that need the emulator are `#[ignore]`d with the reason; `scripts/test.sh` runs
//! them (it sets `AMIBAKE_TEST_ENDPOINT`); asked for without it, they fail with one line
//! saying so.

mod bounded;
mod emulator_doors;
mod iam;
mod lifecycle;
mod limits;
mod recipe_values;
mod secrets;
mod units_and_files;
