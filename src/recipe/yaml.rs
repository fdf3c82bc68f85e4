//! YAML parsing with located errors (serde-saphyr underneath).
//!
//! serde-saphyr locates most errors well. Where its position or wording is not what a
//! recipe author needs, this module corrects it from the YAML events of the same text
//! (its parser, `granit_parser`, re-exported by serde-saphyr):
//!
//! - a tab in indentation: named as such, at the tab, even when the scanner trips over it
//!   one line earlier ("while scanning a plain scalar, found a tab");
//! - a missing field: at the start of the mapping that lacks it, not at its last key;
//! - a node of the wrong shape: says what was expected, by example, and what was found.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, Span};
use serde_saphyr::{Error, MessageFormatter, UserMessageFormatter};

use super::error::RecipeError;

/// What a tab in indentation is reported as.
pub const TAB_MESSAGE: &str = "tab characters are not allowed for indentation in YAML: use spaces";

/// Parses `text` (the contents of `path`) into `T`, turning any error into a
/// [`RecipeError`] that names `path:line:col`.
pub fn from_str<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, RecipeError> {
    if text.trim().is_empty() {
        return Err(RecipeError::file(
            path,
            "the file is empty: expected a YAML mapping (see the recipe reference, docs/recipe.md)",
        ));
    }
    serde_saphyr::from_str(text).map_err(|err| locate(path, text, &err))
}

/// Turns a serde-saphyr error about `text` into a located [`RecipeError`].
fn locate(path: &Path, text: &str, err: &Error) -> RecipeError {
    let events = Events::parse(text);
    if let Some((line, col)) = events.tab_in_indentation(text) {
        return RecipeError::at(path, text, line, col, TAB_MESSAGE);
    }
    let inner = err.without_snippet();
    let (mut line, mut col) = match err.location() {
        Some(loc) if loc.line() > 0 => (loc.line(), loc.column()),
        _ => (1, 1),
    };
    let message = match inner {
        Error::Unexpected { expected, .. } => match expected_by_example(expected) {
            Some(expected) => match events.node_at(line, col) {
                Some(found) => format!("{expected}, found {found}"),
                None => expected.to_string(),
            },
            None => formatted(inner),
        },
        Error::SerdeMissingField { field, .. } => {
            // serde-saphyr places it at the mapping's last key; the mapping is what lacks it.
            if let Some((l, c)) = events.mapping_with_key_at(line, col) {
                (line, col) = (l, c);
            }
            missing_field(field)
        }
        _ => explain(formatted(inner)),
    };
    RecipeError::at(path, text, line, col, message)
}

/// What a mapping that lacks the required `field` is reported as (at its start).
pub fn missing_field(field: &str) -> String {
    format!("missing field `{field}`: expected `{field}:` in this mapping")
}

/// serde-saphyr's own message for `err`, on one line.
fn formatted(err: &Error) -> String {
    UserMessageFormatter
        .format_message(err)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// What serde-saphyr's "expected mapping start" and the like mean to a recipe author.
fn expected_by_example(expected: &str) -> Option<&'static str> {
    Some(match expected {
        "mapping start" => "expected a mapping like `key: value`",
        "sequence start" => "expected a list like `[a, b]` or `- item` lines",
        "string scalar" => "expected a string",
        _ => return None,
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

/// The YAML events of a text, up to its end or its first syntax error.
struct Events<'a> {
    events: Vec<(Event<'a>, Span)>,
    /// The line of the first syntax error, if there is one.
    error_line: Option<usize>,
}

impl<'a> Events<'a> {
    fn parse(text: &'a str) -> Self {
        let mut events = Vec::new();
        let mut error_line = None;
        for item in Parser::new_from_str(text) {
            match item {
                Ok(event) => events.push(event),
                Err(e) => {
                    error_line = Some(e.marker().line());
                    break;
                }
            }
        }
        Events { events, error_line }
    }

    /// The tab in the indentation of the line of the first syntax error or the line after
    /// it (the scanner may trip over the tab while finishing the line before).
    ///
    /// Lines inside a multi-line scalar are not indentation: a tab there is content.
    /// Valid YAML is never reported, since only a text that fails to parse is looked at.
    fn tab_in_indentation(&self, text: &str) -> Option<(u64, u64)> {
        let error_line = self.error_line?;
        // Whether the text at 1-based `line` and 0-based char column `col` is part of a
        // scalar (the scalar starts on an earlier line and ends after it).
        let inside_scalar = |line: usize, col: usize| {
            self.events.iter().any(|(event, span)| {
                matches!(event, Event::Scalar(..))
                    && span.start.line() < line
                    && (line, col) < (span.end.line(), span.end.col())
            })
        };
        text.lines()
            .enumerate()
            .take(error_line + 1)
            .skip(error_line.saturating_sub(1))
            .find_map(|(i, l)| {
                let content = l.trim_start_matches([' ', '\t']);
                let indent = &l[..l.len() - content.len()];
                let tab = indent.find('\t')?;
                let blank = content.is_empty() || content.starts_with('#');
                let in_scalar = inside_scalar(i + 1, indent.chars().count());
                (!blank && !in_scalar).then_some((i as u64 + 1, tab as u64 + 1))
            })
    }

    /// Describes the node that starts at `line:col` (1-based), e.g. "a list".
    fn node_at(&self, line: u64, col: u64) -> Option<String> {
        let (event, _) = self
            .events
            .iter()
            .find(|(event, span)| is_node(event) && at(span, line, col))?;
        Some(match event {
            Event::MappingStart(..) => "a mapping".into(),
            Event::SequenceStart(..) => "a list".into(),
            Event::Alias(..) => "an alias".into(),
            Event::Scalar(value, style, ..) => describe_scalar(value, *style),
            _ => return None,
        })
    }

    /// The start (1-based) of the mapping one of whose keys starts at `line:col`.
    fn mapping_with_key_at(&self, line: u64, col: u64) -> Option<(u64, u64)> {
        // For each open container: its start, whether it is a mapping, and how many nodes
        // it holds so far (in a mapping, even counts are keys).
        let mut open: Vec<(Span, bool, usize)> = Vec::new();
        for (event, span) in &self.events {
            if is_node(event)
                && let Some((start, true, n)) = open.last()
                && n % 2 == 0
                && at(span, line, col)
            {
                return Some((start.start.line() as u64, start.start.col() as u64 + 1));
            }
            match event {
                Event::MappingStart(..) | Event::SequenceStart(..) => {
                    open.push((*span, matches!(event, Event::MappingStart(..)), 0));
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    open.pop();
                    if let Some(parent) = open.last_mut() {
                        parent.2 += 1;
                    }
                }
                Event::Scalar(..) | Event::Alias(..) => {
                    if let Some(parent) = open.last_mut() {
                        parent.2 += 1;
                    }
                }
                _ => {}
            }
        }
        None
    }
}

/// Whether an event starts a node.
fn is_node(event: &Event<'_>) -> bool {
    matches!(
        event,
        Event::Scalar(..) | Event::MappingStart(..) | Event::SequenceStart(..) | Event::Alias(..)
    )
}

/// Whether `span` starts at `line:col` (1-based).
fn at(span: &Span, line: u64, col: u64) -> bool {
    span.start.line() as u64 == line && span.start.col() as u64 + 1 == col
}

/// "the string `x`", "the number `3`", "nothing (null)"...
///
/// A value is quoted whole or not at all: a cut-off secret would escape the masking of
/// messages, which replaces whole secret values.
fn describe_scalar(value: &str, style: ScalarStyle) -> String {
    let kind = match value {
        _ if style != ScalarStyle::Plain => "string",
        "" | "~" | "null" | "Null" | "NULL" => return "nothing (null)".into(),
        "true" | "True" | "TRUE" | "false" | "False" | "FALSE" => "boolean",
        _ if value.parse::<f64>().is_ok() => "number",
        _ => "string",
    };
    if value.chars().count() <= 60 && !value.contains(['\n', '`']) {
        format!("the {kind} `{value}`")
    } else {
        format!("a {kind}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tab_in_indentation_is_found_but_a_tab_in_a_block_scalar_is_content() {
        let text = "a:\n  b: 1\n\tc: 2\n";
        assert_eq!(Events::parse(text).tab_in_indentation(text), Some((3, 1)));
        let text = "a: |\n  x\n  \ty\nb: 1\n";
        assert_eq!(Events::parse(text).tab_in_indentation(text), None);
    }

    #[test]
    fn a_missing_field_is_placed_at_the_mapping_that_lacks_it() {
        let text = "# c\na: 1\nb:\n  c: 2\n  d: { e: 3 }\nf: 4\n";
        let events = Events::parse(text);
        assert_eq!(events.mapping_with_key_at(6, 1), Some((2, 1)));
        assert_eq!(events.mapping_with_key_at(5, 3), Some((4, 3)));
        assert_eq!(events.mapping_with_key_at(5, 8), Some((5, 6)));
        assert_eq!(events.mapping_with_key_at(5, 11), None); // a value, not a key
    }
}
