//! Vars: what the recipe declares under `vars:`, and the outside values that override it.
//!
//! Values are merged in one order, later winning: the recipe's defaults, each
//! `--var-file`, `AMIBAKE_VAR_*` environment variables, then each `--var`. What is still
//! without a value afterwards is an error, except a secret when nothing will be sent
//! ([`MissingSecrets::Placeholder`]). Every var remembers where its value came from, for
//! `plan`'s listing.
//!
//! `vars:` is read from the unrendered file with the place of every name and key, so an
//! error about a var points at its name (or the key at fault), not at its value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::Spanned;

use super::builtins::BUILTINS;
use crate::recipe::error::RecipeError;
use crate::recipe::{code_list, read_text, yaml};
use crate::secret::{MASK, Masker};

/// Prefix of environment variables that set vars (`AMIBAKE_VAR_db_password=…`): the way to
/// pass a secret without putting it on a command line.
pub const ENV_PREFIX: &str = "AMIBAKE_VAR_";

/// Values that come from outside the recipe.
#[derive(Debug, Clone, Default)]
pub struct VarInputs {
    /// `--var-file` paths, in order (later files win).
    pub var_files: Vec<PathBuf>,
    /// `--var K=V`, in order (later wins).
    pub vars: Vec<(String, String)>,
    /// `AMIBAKE_VAR_*` environment variables.
    pub env_vars: Vec<(String, String)>,
}

impl VarInputs {
    /// Reads `AMIBAKE_VAR_*` from the process environment.
    pub fn with_process_env(mut self) -> Self {
        self.env_vars = std::env::vars()
            .filter_map(|(k, v)| k.strip_prefix(ENV_PREFIX).map(|n| (n.to_string(), v)))
            .collect();
        self
    }
}

/// When a secret var has no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingSecrets {
    /// `validate` and `plan` stand in `***`: they never send anything.
    Placeholder,
    /// `bake` refuses: it would send the wrong value.
    Error,
}

/// A declared var after merging every source.
#[derive(Debug, Clone)]
pub struct Var {
    pub value: Value,
    pub secret: bool,
    /// Where the final value came from, for `plan`'s listing.
    pub origin: String,
}

impl Var {
    /// Overrides the value, and says where the new one came from.
    fn set(&mut self, value: Value, origin: impl Into<String>) {
        self.value = value;
        self.origin = origin.into();
    }
}

/// The declared vars with every outside value applied, in order; an error for a `--var`
/// the recipe does not declare or a var left without a value.
pub(super) fn resolve(
    path: &Path,
    text: &str,
    raw: &RawVars,
    inputs: &VarInputs,
    missing: MissingSecrets,
) -> Result<BTreeMap<String, Var>, RecipeError> {
    let mut vars = declared_vars(path, text, raw)?;
    for file in &inputs.var_files {
        apply_var_file(file, &mut vars)?;
    }
    for (k, v) in &inputs.env_vars {
        // Environment variables may be set for other recipes: unknown ones are ignored.
        if let Some(var) = vars.get_mut(k) {
            var.set(Value::String(v.clone()), format!("${ENV_PREFIX}{k}"));
        }
    }
    for (k, v) in &inputs.vars {
        let Some(var) = vars.get_mut(k) else {
            return Err(RecipeError::file(
                path,
                format!(
                    "--var {k}: the recipe declares no var `{k}` ({})",
                    list_or_none(vars.keys())
                ),
            ));
        };
        var.set(Value::String(v.clone()), "--var");
    }
    fill_missing(path, &mut vars, missing)?;
    Ok(vars)
}

/// A masker for the text every secret var renders to (what it looks like inside the
/// rendered recipe).
pub(super) fn secrets_masker(vars: &BTreeMap<String, Var>) -> Masker {
    Masker::new(secret_texts(vars))
}

/// The text every secret var renders to.
pub(super) fn secret_texts(vars: &BTreeMap<String, Var>) -> Vec<String> {
    vars.values()
        .filter(|v| v.secret)
        .map(|v| match &v.value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

/// Reads the `vars:` block: plain values, `~` (required), or `{ secret, default, description }`.
fn declared_vars(
    path: &Path,
    text: &str,
    raw: &RawVars,
) -> Result<BTreeMap<String, Var>, RecipeError> {
    let at = |loc: serde_saphyr::Location, msg: String| {
        RecipeError::at(path, text, loc.line(), loc.column(), msg)
    };
    let mut vars = BTreeMap::new();
    for (spanned_name, raw_var) in &raw.0 {
        let name = &spanned_name.value;
        let name_at = |msg: String| at(spanned_name.referenced, msg);
        if !is_identifier(name) {
            return Err(name_at(format!(
                "invalid var name `{name}`: expected letters, digits and `_`, not starting with a digit"
            )));
        }
        if BUILTINS.contains(&name.as_str()) {
            return Err(name_at(format!(
                "var `{name}` shadows a built-in: rename it (built-ins: {})",
                BUILTINS.join(", ")
            )));
        }
        let (value, secret) = match raw_var {
            RawVar::Spec(spec) => read_spec(name, spec).map_err(|(loc, msg)| at(loc, msg))?,
            RawVar::Plain(v) => (v.clone(), false),
        };
        let origin = "recipe".into();
        vars.insert(
            name.clone(),
            Var {
                value,
                secret,
                origin,
            },
        );
    }
    Ok(vars)
}

/// The default value and the secrecy of var `name` written as a spec; an error is the
/// place of the key or value at fault, with the message.
fn read_spec(
    name: &str,
    spec: &[(Spanned<String>, Spanned<Value>)],
) -> Result<(Value, bool), (serde_saphyr::Location, String)> {
    let mut value = Value::Null;
    let mut secret = false;
    for (key, v) in spec {
        match key.value.as_str() {
            "default" => value = v.value.clone(),
            "description" => {}
            "secret" => match &v.value {
                Value::Bool(b) => secret = *b,
                other => {
                    return Err((
                        v.referenced,
                        format!("var `{name}`: `secret` must be true or false, found {other}"),
                    ));
                }
            },
            other => {
                return Err((
                    key.referenced,
                    format!(
                        "unknown key `{other}` in var `{name}`: expected `secret`, `default` or `description`"
                    ),
                ));
            }
        }
    }
    Ok((value, secret))
}

/// Applies one `--var-file` (a YAML map). Keys the recipe does not declare are ignored, so
/// one file can serve several recipes.
fn apply_var_file(file: &Path, vars: &mut BTreeMap<String, Var>) -> Result<(), RecipeError> {
    let text = read_text(file)?;
    let values: BTreeMap<String, Value> = yaml::from_str(file, &text)?;
    for (k, v) in values {
        if let Some(var) = vars.get_mut(&k) {
            var.set(v, file.display().to_string());
        }
    }
    Ok(())
}

/// Stands in the placeholder for a secret without a value where that is allowed; an error
/// naming every var still without one.
fn fill_missing(
    path: &Path,
    vars: &mut BTreeMap<String, Var>,
    missing: MissingSecrets,
) -> Result<(), RecipeError> {
    let mut missing_names = Vec::new();
    for (k, var) in vars.iter_mut().filter(|(_, var)| var.value.is_null()) {
        if var.secret && missing == MissingSecrets::Placeholder {
            var.set(Value::String(MASK.into()), "placeholder (secret not given)");
        } else {
            missing_names.push(k.clone());
        }
    }
    if missing_names.is_empty() {
        return Ok(());
    }
    Err(RecipeError::file(
        path,
        format!(
            "{} no value: pass --var NAME=VALUE, --var-file FILE or {ENV_PREFIX}NAME for {}",
            if missing_names.len() == 1 {
                "a var has"
            } else {
                "vars have"
            },
            code_list(&missing_names)
        ),
    ))
}

fn is_identifier(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn list_or_none<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names = code_list(names);
    if names.is_empty() {
        "it has no vars".into()
    } else {
        format!("it has {names}")
    }
}

/// The `vars:` mapping as written, in order, with the place of every name.
#[derive(Default)]
pub(super) struct RawVars(Vec<(Spanned<String>, RawVar)>);

/// One var as written: a plain value (`~` for required), or a spec
/// `{ secret, default, description }` with the place of each of its keys and values.
enum RawVar {
    Plain(Value),
    Spec(Vec<(Spanned<String>, Spanned<Value>)>),
}

/// A mapping's entries in order, each key with its place.
fn spanned_entries<'de, A, V>(mut map: A) -> Result<Vec<(Spanned<String>, V)>, A::Error>
where
    A: MapAccess<'de>,
    V: Deserialize<'de>,
{
    let mut entries = Vec::new();
    while let Some(key) = map.next_key::<Spanned<String>>()? {
        entries.push((key, map.next_value::<V>()?));
    }
    Ok(entries)
}

impl<'de> Deserialize<'de> for RawVars {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct VarsVisitor;
        impl<'de> Visitor<'de> for VarsVisitor {
            type Value = RawVars;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a mapping of var names to values, like `vars: { version: \"1.0\" }`")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawVars, A::Error> {
                spanned_entries(map).map(RawVars)
            }
        }
        deserializer.deserialize_map(VarsVisitor)
    }
}

impl<'de> Deserialize<'de> for RawVar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(VarVisitor)
    }
}

/// Reads one var: a mapping is a spec, anything else a plain value.
struct VarVisitor;

impl<'de> Visitor<'de> for VarVisitor {
    type Value = RawVar;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a value, `~`, or `{ secret: true, default: …, description: … }`")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawVar, A::Error> {
        spanned_entries(map).map(RawVar::Spec)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawVar, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Value>()? {
            items.push(item);
        }
        Ok(RawVar::Plain(Value::Array(items)))
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<RawVar, E> {
        Ok(RawVar::Plain(Value::Bool(v)))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawVar, E> {
        Ok(RawVar::Plain(Value::from(v)))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawVar, E> {
        Ok(RawVar::Plain(Value::from(v)))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<RawVar, E> {
        Ok(RawVar::Plain(Value::from(v)))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawVar, E> {
        Ok(RawVar::Plain(Value::String(v.to_owned())))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<RawVar, E> {
        Ok(RawVar::Plain(Value::String(v)))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<RawVar, E> {
        Ok(RawVar::Plain(Value::Null))
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<RawVar, E> {
        Ok(RawVar::Plain(Value::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<RawVar, D::Error> {
        RawVar::deserialize(d)
    }
}
