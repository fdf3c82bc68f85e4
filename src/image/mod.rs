//! The image layer: resolving, copying, sharing and removing AMIs (with their snapshots),
//! and tearing down what a run created — written once, used by bake, promote, prune and
//! sweep.

mod event;
pub use event::{ImageEvent, Resource, ResourceKind, ResourceState};
