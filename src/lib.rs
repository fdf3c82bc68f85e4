//! amibake: a golden-AMI bake-and-roll pipeline.
//!
//! Data flows one way: [`recipe`] (load → render → typed model → validate) → [`plan`]
//! (the ordered actions, pure and printable) → [`bake`] (walks them) → [`manifest`] →
//! [`promote`] → [`roll`]. Every command reports typed [`event`]s through a
//! [`report::Reporter`]; [`image`] is the layer bake, promote, prune and sweep share. The
//! binary in `main.rs` only calls [`cli::main`]. [`status`] reads what runs where (the
//! [`fleet`] survey prune keeps by) and changes nothing but a usage report on request.

pub mod aws;
pub mod bake;
pub mod cli;
pub mod error;
pub mod escape;
pub mod event;
pub mod fleet;
pub mod image;
pub mod journal;
pub mod lease;
pub mod manifest;
pub mod plan;
pub mod preflight;
pub mod promote;
pub mod prune;
pub mod rebuild;
pub mod recipe;
pub mod report;
pub mod revoke;
pub mod roll;
pub mod run;
pub mod scan;
pub mod script;
pub mod secret;
// The fleet report (`amibake status`).
pub mod status;
pub mod sweep;
pub mod tags;
