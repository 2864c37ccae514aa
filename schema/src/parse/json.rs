//! A strict RFC 8259 JSON parser that keeps the span of every value.
//!
//! serde_json drops positions once a value is parsed; diagnostics need them.
//! Duplicate keys are an error (RFC 8259 leaves them undefined; rtt fails closed).

use std::sync::Arc;

use super::{Keys, MAX_DEPTH, SeenKeys, SyntaxError, check_size};
use crate::source::{Key, Node, Number, Span, Value};

/// Parses `text` as one JSON document.
pub fn parse_json(text: &str) -> Result<Node, SyntaxError> {
    check_size(text)?;
    let mut parser = Parser { text, bytes: text.as_bytes(), pos: 0, keys: Keys::default() };
    parser.skip_whitespace();
    let node = parser.value(0)?;
    parser.skip_whitespace();
    if parser.pos < parser.bytes.len() {
        return Err(SyntaxError::new("unexpected text after the JSON document", parser.here()));
    }
    Ok(node)
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    keys: Keys,
}

impl Parser<'_> {
    fn here(&self) -> Span {
        let len = self.text[self.pos..].chars().next().map_or(0, char::len_utf8);
        Span::new(self.pos, self.pos + len)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8, what: &str) -> Result<(), SyntaxError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected(what))
        }
    }

    fn unexpected(&self, expected: &str) -> SyntaxError {
        match self.text[self.pos..].chars().next() {
            None => SyntaxError::new(format!("unexpected end of input, expected {expected}"), self.here()),
            Some(c) => SyntaxError::new(format!("unexpected {c:?}, expected {expected}"), self.here()),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(SyntaxError::new(format!("document nests deeper than {MAX_DEPTH} levels"), self.here()));
        }
        let start = self.pos;
        let value = match self.peek() {
            Some(b'{') => self.object(depth)?,
            Some(b'[') => self.array(depth)?,
            Some(b'"') => {
                let text = self.string()?;
                Value::String(self.keys.intern(&text))
            }
            Some(b't') => self.literal("true", Value::Bool(true))?,
            Some(b'f') => self.literal("false", Value::Bool(false))?,
            Some(b'n') => self.literal("null", Value::Null)?,
            Some(b'-' | b'0'..=b'9') => Value::Number(self.number()?),
            _ => return Err(self.unexpected("a JSON value")),
        };
        Ok(Node { value, span: Span::new(start, self.pos) })
    }

    fn literal(&mut self, word: &str, value: Value) -> Result<Value, SyntaxError> {
        if self.text[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.unexpected("a JSON value"))
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, SyntaxError> {
        self.pos += 1;
        let mut entries: Vec<(Key, Node)> = Vec::new();
        let mut seen: SeenKeys<usize> = SeenKeys::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Map(entries.into_boxed_slice()));
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return Err(self.unexpected("a string key"));
            }
            let key_start = self.pos;
            let name = self.string()?;
            let key = Key { name: self.keys.intern(&name), span: Span::new(key_start, self.pos) };
            if let Some(index) = seen.get(&key.name) {
                let first = &entries[index].0;
                let first_line = self.text[..first.span.start()].matches('\n').count() + 1;
                let line_hint = format!("the key {:?} is already set on line {first_line}; keep one", first.name);
                return Err(SyntaxError::new(format!("duplicate key {:?}", key.name), key.span).with_help(line_hint));
            }
            self.skip_whitespace();
            self.expect(b':', "':' after the key")?;
            self.skip_whitespace();
            let value = self.value(depth + 1)?;
            seen.insert(Arc::clone(&key.name), entries.len());
            entries.push((key, value));
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.comma(b'}')?,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Map(entries.into_boxed_slice()));
                }
                _ => return Err(self.unexpected("',' or '}'")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, SyntaxError> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Seq(Box::default()));
        }
        loop {
            self.skip_whitespace();
            items.push(self.value(depth + 1)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.comma(b']')?,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Seq(items.into_boxed_slice()));
                }
                _ => return Err(self.unexpected("',' or ']'")),
            }
        }
    }

    /// Steps over a ',' between items, refusing one before `closer`.
    fn comma(&mut self, closer: u8) -> Result<(), SyntaxError> {
        let comma = self.pos;
        self.pos += 1;
        self.skip_whitespace();
        if self.peek() == Some(closer) {
            let message = format!("trailing comma before '{}'", closer as char);
            return Err(SyntaxError::new(message, Span::new(comma, comma + 1))
                .with_help("JSON allows no comma after the last item; remove it"));
        }
        Ok(())
    }

    fn string(&mut self) -> Result<String, SyntaxError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            // Plain runs in one copy; the text is UTF-8 already and these
            // three bytes never occur inside a multi-byte character.
            let run = self.bytes[self.pos..].iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20);
            let run_end = run.map_or(self.bytes.len(), |n| self.pos + n);
            out.push_str(&self.text[self.pos..run_end]);
            self.pos = run_end;
            let Some(c) = self.text[self.pos..].chars().next() else {
                return Err(SyntaxError::new("unterminated string", Span::new(start, self.pos)));
            };
            match c {
                '"' => {
                    self.pos += 1;
                    return Ok(out);
                }
                '\\' => {
                    self.pos += 1;
                    out.push(self.escape()?);
                }
                c if (c as u32) < 0x20 => {
                    return Err(SyntaxError::new("control character in string", self.here())
                        .with_help("escape it, e.g. \\n or \\u001f"));
                }
                c => {
                    out.push(c);
                    self.pos += c.len_utf8();
                }
            }
        }
    }

    fn escape(&mut self) -> Result<char, SyntaxError> {
        let c = self.peek().ok_or_else(|| self.unexpected("an escape character"))?;
        self.pos += 1;
        Ok(match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let first = self.hex4()?;
                if (0xD800..0xDC00).contains(&first) {
                    if !self.text[self.pos..].starts_with("\\u") {
                        return Err(SyntaxError::new("unpaired surrogate in \\u escape", self.here()));
                    }
                    self.pos += 2;
                    let second = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&second) {
                        return Err(SyntaxError::new("invalid low surrogate in \\u escape", self.here()));
                    }
                    let code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                    char::from_u32(code).ok_or_else(|| SyntaxError::new("invalid \\u escape", self.here()))?
                } else {
                    char::from_u32(first)
                        .ok_or_else(|| SyntaxError::new("unpaired surrogate in \\u escape", self.here()))?
                }
            }
            _ => {
                self.pos -= 1;
                return Err(self.unexpected("one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX"));
            }
        })
    }

    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        let digits = self.text.get(self.pos..self.pos + 4).filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()));
        let Some(digits) = digits else {
            return Err(self.unexpected("four hex digits"));
        };
        self.pos += 4;
        u32::from_str_radix(digits, 16).map_err(|_| self.unexpected("four hex digits"))
    }

    fn number(&mut self) -> Result<Number, SyntaxError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.unexpected("a digit")),
        }
        let mut integral = true;
        if self.peek() == Some(b'.') {
            integral = false;
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.unexpected("a digit after '.'"));
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            integral = false;
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.unexpected("a digit in the exponent"));
            }
            self.digits();
        }
        let text = &self.text[start..self.pos];
        let span = Span::new(start, self.pos);
        number_from_text(text, integral).ok_or_else(|| SyntaxError::new(format!("number {text} is out of range"), span))
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
    }
}

/// Integers that fit 64 bits stay exact; the rest must be finite doubles.
pub(super) fn number_from_text(text: &str, integral: bool) -> Option<Number> {
    if integral {
        if let Ok(n) = text.parse::<u64>() {
            return Some(Number::Unsigned(n));
        }
        if let Ok(n) = text.parse::<i64>() {
            return Some(Number::Signed(n));
        }
    }
    text.parse::<f64>().ok().filter(|x| x.is_finite()).map(Number::Float)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_cover_each_value() {
        let text = r#"{"a": [1, -2.5e1, "x"], "b": null}"#;
        let node = parse_json(text).expect("valid json");
        let Value::Map(entries) = &node.value else { panic!("expected a map") };
        assert_eq!(&*entries[0].0.name, "a");
        let Value::Seq(items) = &entries[0].1.value else { panic!("expected a list") };
        assert_eq!(&text[items[1].span.start()..items[1].span.end()], "-2.5e1");
        assert_eq!(items[1].value, Value::Number(Number::Float(-25.0)));
        assert_eq!(&text[entries[1].1.span.start()..entries[1].1.span.end()], "null");
    }

    #[test]
    fn rejects_duplicate_keys_at_the_second_key() {
        let error = parse_json(r#"{"a": 1, "a": 2}"#).expect_err("duplicate");
        assert_eq!(error.span.start(), 9);
        assert!(error.message.contains("duplicate key"));
    }

    #[test]
    fn finds_duplicates_in_small_and_large_mappings() {
        for n in [2, 16, 17, 40] {
            for repeated in [0, n - 1] {
                let mut keys: Vec<String> = (0..n).map(|i| format!("\"k{i}\": {i}")).collect();
                keys.push(format!("\"k{repeated}\": 0"));
                let error = parse_json(&format!("{{{}}}", keys.join(", "))).expect_err("duplicate");
                assert!(error.message.contains(&format!("\"k{repeated}\"")), "{n} {repeated}: {}", error.message);
            }
            let distinct: Vec<String> = (0..n).map(|i| format!("\"k{i}\": {{\"k{i}\": 1}}")).collect();
            assert!(parse_json(&format!("{{{}}}", distinct.join(", "))).is_ok(), "{n}");
        }
    }

    #[test]
    fn strings_with_plain_runs_and_escapes_decode_whole() {
        let node = parse_json(r#""plain \"quoted\" ütf-8 \u0041 end""#).expect("valid");
        assert_eq!(node.value, Value::String("plain \"quoted\" ütf-8 A end".into()));
        assert!(parse_json("\"a\u{1}b\"").is_err(), "a raw control character");
    }

    #[test]
    fn rejects_trailing_commas_and_garbage() {
        assert!(parse_json("[1,]").is_err());
        assert!(parse_json("{} x").is_err());
        assert!(parse_json("").is_err());
        assert!(parse_json("\"\\ud800\"").is_err());
    }

    #[test]
    fn decodes_escapes_and_surrogate_pairs() {
        let node = parse_json(r#""\u20ac\ud83d\ude00\n""#).expect("valid");
        assert_eq!(node.value, Value::String("€😀\n".into()));
    }

    #[test]
    fn rejects_deep_nesting_without_overflowing_the_stack() {
        let deep = "[".repeat(100_000);
        let error = parse_json(&deep).expect_err("too deep");
        assert!(error.message.contains("deeper"));
    }
}
