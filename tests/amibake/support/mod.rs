//! What the test modules share: running the binary (`cli`), the emulator and its AWS
//! queries (`emulator`, `stacks`), and the aws-smithy-mocks worlds (`sdk`, `bake_mocks`,
//! `roll_mocks`).

pub mod bake_mocks;
pub mod cli;
pub mod emulator;
pub mod roll_mocks;
pub mod sdk;
pub mod stacks;
