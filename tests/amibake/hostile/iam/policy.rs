//! What the policy grants: the statements of the IAM template's managed policies.

use super::read;
use crate::support::emulator;

pub(super) const IAM_TEMPLATE: &str = "cfn-templates/amibake-iam.yaml";

/// One statement of the template's managed policies.
#[derive(Debug)]
pub(super) struct Statement {
    pub policy: String,
    pub sid: String,
    pub allow: bool,
    pub actions: Vec<String>,
    pub text: String,
}

impl Statement {
    pub fn on_any_resource(&self) -> bool {
        self.text.lines().any(|l| {
            matches!(
                l.trim(),
                "Resource: \"*\"" | "Resource: '*'" | "Resource: *"
            )
        })
    }
}

/// The statements of every `AWS::IAM::ManagedPolicy` of the IAM template (each statement
/// starts with its `- Sid:`), comments left out.
pub(super) fn policy_statements() -> Vec<Statement> {
    let text = read(&emulator::repo(IAM_TEMPLATE));
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    // Resources: two-space-indented keys under `Resources:`.
    let mut blocks: Vec<(String, Vec<&str>)> = Vec::new();
    let mut in_resources = false;
    for line in &lines {
        if !line.starts_with(' ') && !line.is_empty() {
            in_resources = line.trim_end() == "Resources:";
            continue;
        }
        if !in_resources {
            continue;
        }
        if line.starts_with("  ") && !line.starts_with("   ") {
            blocks.push((line.trim().trim_end_matches(':').to_string(), Vec::new()));
        } else if let Some((_, body)) = blocks.last_mut() {
            body.push(line);
        }
    }
    let mut statements = Vec::new();
    for (name, body) in blocks {
        if !body
            .iter()
            .any(|l| l.trim() == "Type: AWS::IAM::ManagedPolicy")
        {
            continue;
        }
        let mut current: Option<Vec<&str>> = None;
        let mut all = Vec::new();
        for line in body {
            if line.trim_start().starts_with("- Sid:") {
                all.extend(current.take());
                current = Some(vec![line]);
            } else if let Some(c) = current.as_mut() {
                c.push(line);
            }
        }
        all.extend(current);
        for lines in all {
            let sid = lines[0]
                .trim()
                .trim_start_matches("- Sid:")
                .trim()
                .to_string();
            let mut actions = Vec::new();
            let mut in_actions = false;
            for line in &lines[1..] {
                let t = line.trim();
                assert!(
                    !t.starts_with("NotAction") && !t.starts_with("NotResource"),
                    "{name}/{sid}: NotAction/NotResource grant more than they name"
                );
                if let Some(v) = t.strip_prefix("Action:") {
                    let v = v.trim();
                    in_actions = v.is_empty();
                    if !v.is_empty() {
                        actions.push(v.trim_matches('"').to_string());
                    }
                } else if in_actions && t.starts_with("- ") {
                    actions.push(t[2..].trim().trim_matches('"').to_string());
                } else {
                    in_actions = false;
                }
            }
            statements.push(Statement {
                policy: name.clone(),
                allow: lines.iter().any(|l| l.trim() == "Effect: Allow"),
                sid,
                actions,
                text: lines.join("\n"),
            });
        }
    }
    assert!(
        statements.len() > 5,
        "found only {} statements in {IAM_TEMPLATE}'s managed policies (each starts with `- Sid:`)",
        statements.len()
    );
    statements
}

pub(super) fn granted() -> std::collections::BTreeSet<String> {
    policy_statements()
        .into_iter()
        .filter(|s| s.allow)
        .flat_map(|s| s.actions)
        .collect()
}

/// Each action of the `Allow` statements `keep` keeps, with where it stands
/// (`POLICY/SID`).
pub(super) fn allowed_actions(keep: impl Fn(&Statement) -> bool) -> Vec<(String, String)> {
    policy_statements()
        .into_iter()
        .filter(|s| s.allow && keep(s))
        .flat_map(|s| {
            let at = format!("{}/{}", s.policy, s.sid);
            s.actions.into_iter().map(move |a| (a, at.clone()))
        })
        .collect()
}
