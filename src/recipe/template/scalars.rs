//! Rendering inside scalars: a var fills a value, never structure.
//!
//! The recipe as written is parsed into YAML events first. Each scalar that holds a
//! template (`{{`, `{%`, `{#`) is rendered on its own, and written back in its place as a
//! double-quoted YAML scalar with every character that could end it escaped (a plain
//! scalar that renders to a plain word, such as a number, stays plain so typed fields keep
//! their type). Whatever a value holds, it stays inside its scalar: no var can add,
//! remove or rename a key, a step or a list item. The result is parsed again and its
//! events compared with the written ones, so that holds by check, not only by escaping.
//!
//! Each replacement keeps the line breaks of what it replaces (as blank space after the
//! closing quote), so every line of the rendered text is the written line of the same
//! number; [`Rewrite::source_place`] maps a column back.
//!
//! Keys are never rendered: a template in a key is an error at the key. The top-level
//! `vars` and `env` are read as written and not rendered either.

use std::ops::Range;

use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, Span};

/// One step of the path to a node: a mapping key or a list index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A scalar of the written recipe that holds a template.
pub struct Templated {
    /// Where the node is in the recipe (`steps`, 2, `shell`).
    pub path: Vec<Seg>,
    /// Its value as YAML reads it: the template.
    pub template: String,
    /// 1-based line and column where the scalar starts (its content, for a block scalar).
    pub line: u64,
    pub column: u64,
    /// The written text it replaces (from a block scalar's `|` or `>`).
    range: Range<usize>,
    style: ScalarStyle,
    /// The scalar's index among the written events, for the check after rendering.
    event: usize,
}

impl Templated {
    /// The 1-based place in the file of the 1-based `line` and `col` of the template (the
    /// scalar's value): exact for single-line and literal block scalars, the scalar's
    /// start otherwise.
    pub fn place_of(&self, text: &str, line: u64, col: u64) -> (u64, u64) {
        let written = &text[self.range.clone()];
        let single_line = !written.contains('\n');
        match self.style {
            ScalarStyle::Plain if single_line && line == 1 => (self.line, self.column + col - 1),
            ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted
                if single_line
                    && line == 1
                    && !written.contains('\\')
                    && !written.contains("''") =>
            {
                (self.line, self.column + col)
            }
            ScalarStyle::Literal => (self.line + line - 1, self.column + col - 1),
            _ => (self.line, self.column),
        }
    }
}

/// A problem found while reading the written recipe for its templates.
pub struct Fault {
    pub line: u64,
    pub column: u64,
    pub message: String,
}

/// The scalars of `text` that hold templates, in order; an error for a template in a key.
/// `None` when the text is not YAML a parser reads (the typed parse reports that).
pub fn templated(text: &str) -> Result<Option<Vec<Templated>>, Fault> {
    let Some(events) = parse(text) else {
        return Ok(None);
    };
    let mut found = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut prev_end = 0;
    for (index, (event, span)) in events.iter().enumerate() {
        let is_key = matches!(stack.last(), Some(Frame::Map { key_next: true, .. }));
        match event {
            Event::Scalar(value, style, ..) => {
                let has_template = ["{{", "{%", "{#"].iter().any(|t| value.contains(t));
                if has_template && is_key {
                    return Err(Fault {
                        line: span.start.line() as u64,
                        column: span.start.col() as u64 + 1,
                        message: "a key cannot hold a template: keys are written as they are \
                                  (put the template in the value)"
                            .into(),
                    });
                }
                let path = path(&stack);
                let read_as_written =
                    matches!(path.first(), Some(Seg::Key(k)) if k == "vars" || k == "env");
                if has_template && !is_key && !read_as_written {
                    found.push(Templated {
                        range: scalar_range(text, span, *style, prev_end),
                        path,
                        template: value.to_string(),
                        line: span.start.line() as u64,
                        column: span.start.col() as u64 + 1,
                        style: *style,
                        event: index,
                    });
                }
                done(&mut stack, Some(value.to_string()));
            }
            Event::Alias(..) => done(&mut stack, None),
            Event::MappingStart(..) => stack.push(Frame::Map {
                key_next: true,
                key: None,
            }),
            Event::SequenceStart(..) => stack.push(Frame::Seq { index: 0 }),
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
                done(&mut stack, None);
            }
            _ => {}
        }
        if let Some(end) = span.end.byte_offset() {
            prev_end = end;
        }
    }
    Ok(Some(found))
}

/// The written text with each templated scalar replaced by its rendered value, and how
/// to map places in it back.
#[derive(Debug)]
pub struct Rewrite {
    pub text: String,
    /// Per replacement: its first and last line, its start column in the rendered text,
    /// its end column in the written and the rendered text (1-based chars), and the place
    /// of the scalar it replaced.
    spans: Vec<Replaced>,
}

#[derive(Debug)]
struct Replaced {
    first_line: u64,
    last_line: u64,
    start_col: u64,
    written_end_col: u64,
    rendered_end_col: u64,
    scalar_at: (u64, u64),
}

impl Rewrite {
    /// A text with nothing replaced.
    pub fn unchanged(text: &str) -> Self {
        Rewrite {
            text: text.to_string(),
            spans: Vec::new(),
        }
    }

    /// Replaces each of `scalars` by its rendered value, in order.
    pub fn new(text: &str, scalars: &[Templated], values: &[String]) -> Self {
        let mut out = String::with_capacity(text.len());
        let mut spans = Vec::new();
        let mut copied = 0;
        for (s, value) in scalars.iter().zip(values) {
            out.push_str(&text[copied..s.range.start]);
            let written = &text[s.range.clone()];
            let breaks = written.matches('\n').count();
            // 1-based char column of the end of `t`.
            let end_col = |t: &str| {
                let line_start = t.rfind('\n').map_or(0, |i| i + 1);
                t[line_start..].chars().count() as u64 + 1
            };
            let start_col = end_col(&out);
            let first_line = text[..s.range.start].matches('\n').count() as u64 + 1;
            out.push_str(&emit(value, s.style));
            let written_end_col = end_col(&text[..s.range.end]);
            let rendered_end_col = if breaks == 0 {
                end_col(&out)
            } else {
                // The line breaks it spanned, as blank space, and the last line padded so
                // what follows it keeps its column.
                out.push_str(&"\n".repeat(breaks));
                out.push_str(&" ".repeat(written_end_col as usize - 1));
                written_end_col
            };
            spans.push(Replaced {
                first_line,
                last_line: first_line + breaks as u64,
                start_col,
                written_end_col,
                rendered_end_col,
                scalar_at: (s.line, s.column),
            });
            copied = s.range.end;
        }
        out.push_str(&text[copied..]);
        Rewrite { text: out, spans }
    }

    /// The place in the written recipe of `line:col` of the rendered text (1-based): the
    /// scalar's own start inside a replaced value, the same line with the column moved
    /// back after one.
    pub fn source_place(&self, line: u64, col: u64) -> (u64, u64) {
        let mut shift: i64 = 0;
        for r in &self.spans {
            let inside = (line, col) >= (r.first_line, r.start_col)
                && (line, col) < (r.last_line, r.rendered_end_col);
            if inside {
                return r.scalar_at;
            }
            if line == r.last_line && col >= r.rendered_end_col {
                shift = r.written_end_col as i64 - r.rendered_end_col as i64;
            }
        }
        (line, (col as i64 + shift).max(1) as u64)
    }

    /// Whether the rendered text has exactly the written events, with each templated
    /// scalar's value replaced by what it rendered to: `None` when it has, else the
    /// 1-based place of the first difference in the written text.
    pub fn differs(
        &self,
        written: &str,
        scalars: &[Templated],
        values: &[String],
    ) -> Option<(u64, u64)> {
        let before = parse(written)?;
        let Some(after) = parse(&self.text) else {
            return Some((1, 1));
        };
        let place = |span: &Span| (span.start.line() as u64, span.start.col() as u64 + 1);
        if before.len() != after.len() {
            return Some(after.first().map_or((1, 1), |(_, s)| place(s)));
        }
        for (i, ((b, span), (a, _))) in before.iter().zip(&after).enumerate() {
            let rendered = scalars
                .iter()
                .position(|s| s.event == i)
                .map(|k| values[k].as_str());
            let same = match (b, a) {
                (Event::Scalar(vb, ..), Event::Scalar(va, ..)) => {
                    va.as_ref() == rendered.unwrap_or(vb.as_ref())
                }
                _ => std::mem::discriminant(b) == std::mem::discriminant(a),
            };
            if !same {
                return Some(place(span));
            }
        }
        None
    }
}

/// The events of `text`; `None` on a syntax error.
fn parse(text: &str) -> Option<Vec<(Event<'_>, Span)>> {
    Parser::new_from_str(text).map(Result::ok).collect()
}

/// An open mapping or list while walking the events.
enum Frame {
    Map { key_next: bool, key: Option<String> },
    Seq { index: usize },
}

/// The path of the node about to be read.
fn path(stack: &[Frame]) -> Vec<Seg> {
    stack
        .iter()
        .map(|f| match f {
            Frame::Map { key, .. } => Seg::Key(key.clone().unwrap_or_default()),
            Frame::Seq { index } => Seg::Index(*index),
        })
        .collect()
}

/// A node of the innermost collection has been read (`key`: a scalar's value).
fn done(stack: &mut [Frame], scalar: Option<String>) {
    match stack.last_mut() {
        Some(Frame::Map { key_next, key }) => {
            if *key_next {
                *key = scalar;
            }
            *key_next = !*key_next;
        }
        Some(Frame::Seq { index }) => *index += 1,
        None => {}
    }
}

/// The written text of a scalar: its span, from the `|` or `>` for a block scalar (whose
/// span starts at its content).
fn scalar_range(text: &str, span: &Span, style: ScalarStyle, prev_end: usize) -> Range<usize> {
    let start = span.start.byte_offset().unwrap_or(0);
    let end = span.end.byte_offset().unwrap_or(start).max(start);
    if !matches!(style, ScalarStyle::Literal | ScalarStyle::Folded) {
        return start..end;
    }
    // Between the previous event and the content: indentation, `:` or `-`, maybe a tag
    // or an anchor, the header (`|`, `>-`, `|2`) and comments. The header's indicator is
    // the last `|` or `>` outside a comment.
    let gap_start = prev_end.min(start);
    let mut indicator = None;
    let mut offset = gap_start;
    for line in text[gap_start..start].split_inclusive('\n') {
        let code = match line
            .find(" #")
            .or_else(|| line.starts_with('#').then_some(0))
        {
            Some(c) => &line[..c],
            None => line,
        };
        if let Some(i) = code.rfind(['|', '>']) {
            indicator = Some(offset + i);
        }
        offset += line.len();
    }
    indicator.unwrap_or(start)..end
}

/// A rendered value as a YAML scalar that cannot end early: plain when it was written
/// plain and renders to a plain word, else double-quoted with escapes.
fn emit(value: &str, style: ScalarStyle) -> String {
    if style == ScalarStyle::Plain && is_plain_word(value) {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if ('\u{80}'..='\u{9f}').contains(&c)
                || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') =>
            {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A word YAML reads as a plain scalar of that text and nothing more: letters, digits
/// and `_ . / + -`, not starting with a character YAML gives a meaning to.
fn is_plain_word(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '/')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./+-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` with every templated scalar rendered as `f(template)`.
    fn rewrite(text: &str, f: impl Fn(&str) -> String) -> Rewrite {
        let scalars = templated(text).ok().flatten().expect("parses");
        let values: Vec<String> = scalars.iter().map(|s| f(&s.template)).collect();
        let r = Rewrite::new(text, &scalars, &values);
        assert_eq!(r.differs(text, &scalars, &values), None, "{}", r.text);
        assert_eq!(r.text.lines().count(), text.lines().count(), "{}", r.text);
        r
    }

    #[test]
    fn values_stay_in_their_scalar_and_lines_stay_put() {
        let text = "a: { n: \"x-{{ v }}\", m: 1 }\nb: |\n  {{ v }}\n  two\nc: [\"{{ v }}\", q]\nd: w-{{ v }}\ne: >-\n  {{ v }}\n";
        let evil = "x\", share_with: {accounts: [\"1\"]}, d: \"\n- k: |\n";
        let r = rewrite(text, |_| evil.to_string());
        let value: serde_json::Value = serde_saphyr::from_str(&r.text).unwrap();
        assert_eq!(value["a"]["n"], evil);
        assert_eq!(value["a"]["m"], 1);
        assert_eq!(value["b"], evil);
        assert_eq!(value["c"][0], evil);
        assert_eq!(value["c"][1], "q");
        assert_eq!(value["e"], evil);
        assert_eq!(value.as_object().unwrap().len(), 5);
    }

    #[test]
    fn plain_words_stay_plain_so_numbers_stay_numbers() {
        let r = rewrite("a: 1{{ v }}\nb: x{{ v }}\n", |t| t.replace("{{ v }}", "6"));
        assert_eq!(r.text, "a: 16\nb: x6\n");
        let r = rewrite("a: '{{ v }}'\n", |_| "6".into());
        assert_eq!(r.text, "a: \"6\"\n");
    }

    #[test]
    fn places_after_a_replaced_value_map_back_to_the_written_column() {
        let text = "a: { n: \"{{ v }}\", m: [x] }\nb: |\n  {{ v }}\nc: 1\n";
        let r = rewrite(text, |_| "a longer value".into());
        let line = r.text.lines().next().unwrap();
        let m = line.find("m:").unwrap() as u64 + 1;
        assert_eq!(r.source_place(1, m), (1, 20));
        assert_eq!(r.source_place(1, 10), (1, 9), "inside the value: its start");
        assert_eq!(r.source_place(2, 4), (3, 3), "a block scalar: its content");
        assert_eq!(r.source_place(4, 1), (4, 1));
        let r = rewrite("a: [\"{{ v }}\", \"{{ v }}\", x]\n", |_| "longer".into());
        let line = r.text.lines().next().unwrap();
        let second = line.rfind("\"longer").unwrap() as u64 + 1;
        assert_eq!(
            r.source_place(1, second + 2),
            (1, 16),
            "inside the second value"
        );
        let x = line.find('x').unwrap() as u64 + 1;
        assert_eq!(r.source_place(1, x), (1, 27));
    }

    #[test]
    fn a_template_in_a_key_is_an_error_at_the_key() {
        let err = templated("a:\n  \"{{ k }}\": 1\n").err().expect("refused");
        assert_eq!((err.line, err.column), (2, 3));
        assert!(
            templated("vars: { a: \"{{ x }}\" }\n")
                .ok()
                .flatten()
                .unwrap()
                .is_empty()
        );
    }
}
