//! Reading and judging the shared protocol-1 vectors (README beside this
//! file). Included with `#[path]` by the Rust SDK's own test (in process) and
//! by the workspace test that runs every generated driver (as a process), so
//! both judge alike.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// One driver life between restarts: the bytes to send and the responses due.
pub struct Segment {
    pub input: Vec<u8>,
    pub expected: Vec<Value>,
    /// Ends with a line over the cap: the driver must stop with an error.
    pub oversized: bool,
}

/// A vector file: its name and segments.
pub struct Vector {
    pub file: PathBuf,
    pub segments: Vec<Segment>,
}

/// Every `*.json` in `dir`, sorted by name.
pub fn load(dir: &Path, max_line: usize) -> Vec<Vector> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 7, "the vectors are missing: {files:?}");
    files
        .into_iter()
        .map(|file| {
            let vector: Value = serde_json::from_slice(&std::fs::read(&file).expect("reads")).expect("vector is JSON");
            let segments = segments(vector["steps"].as_array().expect("steps"), max_line);
            Vector { file, segments }
        })
        .collect()
}

fn segments(steps: &[Value], max_line: usize) -> Vec<Segment> {
    let fresh = || Segment { input: Vec::new(), expected: Vec::new(), oversized: false };
    let mut out = vec![fresh()];
    for step in steps {
        let segment = out.last_mut().expect("one segment");
        if step.get("restart").is_some() {
            out.push(fresh());
        } else if step.get("oversized_line").is_some() {
            segment.input.extend(std::iter::repeat_n(b'x', max_line + 1));
            segment.input.push(b'\n');
            segment.oversized = true;
        } else {
            let line = match (step.get("request"), step.get("line")) {
                (Some(request), _) => serde_json::to_string(request).expect("encodes"),
                (None, Some(Value::String(line))) => line.clone(),
                _ => panic!("step without request or line: {step}"),
            };
            segment.input.extend(line.as_bytes());
            segment.input.push(b'\n');
            segment.expected.push(step["response"].clone());
        }
    }
    out
}

/// `actual` equals `expected`, but an expected error `{"code": C}` matches
/// any error with code C and a non-empty message.
pub fn matches(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) if e.len() == 1 && e.contains_key("code") => {
            a.len() == 2
                && a.get("code") == e.get("code")
                && a.get("message").and_then(Value::as_str).is_some_and(|m| !m.is_empty())
        }
        (Value::Object(e), Value::Object(a)) => {
            e.len() == a.len() && e.iter().all(|(k, v)| a.get(k).is_some_and(|w| matches(v, w)))
        }
        (Value::Array(e), Value::Array(a)) => e.len() == a.len() && e.iter().zip(a).all(|(v, w)| matches(v, w)),
        _ => expected == actual,
    }
}

/// Judges one segment's output: `Err` says what differs.
pub fn judge(vector: &Path, index: usize, segment: &Segment, output: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(output).map_err(|_| format!("{}: responses are not UTF-8", vector.display()))?;
    if !text.is_empty() && !text.ends_with('\n') {
        return Err(format!("{}: segment {index}: output does not end with a newline: {text}", vector.display()));
    }
    let lines: Vec<&str> = text.split_terminator('\n').collect();
    if lines.len() != segment.expected.len() {
        return Err(format!(
            "{}: segment {index}: {} responses, {} due:\n{text}",
            vector.display(),
            lines.len(),
            segment.expected.len()
        ));
    }
    for (line, expected) in lines.iter().zip(&segment.expected) {
        let actual: Value =
            serde_json::from_str(line).map_err(|e| format!("{}: not JSON ({e}): {line}", vector.display()))?;
        let keys: Vec<&str> = actual.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        if sorted != ["error", "id", "result"] {
            return Err(format!("{}: a response has exactly id, result and error: {line}", vector.display()));
        }
        if !matches(expected, &actual) {
            return Err(format!("{}:\n  expected {expected}\n  actual   {line}", vector.display()));
        }
    }
    Ok(())
}
