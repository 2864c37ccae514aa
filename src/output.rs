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

/// How much goes to stderr besides errors and warnings: -1 `--quiet`,
/// 0 normal, 1 `--verbose`. Set once in `main`, before any command runs.
static VERBOSITY: std::sync::atomic::AtomicI8 = std::sync::atomic::AtomicI8::new(0);

/// Sets the verbosity from `-q` / `-v`.
pub fn set_verbosity(quiet: bool, verbose: bool) {
    let level = if quiet { -1 } else { i8::from(verbose) };
    VERBOSITY.store(level, std::sync::atomic::Ordering::Relaxed);
}

/// Whether notes, statistics and progress are shown (not `--quiet`).
pub fn notes_shown() -> bool {
    VERBOSITY.load(std::sync::atomic::Ordering::Relaxed) >= 0
}

/// A note for a person on stderr (solve statistics, recoveries): not with `-q`.
pub fn note(message: impl std::fmt::Display) {
    if notes_shown() {
        eprintln!("rtt: {message}");
    }
}

/// What was used, on stderr with `-v` only (files, directories, tools).
pub fn detail(message: impl std::fmt::Display) {
    if VERBOSITY.load(std::sync::atomic::Ordering::Relaxed) > 0 {
        eprintln!("rtt: {message}");
    }
}
