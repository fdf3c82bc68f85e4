//! What the test modules share: running the binary (`cli`), the emulator, the regions a
//! test claims there and its AWS queries (`emulator`, `claims`, `stacks`), the files a
//! promote starts from (`promotion`), and the aws-smithy-mocks worlds (`sdk`,
//! `bake_mocks`, `roll_mocks`, `promote_mocks`).

pub mod bake_mocks;
pub mod claims;
pub mod cli;
pub mod emulator;
pub mod promote_mocks;
pub mod promotion;
pub mod roll_mocks;
pub mod sdk;
pub mod stacks;
