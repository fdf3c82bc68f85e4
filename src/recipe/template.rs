//! Rendering a recipe with tera: vars, var files, `--var`, built-ins and secrets.
//!
//! A recipe is YAML both before and after rendering: template expressions live inside
//! YAML scalars (quote a value that starts with `{{`). That lets us read `vars` from the
//! unrendered file with exact positions, and keeps line numbers stable through rendering
//! so YAML errors in the rendered text still point at the right line of the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

use super::error::RecipeError;
use super::yaml;
use crate::secret::{MASK, Masker};

/// Names tera provides from amibake itself; a recipe var may not shadow them.
pub const BUILTINS: [&str; 6] = ["timestamp", "date", "recipe", "region", "run_id", "env"];

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

/// The built-in values of one run.
#[derive(Debug, Clone)]
pub struct Builtins {
    /// UTC, `20261123-070528`: sorts, and is legal in AMI names.
    pub timestamp: String,
    /// UTC, `2026-11-23`.
    pub date: String,
    pub region: String,
    pub run_id: String,
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

/// The parts of the unrendered file that rendering needs.
#[derive(Deserialize)]
struct Head {
    #[serde(default)]
    name: Option<Value>,
    #[serde(default)]
    vars: RawVars,
}

/// The `vars:` mapping as written, in order, with the place of every name (errors about a
/// var point at its name, not at its value).
#[derive(Default)]
struct RawVars(Vec<(Spanned<String>, RawVar)>);

/// One var as written: a plain value (`~` for required), or a spec
/// `{ secret, default, description }` with the place of each of its keys and values.
enum RawVar {
    Plain(Value),
    Spec(Vec<(Spanned<String>, Spanned<Value>)>),
}

impl<'de> Deserialize<'de> for RawVars {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct VarsVisitor;
        impl<'de> serde::de::Visitor<'de> for VarsVisitor {
            type Value = RawVars;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a mapping of var names to values, like `vars: { version: \"1.0\" }`")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RawVars, A::Error> {
                let mut vars = Vec::new();
                while let Some(name) = map.next_key::<Spanned<String>>()? {
                    vars.push((name, map.next_value::<RawVar>()?));
                }
                Ok(RawVars(vars))
            }
        }
        deserializer.deserialize_map(VarsVisitor)
    }
}

impl<'de> Deserialize<'de> for RawVar {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct VarVisitor;
        impl<'de> serde::de::Visitor<'de> for VarVisitor {
            type Value = RawVar;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a value, `~`, or `{ secret: true, default: …, description: … }`")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RawVar, A::Error> {
                let mut spec = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    spec.push((key, map.next_value::<Spanned<Value>>()?));
                }
                Ok(RawVar::Spec(spec))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<RawVar, A::Error> {
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
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<RawVar, D::Error> {
                RawVar::deserialize(d)
            }
        }
        deserializer.deserialize_any(VarVisitor)
    }
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

    let mut vars = declared_vars(path, text, &head.vars)?;
    for file in &inputs.var_files {
        apply_var_file(file, &mut vars)?;
    }
    for (k, v) in &inputs.env_vars {
        // Environment variables may be set for other recipes: unknown ones are ignored.
        if let Some(var) = vars.get_mut(k) {
            var.value = Value::String(v.clone());
            var.origin = format!("${ENV_PREFIX}{k}");
        }
    }
    for (k, v) in &inputs.vars {
        if !vars.contains_key(k) {
            return Err(RecipeError::file(
                path,
                format!(
                    "--var {k}: the recipe declares no var `{k}` ({})",
                    list_or_none(vars.keys())
                ),
            ));
        }
        let var = vars.get_mut(k).expect("checked above");
        var.value = Value::String(v.clone());
        var.origin = "--var".into();
    }

    let mut missing_names = Vec::new();
    for (k, var) in vars.iter_mut() {
        if var.value.is_null() {
            if var.secret && missing == MissingSecrets::Placeholder {
                var.value = Value::String(MASK.into());
                var.origin = "placeholder (secret not given)".into();
            } else {
                missing_names.push(k.clone());
            }
        }
    }
    if !missing_names.is_empty() {
        return Err(RecipeError::file(
            path,
            format!(
                "{} no value: pass --var NAME=VALUE, --var-file FILE or {ENV_PREFIX}NAME for {}",
                if missing_names.len() == 1 {
                    "a var has"
                } else {
                    "vars have"
                },
                missing_names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }

    let masker = Masker::new(
        vars.values()
            .filter(|v| v.secret)
            .map(|v| value_text(&v.value)),
    );

    let mut ctx = tera::Context::new();
    for (k, var) in &vars {
        ctx.insert(k.as_str(), &var.value);
    }
    ctx.insert("timestamp", &builtins.timestamp);
    ctx.insert("date", &builtins.date);
    ctx.insert("recipe", &name);
    ctx.insert("region", &builtins.region);
    ctx.insert("run_id", &builtins.run_id);
    ctx.insert("env", &builtins.env);

    let rendered = tera::Tera::one_off(text, &ctx, false)
        .map_err(|e| template_error(path, text, &e, &masker))?;
    Ok(Rendered {
        text: rendered,
        name,
        vars,
        masker,
    })
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
            RawVar::Spec(spec) => {
                let mut value = Value::Null;
                let mut secret = false;
                for (key, v) in spec {
                    match key.value.as_str() {
                        "default" => value = v.value.clone(),
                        "description" => {}
                        "secret" => match &v.value {
                            Value::Bool(b) => secret = *b,
                            other => {
                                return Err(at(
                                    v.referenced,
                                    format!(
                                        "var `{name}`: `secret` must be true or false, found {other}"
                                    ),
                                ));
                            }
                        },
                        other => {
                            return Err(at(
                                key.referenced,
                                format!(
                                    "unknown key `{other}` in var `{name}`: expected `secret`, `default` or `description`"
                                ),
                            ));
                        }
                    }
                }
                (value, secret)
            }
            RawVar::Plain(v) => (v.clone(), false),
        };
        vars.insert(
            name.clone(),
            Var {
                value,
                secret,
                origin: "recipe".into(),
            },
        );
    }
    Ok(vars)
}

/// Applies one `--var-file` (a YAML map). Keys the recipe does not declare are ignored, so
/// one file can serve several recipes.
fn apply_var_file(file: &Path, vars: &mut BTreeMap<String, Var>) -> Result<(), RecipeError> {
    let text = super::read_text(file)?;
    let values: BTreeMap<String, Value> = yaml::from_str(file, &text)?;
    for (k, v) in values {
        if let Some(var) = vars.get_mut(&k) {
            var.value = v;
            var.origin = file.display().to_string();
        }
    }
    Ok(())
}

/// The text a value renders to (what a secret looks like inside the rendered recipe).
fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn is_identifier(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn list_or_none<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<String> = names.map(|n| format!("`{n}`")).collect();
    if names.is_empty() {
        "it has no vars".into()
    } else {
        format!("it has {}", names.join(", "))
    }
}

/// Turns a tera error into a located recipe error.
///
/// Tera reports parse errors with ` --> line:col`; render errors (an undefined var, an
/// unknown filter) carry only the name, so we find that name inside the file's template
/// blocks.
fn template_error(path: &Path, text: &str, err: &tera::Error, masker: &Masker) -> RecipeError {
    let mut chain = vec![err.to_string()];
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        chain.push(s.to_string());
        source = s.source();
    }
    let full = masker.mask(&chain.join("\n")).into_owned();

    if let Some((line, col)) = parse_arrow_position(&full) {
        let expected = full
            .lines()
            .find_map(|l| l.trim().strip_prefix("= "))
            .unwrap_or("a valid template expression");
        return RecipeError::at(
            path,
            text,
            line,
            col,
            format!("template syntax error: {expected}"),
        );
    }

    if let Some((what, name, docs)) = unknown_name(err) {
        let message = format!(
            "template error: unknown {what} `{name}`: expected one of tera's built-in {what}s ({docs})"
        );
        let place = locate_in_blocks_where(text, &name, |before, after| match what {
            "filter" => before.trim_end().ends_with('|'),
            "test" => before.trim_end().ends_with(" is") || before.trim_end().ends_with(" not"),
            _ => after.trim_start().starts_with('('),
        })
        .or_else(|| locate_in_blocks(text, &name));
        return match place {
            Some((line, col)) => RecipeError::at(path, text, line, col, message),
            None => RecipeError::at(path, text, 1, 1, message),
        };
    }

    let detail = chain
        .iter()
        .rev()
        .find(|m| !m.starts_with("Failed to render"))
        .cloned()
        .unwrap_or_else(|| full.clone());
    let detail = masker.mask(&detail).into_owned();
    let detail = detail
        .split(" while rendering")
        .next()
        .unwrap_or(&detail)
        .to_string();
    let message = match backticked(&detail) {
        Some(name) if detail.starts_with("Variable") && name.starts_with("env.") => format!(
            "template error: environment variable `{}` is not set (used as `{name}`)",
            &name["env.".len()..]
        ),
        Some(name) if detail.starts_with("Variable") => format!(
            "template error: undefined var `{name}`: declare it under `vars:` or pass --var {name}=VALUE (built-ins: {})",
            BUILTINS.join(", ")
        ),
        _ => format!("template error: {detail}"),
    };
    match backticked(&detail).and_then(|name| locate_in_blocks(text, &name)) {
        Some((line, col)) => RecipeError::at(path, text, line, col, message),
        None => RecipeError::at(path, text, 1, 1, message),
    }
}

/// A filter, test or function that tera does not know, anywhere in the error's chain:
/// what it is, its name, and where tera documents the ones it has.
fn unknown_name(err: &tera::Error) -> Option<(&'static str, String, &'static str)> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(tera_err) = e.downcast_ref::<tera::Error>() {
            let found = match &tera_err.kind {
                tera::ErrorKind::FilterNotFound(name) => Some((
                    "filter",
                    name,
                    "https://keats.github.io/tera/docs/#built-in-filters",
                )),
                tera::ErrorKind::TestNotFound(name) => Some((
                    "test",
                    name,
                    "https://keats.github.io/tera/docs/#built-in-tests",
                )),
                tera::ErrorKind::FunctionNotFound(name) => Some((
                    "function",
                    name,
                    "https://keats.github.io/tera/docs/#built-in-functions",
                )),
                _ => None,
            };
            if let Some((what, name, docs)) = found {
                return Some((what, name.clone(), docs));
            }
        }
        current = e.source();
    }
    None
}

/// Finds ` --> L:C` in tera's parse error text.
fn parse_arrow_position(msg: &str) -> Option<(u64, u64)> {
    let rest = msg.split("--> ").nth(1)?;
    let pos: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ':')
        .collect();
    let (l, c) = pos.split_once(':')?;
    Some((l.parse().ok()?, c.parse().ok()?))
}

/// The first `` `name` `` in a message, without a leading `env.`-style path.
fn backticked(msg: &str) -> Option<String> {
    let start = msg.find('`')? + 1;
    let len = msg[start..].find('`')?;
    Some(msg[start..start + len].to_string())
}

/// The 1-based line and column of the first occurrence of `name` inside a `{{ }}` or
/// `{% %}` block.
fn locate_in_blocks(text: &str, name: &str) -> Option<(u64, u64)> {
    locate_in_blocks_where(text, name, |_, _| true)
}

/// Like [`locate_in_blocks`], for the first occurrence that `fits` the text of its block
/// before and after it (e.g. a filter follows a `|`).
fn locate_in_blocks_where(
    text: &str,
    name: &str,
    fits: impl Fn(&str, &str) -> bool,
) -> Option<(u64, u64)> {
    let mut offset = 0;
    while let Some(open) = text[offset..].find(['{']).map(|i| i + offset) {
        let after = text.get(open + 1..open + 2);
        let close = match after {
            Some("{") => "}}",
            Some("%") => "%}",
            _ => {
                offset = open + 1;
                continue;
            }
        };
        let body_start = open + 2;
        let Some(body_len) = text[body_start..].find(close) else {
            break;
        };
        let body = &text[body_start..body_start + body_len];
        let mut search = 0;
        while let Some(i) = body[search..].find(name).map(|i| i + search) {
            let before = body[..i].chars().next_back();
            let after = body[i + name.len()..].chars().next();
            let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
            if !word(before) && !word(after) && fits(&body[..i], &body[i + name.len()..]) {
                let abs = body_start + i;
                let line = text[..abs].matches('\n').count() as u64 + 1;
                let col = (abs - text[..abs].rfind('\n').map_or(0, |p| p + 1)) as u64 + 1;
                return Some((line, col));
            }
            search = i + name.len();
        }
        offset = body_start + body_len + 2;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_names_inside_template_blocks_only() {
        let text = "name: agent\nx: \"{{ agent }}\"\n";
        assert_eq!(locate_in_blocks(text, "agent"), Some((2, 8)));
        assert_eq!(
            locate_in_blocks("a: '{{ foo_bar }}{{ foo }}'", "foo"),
            Some((1, 21))
        );
        assert_eq!(locate_in_blocks("a: foo", "foo"), None);
    }

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

    #[test]
    fn reads_tera_parse_positions() {
        assert_eq!(
            parse_arrow_position("Failed\n --> 3:14\n  |"),
            Some((3, 14))
        );
        assert_eq!(parse_arrow_position("no arrow"), None);
    }
}
