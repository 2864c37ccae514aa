//! Exports `.cue` configs to JSON with the real `cue` tool, and asks
//! `rtt-cue-spans` (tools/cue-spans: the same CUE evaluator, as a library)
//! where each exported value stands in the `.cue` file.
//!
//! The one place the schema crate starts processes. The tools are found
//! through `RTT_CUE` / `RTT_CUE_SPANS`, then `PATH`; rtt never evaluates CUE
//! itself. `scripts/setup` builds both, pinned, with `go install`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::source::{Path as DocPath, Segment, Span};

/// What to run when a tool is missing or broken.
const SETUP: &str = "run `scripts/setup` (it builds the pinned CUE with `go install`, and tools/cue-spans)";

/// Why a `.cue` file could not be exported.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CueError {
    /// No `cue` binary anywhere.
    #[error("failed to find the `cue` tool to read {file}")]
    #[diagnostic(
        code(rtt::cue::missing),
        help("{SETUP}, or put a native `cue` on PATH; RTT_CUE=/path/to/cue chooses a binary explicitly")
    )]
    Missing {
        /// The config being read.
        file: String,
    },
    /// The tool exists but does not start.
    #[error("failed to run {tool}")]
    #[diagnostic(code(rtt::cue::spawn), help("{SETUP}; check RTT_CUE / RTT_CUE_SPANS, or unset them to use PATH"))]
    Spawn {
        /// The binary tried.
        tool: String,
        /// Why it did not start.
        #[source]
        source: std::io::Error,
    },
    /// `cue export` rejected the file; its message carries file:line:col.
    #[error("cue could not export {file}:\n{stderr}")]
    #[diagnostic(code(rtt::cue::export), help("fix the CUE error above; `cue vet {file}` shows the same"))]
    Export {
        /// The config being read.
        file: String,
        /// What cue printed, positions included.
        stderr: String,
    },
    /// The tool ran but did not behave like CUE: killed, crashed, or output
    /// rtt cannot read.
    #[error("{tool} is broken: {what}")]
    #[diagnostic(code(rtt::cue::broken), help("{SETUP}; `{tool} version` should print the version"))]
    Broken {
        /// The binary run.
        tool: String,
        /// What went wrong.
        what: String,
    },
}

/// The `cue` binary rtt would run: `RTT_CUE`, else the first `cue` on `PATH`.
pub fn find_cue() -> Option<PathBuf> {
    find_tool("RTT_CUE", "cue")
}

/// The `rtt-cue-spans` binary: `RTT_CUE_SPANS`, else the first on `PATH`.
pub fn find_cue_spans() -> Option<PathBuf> {
    find_tool("RTT_CUE_SPANS", "rtt-cue-spans")
}

fn find_tool(variable: &str, name: &str) -> Option<PathBuf> {
    if let Some(explicit) = std::env::var_os(variable).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(explicit));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| candidate.is_file())
}

/// Runs `TOOL ARGS FILE`; exit 1 is CUE's "the config is wrong", anything
/// else that is not success means the tool itself is broken.
fn run(tool: &Path, args: &[&str], file: &Path) -> Result<Vec<u8>, CueError> {
    let name = tool.display().to_string();
    let output: Output = Command::new(tool)
        .args(args)
        .arg(file)
        .output()
        .map_err(|source| CueError::Spawn { tool: name.clone(), source })?;
    let stderr = String::from_utf8_lossy(&output.stderr).trim_end().to_owned();
    match output.status.code() {
        Some(0) => Ok(output.stdout),
        Some(1) if !stderr.is_empty() => Err(CueError::Export { file: file.display().to_string(), stderr }),
        code => {
            let status = code.map_or_else(|| "killed by a signal".to_owned(), |code| format!("exit status {code}"));
            let first = stderr.lines().next().unwrap_or("no message");
            Err(CueError::Broken { tool: name, what: format!("{status} ({first})") })
        }
    }
}

/// Runs `cue export --out json FILE` and returns the JSON text.
pub fn export_json(file: &Path) -> Result<String, CueError> {
    let tool = find_cue().ok_or_else(|| CueError::Missing { file: file.display().to_string() })?;
    let stdout = run(&tool, &["export", "--out", "json"], file)?;
    String::from_utf8(stdout)
        .map_err(|_| CueError::Broken { tool: tool.display().to_string(), what: "output is not UTF-8".into() })
}

/// Where one exported value stands in the `.cue` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueSpan {
    /// The value's path in the export.
    pub path: DocPath,
    /// Its text.
    pub value: Span,
    /// Its field label, when it is a field written in the file.
    pub key: Option<Span>,
}

/// The places of `file`'s exported values, from `rtt-cue-spans`; `None` when
/// that tool is not installed (diagnostics then point into the export).
pub fn spans(file: &Path) -> Result<Option<Vec<ValueSpan>>, CueError> {
    let Some(tool) = find_cue_spans() else { return Ok(None) };
    let stdout = run(&tool, &[], file)?;
    parse_spans(&stdout)
        .map(Some)
        .ok_or_else(|| CueError::Broken { tool: tool.display().to_string(), what: "output rtt cannot read".into() })
}

/// Reads `rtt-cue-spans`' output,
/// `{"spans": [{"path": [...], "start": B, "end": B, "key": [B, B]}]}`;
/// `None` when it is anything else.
pub fn parse_spans(bytes: &[u8]) -> Option<Vec<ValueSpan>> {
    #[derive(serde::Deserialize)]
    struct Raw {
        spans: Option<Vec<RawSpan>>,
    }
    #[derive(serde::Deserialize)]
    struct RawSpan {
        path: Vec<serde_json::Value>,
        start: usize,
        end: usize,
        key: Option<[usize; 2]>,
    }
    let raw: Raw = serde_json::from_slice(bytes).ok()?;
    raw.spans
        .unwrap_or_default()
        .into_iter()
        .map(|span| {
            let segments = span
                .path
                .into_iter()
                .map(|segment| match segment {
                    serde_json::Value::String(key) => Some(Segment::Key(key)),
                    serde_json::Value::Number(n) => n.as_u64().map(|i| Segment::Index(i as usize)),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()?;
            (span.start <= span.end).then_some(ValueSpan {
                path: DocPath(segments),
                value: Span::new(span.start, span.end),
                key: span.key.map(|[start, end]| Span::new(start, end)),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_output_is_read_with_keys_and_indices() {
        let text =
            br#"{"spans":[{"path":[],"start":0,"end":9},{"path":["agents",1,"qos"],"start":5,"end":9,"key":[0,3]}]}"#;
        let spans = parse_spans(text).unwrap();
        assert_eq!(spans[1].path.to_string(), "agents[1].qos");
        assert_eq!(spans[1].value, Span::new(5, 9));
        assert_eq!(spans[1].key, Some(Span::new(0, 3)));
        assert_eq!(parse_spans(br#"{"spans":null}"#), Some(vec![]));
    }

    #[test]
    fn unreadable_spans_output_is_refused() {
        assert_eq!(parse_spans(b"not json"), None);
        assert_eq!(parse_spans(br#"{"spans":[{"path":[true],"start":0,"end":1}]}"#), None);
        assert_eq!(parse_spans(br#"{"spans":[{"path":[],"start":5,"end":1}]}"#), None);
    }
}
