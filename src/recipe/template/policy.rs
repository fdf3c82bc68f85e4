//! What a template may use where: the checks made on each templated scalar before it is
//! rendered, from the names it reads and the field it fills.
//!
//! - In a field that becomes shell text (a `shell` step, a check's `run`, the `commands`
//!   of an `AWS-RunShellScript` document), every `{{ }}` must end in `| shell_quote` or
//!   yield only a number: a var's value is one word, never shell syntax.
//! - In a field stored in the clear (a step name, a tag, the recipe and image names, the
//!   image description), a secret var is refused: step names go into `timings.json`, the
//!   SSM history parameter and the SendCommand comment; tags, names and descriptions onto
//!   the AMI.
//! - `env.NAME` is readable only when the recipe declares `NAME` under `env:`.

use super::engine::Checked;
use super::scalars::{Seg, Templated};

/// The first rule `scalar` breaks: the message, and the name (or expression) at fault to
/// point at, when there is one.
pub(super) fn violation(
    scalar: &Templated,
    checked: &Checked,
    secrets: &[&str],
    declared_env: &[String],
) -> Option<(String, Option<String>)> {
    for name in &checked.names {
        let Some(var) = name.strip_prefix("env.") else {
            continue;
        };
        let var = var.split(['.', '[']).next().unwrap_or(var);
        if !declared_env.iter().any(|d| d == var) {
            return Some((
                format!(
                    "environment variable `{var}` is not declared: a recipe reads only the \
                     environment variables it lists; add `env: [{var}]` at the top level"
                ),
                Some(name.clone()),
            ));
        }
    }
    if let Some(field) = stored_in_the_clear(&scalar.path) {
        let secret = checked.names.iter().find_map(|n| {
            let root = n.split(['.', '[']).next().unwrap_or(n);
            secrets.iter().find(|s| **s == root).map(|s| (*s, n))
        });
        if let Some((var, used)) = secret {
            return Some((
                format!(
                    "secret var `{var}` in the {field}: {}; use a var that is not secret here",
                    where_stored(field)
                ),
                Some(used.clone()),
            ));
        }
    }
    if is_shell(&scalar.path) && !checked.shell_safe {
        return Some((
            "a var reaches the shell unquoted: end the expression with `| shell_quote` \
             (`{{ name | shell_quote }}` is one word, whatever the value holds), or make it \
             a number (`| int`)"
                .to_string(),
            None,
        ));
    }
    None
}

/// A value's path as its keys, `None` standing for a list index: what the field matches
/// below look at.
fn keys(path: &[Seg]) -> Vec<Option<&str>> {
    path.iter()
        .map(|s| match s {
            Seg::Key(k) => Some(k.as_str()),
            Seg::Index(_) => None,
        })
        .collect()
}

/// The fields that become shell text.
fn is_shell(path: &[Seg]) -> bool {
    let keys = keys(path);
    matches!(
        keys.as_slice(),
        [Some("steps"), None, Some("shell")]
            | [Some("validate"), None, Some("run")]
            | [Some("boot_test"), Some("checks"), None, Some("run")]
            | [
                Some("steps"),
                None,
                Some("ssm_document"),
                Some("parameters"),
                Some("commands"),
                ..
            ]
    )
}

/// The fields stored in the clear, by what an error calls them.
fn stored_in_the_clear(path: &[Seg]) -> Option<&'static str> {
    let keys = keys(path);
    Some(match keys.as_slice() {
        [Some("name")] => "recipe name",
        [Some("steps"), None, Some("name")] => "step name",
        [Some("image"), Some("name")] => "image name",
        [Some("image"), Some("description")] => "image description",
        [Some("image"), Some("tags"), Some(_)] => "tag",
        _ => return None,
    })
}

/// Where a field's value ends up, for the message.
fn where_stored(field: &str) -> &'static str {
    match field {
        "step name" => {
            "step names are stored in the clear in timings.json, the SSM history parameter \
             and the SendCommand comment"
        }
        "tag" => "tags are stored in the clear on the AMI and its snapshots",
        "recipe name" => "the recipe name is stored in the clear in tags, names and manifests",
        _ => "it is stored in the clear on the AMI, where anyone who can describe it reads it",
    }
}
