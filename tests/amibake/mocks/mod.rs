//! The library against aws-smithy-mocks clients, under paused tokio time: what the
//! emulator cannot produce (races, throttling, failures mid-way), each test with the
//! calls and events that matter.

mod bake;
mod bake_image;
mod bake_keep;
mod history;
mod preflight;
mod promote;
mod references;
// The fleet report's wrappers.
mod roll;
mod roll_create;
mod roll_refresh;
mod roll_refusal;
mod usage;
