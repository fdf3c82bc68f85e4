//! Every error of a recipe that failed to parse, not just the first.
//!
//! serde stops at the first error. Once a recipe has failed (a recipe that parses is read
//! once, whole), it is read again from just after the section that holds the error, and
//! again after the next one, until none is left; inside that section the same is done
//! from the key or list item after the error (`builder`, `image.copy_to`, the steps of
//! `steps`, …). A part is read as a sub-document of the recipe (see `outline.rs`): a
//! whole [`Recipe`] holding only that part, so its error is worded and placed exactly as
//! the same mistake alone in the file would be. Each error costs one more read, not
//! one per part. A section of the wrong shape (a mapping where a list belongs) is one
//! error, not one per key.
//!
//! What a part alone lacks is no mistake: "missing field" errors are kept only for keys
//! the whole mapping lacks, and placed at that mapping. A step with two mistakes reports
//! its first. A syntax error, or an alias, stops the search: only the first error is
//! reported then.

use std::cell::Cell;
use std::ops::Range;
use std::path::Path;

use serde::Deserialize;

use super::error::RecipeError;
use super::model::{Builder, Image, Recipe};
use super::outline::{self, Node};
use super::yaml;

/// The keys every recipe must have: the fields of [`Recipe`] without a default.
const REQUIRED: [&str; 5] = ["name", "source", "builder", "steps", "image"];

/// Every error in `text`, rendered YAML whose parse as a recipe failed with `first`, in
/// no particular order and possibly twice; and whether the search went through the whole
/// recipe (it stops after [`MAX_SEARCH`] errors, or after reading [`MAX_READ_BYTES`]).
pub(super) fn yaml_errors(path: &Path, text: &str, first: RecipeError) -> (Vec<RecipeError>, bool) {
    let Some(root) = outline::parse(text) else {
        return (vec![first], true);
    };
    if root.entries().is_empty() {
        return (vec![first], true);
    }
    let mut found = vec![first];
    for key in REQUIRED.iter().filter(|k| !root.has_key(k)) {
        let message = yaml::missing_field(key);
        found.push(RecipeError::at(path, text, root.line, root.column, message));
    }
    let parts = Parts {
        path,
        text,
        mappings: root.mappings(),
        budget: Cell::new(MAX_READ_BYTES),
        stopped: Cell::new(false),
    };
    parts.resume(&root, found[0].clone(), &|kept| kept, &mut found);
    (found, !parts.stopped.get())
}

/// Most errors searched for: past this many, a recipe is not worth reading further.
const MAX_SEARCH: usize = 100;

/// Most bytes of parts read in the search: a real recipe is read again hundreds of times
/// within it, the largest allowed a dozen times.
const MAX_READ_BYTES: usize = 16 * 1024 * 1024;

/// Reads parts of one recipe text on their own.
struct Parts<'a> {
    path: &'a Path,
    text: &'a str,
    /// Every mapping of the whole text.
    mappings: Vec<&'a Node>,
    /// How many more bytes may be read.
    budget: Cell<usize>,
    /// Whether the search stopped before its end.
    stopped: Cell<bool>,
}

impl Parts<'_> {
    /// Finds the errors of `node`, a part of the recipe, after `first`, its first one,
    /// and adds them to `found`: it reads the node again from the entry or item after the
    /// one that holds the last error, until no error is left. Before moving on from an
    /// entry whose value is a mapping or a list, it does the same inside that value (the
    /// items of a list are not looked into: a step reports its first mistake). Last, a
    /// mapping is read without the entries that had errors, for a key it lacks.
    ///
    /// `whole` turns the ranges of a part of `node` into those of a recipe holding only
    /// that part.
    fn resume(
        &self,
        node: &Node,
        first: RecipeError,
        whole: &dyn Fn(Vec<Range<usize>>) -> Vec<Range<usize>>,
        found: &mut Vec<RecipeError>,
    ) {
        let mut err = first;
        let mut failed = Vec::new();
        loop {
            if found.len() >= MAX_SEARCH {
                self.stopped.set(true);
            }
            let (Some(line), Some(col)) = (err.line, err.column) else {
                return;
            };
            let k = match node.child_at(line, col) {
                Some(k) if failed.last().is_none_or(|last| k > *last) => k,
                _ => return, // about the node as a whole
            };
            failed.push(k);
            if let Some(entry) = node.entries().get(k)
                && entry.value.len() > 0
                && !at(&err, &entry.value)
            {
                let inside = |kept| whole(node.entry_with(k, kept));
                self.resume(&entry.value, err.clone(), &inside, found);
            }
            if k + 1 >= node.len() {
                break;
            }
            match self.error(&whole(node.children_from(k + 1))) {
                Some(next) => {
                    found.push(next.clone());
                    err = next;
                }
                None => break,
            }
        }
        if failed.len() < node.entries().len() {
            found.extend(self.error(&whole(node.entries_except(&failed))));
        }
    }

    /// The error of the part of the recipe that `kept` keeps, read as a recipe; `None`
    /// when it has none, or only a "missing field" that the whole mapping does not lack.
    /// Reads nothing once the search has stopped.
    fn error(&self, kept: &[Range<usize>]) -> Option<RecipeError> {
        if self.stopped.get() {
            return None;
        }
        let sub = outline::blank_except(self.text, kept);
        let Some(left) = self.budget.get().checked_sub(sub.len()) else {
            self.stopped.set(true);
            return None;
        };
        self.budget.set(left);
        let mut err = yaml::from_str::<Recipe>(self.path, &sub).err()?;
        if let Some(field) = missing_field(&err) {
            match mapping_at(&self.mappings, &err) {
                Some(m) if m.has_key(field) => return None, // only this part lacks it
                Some(m) => (err.line, err.column) = (Some(m.line), Some(m.column)),
                None => {}
            }
        }
        err.source_line = err
            .line
            .and_then(|l| self.text.lines().nth((l as usize).saturating_sub(1)))
            .map(|l| l.chars().take(200).collect());
        Some(err)
    }
}

/// Whether `err` is at the start of `node`: about the node as a whole (its shape, a
/// missing key), not about something in it.
fn at(err: &RecipeError, node: &Node) -> bool {
    (err.line, err.column) == (Some(node.line), Some(node.column))
}

/// The field a "missing field" error names.
fn missing_field(err: &RecipeError) -> Option<&str> {
    let rest = err.message.strip_prefix("missing field `")?;
    Some(&rest[..rest.find('`')?])
}

/// The mapping an error about a missing field is about: the one that starts where the
/// error is, else the one a key of which starts there (a part that keeps some of a
/// mapping's keys starts at the first one it keeps).
fn mapping_at<'n>(mappings: &[&'n Node], err: &RecipeError) -> Option<&'n Node> {
    let at = (err.line?, err.column?);
    mappings
        .iter()
        .find(|m| (m.line, m.column) == at)
        .or_else(|| {
            mappings
                .iter()
                .find(|m| m.entries().iter().any(|e| e.key_at == at))
        })
        .copied()
}

/// The whole-recipe checks (see [`super::check`]) of the parts of a recipe that parsed,
/// when the recipe as a whole did not.
pub(super) fn part_checks(path: &Path, written: &str, rendered: &str) -> Vec<RecipeError> {
    #[derive(Deserialize)]
    struct BuilderPart {
        builder: Builder,
    }
    #[derive(Deserialize)]
    struct ImagePart {
        image: Image,
    }
    let builder = yaml::from_str::<BuilderPart>(path, rendered).ok();
    let image = yaml::from_str::<ImagePart>(path, rendered).ok();
    super::check(
        path,
        written,
        builder.as_ref().map(|p| &p.builder),
        image.as_ref().map(|p| &p.image),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "name: x
source: { ami: ami-0123456789abcdef0 }
builder: {}
steps: [{ reboot: {} }]
image: { name: abc }
";

    fn path() -> &'static Path {
        Path::new("t.yaml")
    }

    /// `(line, column, message)` of every error of `text`, sorted.
    fn every(text: &str) -> Vec<(u64, u64, String)> {
        let first = yaml::from_str::<Recipe>(path(), text).expect_err("has a mistake");
        let (found, complete) = yaml_errors(path(), text, first);
        assert!(complete);
        let mut found: Vec<_> = found
            .into_iter()
            .map(|e| (e.line.unwrap_or(0), e.column.unwrap_or(0), e.message))
            .collect();
        found.sort();
        found.dedup();
        found
    }

    #[test]
    fn the_required_keys_are_exactly_the_fields_of_a_recipe_without_a_default() {
        yaml::from_str::<Recipe>(path(), MINIMAL).expect("the required keys are enough");
        for key in REQUIRED {
            let text: String = MINIMAL
                .lines()
                .filter(|l| !l.starts_with(&format!("{key}:")))
                .map(|l| format!("{l}\n"))
                .collect();
            let err = yaml::from_str::<Recipe>(path(), &text).expect_err(key);
            assert_eq!(missing_field(&err), Some(key), "{err}");
        }
    }

    #[test]
    fn a_missing_key_of_a_section_is_reported_at_the_section_with_its_other_mistakes() {
        let text = "name: x\nsource: { ami: ami-0123456789abcdef0 }\nbuilder: {}\nsteps: [{ reboot: {} }]\nimage:\n  tags: { a: b }\n  copy_to: [eu-west1]\n";
        let found = every(text);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!((found[0].0, found[0].1), (6, 3), "{found:?}");
        assert!(found[0].2.starts_with("missing field `name`"), "{found:?}");
        assert_eq!((found[1].0, found[1].1), (7, 13), "{found:?}");
    }

    #[test]
    fn a_section_of_the_wrong_shape_is_one_error_not_one_per_key() {
        let text = MINIMAL.replace(
            "steps: [{ reboot: {} }]",
            "steps:\n  reboot: {}\n  shell: ls",
        );
        let found = every(&text);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].2.contains("expected a list"), "{found:?}");
    }

    #[test]
    fn the_search_stops_after_max_search_errors_and_says_so() {
        let steps: String = (0..MAX_SEARCH + 5)
            .map(|i| format!("  - {{ shell: echo {i}, retries: 11 }}\n"))
            .collect();
        let text = MINIMAL.replace("steps: [{ reboot: {} }]\n", &format!("steps:\n{steps}"));
        let first = yaml::from_str::<Recipe>(path(), &text).expect_err("has mistakes");
        let (found, complete) = yaml_errors(path(), &text, first);
        assert!(!complete, "the search should have stopped");
        assert_eq!(found.len(), MAX_SEARCH);
    }

    #[test]
    fn the_checks_across_keys_run_on_the_sections_that_parsed() {
        let text = "name: x\nsource: { ami: ami-0123456789abcdef0 }\nbuilder: { iam_instance_profile: \" \" }\nsteps: [{ reboot: {}, retries: 11 }]\nimage: { name: abc, encrypted: false }\n";
        let found = part_checks(path(), text, text);
        let messages: Vec<_> = found.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(found.len(), 2, "{messages:?}");
        assert!(messages[0].contains("iam_instance_profile"), "{messages:?}");
        assert!(messages[1].contains("encrypted: false"), "{messages:?}");
    }
}
