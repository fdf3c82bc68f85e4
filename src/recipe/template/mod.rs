//! Rendering a recipe with tera: vars, var files, `--var`, built-ins and secrets.
//!
//! A var fills a value, never structure: the recipe as written is parsed first, and each
//! YAML scalar that holds a template is rendered on its own and written back in its place
//! as one escaped scalar (`scalars.rs`). The rendered text therefore has exactly the
//! written keys, steps and list items, on the same lines, so YAML errors in it point at
//! the right line of the file.
//!
//! This file holds [`render`], which puts the pieces together; each piece has a file:
//!
//! - `vars.rs`: the declared vars and every outside source of values, merged in order;
//! - `builtins.rs`: the names amibake itself provides (`timestamp`, `region`, `env`, …);
//! - `scalars.rs`: the templated scalars of the written text, and the text rewritten;
//! - `engine.rs`: tera with bounds on size and time, `shell_quote`, no `get_env`;
//! - `policy.rs`: what a template may use in which field (shell, secrets, environment);
//! - `errors.rs`: tera's errors turned into errors that point into the recipe.

mod builtins;
mod engine;
mod errors;
mod policy;
mod scalars;
mod vars;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::error::RecipeError;
use super::yaml;
use crate::secret::Masker;

pub use builtins::{BUILTINS, Builtins};
pub use engine::{
    DEADLINE, MAX_OUTPUT_BYTES, MAX_RANGE, MAX_SCALAR_BYTES, MAX_VALUE_BYTES, shell_quote,
};
pub use scalars::Rewrite;
pub use vars::{ENV_PREFIX, MissingSecrets, Var, VarInputs};

/// The outcome of rendering.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The rendered recipe text. Holds secret values: never print it unmasked.
    pub text: String,
    /// How places in `text` map back to the recipe as written.
    pub rewrite: std::sync::Arc<Rewrite>,
    /// The recipe name as written (before rendering).
    pub name: String,
    pub vars: BTreeMap<String, Var>,
    pub masker: Masker,
    /// What errors mask: the secrets, and the values of the environment variables read
    /// (an error never prints an environment variable's value).
    pub error_masker: Masker,
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
    let declared_env = env_names(&head.env);
    let vars = vars::resolve(path, text, &head.vars, inputs, missing)?;
    let masker = vars::secrets_masker(&vars);
    let env: BTreeMap<String, String> = builtins
        .env
        .iter()
        .filter(|(k, _)| declared_env.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let error_masker = Masker::new(
        vars::secret_texts(&vars)
            .into_iter()
            .chain(env.values().cloned()),
    );

    let mut ctx = tera::Context::new();
    for (k, var) in &vars {
        ctx.insert(k.as_str(), &var.value);
    }
    builtins.insert_into(&mut ctx, &name, &env);

    let scalars = match scalars::templated(text) {
        Ok(Some(scalars)) => scalars,
        Ok(None) => Vec::new(), // not YAML: the typed parse says where
        Err(f) => return Err(RecipeError::at(path, text, f.line, f.column, f.message)),
    };
    let secrets: Vec<&str> = vars
        .iter()
        .filter(|(_, v)| v.secret)
        .map(|(k, _)| k.as_str())
        .collect();
    let mut engine = engine::Engine::new();
    let mut values = Vec::with_capacity(scalars.len());
    for scalar in &scalars {
        let fail = |fault| errors::located(path, text, scalar, fault, &error_masker);
        let checked = engine.check(&scalar.template).map_err(fail)?;
        if let Some((message, at)) = policy::violation(scalar, &checked, &secrets, &declared_env) {
            return Err(errors::violation(
                path,
                text,
                scalar,
                message,
                at.as_deref(),
            ));
        }
        values.push(engine.render(&ctx).map_err(fail)?);
    }
    let rewrite = Rewrite::new(text, &scalars, &values);
    if let Some((line, col)) = rewrite.differs(text, &scalars, &values) {
        return Err(RecipeError::at(
            path,
            text,
            line,
            col,
            "internal error: rendering this value changed the recipe's structure; please \
             report it (the value is not shown)",
        ));
    }
    Ok(Rendered {
        text: rewrite.text.clone(),
        rewrite: std::sync::Arc::new(rewrite),
        name,
        vars,
        masker,
        error_masker,
    })
}

/// The names listed under `env:` (anything else there is the typed parse's to report).
fn env_names(env: &Option<Value>) -> Vec<String> {
    match env {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// The parts of the unrendered file that rendering needs.
#[derive(Deserialize)]
struct Head {
    #[serde(default)]
    name: Option<Value>,
    #[serde(default)]
    vars: vars::RawVars,
    #[serde(default)]
    env: Option<Value>,
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
