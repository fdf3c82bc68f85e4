//! Recipe errors: always a file, and a line and column whenever the problem has a place.

use std::fmt;
use std::path::Path;

use serde::Serialize;
use serde::ser::SerializeStruct as _;

use crate::error::{ExitKind, Failure};

/// A problem with a recipe (or a var file) found before anything touches AWS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct RecipeError {
    pub file: String,
    /// 1-based; `None` when the problem is with the file as a whole.
    pub line: Option<u64>,
    /// 1-based.
    pub column: Option<u64>,
    /// What was wrong and what was expected.
    pub message: String,
    /// The offending source line, shown under the message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_line: Option<String>,
}

impl RecipeError {
    /// An error about the file as a whole.
    pub fn file(file: &Path, message: impl Into<String>) -> Self {
        Self {
            file: file.display().to_string(),
            line: None,
            column: None,
            message: message.into(),
            source_line: None,
        }
    }

    /// An error at a place in `text` (the file's contents, used to quote the line).
    pub fn at(file: &Path, text: &str, line: u64, column: u64, message: impl Into<String>) -> Self {
        let line = line.max(1);
        let source_line = text
            .lines()
            .nth((line - 1) as usize)
            .map(|l| l.chars().take(200).collect());
        Self {
            file: file.display().to_string(),
            line: Some(line),
            column: Some(column.max(1)),
            message: message.into(),
            source_line,
        }
    }
}

impl fmt::Display for RecipeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(col)) => write!(f, "{}:{line}:{col}: {}", self.file, self.message)?,
            _ => write!(f, "{}: {}", self.file, self.message)?,
        }
        if let (Some(src), Some(col)) = (&self.source_line, self.column) {
            let gutter = self.line.unwrap_or(0).to_string();
            let pad = " ".repeat(gutter.len());
            let caret = " ".repeat((col as usize).saturating_sub(1).min(200));
            write!(f, "\n {pad} |\n {gutter} | {src}\n {pad} | {caret}^")?;
        }
        Ok(())
    }
}

/// Most errors reported for one recipe; the count says how many more there were.
pub const MAX_ERRORS: usize = 20;

/// Every error found in a recipe, in the order of their places in the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RecipeErrors {
    /// At most [`MAX_ERRORS`], never empty; the first one is where a run that stopped at
    /// the first error would have stopped.
    errors: Vec<RecipeError>,
    /// How many were found.
    count: usize,
    /// Whether the search for errors stopped before the end of the recipe.
    stopped: bool,
}

impl RecipeErrors {
    /// Sorts `errors` by place (a file-wide error first), drops repeats and keeps the
    /// first [`MAX_ERRORS`].
    ///
    /// # Panics
    /// When `errors` is empty: there is always at least the error that started the search.
    pub fn new(mut errors: Vec<RecipeError>) -> Self {
        assert!(!errors.is_empty(), "RecipeErrors needs at least one error");
        errors.sort_by_key(|e| (e.line.unwrap_or(0), e.column.unwrap_or(0)));
        let mut seen = std::collections::HashSet::new();
        errors.retain(|e| seen.insert((e.line, e.column, e.message.clone())));
        let count = errors.len();
        errors.truncate(MAX_ERRORS);
        Self {
            errors,
            count,
            stopped: false,
        }
    }

    /// The same errors, from a search that stopped before the end of the recipe: there
    /// may be more.
    pub fn search_stopped(self) -> Self {
        Self {
            stopped: true,
            ..self
        }
    }

    /// The first error, by place.
    pub fn first(&self) -> &RecipeError {
        &self.errors[0]
    }

    /// The errors reported (at most [`MAX_ERRORS`]).
    pub fn errors(&self) -> &[RecipeError] {
        &self.errors
    }

    /// How many errors were found, reported or not.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Whether the recipe may have errors that are not reported: more were found than
    /// are reported, or the search stopped before the end.
    pub fn truncated(&self) -> bool {
        self.count > self.errors.len() || self.stopped
    }

    /// Whether the search went to the end of the recipe: [`count`](Self::count) is then
    /// every error it has.
    pub fn complete(&self) -> bool {
        !self.stopped
    }

    /// "3 errors in web.yaml" after more than one error; `None` after one.
    pub fn summary(&self) -> Option<String> {
        let file = &self.first().file;
        let shown = self.errors.len();
        if self.stopped {
            let errors = if self.count == 1 { "error" } else { "errors" };
            return Some(format!(
                "{} {errors} found in {file} before the search stopped; the first {shown} shown",
                self.count
            ));
        }
        if self.count < 2 {
            return None;
        }
        Some(if self.truncated() {
            format!(
                "{} errors in {file}: the first {shown} are shown, {} more are not",
                self.count,
                self.count - shown
            )
        } else {
            format!("{} errors in {file}", self.count)
        })
    }
}

impl From<RecipeError> for RecipeErrors {
    fn from(err: RecipeError) -> Self {
        Self {
            errors: vec![err],
            count: 1,
            stopped: false,
        }
    }
}

/// Each error as [`RecipeError`] shows it, one after another (each after the first
/// marked `error: ` as the first is by whoever prints it), then the summary.
impl fmt::Display for RecipeErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, err) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\nerror: ")?;
            }
            write!(f, "{err}")?;
        }
        if let Some(summary) = self.summary() {
            write!(f, "\n{summary}")?;
        }
        Ok(())
    }
}

/// The JSON form a script reads (docs/commands.md, `validate`): `errors` (those
/// reported), `count` (how many were found) and `truncated`.
impl Serialize for RecipeErrors {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("RecipeErrors", 3)?;
        s.serialize_field("errors", &self.errors)?;
        s.serialize_field("count", &self.count)?;
        s.serialize_field("truncated", &self.truncated())?;
        s.end()
    }
}

/// A bad recipe is bad input: nothing was created. Its `error` event carries the JSON
/// form above.
impl Failure for RecipeErrors {
    fn kind(&self) -> ExitKind {
        ExitKind::Usage
    }

    fn detail(&self) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: u64, message: &str) -> RecipeError {
        RecipeError::at(Path::new("t.yaml"), "", line, 1, message)
    }

    #[test]
    fn errors_are_sorted_by_place_without_repeats_and_capped() {
        let errs = RecipeErrors::new(vec![
            at(3, "c"),
            RecipeError::file(Path::new("t.yaml"), "whole file"),
            at(1, "a"),
            at(3, "c"),
        ]);
        let messages: Vec<_> = errs.errors().iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages, ["whole file", "a", "c"]);
        assert_eq!((errs.count(), errs.truncated()), (3, false));
        assert_eq!(errs.summary().as_deref(), Some("3 errors in t.yaml"));

        let many = RecipeErrors::new((1..=MAX_ERRORS as u64 + 3).map(|l| at(l, "x")).collect());
        assert_eq!(many.errors().len(), MAX_ERRORS);
        assert_eq!((many.count(), many.truncated()), (MAX_ERRORS + 3, true));
        assert_eq!(RecipeErrors::from(at(1, "a")).summary(), None);
        let stopped = RecipeErrors::from(at(1, "a")).search_stopped();
        assert!(stopped.truncated());
        assert_eq!(
            stopped.summary().as_deref(),
            Some("1 error found in t.yaml before the search stopped; the first 1 shown")
        );
    }
}
