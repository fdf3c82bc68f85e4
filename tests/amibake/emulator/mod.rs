//! The commands end to end against the local emulator (moto + emulator/; see
//! emulator/README.md), which scripts/test.sh starts.

mod bake;
mod bake_agent_v2;
mod bake_history;
mod bake_honest;
mod bake_many;
mod bake_preflight;
mod bake_profile;
mod bake_rebuild;
mod bake_scan;
mod plan_calls;
mod promote;
mod promote_plan;
mod promote_scan;
mod prune;
mod prune_refs;
mod revoke;
mod roll;
mod roll_allowed;
mod roll_update;
// The fleet report.
mod status;
mod status_flags;
mod sweep;
