//! Recipes: load → render → typed model → validate.
//!
//! Nothing here touches AWS: `validate` and `plan` run entirely on this module and
//! [`crate::plan`], and every problem comes back as a [`RecipeError`] with a place.
//!
//! This file holds [`load`], which runs the stages in order, and the checks that need the
//! whole recipe. The stages, in the order they run:
//!
//! - [`template`]: rendering with tera: vars and their sources, built-ins, secrets, and
//!   template errors located in the recipe;
//! - `yaml`: YAML parsing whose errors name the line and column of the file;
//! - `collect` (with `outline`): once a recipe failed to parse, its parts parsed one at
//!   a time, to report every error and not just the first;
//! - [`model`]: the typed recipe the rendered text deserializes into, a file per part
//!   (source, builder, steps, actions, checks, image);
//! - [`types`]: the validated scalars the model is built from (names, ids, durations);
//! - [`error`]: [`RecipeError`], what every stage reports, and [`RecipeErrors`], all of
//!   them for one recipe.

mod collect;
pub mod error;
pub mod model;
mod outline;
pub mod template;
pub mod types;
mod yaml;

use std::path::{Path, PathBuf};

pub use error::{MAX_ERRORS, RecipeError, RecipeErrors};
pub use model::*;
pub use template::{Builtins, MissingSecrets, Var, VarInputs};

use crate::secret::Masker;

/// Recipes larger than this are refused before parsing: a real recipe is a few kilobytes,
/// and SSM caps a command's parameters far below this anyway.
pub const MAX_RECIPE_BYTES: u64 = 1024 * 1024;

/// A recipe ready to plan or bake.
#[derive(Debug, Clone)]
pub struct LoadedRecipe {
    pub path: PathBuf,
    pub recipe: Recipe,
    /// The rendered text (holds secrets; mask before showing).
    pub rendered: String,
    /// The text rendered with the per-run built-ins (`timestamp`, `date`, `run_id`) held
    /// fixed: equal for two runs with equal inputs, so it feeds the input hash.
    pub stable_text: String,
    pub vars: std::collections::BTreeMap<String, Var>,
    pub masker: Masker,
}

/// Loads, renders, parses and checks the recipe at `path`.
///
/// Reading and rendering stop at their first error; a recipe that renders but does not
/// parse or check reports every error it has.
pub fn load(
    path: &Path,
    inputs: &VarInputs,
    builtins: &Builtins,
    missing: MissingSecrets,
) -> Result<LoadedRecipe, RecipeErrors> {
    let text = read_text(path)?;
    let rendered = template::render(path, &text, inputs, builtins, missing)?;
    let recipe: Recipe = match yaml::from_str(path, &rendered.text) {
        Ok(recipe) => recipe,
        Err(first) => return Err(every_error(path, &text, &rendered, first)),
    };
    let mut problems = check(path, &text, Some(&recipe.builder), Some(&recipe.image));
    problems.extend(check_scan_environments(path, &text, &recipe));
    if !problems.is_empty() {
        return Err(RecipeErrors::new(problems));
    }
    let stable_text = template::render(path, &text, inputs, &builtins.held_fixed(), missing)?.text;
    Ok(LoadedRecipe {
        path: path.to_path_buf(),
        recipe,
        rendered: rendered.text,
        stable_text,
        vars: rendered.vars,
        masker: rendered.masker,
    })
}

/// Every error of a recipe that rendered but failed to parse with `first`.
fn every_error(
    path: &Path,
    text: &str,
    rendered: &template::Rendered,
    first: RecipeError,
) -> RecipeErrors {
    let (found, complete) = collect::yaml_errors(path, &rendered.text, first);
    let mut errors: Vec<RecipeError> = found
        .into_iter()
        .map(|e| as_written(e, text, rendered))
        .collect();
    errors.extend(collect::part_checks(path, text, &rendered.text));
    let errors = RecipeErrors::new(errors);
    if complete {
        errors
    } else {
        errors.search_stopped()
    }
}

/// Makes an error about the rendered text point into the recipe as written, and masks
/// the secrets and environment values it may quote.
///
/// Rendering keeps every line where it was written (see `template::scalars`), but a value
/// may have rendered to another length: the column is mapped back, and a place inside a
/// rendered value becomes the place of the value as written.
fn as_written(mut e: RecipeError, text: &str, rendered: &template::Rendered) -> RecipeError {
    if let (Some(l), Some(c)) = (e.line, e.column) {
        let (line, column) = rendered.rewrite.source_place(l, c);
        (e.line, e.column) = (Some(line), Some(column));
    }
    let masker = &rendered.error_masker;
    e.source_line = e
        .line
        .and_then(|l| text.lines().nth(l as usize - 1))
        .map(|s| masker.mask(s).chars().take(200).collect());
    e.message = masker.mask(&e.message).into_owned();
    e
}

/// Reads a UTF-8 text file of reasonable size.
pub(crate) fn read_text(path: &Path) -> Result<String, RecipeError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| RecipeError::file(path, format!("cannot read: {e}")))?;
    if meta.is_dir() {
        return Err(RecipeError::file(
            path,
            "is a directory: expected a recipe file",
        ));
    }
    if meta.len() > MAX_RECIPE_BYTES {
        return Err(RecipeError::file(
            path,
            format!(
                "is {} bytes: recipes are limited to {MAX_RECIPE_BYTES} bytes (1 MiB)",
                meta.len()
            ),
        ));
    }
    let bytes =
        std::fs::read(path).map_err(|e| RecipeError::file(path, format!("cannot read: {e}")))?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let text = String::from_utf8_lossy(valid);
        let line = text.matches('\n').count() as u64 + 1;
        let col = text.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u64 + 1;
        RecipeError::at(
            path,
            &text,
            line,
            col,
            "not UTF-8 text: expected a YAML recipe",
        )
    })
}

/// Checks that need more than one field at a time (what serde cannot see one field at a
/// time), of the builder and the image when they are at hand; every problem found.
fn check(
    path: &Path,
    text: &str,
    builder: Option<&Builder>,
    image: Option<&Image>,
) -> Vec<RecipeError> {
    let at_key = |key: &str, message: &str| match find_key(text, key) {
        Some((line, col)) => RecipeError::at(path, text, line, col, message),
        None => RecipeError::file(path, message),
    };
    let mut problems = Vec::new();
    if builder
        .and_then(|b| b.iam_instance_profile.as_deref())
        .is_some_and(|p| p.trim().is_empty())
    {
        problems.push(at_key(
            "iam_instance_profile",
            "`builder.iam_instance_profile` is empty: name an instance profile with the \
             AmazonSSMManagedInstanceCore policy, or leave the key out to rely on the \
             account's Default Host Management Configuration",
        ));
    }
    if let Some(b) = builder.filter(|b| {
        b.volume_type.as_str() == "standard"
            && b.volume_size_gb.get() > types::MAX_STANDARD_VOLUME_GIB
    }) {
        problems.push(at_key(
            "volume_size_gb",
            &format!(
                "`builder.volume_size_gb: {}` is too large for a `standard` volume: expected 1 \
                 to {} GiB (EBS's limit for magnetic volumes), or `volume_type: gp3`",
                b.volume_size_gb,
                types::MAX_STANDARD_VOLUME_GIB
            ),
        ));
    }
    let Some(image) = image else {
        return problems;
    };
    if image.public && !image.share_with.is_empty() {
        // Not an error in AWS, but almost certainly a mistake worth stopping for.
        problems.push(at_key(
            "public",
            "`image.public: true` together with `share_with`: a public image is shared with \
             everyone already; remove one (and AWS does not make encrypted images public, \
             which every amibake image is)",
        ));
    } else if image.public {
        // Every image amibake makes is encrypted (the builder's volume always is), and AWS
        // refuses to make an image with encrypted snapshots public: say so now, not after
        // the bake.
        problems.push(at_key(
            "public",
            "`image.public: true` cannot work: every amibake image is encrypted, and AWS does \
             not make images with encrypted snapshots public; share with accounts, \
             organizations or OUs instead (`share_with`)",
        ));
    }
    if let Some(problem) = types::check_image_tags(&image.tags) {
        problems.push(at_key("tags", &problem));
    }
    if let Some(problem) = image
        .description
        .as_deref()
        .and_then(types::check_image_description)
    {
        problems.push(at_key("description", &problem));
    }
    if !image.encrypted {
        // The builder's root volume is always encrypted, so its image is too: a `false`
        // here could only ever apply to the copies, which is not what anyone means.
        problems.push(at_key(
            "encrypted",
            "`image.encrypted: false` is not supported: the builder's volume is always \
             encrypted, and so is every image amibake makes; remove the key",
        ));
    }
    problems
}

/// `image.scan.require_for` may only name environments of `promotion:` (a typo would
/// otherwise leave an environment ungated), each error at its key.
fn check_scan_environments(path: &Path, text: &str, recipe: &Recipe) -> Vec<RecipeError> {
    let Some(scan) = &recipe.image.scan else {
        return Vec::new();
    };
    let anchor = find_key(text, "require_for").map_or(0, |(line, _)| line);
    scan.unknown_environments(&recipe.promotion)
        .into_iter()
        .map(|(env, message)| {
            let below = text
                .lines()
                .skip(anchor as usize)
                .collect::<Vec<_>>()
                .join("\n");
            match find_key(&below, &env) {
                Some((line, col)) => RecipeError::at(path, text, line + anchor, col, &message),
                None => RecipeError::file(path, &message),
            }
        })
        .collect()
}

/// The first `key:` at the start of a line (after indentation or `- `), 1-based.
fn find_key(text: &str, key: &str) -> Option<(u64, u64)> {
    text.lines().enumerate().find_map(|(i, line)| {
        let trimmed = line.trim_start_matches([' ', '-']);
        let rest = trimmed.strip_prefix(key)?;
        rest.starts_with(':')
            .then(|| (i as u64 + 1, (line.len() - trimmed.len()) as u64 + 1))
    })
}

/// `` `a`, `b`, `c` ``: names as messages list them.
fn code_list<T: std::fmt::Display>(names: impl IntoIterator<Item = T>) -> String {
    names
        .into_iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    const RECIPE: &str = r#"name: demo
env: [AMIBAKE_TEST_HOME]
vars:
  version: "1.0"
  password: { secret: true }
source: { ami: ami-0123456789abcdef0 }
builder: { iam_instance_profile: p }
steps:
  - shell: "echo {{ version | shell_quote }} {{ password | shell_quote }} {{ env.AMIBAKE_TEST_HOME | shell_quote }} {{ region | shell_quote }}"
image: { name: "demo-{{ version }}-{{ timestamp }}" }
"#;

    fn builtins() -> Builtins {
        Builtins {
            timestamp: "20261123-070528".into(),
            date: "2026-11-23".into(),
            region: "eu-west-1".into(),
            run_id: "20261123-070528-abcdef".into(),
            env: [("AMIBAKE_TEST_HOME".to_string(), "/home/x".to_string())].into(),
        }
    }

    fn write(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    fn inputs(vars: &[(&str, &str)]) -> VarInputs {
        VarInputs {
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..VarInputs::default()
        }
    }

    /// The error of loading `text` for a bake, with the secret `password` given.
    fn bake_error(text: &str, password: &str) -> RecipeError {
        let f = write(text);
        load(
            f.path(),
            &inputs(&[("password", password)]),
            &builtins(),
            MissingSecrets::Error,
        )
        .unwrap_err()
        .first()
        .clone()
    }

    #[test]
    fn renders_vars_and_builtins_into_the_typed_recipe() {
        let f = write(RECIPE);
        let loaded = load(
            f.path(),
            &inputs(&[("password", "pw-123")]),
            &builtins(),
            MissingSecrets::Error,
        )
        .unwrap();
        assert_eq!(
            loaded.recipe.image.name.as_str(),
            "demo-1.0-20261123-070528"
        );
        match &loaded.recipe.steps[0].action {
            Action::Shell(s) => assert_eq!(s, "echo '1.0' 'pw-123' '/home/x' 'eu-west-1'"),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(loaded.masker.mask("pw-123"), "***");
    }

    #[test]
    fn a_missing_secret_is_a_placeholder_offline_and_an_error_for_bake() {
        let f = write(RECIPE);
        let offline = load(
            f.path(),
            &inputs(&[]),
            &builtins(),
            MissingSecrets::Placeholder,
        )
        .unwrap();
        assert_eq!(offline.vars["password"].value, serde_json::json!("***"));
        let err = load(f.path(), &inputs(&[]), &builtins(), MissingSecrets::Error).unwrap_err();
        let err = err.first();
        assert!(err.message.contains("`password`"), "{err}");
    }

    #[test]
    fn var_sources_apply_in_order_recipe_file_env_flag() {
        let f = write(RECIPE);
        let var_file = write("version: \"2.0\"\nunrelated: 1\n");
        let mut inp = inputs(&[]);
        inp.var_files = vec![var_file.path().to_path_buf()];
        let b = builtins();
        let from_file = load(f.path(), &inp, &b, MissingSecrets::Placeholder).unwrap();
        assert_eq!(from_file.vars["version"].value, serde_json::json!("2.0"));
        inp.env_vars = vec![("version".into(), "3.0".into())];
        let from_env = load(f.path(), &inp, &b, MissingSecrets::Placeholder).unwrap();
        assert_eq!(from_env.vars["version"].value, serde_json::json!("3.0"));
        inp.vars = vec![("version".into(), "4.0".into())];
        let from_flag = load(f.path(), &inp, &b, MissingSecrets::Placeholder).unwrap();
        assert_eq!(
            from_flag.recipe.image.name.as_str(),
            "demo-4.0-20261123-070528"
        );
        assert_eq!(from_flag.vars["version"].origin, "--var");
    }

    #[test]
    fn an_unset_environment_variable_is_a_located_template_error() {
        let text = RECIPE.replace("AMIBAKE_TEST_HOME", "NOT_SET_ANYWHERE");
        let err = bake_error(&text, "x");
        let line = text.lines().nth(8).unwrap();
        let col = line.find("env.NOT_SET").unwrap() as u64 + 1;
        assert_eq!((err.line, err.column), (Some(9), Some(col)), "{err}");
        assert!(
            err.message
                .contains("environment variable `NOT_SET_ANYWHERE` is not set"),
            "{err}"
        );
    }

    #[test]
    fn secrets_are_masked_in_yaml_errors_about_rendered_values() {
        let err = bake_error(
            &RECIPE.replace(
                "iam_instance_profile: p }",
                "iam_instance_profile: p, instance_type: \"t3:{{ password }}\" }",
            ),
            "pw-123",
        );
        let shown = err.to_string();
        assert!(shown.contains("invalid instance type"), "{shown}");
        assert!(!shown.contains("pw-123"), "{shown}");
    }

    #[test]
    fn a_secret_in_a_field_stored_in_the_clear_is_refused_without_its_value() {
        let err = bake_error(
            &RECIPE.replace("demo-{{ version }}", "demo-{{ password }}"),
            "pw-123",
        );
        let shown = err.to_string();
        assert!(
            shown.contains("secret var `password` in the image name"),
            "{shown}"
        );
        assert_eq!((err.line, err.column), (Some(10), Some(25)), "{shown}");
        assert!(!shown.contains("pw-123"), "{shown}");
    }
}
