//! YAML 1.2 (core schema) to a spanned [`Node`] tree, on saphyr-parser's
//! event parser, which reports where each event starts and ends: a value's
//! span is its text, multi-line values whole.
//!
//! Plain scalars are typed by the core schema (so `no` stays a string, unlike
//! YAML 1.1); quoted scalars are always strings. Anchors and aliases are
//! expanded with a cap on the total size, so a "billion laughs" document is an
//! error rather than an out-of-memory. Duplicate keys and multiple documents
//! are errors.

use std::collections::HashMap;
use std::sync::Arc;

use saphyr_parser::{Event, Parser, ScalarStyle, SpannedEventReceiver, Tag};

use super::json::number_from_text;
use super::{Keys, MAX_DEPTH, SeenKeys, SyntaxError, check_size};
use crate::source::{Key, Node, Number, Span, Value};

/// Upper bound on values after alias expansion.
const MAX_NODES: usize = 2_000_000;

/// Parses `text` as a single YAML document.
pub fn parse_yaml(text: &str) -> Result<Node, SyntaxError> {
    check_size(text)?;
    let offsets = CharOffsets::new(text);
    let mut builder = Builder {
        text,
        offsets: &offsets,
        stack: Vec::new(),
        anchors: HashMap::new(),
        root: None,
        documents: 0,
        n_nodes: 0,
        error: None,
        keys: Keys::default(),
    };
    let mut parser = Parser::new_from_str(text);
    if let Err(error) = parser.load(&mut builder, true) {
        let start = offsets.byte(error.marker().index());
        let len = text[start..].chars().next().map_or(0, char::len_utf8);
        return Err(SyntaxError::new(error.info().to_owned(), Span::new(start, start + len)));
    }
    if let Some(error) = builder.error {
        return Err(error);
    }
    builder.root.ok_or_else(|| {
        SyntaxError::new("the config is empty", Span::default())
            .with_help("start with `version: 1`; `rtt init` writes a starter config")
    })
}

/// Maps the parser's character indices to byte offsets.
struct CharOffsets {
    /// Byte offset of each char, or empty when the text is ASCII (identity).
    bytes: Vec<usize>,
    len: usize,
}

impl CharOffsets {
    fn new(text: &str) -> Self {
        let bytes = if text.is_ascii() { Vec::new() } else { text.char_indices().map(|(i, _)| i).collect() };
        Self { bytes, len: text.len() }
    }

    fn byte(&self, char_index: usize) -> usize {
        if self.bytes.is_empty() {
            char_index.min(self.len)
        } else {
            self.bytes.get(char_index).copied().unwrap_or(self.len)
        }
    }
}

enum Frame {
    Seq {
        start: usize,
        anchor: usize,
        items: Vec<Node>,
    },
    /// `seen`: each key's first span, so duplicate detection stays linear.
    Map {
        start: usize,
        anchor: usize,
        entries: Vec<(Key, Node)>,
        pending_key: Option<Key>,
        seen: SeenKeys<Span>,
    },
}

struct Builder<'a> {
    text: &'a str,
    offsets: &'a CharOffsets,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    documents: usize,
    n_nodes: usize,
    error: Option<SyntaxError>,
    keys: Keys,
}

impl<'input> SpannedEventReceiver<'input> for Builder<'_> {
    fn on_event(&mut self, event: Event<'input>, span: saphyr_parser::Span) {
        if self.error.is_some() {
            return;
        }
        let span = Span::new(self.offsets.byte(span.start.index()), self.offsets.byte(span.end.index()));
        if let Err(error) = self.handle(event, span) {
            self.error = Some(error);
        }
    }
}

impl Builder<'_> {
    fn handle(&mut self, event: Event<'_>, event_span: Span) -> Result<(), SyntaxError> {
        let at = event_span.start();
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(SyntaxError::new("a second YAML document", Span::new(at, at + 3))
                        .with_help("an rtt config is one document; remove the extra `---`"));
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let span = self.scalar_span(event_span);
                let value = scalar_value(&mut self.keys, text.into_owned(), style, tag.as_deref(), span)?;
                self.push(Node { value, span }, anchor)?;
            }
            Event::SequenceStart(anchor, _) => {
                self.enter(at)?;
                self.stack.push(Frame::Seq { start: at, anchor, items: Vec::new() });
            }
            Event::MappingStart(anchor, _) => {
                self.enter(at)?;
                self.stack.push(Frame::Map {
                    start: at,
                    anchor,
                    entries: Vec::new(),
                    pending_key: None,
                    seen: SeenKeys::new(),
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let end = self.trim_end(at);
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq { start, anchor, items }) => (
                        Node { value: Value::Seq(items.into_boxed_slice()), span: Span::new(start, end.max(start)) },
                        anchor,
                    ),
                    Some(Frame::Map { start, anchor, entries, .. }) => (
                        Node { value: Value::Map(entries.into_boxed_slice()), span: Span::new(start, end.max(start)) },
                        anchor,
                    ),
                    None => return Err(SyntaxError::new("unbalanced collection end", Span::new(at, at))),
                };
                self.push(node, anchor)?;
            }
            Event::Alias(id) => {
                let Some(node) = self.anchors.get(&id).cloned() else {
                    return Err(SyntaxError::new("alias to an unknown anchor", Span::new(at, at + 1)));
                };
                self.n_nodes += count_nodes(&node);
                if self.n_nodes > MAX_NODES {
                    return Err(SyntaxError::new("aliases expand past the size limit", Span::new(at, at + 1))
                        .with_help("expand the aliases by hand or split the config"));
                }
                self.push(node, 0)?;
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
        Ok(())
    }

    fn enter(&self, at: usize) -> Result<(), SyntaxError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(SyntaxError::new(
                format!("document nests deeper than {MAX_DEPTH} levels"),
                Span::new(at, at + 1),
            ));
        }
        Ok(())
    }

    fn push(&mut self, node: Node, anchor: usize) -> Result<(), SyntaxError> {
        self.n_nodes += 1;
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, pending_key, .. }) => match pending_key.take() {
                Some(key) => entries.push((key, node)),
                None => {
                    let Value::String(name) = node.value else {
                        let name = match node.value {
                            Value::Number(n) => n.to_string(),
                            Value::Bool(b) => b.to_string(),
                            Value::Null => "null".into(),
                            _ => {
                                return Err(SyntaxError::new("a mapping key must be a plain value", node.span)
                                    .with_help("use a string key"));
                            }
                        };
                        let name = self.keys.intern(&name);
                        return self.set_key(Key { name, span: node.span });
                    };
                    return self.set_key(Key { name, span: node.span });
                }
            },
        }
        Ok(())
    }

    fn set_key(&mut self, key: Key) -> Result<(), SyntaxError> {
        let Some(Frame::Map { pending_key, seen, .. }) = self.stack.last_mut() else {
            return Ok(());
        };
        if let Some(first) = seen.get(&key.name) {
            let first_line = self.text[..first.start()].matches('\n').count() + 1;
            return Err(SyntaxError::new(format!("duplicate key {:?}", key.name), key.span)
                .with_help(format!("the key is already set on line {first_line}; keep one")));
        }
        seen.insert(Arc::clone(&key.name), key.span);
        *pending_key = Some(key);
        Ok(())
    }

    /// A scalar's text as the parser spans it, without the line break and
    /// blank space a block scalar's span runs on to.
    fn scalar_span(&self, span: Span) -> Span {
        let end = self.trim_end(span.end()).max(span.start());
        Span::new(span.start(), end)
    }

    /// Collections end where the next token starts; pull the end back over
    /// trailing blank space so labels cover only the collection's own text.
    fn trim_end(&self, end: usize) -> usize {
        let end = end.min(self.text.len());
        let trimmed = self.text[..end].trim_end();
        trimmed.len()
    }
}

fn count_nodes(node: &Node) -> usize {
    1 + match &node.value {
        Value::Seq(items) => items.iter().map(count_nodes).sum(),
        Value::Map(entries) => entries.iter().map(|(_, v)| count_nodes(v)).sum(),
        _ => 0,
    }
}

/// Types a scalar by the YAML 1.2 core schema.
fn scalar_value(
    keys: &mut Keys,
    text: String,
    style: ScalarStyle,
    tag: Option<&Tag>,
    span: Span,
) -> Result<Value, SyntaxError> {
    // `!!str 12` and the non-specific `! 12` are both the string "12" (YAML
    // 1.2 §6.9.1); saphyr reports `!` as handle "" and suffix "!".
    if let Some(tag) = tag
        && (((tag.handle == "!!" || tag.handle == "tag:yaml.org,2002:") && tag.suffix == "str")
            || (tag.handle.is_empty() && tag.suffix == "!"))
    {
        return Ok(Value::String(keys.intern(&text)));
    }
    if style != ScalarStyle::Plain {
        return Ok(Value::String(keys.intern(&text)));
    }
    Ok(match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF" | ".nan" | ".NaN"
        | ".NAN" => {
            return Err(SyntaxError::new(format!("{text} is not a finite number"), span)
                .with_help("rtt accepts finite numbers only"));
        }
        _ => match core_number(&text) {
            Some(Some(number)) => Value::Number(number),
            Some(None) => {
                return Err(SyntaxError::new(format!("number {text} is out of range"), span));
            }
            None => Value::String(keys.intern(&text)),
        },
    })
}

/// `Some(Some(n))` for a core-schema number, `Some(None)` for one that overflows,
/// `None` for text that is not a number at all.
fn core_number(text: &str) -> Option<Option<Number>> {
    if let Some(octal) = text.strip_prefix("0o") {
        if !octal.is_empty() && octal.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return Some(u64::from_str_radix(octal, 8).ok().map(Number::Unsigned));
        }
        return None;
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Some(u64::from_str_radix(hex, 16).ok().map(Number::Unsigned));
        }
        return None;
    }
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let is_int = !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit());
    if is_int {
        return Some(number_from_text(text.strip_prefix('+').unwrap_or(text), true));
    }
    // Core schema float: [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            (!int.is_empty() || !frac.is_empty())
                && int.bytes().all(|b| b.is_ascii_digit())
                && frac.bytes().all(|b| b.is_ascii_digit())
        }
        None => !mantissa.is_empty() && mantissa.bytes().all(|b| b.is_ascii_digit()),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let digits = e.strip_prefix(['-', '+']).unwrap_or(e);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    });
    if mantissa_ok && exponent_ok && mantissa != "." {
        return Some(text.parse::<f64>().ok().filter(|x| x.is_finite()).map(Number::Float));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value_at<'n>(node: &'n Node, key: &str) -> &'n Node {
        let Value::Map(entries) = &node.value else { panic!("not a map") };
        &entries.iter().find(|(k, _)| &*k.name == key).expect("key").1
    }

    #[test]
    fn types_plain_scalars_by_the_core_schema() {
        let node = parse_yaml("a: 1\nb: -2\nc: 2.5\nd: no\ne: 'true'\nf: ~\ng: 1e3\nh: 0x1f\n").expect("valid");
        assert_eq!(value_at(&node, "a").value, Value::Number(Number::Unsigned(1)));
        assert_eq!(value_at(&node, "b").value, Value::Number(Number::Signed(-2)));
        assert_eq!(value_at(&node, "c").value, Value::Number(Number::Float(2.5)));
        assert_eq!(value_at(&node, "d").value, Value::String("no".into()));
        assert_eq!(value_at(&node, "e").value, Value::String("true".into()));
        assert_eq!(value_at(&node, "f").value, Value::Null);
        assert_eq!(value_at(&node, "g").value, Value::Number(Number::Float(1000.0)));
        assert_eq!(value_at(&node, "h").value, Value::Number(Number::Unsigned(31)));
    }

    #[test]
    fn spans_point_at_scalar_text_even_after_multibyte_text() {
        let text = "# é\nname: \"h01\"\nlist: [a, bb]\n";
        let node = parse_yaml(text).expect("valid");
        let name = value_at(&node, "name");
        assert_eq!(&text[name.span.start()..name.span.end()], "\"h01\"");
        let Value::Seq(items) = &value_at(&node, "list").value else { panic!() };
        assert_eq!(&text[items[1].span.start()..items[1].span.end()], "bb");
    }

    #[test]
    fn a_non_specific_tag_makes_a_string() {
        let root = parse_yaml("a: ! 12\nb: !!str 13\nc: 14\n").unwrap();
        let Value::Map(entries) = root.value else { panic!("a mapping") };
        let values: Vec<&Value> = entries.iter().map(|(_, v)| &v.value).collect();
        assert_eq!(values[0], &Value::String("12".into()));
        assert_eq!(values[1], &Value::String("13".into()));
        assert_eq!(values[2], &Value::Number(Number::Unsigned(14)));
    }

    #[test]
    fn spans_cover_multi_line_values_whole() {
        let text = "a: \"one\n  two\"\nb: |\n  x\n  y\nc: plain\n";
        let root = parse_yaml(text).unwrap();
        let Value::Map(entries) = root.value else { panic!("a mapping") };
        let spanned: Vec<&str> = entries.iter().map(|(_, v)| &text[v.span.start()..v.span.end()]).collect();
        assert_eq!(spanned, ["\"one\n  two\"", "x\n  y", "plain"]);
    }

    #[test]
    fn rejects_duplicate_keys_and_second_documents() {
        assert!(parse_yaml("a: 1\na: 2\n").expect_err("dup").message.contains("duplicate"));
        assert!(parse_yaml("a: 1\n---\nb: 2\n").expect_err("two docs").message.contains("second"));
    }

    #[test]
    fn expands_aliases_but_caps_their_size() {
        let node = parse_yaml("a: &x [1, 2]\nb: *x\n").expect("valid");
        assert_eq!(value_at(&node, "b").value, value_at(&node, "a").value);
        let mut laughs = String::from("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let prev = format!("*l{}", i - 1);
            laughs.push_str(&format!("l{i}: &l{i} [{}]\n", vec![prev; 10].join(", ")));
        }
        assert!(parse_yaml(&laughs).expect_err("bomb").message.contains("size limit"));
    }

    #[test]
    fn rejects_non_finite_numbers_and_empty_input() {
        assert!(parse_yaml("a: .inf\n").is_err());
        assert!(parse_yaml("").is_err());
        assert!(parse_yaml("# only a comment\n").is_err());
    }

    #[test]
    fn rejects_deep_nesting() {
        let deep = "[".repeat(10_000);
        assert!(parse_yaml(&deep).is_err());
    }
}
