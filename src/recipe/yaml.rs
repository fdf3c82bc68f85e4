//! YAML parsing with located errors (serde-saphyr underneath).

use std::path::Path;

use serde::de::DeserializeOwned;
use serde_saphyr::{MessageFormatter, UserMessageFormatter};

use super::error::RecipeError;

/// Parses `text` (the contents of `path`) into `T`, turning any error into a
/// [`RecipeError`] that names `path:line:col`.
pub fn from_str<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, RecipeError> {
    if text.trim().is_empty() {
        return Err(RecipeError::file(
            path,
            "the file is empty: expected a YAML mapping (see the recipe reference in README.md)",
        ));
    }
    serde_saphyr::from_str(text).map_err(|err| {
        let inner = err.without_snippet();
        let message: String = UserMessageFormatter
            .format_message(inner)
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let message = explain(message);
        match err.location() {
            Some(loc) if loc.line() > 0 => {
                RecipeError::at(path, text, loc.line(), loc.column(), message)
            }
            _ => RecipeError::at(path, text, 1, 1, message),
        }
    })
}

/// Rewords the YAML layer's terse type errors into what was expected.
fn explain(message: String) -> String {
    let expected = match message.as_str() {
        "invalid u32" | "invalid u64" | "invalid u16" | "invalid u8" => "a whole number",
        "invalid i32" | "invalid i64" => "an integer",
        "invalid bool" | "invalid boolean" => "true or false",
        _ => return message,
    };
    format!("{message}: expected {expected}")
}
