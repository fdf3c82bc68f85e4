//! The outline of a YAML text: its nodes and where each one is, and sub-documents cut
//! from it.
//!
//! serde stops at the first error, so to find the others `collect.rs` deserializes parts
//! of a recipe on their own. A part is cut out as a *sub-document*: the same text with
//! everything outside the part turned into spaces (line breaks kept), so every line and
//! column in it is the file's own and an error in it reads exactly as it would in the
//! whole file.

use std::ops::Range;

use serde_saphyr::granit_parser::{Event, Parser, Span, StructureStyle};

/// A node and the byte range of its text.
pub(super) struct Node {
    pub range: Range<usize>,
    /// 1-based, as errors give them.
    pub line: u64,
    pub column: u64,
    pub body: Body,
}

pub(super) enum Body {
    Scalar,
    Mapping(Collection<Entry>),
    Sequence(Collection<Item>),
}

/// A mapping's entries or a sequence's items, and the brackets around them if it is
/// written in flow style (`{…}`, `[…]`).
pub(super) struct Collection<T> {
    pub children: Vec<T>,
    brackets: Vec<Range<usize>>,
}

/// `key: value` in a mapping.
pub(super) struct Entry {
    /// The key as a string, when it is a scalar (every key a recipe has).
    pub key: Option<String>,
    /// Where the key starts (1-based line and column).
    pub key_at: (u64, u64),
    /// From the key through its `:`.
    head: Range<usize>,
    pub value: Node,
}

/// An item of a sequence; in block style its text starts at its `-`.
pub(super) struct Item {
    start: usize,
    pub node: Node,
}

/// The outline of `text`'s one document, or `None` when it has a syntax error, more than
/// one document, or an alias (whose anchor a sub-document might not hold).
pub(super) fn parse(text: &str) -> Option<Node> {
    let mut events = Vec::new();
    for item in Parser::new_from_str(text) {
        events.push(item.ok()?);
    }
    let documents = events
        .iter()
        .filter(|(e, _)| matches!(e, Event::DocumentStart(..)))
        .count();
    if documents != 1 || events.iter().any(|(e, _)| matches!(e, Event::Alias(..))) {
        return None;
    }
    let first = events
        .iter()
        .position(|(e, _)| matches!(e, Event::DocumentStart(..)))?
        + 1;
    Reader {
        text,
        events: &events,
        next: first,
    }
    .node()
}

/// Reads nodes from the events, in order.
struct Reader<'t, 'e> {
    text: &'t str,
    events: &'e [(Event<'t>, Span)],
    next: usize,
}

impl Reader<'_, '_> {
    fn node(&mut self) -> Option<Node> {
        let (event, span) = self.events.get(self.next)?;
        self.next += 1;
        let start = span.start.byte_offset()?;
        let (line, column) = (span.start.line() as u64, span.start.col() as u64 + 1);
        let flow = |style: &StructureStyle| *style == StructureStyle::Flow;
        let (body, end) = match event {
            Event::Scalar(..) => (Body::Scalar, span.end.byte_offset()?),
            Event::MappingStart(style, ..) => {
                let mut children = Vec::new();
                while !self.at_end(&Event::MappingEnd) {
                    children.push(self.entry()?);
                }
                let (end, brackets) = self.close(span, flow(style))?;
                (Body::Mapping(Collection { children, brackets }), end)
            }
            Event::SequenceStart(style, ..) => {
                let mut children = Vec::new();
                while !self.at_end(&Event::SequenceEnd) {
                    children.push(self.item(flow(style))?);
                }
                let (end, brackets) = self.close(span, flow(style))?;
                (Body::Sequence(Collection { children, brackets }), end)
            }
            _ => return None,
        };
        Some(Node {
            range: start..end.max(start),
            line,
            column,
            body,
        })
    }

    /// Whether the next event is `end` (or there is none).
    fn at_end(&self, end: &Event<'_>) -> bool {
        self.events.get(self.next).is_none_or(|(e, _)| e == end)
    }

    /// Reads a collection's end event: where the collection ends, and its brackets.
    fn close(&mut self, open: &Span, flow: bool) -> Option<(usize, Vec<Range<usize>>)> {
        let (_, span) = self.events.get(self.next)?;
        self.next += 1;
        let end = span.end.byte_offset()?;
        let brackets = if flow {
            vec![
                open.start.byte_offset()?..open.end.byte_offset()?,
                span.start.byte_offset()?..end,
            ]
        } else {
            Vec::new()
        };
        Some((end, brackets))
    }

    fn entry(&mut self) -> Option<Entry> {
        let key_event = &self.events.get(self.next)?.0;
        let key = match key_event {
            Event::Scalar(value, ..) => Some(value.to_string()),
            _ => None,
        };
        let key_node = self.node()?;
        let value = self.node()?;
        // The `:` after the key (an empty value's span may start at it).
        let colon = self.text[key_node.range.end..]
            .find(':')
            .map(|i| key_node.range.end + i + 1)
            .filter(|c| *c <= value.range.start + 1)
            .unwrap_or(key_node.range.end);
        Some(Entry {
            key,
            key_at: (key_node.line, key_node.column),
            head: key_node.range.start..colon,
            value,
        })
    }

    fn item(&mut self, flow: bool) -> Option<Item> {
        let before = self.events[self.next - 1].1.end.byte_offset()?;
        let node = self.node()?;
        let start = if flow {
            node.range.start
        } else {
            // The item's `-` is the last one between the previous event and the node.
            self.text[before.min(node.range.start)..node.range.start]
                .rfind('-')
                .map_or(node.range.start, |i| before + i)
        };
        Some(Item { start, node })
    }
}

impl Node {
    /// The mapping's brackets and the `index`th entry, with its value cut down to `value`
    /// (the ranges of a part of it; `None` for all of it).
    pub fn entry(&self, index: usize, value: Option<Vec<Range<usize>>>) -> Vec<Range<usize>> {
        let Body::Mapping(map) = &self.body else {
            return Vec::new();
        };
        let entry = &map.children[index];
        let mut kept = map.brackets.clone();
        match value {
            None => kept.push(entry.head.start..entry.value.range.end.max(entry.head.end)),
            Some(part) => {
                kept.push(entry.head.clone());
                kept.extend(part);
            }
        }
        kept
    }

    /// The sequence's brackets and its `index`th item, whole.
    pub fn item(&self, index: usize) -> Vec<Range<usize>> {
        let Body::Sequence(seq) = &self.body else {
            return Vec::new();
        };
        let item = &seq.children[index];
        let mut kept = seq.brackets.clone();
        kept.push(item.start..item.node.range.end);
        kept
    }

    /// The entries of a mapping; none for anything else.
    pub fn entries(&self) -> &[Entry] {
        match &self.body {
            Body::Mapping(map) => &map.children,
            _ => &[],
        }
    }

    /// How many items a sequence has; 0 for anything else.
    pub fn item_count(&self) -> usize {
        match &self.body {
            Body::Sequence(seq) => seq.children.len(),
            _ => 0,
        }
    }

    /// Whether this mapping has `key`.
    pub fn has_key(&self, key: &str) -> bool {
        self.entries().iter().any(|e| e.key.as_deref() == Some(key))
    }

    /// Every mapping in the tree, this node included.
    pub fn mappings(&self) -> Vec<&Node> {
        let mut found = Vec::new();
        let mut stack = vec![self];
        while let Some(node) = stack.pop() {
            match &node.body {
                Body::Scalar => {}
                Body::Mapping(map) => {
                    found.push(node);
                    stack.extend(map.children.iter().map(|e| &e.value));
                }
                Body::Sequence(seq) => stack.extend(seq.children.iter().map(|i| &i.node)),
            }
        }
        found
    }
}

/// `text` with every character outside `kept` turned into a space; line breaks stay, so
/// lines and columns are unchanged.
pub(super) fn blank_except(text: &str, kept: &[Range<usize>]) -> String {
    text.char_indices()
        .map(|(i, c)| {
            if c == '\n' || c == '\r' || kept.iter().any(|r| r.contains(&i)) {
                c
            } else {
                ' '
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# a recipe\nname: x\nsteps:\n  - a: 1\n  - |\n    b\nimage: { tags: [p, q], n: 1 }\nempty:\n";

    #[test]
    fn an_entry_or_an_item_is_cut_out_in_place() {
        let root = parse(TEXT).expect("parses");
        assert_eq!((root.line, root.column), (2, 1));
        let keys: Vec<_> = root.entries().iter().map(|e| e.key.clone()).collect();
        assert_eq!(
            keys,
            ["name", "steps", "image", "empty"].map(|k| Some(k.to_string()))
        );
        let steps = &root.entries()[1].value;
        assert_eq!(steps.item_count(), 2);
        let second = blank_except(TEXT, &root.entry(1, Some(steps.item(1))));
        assert_eq!(
            second,
            "          \n       \nsteps:\n        \n  - |\n    b\n                             \n      \n"
        );
        let image = &root.entries()[2].value;
        let tags = &image.entries()[0].value;
        let q = blank_except(
            TEXT,
            &root.entry(2, Some(image.entry(0, Some(tags.item(1))))),
        );
        assert_eq!(q.lines().nth(6), Some("image: { tags: [   q]       }"));
        let empty = blank_except(TEXT, &root.entry(3, None));
        assert_eq!(empty.lines().nth(7), Some("empty:"));
    }

    #[test]
    fn texts_that_cannot_be_cut_have_no_outline() {
        assert!(parse("a: [1\n").is_none(), "a syntax error");
        assert!(parse("a: &x 1\nb: *x\n").is_none(), "an alias");
        assert!(parse("a: 1\n---\nb: 2\n").is_none(), "two documents");
    }
}
