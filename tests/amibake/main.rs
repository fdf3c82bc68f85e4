//! amibake's integration tests: one binary (the AWS SDK is linked once), a module per
//! kind of test:
//!
//! - `cli`: the offline commands (`validate`, `plan`) and shellcheck over the scripts;
//! - `mocks`: the library against aws-smithy-mocks clients, under paused time;
//! - `emulator`: the commands end to end against the local emulator;
//! - `realos`: bakes whose instances boot a real OS in a container;
//! - `hostile`: what an attacker, a dead network and a cancelled CI job do;
//! - `support`: what they share.
//!
//! `cargo test` runs what needs nothing but this checkout. Tests that need the emulator,
//! the real-OS root or shellcheck are `#[ignore]`d with the reason; scripts/test.sh
//! provides all three and runs every test (`--include-ignored`). Asked for and missing,
//! such a test fails with one line saying what is missing.

mod cli;
mod emulator;
mod hostile;
mod mocks;
mod realos;
mod support;
