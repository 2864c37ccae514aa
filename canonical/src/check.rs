//! Is a byte string exactly the canonical (JCS, RFC 8785) form of the JSON
//! it holds?
//!
//! Signatures are checked against bytes as they are on disk; this makes sure
//! those bytes also *mean* one thing. Canonical JSON is read the same way by
//! every parser, while a duplicate key (last wins in one tool, first in
//! another), an escape or a long-hand number is read differently by
//! different tools, or hashed differently from what it says.
//!
//! One pass over the bytes, no tree: a 1 MB plan is checked in about the
//! time its typed parse takes, not the ~20 ms of re-canonicalising it.
//! Canonical means: no whitespace; object keys in strictly increasing UTF-16
//! code-unit order (so never twice); strings with only the escapes JCS
//! writes (`\"`, `\\`, `\b \f \n \r \t`, other controls as `\u00xx` in
//! lowercase hex) and every other character literal; numbers exactly as
//! ECMAScript's `Number.prototype.toString` writes their value.

use std::borrow::Cow;
use std::cmp::Ordering;

/// Bytes that are not the canonical form of the JSON they hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("byte {offset} is not canonical JSON (RFC 8785): {reason}")]
pub struct NotCanonical {
    /// Where the first departure starts.
    pub offset: usize,
    /// What it is, and how JCS writes it when that is known.
    pub reason: String,
}

/// Nesting beyond this is refused (serde_json's own limit).
const MAX_DEPTH: usize = 128;

/// Checks that `bytes` are exactly the JCS form of the one JSON value they hold.
pub fn check_canonical(bytes: &[u8]) -> Result<(), NotCanonical> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| NotCanonical { offset: e.valid_up_to(), reason: "not UTF-8".to_owned() })?;
    let mut scan = Scan { text, at: 0 };
    scan.value(0)?;
    if scan.at != bytes.len() {
        return Err(scan.fail("something follows the value"));
    }
    Ok(())
}

struct Scan<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scan<'a> {
    fn fail(&self, reason: impl Into<String>) -> NotCanonical {
        NotCanonical { offset: self.at, reason: reason.into() }
    }

    /// `expected` was not found here; whitespace gets its own word.
    fn unexpected(&self, expected: &str) -> NotCanonical {
        match self.peek() {
            Some(b' ' | b'\t' | b'\n' | b'\r') => self.fail("whitespace, which JCS never writes"),
            None => self.fail(format!("the input ends where {expected} should be")),
            Some(_) => self.fail(format!("expected {expected}")),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn expect(&mut self, byte: u8) -> Result<(), NotCanonical> {
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.unexpected(&format!("`{}`", byte as char)))
        }
    }

    fn value(&mut self, depth: usize) -> Result<(), NotCanonical> {
        if depth > MAX_DEPTH {
            return Err(self.fail(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(drop),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal("true"),
            Some(b'f') => self.literal("false"),
            Some(b'n') => self.literal("null"),
            _ => Err(self.unexpected("a JSON value")),
        }
    }

    fn literal(&mut self, word: &str) -> Result<(), NotCanonical> {
        if self.text[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(())
        } else {
            Err(self.fail(format!("not `{word}`")))
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), NotCanonical> {
        self.expect(b'[')?;
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.value(depth + 1)?;
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(());
                }
                _ => return Err(self.unexpected("`,` or `]`")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<(), NotCanonical> {
        self.expect(b'{')?;
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(());
        }
        let mut previous: Option<Cow<'a, str>> = None;
        loop {
            let start = self.at;
            if self.peek() != Some(b'"') {
                return Err(self.unexpected("a key"));
            }
            let key = self.string()?;
            if let Some(previous) = &previous {
                match utf16_order(previous, &key) {
                    Ordering::Less => {}
                    Ordering::Equal => {
                        return Err(NotCanonical {
                            offset: start,
                            reason: format!("the key {key:?} appears twice in one object"),
                        });
                    }
                    Ordering::Greater => {
                        return Err(NotCanonical {
                            offset: start,
                            reason: format!("the key {key:?} comes after {previous:?}; JCS sorts keys"),
                        });
                    }
                }
            }
            previous = Some(key);
            self.expect(b':')?;
            self.value(depth + 1)?;
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(());
                }
                _ => return Err(self.unexpected("`,` or `}`")),
            }
        }
    }

    /// A string at `"`, returned decoded.
    fn string(&mut self) -> Result<Cow<'a, str>, NotCanonical> {
        self.at += 1;
        let start = self.at;
        let bytes = self.text.as_bytes();
        // The decoded text, once an escape makes it differ from the raw
        // one, and how far into the raw text it has been copied.
        let mut decoded: Option<String> = None;
        let mut copied_to = start;
        loop {
            // Skip to the next quote or backslash in one search, then check
            // the stretch skipped for raw control characters.
            let Some(next) = memchr::memchr2(b'"', b'\\', &bytes[self.at..]) else {
                return Err(self.fail("the string is not closed"));
            };
            if let Some(control) = bytes[self.at..self.at + next].iter().position(|&b| b < 0x20) {
                self.at += control;
                return Err(self.fail("a raw control character; JSON escapes it"));
            }
            self.at += next;
            if bytes[self.at] == b'"' {
                let end = self.at;
                self.at += 1;
                return Ok(match decoded {
                    Some(mut text) => {
                        text.push_str(&self.text[copied_to..end]);
                        Cow::Owned(text)
                    }
                    None => Cow::Borrowed(&self.text[start..end]),
                });
            }
            // A backslash: decode the escape, or say how JCS writes it.
            let escape = bytes.get(self.at + 1).copied();
            let (decoded_char, len) = match escape {
                Some(b'"') => ('"', 2),
                Some(b'\\') => ('\\', 2),
                Some(b'b') => ('\u{8}', 2),
                Some(b'f') => ('\u{c}', 2),
                Some(b'n') => ('\n', 2),
                Some(b'r') => ('\r', 2),
                Some(b't') => ('\t', 2),
                Some(b'u') => {
                    let hex = self.text.get(self.at + 2..self.at + 6).unwrap_or("");
                    let code = u32::from_str_radix(hex, 16).ok().filter(|_| hex.len() == 4);
                    match code {
                        Some(c @ 0..=0x1f)
                            if !matches!(c, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d)
                                && hex.bytes().all(|b| !b.is_ascii_uppercase()) =>
                        {
                            (char::from_u32(c).unwrap_or('\0'), 6)
                        }
                        Some(c) => {
                            return Err(
                                self.fail(format!("`\\u{hex}` where JCS writes {}", describe_char(char::from_u32(c))))
                            );
                        }
                        None => return Err(self.fail("a malformed `\\u` escape")),
                    }
                }
                Some(b'/') => return Err(self.fail("`\\/` where JCS writes `/`")),
                _ => return Err(self.fail("an escape JSON does not have")),
            };
            let text = decoded.get_or_insert_with(String::new);
            text.push_str(&self.text[copied_to..self.at]);
            text.push(decoded_char);
            self.at += len;
            copied_to = self.at;
        }
    }

    fn number(&mut self) -> Result<(), NotCanonical> {
        let start = self.at;
        let bytes = self.text.as_bytes();
        let mut end = start;
        if bytes.get(end) == Some(&b'-') {
            end += 1;
        }
        let digits = |from: usize| from + bytes[from..].iter().take_while(|b| b.is_ascii_digit()).count();
        let int_end = digits(end);
        if int_end == end {
            return Err(self.fail("a number without digits"));
        }
        let mut simple = true;
        end = int_end;
        if bytes.get(end) == Some(&b'.') {
            simple = false;
            let frac_end = digits(end + 1);
            if frac_end == end + 1 {
                return Err(self.fail("a number with no digits after `.`"));
            }
            end = frac_end;
        }
        if matches!(bytes.get(end), Some(b'e' | b'E')) {
            simple = false;
            let mut exp = end + 1;
            if matches!(bytes.get(exp), Some(b'+' | b'-')) {
                exp += 1;
            }
            let exp_end = digits(exp);
            if exp_end == exp {
                return Err(self.fail("a number with no exponent digits"));
            }
            end = exp_end;
        }
        let token = &self.text[start..end];
        // Integers below 2^53 are canonical exactly when written without
        // leading zeros and not as -0; everything else is compared with
        // what ECMAScript would print for its value.
        let unsigned = token.strip_prefix('-').unwrap_or(token);
        if simple && unsigned.len() <= 15 {
            if (unsigned.len() > 1 && unsigned.starts_with('0')) || token == "-0" {
                return Err(self.fail(format!("`{token}` where JCS writes `{}`", canonical_number(token))));
            }
        } else {
            let expected = canonical_number(token);
            if expected != token {
                return Err(self.fail(format!("`{token}` where JCS writes `{expected}`")));
            }
        }
        self.at = end;
        Ok(())
    }
}

fn describe_char(c: Option<char>) -> String {
    match c {
        Some('\u{8}') => "`\\b`".to_owned(),
        Some('\t') => "`\\t`".to_owned(),
        Some('\n') => "`\\n`".to_owned(),
        Some('\u{c}') => "`\\f`".to_owned(),
        Some('\r') => "`\\r`".to_owned(),
        Some(c) if (c as u32) < 0x20 => format!("`\\u{:04x}`", c as u32),
        Some(c) => format!("the character itself ({c:?})"),
        None => "a valid character (a lone surrogate has none)".to_owned(),
    }
}

/// ECMAScript's spelling of the number a JSON token denotes.
fn canonical_number(token: &str) -> String {
    match token.parse::<f64>() {
        Ok(x) if x.is_finite() => {
            let x = if x == 0.0 { 0.0 } else { x };
            ryu_js::Buffer::new().format_finite(x).to_owned()
        }
        _ => "a finite number".to_owned(),
    }
}

fn utf16_order(a: &str, b: &str) -> Ordering {
    // UTF-8 byte order is code point order, which differs from UTF-16
    // order only when a supplementary character meets one in
    // U+E000..=U+FFFF; compare bytes first and code units only then.
    if a.is_ascii() && b.is_ascii() { a.cmp(b) } else { a.encode_utf16().cmp(b.encode_utf16()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_bytes_pass() {
        for text in [
            r#"{"a":1,"b":[true,null,"x"],"c":{"d":1.5}}"#,
            r#"{"":0,"a":"é","b":"\u001f\n\"\\","m":-0.000001,"n":1e+21}"#,
            r#"{"\u0001":0,"\u0002":1}"#,
            "{\"\u{1f600}\":0,\"\u{e000}\":1}",
            r#"[]"#,
            r#"[9007199254740991,123456789012345680,0.1,-1,0]"#,
        ] {
            assert_eq!(check_canonical(text.as_bytes()), Ok(()), "{text}");
        }
    }

    #[test]
    fn every_other_spelling_is_refused_where_it_starts() {
        for (text, offset, says) in [
            (r#"{"b":1,"a":2}"#, 7, "comes after"),
            (r#"{"a":1,"a":2}"#, 7, "appears twice"),
            (r#"{"a":{"x":1,"x":[]}}"#, 12, "appears twice"),
            (r#"{"a\u0001":1,"a\u0001":2}"#, 13, "appears twice"),
            ("{\"\u{e000}\":0,\"\u{1f600}\":1}", 9, "comes after"),
            (r#"{"a":1, "b":2}"#, 7, "whitespace"),
            (r#"{"a":1.0}"#, 5, "JCS writes `1`"),
            (r#"{"a":1E3}"#, 5, "JCS writes `1000`"),
            (r#"{"a":-0}"#, 5, "JCS writes `0`"),
            (r#"{"a":007}"#, 5, "JCS writes `7`"),
            (r#"{"a":1e400}"#, 5, "finite"),
            (r#"[123456789012345678]"#, 1, "JCS writes `123456789012345680`"),
            (r#"{"a":"\u00e9"}"#, 6, "the character itself"),
            (r#"{"a":"\u000A"}"#, 6, "`\\n`"),
            (r#"{"a":"\u001F"}"#, 6, "`\\u001f`"),
            (r#"{"a":"\/"}"#, 6, "`/`"),
            ("{\"a\":\"\t\"}", 6, "control"),
            ("{\"a\":1}\n", 7, "follows"),
            (r#"{"a":tru}"#, 5, "true"),
            (r#"{"a""#, 4, "ends where `:`"),
            (r#"{"a":1 }"#, 6, "whitespace"),
            (r#"[1,]"#, 3, "expected a JSON value"),
        ] {
            let error = check_canonical(text.as_bytes()).expect_err(text);
            assert_eq!(error.offset, offset, "{text}: {error}");
            assert!(error.reason.contains(says), "{text}: {error}");
        }
        assert!(check_canonical(&[b'"', 0xff, b'"']).is_err());
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(check_canonical(deep.as_bytes()).unwrap_err().reason.contains("deeper"));
    }
}
