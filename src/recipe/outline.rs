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
    /// The mapping's brackets and its entries from the `from`th on, whole.
    pub fn entries_from(&self, from: usize) -> Vec<Range<usize>> {
        let Body::Mapping(map) = &self.body else {
            return Vec::new();
        };
        let mut kept = map.brackets.clone();
        kept.extend(
            map.children[from..]
                .iter()
                .map(|e| e.head.start..e.value.range.end.max(e.head.end)),
        );
        kept
    }

    /// The mapping's brackets and its entries but the `left_out`th, whole.
    pub fn entries_except(&self, left_out: &[usize]) -> Vec<Range<usize>> {
        let Body::Mapping(map) = &self.body else {
            return Vec::new();
        };
        let mut kept = map.brackets.clone();
        kept.extend(
            map.children
                .iter()
                .enumerate()
                .filter(|(i, _)| !left_out.contains(i))
                .map(|(_, e)| e.head.start..e.value.range.end.max(e.head.end)),
        );
        kept
    }

    /// The mapping's brackets and its `index`th entry with its value cut down to `value`.
    pub fn entry_with(&self, index: usize, value: Vec<Range<usize>>) -> Vec<Range<usize>> {
        let Body::Mapping(map) = &self.body else {
            return Vec::new();
        };
        let mut kept = map.brackets.clone();
        kept.push(map.children[index].head.clone());
        kept.extend(value);
        kept
    }

    /// The sequence's brackets and its items from the `from`th on.
    pub fn items_from(&self, from: usize) -> Vec<Range<usize>> {
        let Body::Sequence(seq) = &self.body else {
            return Vec::new();
        };
        let mut kept = seq.brackets.clone();
        kept.extend(
            seq.children[from..]
                .iter()
                .map(|i| i.start..i.node.range.end),
        );
        kept
    }

    /// The index of the entry or item whose text holds `line:col` (1-based).
    pub fn child_at(&self, line: u64, col: u64) -> Option<usize> {
        let starts: Vec<(u64, u64)> = match &self.body {
            Body::Scalar => return None,
            Body::Mapping(map) => map.children.iter().map(|e| e.key_at).collect(),
            Body::Sequence(seq) => seq
                .children
                .iter()
                .map(|i| (i.node.line, i.node.column))
                .collect(),
        };
        starts.iter().rposition(|start| *start <= (line, col))
    }

    /// The entries of a mapping; none for anything else.
    pub fn entries(&self) -> &[Entry] {
        match &self.body {
            Body::Mapping(map) => &map.children,
            _ => &[],
        }
    }

    /// How many entries or items a collection has; 0 for a scalar.
    pub fn len(&self) -> usize {
        match &self.body {
            Body::Scalar => 0,
            Body::Mapping(map) => map.children.len(),
            Body::Sequence(seq) => seq.children.len(),
        }
    }

    /// The collection's brackets and its entries or items from the `from`th on, whole.
    pub fn children_from(&self, from: usize) -> Vec<Range<usize>> {
        match &self.body {
            Body::Sequence(_) => self.items_from(from),
            _ => self.entries_from(from),
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
///
/// The text after the last kept character is left out: it would be blank.
pub(super) fn blank_except(text: &str, kept: &[Range<usize>]) -> String {
    let mut kept = kept.to_vec();
    kept.sort_by_key(|r| r.start);
    let end = kept
        .iter()
        .map(|r| r.end)
        .max()
        .unwrap_or(0)
        .min(text.len());
    let mut next = kept.iter().peekable();
    let mut open_until = 0; // the end of the kept ranges started so far
    text.char_indices()
        .take_while(|(i, _)| *i < end)
        .map(|(i, c)| {
            while let Some(r) = next.next_if(|r| r.start <= i) {
                open_until = open_until.max(r.end);
            }
            if c == '\n' || c == '\r' || i < open_until {
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
        assert_eq!(steps.len(), 2);
        let second = blank_except(TEXT, &root.entry_with(1, steps.children_from(1)));
        assert_eq!(
            second,
            "          \n       \nsteps:\n        \n  - |\n    b\n"
        );
        let image = &root.entries()[2].value;
        let tags = &image.entries()[0].value;
        let q = root.entry_with(2, image.entry_with(0, tags.children_from(1)));
        let q = blank_except(TEXT, &q);
        assert_eq!(q.lines().nth(6), Some("image: { tags: [   q]       }"));
        let empty = blank_except(TEXT, &root.children_from(3));
        assert_eq!(empty.lines().nth(7), Some("empty:"));
        assert_eq!(
            root.child_at(5, 5),
            Some(1),
            "the block scalar is in `steps`"
        );
        assert_eq!(tags.child_at(7, 20), Some(1));
    }

    #[test]
    fn texts_that_cannot_be_cut_have_no_outline() {
        assert!(parse("a: [1\n").is_none(), "a syntax error");
        assert!(parse("a: &x 1\nb: *x\n").is_none(), "an alias");
        assert!(parse("a: 1\n---\nb: 2\n").is_none(), "two documents");
    }
}
