//! Recipe errors: always a file, and a line and column whenever the problem has a place.

use std::fmt;
use std::path::Path;

use serde::Serialize;

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
