//! Source text and the spanned document tree every format parses into.
//!
//! YAML, JSON and exported CUE all become a [`Node`] tree that remembers where
//! each value stands in its [`SourceFile`], so that structural and semantic
//! checks can point at the exact offending text. This module does no IO.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

/// A named piece of config text, shared by every diagnostic that points into it.
#[derive(Debug, Clone)]
pub struct SourceFile {
    name: Arc<str>,
    text: Arc<str>,
    /// Byte offsets where lines start, built on the first lookup: thousands of
    /// diagnostics must not each scan the file from the start.
    /// 32-bit like [`Span`]: a generated config has hundreds of thousands of lines.
    line_starts: Arc<OnceLock<Vec<u32>>>,
}

impl SourceFile {
    /// A source named `name` (a path as the user gave it) holding `text`.
    pub fn new(name: impl Into<Arc<str>>, text: impl Into<Arc<str>>) -> Self {
        Self { name: name.into(), text: text.into(), line_starts: Arc::default() }
    }

    /// The name diagnostics show, usually the path as given on the command line.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The full text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let line = self.line_index(offset);
        let col = self.text[self.line_starts()[line] as usize..offset].chars().count() + 1;
        (line + 1, col)
    }

    fn line_starts(&self) -> &[u32] {
        self.line_starts.get_or_init(|| {
            // Offsets past 4 GiB saturate; the parsers refuse such text anyway.
            let start = |i: usize| u32::try_from(i + 1).unwrap_or(u32::MAX);
            std::iter::once(0).chain(memchr::memchr_iter(b'\n', self.text.as_bytes()).map(start)).collect()
        })
    }

    /// 0-based line of a byte offset.
    fn line_index(&self, offset: usize) -> usize {
        // The last line start at or before `offset`; there is always one (0).
        self.line_starts().partition_point(|&start| start as usize <= offset) - 1
    }
}

/// Snippets for diagnostics, cut from a window of whole lines around the span
/// found through the line index: miette's own reader scans the text from its
/// start for every diagnostic, which made thousands of them quadratic.
impl miette::SourceCode for SourceFile {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let text = self.text.as_bytes();
        if span.offset() + span.len() > text.len() {
            return Err(miette::MietteError::OutOfBounds);
        }
        let starts = self.line_starts();
        // One line more on each side than miette reads: it looks at the byte
        // before an empty span, and the window must not end before it stops.
        let first = self.line_index(span.offset().saturating_sub(1)).saturating_sub(context_lines_before);
        let last = self.line_index((span.offset() + span.len()).saturating_sub(1)) + context_lines_after + 2;
        let (from, to) = (starts[first] as usize, starts.get(last + 1).map_or(text.len(), |&s| s as usize));
        let window: &'a [u8] = &text[from..to];
        let shifted = miette::SourceSpan::new((span.offset() - from).into(), span.len());
        let inner = window.read_span(&shifted, context_lines_before, context_lines_after)?;
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.to_string(),
            inner.data(),
            miette::SourceSpan::new((inner.span().offset() + from).into(), inner.span().len()),
            inner.line() + first,
            inner.column(),
            inner.line_count() + first,
        )))
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// A byte range in a [`SourceFile`].
///
/// 32-bit offsets: a tree holds one span per value and one per key, and a
/// generated fleet config has hundreds of thousands of them. The parsers
/// refuse text longer than [`Span::MAX_TEXT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    start: u32,
    len: u32,
}

impl Span {
    /// The longest text a span can point into (4 GiB).
    pub const MAX_TEXT: usize = u32::MAX as usize;

    /// The span from `start` to `end` (exclusive) bytes; offsets past
    /// [`Span::MAX_TEXT`] are clamped to it.
    pub fn new(start: usize, end: usize) -> Self {
        let clamp = |offset: usize| offset.min(Self::MAX_TEXT) as u32;
        Self { start: clamp(start), len: clamp(end.saturating_sub(start)) }
    }

    /// Byte offset of the first byte.
    pub fn start(self) -> usize {
        self.start as usize
    }

    /// Length in bytes (0 for a point).
    pub fn len(self) -> usize {
        self.len as usize
    }

    /// Whether the span is a point.
    pub fn is_empty(self) -> bool {
        self.len == 0
    }

    /// One past the last byte.
    pub fn end(self) -> usize {
        self.start() + self.len()
    }
}

impl From<Span> for miette::SourceSpan {
    fn from(span: Span) -> Self {
        (span.start(), span.len()).into()
    }
}

/// A number as written: integers stay exact, everything else is a double.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// A non-negative integer.
    Unsigned(u64),
    /// A negative integer.
    Signed(i64),
    /// Anything with a fraction or exponent, or too large for 64 bits.
    Float(f64),
}

impl Number {
    /// The value as a double (what JSON consumers see).
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Unsigned(n) => n as f64,
            Number::Signed(n) => n as f64,
            Number::Float(x) => x,
        }
    }

    /// Whether the value has no fractional part.
    pub fn is_integer(self) -> bool {
        match self {
            Number::Unsigned(_) | Number::Signed(_) => true,
            Number::Float(x) => x.fract() == 0.0,
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Unsigned(n) => write!(f, "{n}"),
            Number::Signed(n) => write!(f, "{n}"),
            Number::Float(x) => write!(f, "{x}"),
        }
    }
}

/// A value of the document with the span of its text.
///
/// Kept small (32 bytes; a key 24): the tree lives beside the text for as
/// long as diagnostics may point into it, and peak memory of a validate is
/// mostly this tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Where the value is written.
    pub span: Span,
}

/// A key of a mapping, with the span of the key text.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// The key, shared by every mapping that uses it (configs repeat a few
    /// dozen field names hundreds of thousands of times).
    pub name: Arc<str>,
    /// Where the key is written.
    pub span: Span,
}

/// The shape of a document value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null` / `~`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string, shared by every value with the same text (names are
    /// referred to again and again: routes name agents, hosts name racks).
    String(Arc<str>),
    /// A sequence.
    Seq(Box<[Node]>),
    /// A mapping, in source order (duplicate keys are rejected by the parsers).
    Map(Box<[(Key, Node)]>),
}

impl Value {
    /// A word for the kind of value, as diagnostics say it.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(n) if n.is_integer() => "an integer",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// One step of a path into a document.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Segment {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// A path from the document root, rendered like `agents[3].pin.host`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Path(pub Vec<Segment>);

impl Path {
    /// The empty path (the document root).
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// This path extended by a key.
    pub fn key(&self, key: &str) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Key(key.to_owned()));
        Self(segments)
    }

    /// This path extended by an index.
    pub fn index(&self, index: usize) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Index(index));
        Self(segments)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(document)");
        }
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if i == 0 => f.write_str(key)?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// What a path points at: the value itself, or the key that names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The value's span.
    Value,
    /// The span of the mapping key (the value's own span when it has no key).
    Key,
}

impl Node {
    /// The node at `path`, if it exists.
    pub fn get(&self, path: &Path) -> Option<&Node> {
        let mut node = self;
        for segment in &path.0 {
            node = match (segment, &node.value) {
                (Segment::Key(name), Value::Map(entries)) => &entries.iter().find(|(key, _)| *key.name == **name)?.1,
                (Segment::Index(index), Value::Seq(items)) => items.get(*index)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// The node at `path`, to change it.
    pub fn get_mut(&mut self, path: &Path) -> Option<&mut Node> {
        let mut node = self;
        for segment in &path.0 {
            node = match (segment, &mut node.value) {
                (Segment::Key(name), Value::Map(entries)) => {
                    &mut entries.iter_mut().find(|(key, _)| *key.name == **name)?.1
                }
                (Segment::Index(index), Value::Seq(items)) => items.get_mut(*index)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// `json` as a tree whose every span is `span` (a value that stands in
    /// for the text there).
    pub fn from_json(json: &serde_json::Value, span: Span) -> Node {
        let value = match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Number(match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => Number::Unsigned(u),
                (None, Some(i)) => Number::Signed(i),
                _ => Number::Float(n.as_f64().unwrap_or(0.0)),
            }),
            serde_json::Value::String(s) => Value::String(s.as_str().into()),
            serde_json::Value::Array(items) => {
                Value::Seq(items.iter().map(|item| Node::from_json(item, span)).collect())
            }
            serde_json::Value::Object(map) => Value::Map(
                map.iter()
                    .map(|(key, value)| (Key { name: key.as_str().into(), span }, Node::from_json(value, span)))
                    .collect(),
            ),
        };
        Node { value, span }
    }

    /// The span of `path`, falling back to the nearest existing ancestor so
    /// that a diagnostic about a missing field points at its parent.
    pub fn span_of(&self, path: &Path, target: Target) -> Span {
        let mut node = self;
        let mut key_span = None;
        for segment in &path.0 {
            let next = match (segment, &node.value) {
                (Segment::Key(name), Value::Map(entries)) => {
                    entries.iter().find(|(key, _)| *key.name == **name).map(|(key, value)| (Some(key.span), value))
                }
                (Segment::Index(index), Value::Seq(items)) => items.get(*index).map(|v| (None, v)),
                _ => None,
            };
            match next {
                Some((key, value)) => {
                    key_span = key;
                    node = value;
                }
                None => return node.span,
            }
        }
        match target {
            Target::Key => key_span.unwrap_or(node.span),
            Target::Value => node.span,
        }
    }

    /// Moves every span to the place `places` gives for its path, in `text`:
    /// for a document exported from another file (a `.cue` config), so that
    /// diagnostics point at what the user wrote. A value without a place, or
    /// with one outside `text`, takes its parent's; a key without one, its
    /// value's.
    pub fn relocate(&mut self, places: &HashMap<Path, (Span, Option<Span>)>, text: &str) {
        let fits = |span: &Span| {
            span.end() <= text.len() && text.is_char_boundary(span.start()) && text.is_char_boundary(span.end())
        };
        fn walk(
            node: &mut Node,
            path: &mut Path,
            parent: Span,
            places: &HashMap<Path, (Span, Option<Span>)>,
            fits: &dyn Fn(&Span) -> bool,
        ) -> Option<Span> {
            let place = places.get(path);
            node.span = place.map(|(span, _)| *span).filter(fits).unwrap_or(parent);
            let key = place.and_then(|(_, key)| *key).filter(fits);
            let own = node.span;
            match &mut node.value {
                Value::Seq(items) => {
                    for (index, item) in items.iter_mut().enumerate() {
                        path.0.push(Segment::Index(index));
                        walk(item, path, own, places, fits);
                        path.0.pop();
                    }
                }
                Value::Map(entries) => {
                    for (name, value) in entries.iter_mut() {
                        path.0.push(Segment::Key(name.name.to_string()));
                        let key = walk(value, path, own, places, fits);
                        name.span = key.unwrap_or(value.span);
                        path.0.pop();
                    }
                }
                _ => {}
            }
            key
        }
        walk(self, &mut Path::root(), Span::new(0, 0), places, &fits);
    }

    /// The document as plain JSON (keys in source order).
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Number(Number::Unsigned(n)) => serde_json::Value::from(*n),
            Value::Number(Number::Signed(n)) => serde_json::Value::from(*n),
            Value::Number(Number::Float(x)) => {
                serde_json::Number::from_f64(*x).map_or(serde_json::Value::Null, serde_json::Value::Number)
            }
            Value::String(s) => serde_json::Value::String(s.to_string()),
            Value::Seq(items) => serde_json::Value::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => serde_json::Value::Object(
                entries.iter().map(|(key, value)| (key.name.to_string(), value.to_json())).collect(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_nodes_stay_small() {
        // Peak memory of validating a fleet config is mostly these (BENCHMARKS.md).
        assert_eq!(std::mem::size_of::<Node>(), 32);
        assert_eq!(std::mem::size_of::<(Key, Node)>(), 56);
    }

    #[test]
    fn line_col_counts_characters_from_one() {
        let source = SourceFile::new("x", "ab\nçd: 1\n");
        assert_eq!(source.line_col(0), (1, 1));
        assert_eq!(source.line_col(3), (2, 1));
        // 'ç' is two bytes; the offset of 'd' is 5.
        assert_eq!(source.line_col(5), (2, 2));
    }

    #[test]
    fn line_col_is_the_same_from_the_index_at_every_offset() {
        let text = "a: 1\n\nçé: [x,\n  y]\n";
        let source = SourceFile::new("x", text);
        for offset in 0..=text.len() + 2 {
            let clamped = floor_char_boundary(text, offset.min(text.len()));
            let before = &text[..clamped];
            let line = before.matches('\n').count() + 1;
            let col = before[before.rfind('\n').map_or(0, |i| i + 1)..].chars().count() + 1;
            assert_eq!(source.line_col(offset), (line, col), "offset {offset}");
        }
    }

    #[test]
    fn snippets_from_the_window_equal_miette_reading_the_whole_text() {
        use miette::SourceCode;
        let text = "a: 1\nb: [x,\n  y]\n\nc: çé\nd: 4\ne: 5\n";
        let source = SourceFile::new("f.yaml", text);
        for start in 0..text.len() {
            for len in 0..=(text.len() - start).min(12) {
                if !text.is_char_boundary(start) || !text.is_char_boundary(start + len) {
                    continue;
                }
                let span = miette::SourceSpan::new(start.into(), len);
                for context in 0..3 {
                    let ours = source.read_span(&span, context, context).unwrap();
                    let theirs = text.read_span(&span, context, context).unwrap();
                    let what = format!("span {start}+{len}, context {context}");
                    assert_eq!(ours.data(), theirs.data(), "{what}");
                    assert_eq!(ours.span(), theirs.span(), "{what}");
                    assert_eq!((ours.line(), ours.column()), (theirs.line(), theirs.column()), "{what}");
                    assert_eq!(ours.name(), Some("f.yaml"));
                }
            }
        }
    }

    #[test]
    fn relocate_moves_spans_and_falls_back_to_the_parent() {
        let mut root = crate::parse::parse_json(r#"{"agents": [{"qos": "fast", "id": "a"}]}"#).unwrap();
        let text = "agents: [{qos: \"fast\", id: \"a\"}]";
        let agents = Path::root().key("agents");
        let qos = agents.index(0).key("qos");
        let places = HashMap::from([
            (Path::root(), (Span::new(0, text.len()), None)),
            (agents.clone(), (Span::new(8, text.len()), Some(Span::new(0, 6)))),
            (qos.clone(), (Span::new(15, 21), Some(Span::new(10, 13)))),
            // Outside the text: ignored.
            (agents.index(0).key("id"), (Span::new(90, 99), None)),
        ]);
        root.relocate(&places, text);
        assert_eq!(root.span_of(&qos, Target::Value), Span::new(15, 21));
        assert_eq!(root.span_of(&qos, Target::Key), Span::new(10, 13));
        // agents[0] has no place of its own: its parent's.
        assert_eq!(root.span_of(&agents.index(0), Target::Value), Span::new(8, text.len()));
        assert_eq!(root.span_of(&agents.index(0).key("id"), Target::Value), Span::new(8, text.len()));
    }

    #[test]
    fn path_renders_like_a_config_reference() {
        let path = Path::root().key("agents").index(3).key("pin").key("host");
        assert_eq!(path.to_string(), "agents[3].pin.host");
    }
}
