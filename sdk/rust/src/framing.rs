//! Line framing of protocol 1: one JSON object per line, UTF-8, at most
//! [`MAX_LINE_BYTES`] bytes before the newline. A reader never buffers more
//! than the cap, so a driver that floods stdout cannot exhaust memory.

use std::io::{self, BufRead, Write};

use serde::Serialize;

/// The largest line, newline excluded (SPEC §8: 1 MiB).
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// A line that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// More than [`MAX_LINE_BYTES`] without a newline.
    #[error("line longer than {MAX_LINE_BYTES} bytes")]
    Oversized,
    /// The stream ended in the middle of a line.
    #[error("stream ended inside a line ({0} bytes without a newline)")]
    Truncated(usize),
    /// Not UTF-8.
    #[error("line is not UTF-8")]
    NotUtf8,
    /// The OS failed.
    #[error("read failed: {0}")]
    Io(#[from] io::Error),
}

/// Reads one line (without its newline). `Ok(None)` at a clean end of stream.
pub fn read_line(reader: &mut impl BufRead) -> Result<Option<String>, FrameError> {
    let mut line = Vec::new();
    loop {
        let available = match reader.fill_buf() {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(FrameError::Io(e)),
        };
        if available.is_empty() {
            return if line.is_empty() { Ok(None) } else { Err(FrameError::Truncated(line.len())) };
        }
        let (chunk, found_newline) = match available.iter().position(|b| *b == b'\n') {
            Some(at) => (&available[..at], true),
            None => (available, false),
        };
        if line.len() + chunk.len() > MAX_LINE_BYTES {
            return Err(FrameError::Oversized);
        }
        line.extend_from_slice(chunk);
        let consumed = chunk.len() + usize::from(found_newline);
        reader.consume(consumed);
        if found_newline {
            return String::from_utf8(line).map(Some).map_err(|_| FrameError::NotUtf8);
        }
    }
}

/// A value that cannot be sent as one line.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The encoded line would exceed the cap.
    #[error("message of {0} bytes exceeds the {MAX_LINE_BYTES}-byte line cap")]
    Oversized(usize),
    /// Serialisation failed.
    #[error("cannot encode message: {0}")]
    Json(#[from] serde_json::Error),
}

/// Encodes a value as one line, newline included. Compact JSON escapes
/// newlines inside strings, so the only newline is the terminator.
pub fn encode_line<T: Serialize>(value: &T) -> Result<Vec<u8>, EncodeError> {
    let mut bytes = serde_json::to_vec(value)?;
    if bytes.len() > MAX_LINE_BYTES {
        return Err(EncodeError::Oversized(bytes.len()));
    }
    bytes.push(b'\n');
    Ok(bytes)
}

/// Writes one encoded line and flushes.
pub fn write_line(writer: &mut impl Write, line: &[u8]) -> io::Result<()> {
    writer.write_all(line)?;
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Vec<Result<Option<String>, String>> {
        let mut reader = io::BufReader::with_capacity(7, input);
        let mut out = Vec::new();
        loop {
            let next = read_line(&mut reader).map_err(|e| e.to_string());
            let stop = !matches!(next, Ok(Some(_)));
            out.push(next);
            if stop {
                return out;
            }
        }
    }

    #[test]
    fn lines_split_across_buffer_refills_are_joined() {
        let out = lines(b"{\"id\":\"1\"}\n{\"id\":\"22\"}\n");
        assert_eq!(out, vec![Ok(Some("{\"id\":\"1\"}".into())), Ok(Some("{\"id\":\"22\"}".into())), Ok(None)]);
    }

    #[test]
    fn a_missing_final_newline_is_a_truncated_stream() {
        let out = lines(b"{}\n{\"a\"");
        assert_eq!(out.last(), Some(&Err("stream ended inside a line (4 bytes without a newline)".into())));
    }

    #[test]
    fn a_line_one_byte_over_the_cap_is_refused_and_one_at_the_cap_is_read() {
        let mut at_cap = vec![b'x'; MAX_LINE_BYTES];
        at_cap.push(b'\n');
        let mut reader = io::BufReader::new(&at_cap[..]);
        assert_eq!(read_line(&mut reader).expect("at cap").map(|l| l.len()), Some(MAX_LINE_BYTES));
        let over = vec![b'x'; MAX_LINE_BYTES + 1];
        let mut reader = io::BufReader::new(&over[..]);
        assert!(matches!(read_line(&mut reader), Err(FrameError::Oversized)));
    }

    #[test]
    fn encoded_lines_carry_embedded_newlines_escaped() {
        let line = encode_line(&serde_json::json!({"message": "a\nb"})).expect("encodes");
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
        assert_eq!(line.last(), Some(&b'\n'));
    }
}
