//! Rendering a recipe with tera: vars, var files, `--var`, built-ins and secrets.
//!
//! A recipe is YAML both before and after rendering: template expressions live inside
//! YAML scalars (quote a value that starts with `{{`). That lets us read `vars` from the
//! unrendered file with exact positions, and keeps line numbers stable through rendering
//! so YAML errors in the rendered text still point at the right line of the file.
//!
//! This file holds [`render`], which puts the pieces together; each piece has a file:
//!
//! - `vars.rs`: the declared vars and every outside source of values, merged in order;
//! - `builtins.rs`: the names amibake itself provides (`timestamp`, `region`, `env`, …);
//! - `errors.rs`: tera's errors turned into errors that point into the recipe.

mod builtins;
mod errors;
mod vars;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::error::RecipeError;
use super::yaml;
use crate::secret::Masker;

pub use builtins::{BUILTINS, Builtins};
pub use vars::{ENV_PREFIX, MissingSecrets, Var, VarInputs};

/// The outcome of rendering.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The rendered recipe text. Holds secret values: never print it unmasked.
    pub text: String,
    /// The recipe name as written (before rendering).
    pub name: String,
    pub vars: BTreeMap<String, Var>,
    pub masker: Masker,
}

/// Renders `text` (the contents of `path`) into YAML ready for typed parsing.
pub fn render(
    path: &Path,
    text: &str,
    inputs: &VarInputs,
    builtins: &Builtins,
    missing: MissingSecrets,
) -> Result<Rendered, RecipeError> {
    let head: Head = yaml::from_str(path, text)?;
    let name = match head.name {
        Some(Value::String(s)) => s,
        _ => String::new(), // typed parsing reports a missing or mistyped name with its place
    };
    let vars = vars::resolve(path, text, &head.vars, inputs, missing)?;
    let masker = vars::secrets_masker(&vars);

    let mut ctx = tera::Context::new();
    for (k, var) in &vars {
        ctx.insert(k.as_str(), &var.value);
    }
    builtins.insert_into(&mut ctx, &name);

    let rendered = tera::Tera::one_off(text, &ctx, false)
        .map_err(|e| errors::template_error(path, text, &e, &masker))?;
    Ok(Rendered {
        text: rendered,
        name,
        vars,
        masker,
    })
}

/// The parts of the unrendered file that rendering needs.
#[derive(Deserialize)]
struct Head {
    #[serde(default)]
    name: Option<Value>,
    #[serde(default)]
    vars: vars::RawVars,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render_error(text: &str) -> RecipeError {
        let builtins = Builtins {
            timestamp: "t".into(),
            date: "d".into(),
            region: "r".into(),
            run_id: "i".into(),
            env: BTreeMap::new(),
        };
        render(
            Path::new("t.yaml"),
            text,
            &VarInputs::default(),
            &builtins,
            MissingSecrets::Placeholder,
        )
        .expect_err("should be rejected")
    }

    #[test]
    fn var_mistakes_point_at_the_name_or_the_key_at_fault() {
        let err = render_error("vars:\n  ok: 1\n  bad-name: 2\n");
        assert_eq!((err.line, err.column), (Some(3), Some(3)), "{err}");
        let err = render_error("vars:\n  date: 1\n");
        assert_eq!((err.line, err.column), (Some(2), Some(3)), "{err}");
        let err = render_error("vars:\n  pw:\n    secret: true\n    defualt: x\n");
        assert_eq!((err.line, err.column), (Some(4), Some(5)), "{err}");
        assert!(err.message.contains("unknown key `defualt`"), "{err}");
        let err = render_error("vars:\n  pw: { secret: maybe }\n");
        assert_eq!((err.line, err.column), (Some(2), Some(17)), "{err}");
    }

    #[test]
    fn unknown_filters_and_functions_are_located() {
        let err = render_error("a: \"{{ 'x' | upper }} {{ 'y' | shout }}\"\n");
        assert_eq!((err.line, err.column), (Some(1), Some(32)), "{err}");
        assert!(err.message.contains("unknown filter `shout`"), "{err}");
        let err = render_error("a: x\nb: \"{{ shout(v=1) }}\"\n");
        assert_eq!((err.line, err.column), (Some(2), Some(8)), "{err}");
        assert!(err.message.contains("unknown function `shout`"), "{err}");
    }
}
