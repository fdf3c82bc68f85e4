//! Checks: the recipe's own (the agent's built-in checks are in `agent`).

use crate::recipe::model::Check;

use super::Script;
use super::builder::ScriptBuilder;

/// Renders a validation or boot-test check. Its exit code and stdout are judged by bake.
pub fn render_check(check: &Check) -> Script {
    let mut s = ScriptBuilder::new(&format!("check: {}", check.name));
    s.mark(&format!("check {}", check.name));
    s.raw(check.run.as_str());
    s.finish()
}
