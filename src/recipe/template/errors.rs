//! Tera's errors turned into recipe errors that point into the recipe as written.
//!
//! Each templated scalar is rendered on its own, so tera's places are places in the
//! scalar's value; [`Templated::place_of`] turns them into places in the file. Tera
//! reports parse errors with ` --> line:col`; render errors (an undefined var, an unknown
//! filter) carry only the name, so we find that name inside the value's template blocks.
//! Every message is masked: a rendering error can quote a secret's or an environment
//! variable's value.

use std::path::Path;

use super::builtins::BUILTINS;
use super::engine::TemplateFault;
use super::scalars::Templated;
use crate::recipe::error::RecipeError;
use crate::secret::Masker;

/// A template of `scalar` that failed to check or render, as an error at its place in
/// `text` (the recipe as written).
pub(super) fn located(
    path: &Path,
    text: &str,
    scalar: &Templated,
    fault: TemplateFault,
    masker: &Masker,
) -> RecipeError {
    let (message, at) = match &fault.tera {
        Some(err) => {
            let e = template_error(path, &scalar.template, err, masker);
            (e.message, e.line.zip(e.column))
        }
        None => (masker.mask(&fault.message).into_owned(), fault.at),
    };
    let (line, col) = at.map_or((scalar.line, scalar.column), |(l, c)| {
        scalar.place_of(text, l, c)
    });
    RecipeError::at(path, text, line, col, message)
}

/// A rule `scalar` breaks, as an error at the name or expression at fault (`at`), else at
/// the first expression that does not end in `| shell_quote`, else at the scalar.
pub(super) fn violation(
    path: &Path,
    text: &str,
    scalar: &Templated,
    message: String,
    at: Option<&str>,
) -> RecipeError {
    let template = &scalar.template;
    let place = match at {
        Some(name) => locate_in_blocks(template, name),
        None => first_unquoted_expression(template),
    };
    let (line, col) = place.map_or((scalar.line, scalar.column), |(l, c)| {
        scalar.place_of(text, l, c)
    });
    RecipeError::at(path, text, line, col, message)
}

/// The 1-based place of the first `{{ … }}` whose expression does not end in
/// `shell_quote` (or a filter that makes a number).
fn first_unquoted_expression(template: &str) -> Option<(u64, u64)> {
    let mut offset = 0;
    while let Some(open) = template[offset..].find("{{").map(|i| i + offset) {
        let close = template[open..].find("}}").map(|i| i + open)?;
        let body = template[open + 2..close].trim_matches(|c: char| c == '-' || c.is_whitespace());
        let last = body.rsplit('|').next().unwrap_or_default().trim();
        let last = last.split('(').next().unwrap_or_default().trim();
        let numeric = body.parse::<f64>().is_ok();
        let safe = body.contains('|')
            && [
                "shell_quote",
                "int",
                "float",
                "length",
                "round",
                "abs",
                "wordcount",
            ]
            .contains(&last);
        if !safe && !numeric {
            let line = template[..open].matches('\n').count() as u64 + 1;
            let col = (open - template[..open].rfind('\n').map_or(0, |p| p + 1)) as u64 + 1;
            return Some((line, col));
        }
        offset = close + 2;
    }
    None
}

/// Turns a tera error into a located recipe error.
pub(super) fn template_error(
    path: &Path,
    text: &str,
    err: &tera::Error,
    masker: &Masker,
) -> RecipeError {
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
        let message = format!("template syntax error: {expected}");
        return RecipeError::at(path, text, line, col, message);
    }
    let (message, place) = match unknown_name(err) {
        Some(unknown) => unknown.located(text),
        None => render_failure(text, &chain, &full, masker),
    };
    let (line, col) = place.unwrap_or((1, 1));
    RecipeError::at(path, text, line, col, message)
}

/// A filter, test or function that tera does not know.
struct UnknownName {
    /// `filter`, `test` or `function`.
    what: &'static str,
    name: String,
    /// Where tera documents the ones it has.
    docs: &'static str,
}

impl UnknownName {
    /// The message, and the place of the name where it is used as what it is (after a
    /// `|` for a filter), else anywhere in a template block.
    fn located(&self, text: &str) -> (String, Option<(u64, u64)>) {
        let UnknownName { what, name, docs } = self;
        let message = format!(
            "template error: unknown {what} `{name}`: expected one of tera's built-in {what}s ({docs})"
        );
        let place = locate_in_blocks_where(text, name, |before, after| match *what {
            "filter" => before.trim_end().ends_with('|'),
            "test" => before.trim_end().ends_with(" is") || before.trim_end().ends_with(" not"),
            _ => after.trim_start().starts_with('('),
        })
        .or_else(|| locate_in_blocks(text, name));
        (message, place)
    }
}

/// The message and place of any other render error (an undefined var, an unset
/// environment variable, …), from the innermost message of the error chain.
fn render_failure(
    text: &str,
    chain: &[String],
    full: &str,
    masker: &Masker,
) -> (String, Option<(u64, u64)>) {
    let detail = chain
        .iter()
        .rev()
        .find(|m| !m.starts_with("Failed to render"))
        .map_or(full, String::as_str);
    let detail = masker.mask(detail).into_owned();
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
    let place = backticked(&detail).and_then(|name| locate_in_blocks(text, &name));
    (message, place)
}

/// The first filter, test or function that tera does not know, anywhere in the error's
/// chain.
fn unknown_name(err: &tera::Error) -> Option<UnknownName> {
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
                let name = name.clone();
                return Some(UnknownName { what, name, docs });
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

    #[test]
    fn reads_tera_parse_positions() {
        assert_eq!(
            parse_arrow_position("Failed\n --> 3:14\n  |"),
            Some((3, 14))
        );
        assert_eq!(parse_arrow_position("no arrow"), None);
    }
}
