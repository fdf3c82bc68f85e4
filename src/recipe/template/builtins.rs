//! The built-ins: the names tera provides from amibake itself rather than from the recipe.
//!
//! They are fixed per run (the clock is read once), and [`Builtins::held_fixed`] replaces
//! the per-run ones with stand-ins so two runs with equal inputs render equal text for the
//! input hash.

use std::collections::BTreeMap;

/// Names tera provides from amibake itself; a recipe var may not shadow them.
pub const BUILTINS: [&str; 6] = ["timestamp", "date", "recipe", "region", "run_id", "env"];

/// The built-in values of one run.
#[derive(Debug, Clone)]
pub struct Builtins {
    /// UTC, `20261123-070528`: sorts, and is legal in AMI names.
    pub timestamp: String,
    /// UTC, `2026-11-23`.
    pub date: String,
    pub region: String,
    pub run_id: String,
    /// The environment variables a recipe may read, by name: a recipe reads only those
    /// it declares (`env: [NAME]`), through the `env` built-in.
    pub env: BTreeMap<String, String>,
}

impl Builtins {
    /// The same built-ins with the per-run values replaced by fixed stand-ins.
    pub fn held_fixed(&self) -> Builtins {
        Builtins {
            timestamp: "TIMESTAMP".into(),
            date: "DATE".into(),
            run_id: "RUN_ID".into(),
            ..self.clone()
        }
    }

    /// Puts every name of [`BUILTINS`] into `ctx`; `recipe` is the recipe's name as written,
    /// `env` the environment variables it declares that are set.
    pub(super) fn insert_into(
        &self,
        ctx: &mut tera::Context,
        recipe: &str,
        env: &BTreeMap<String, String>,
    ) {
        ctx.insert("timestamp", &self.timestamp);
        ctx.insert("date", &self.date);
        ctx.insert("recipe", recipe);
        ctx.insert("region", &self.region);
        ctx.insert("run_id", &self.run_id);
        ctx.insert("env", env);
    }
}
