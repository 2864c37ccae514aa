//! What a command reports on stdout, as text for a person or one JSON
//! document for a program (`--format json`): every reporting command goes
//! through [`emit`], so the two never drift apart in what they say.

use crate::cli::Format;

/// Prints `text` (as it is) or `json` (pretty, one document, a `kind` first).
pub fn emit(format: Format, text: impl FnOnce() -> String, json: impl FnOnce() -> serde_json::Value) {
    match format {
        Format::Text => print!("{}", text()),
        Format::Json => println!("{:#}", json()),
    }
}

/// Like [`emit`] but on stderr: for commands whose stdout carries a plan (`-o -`).
pub fn emit_to_stderr(format: Format, text: impl FnOnce() -> String, json: impl FnOnce() -> serde_json::Value) {
    match format {
        Format::Text => eprint!("{}", text()),
        Format::Json => eprintln!("{:#}", json()),
    }
}
