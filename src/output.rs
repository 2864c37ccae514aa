//! What a command reports on stdout, as text for a person or one JSON
//! document for a program (`--format json`): every reporting command goes
//! through [`emit`], so the two never drift apart in what they say.

use crate::cli::Format;

/// Prints `text` (as it is) or `json` (pretty, one document, a `kind` first)
/// on stdout.
pub fn emit(format: Format, text: impl FnOnce() -> String, json: impl FnOnce() -> serde_json::Value) {
    print!("{}", render(format, text, json));
}

/// Like [`emit`] but on stderr: for commands whose stdout carries a plan (`-o -`).
pub fn emit_to_stderr(format: Format, text: impl FnOnce() -> String, json: impl FnOnce() -> serde_json::Value) {
    eprint!("{}", render(format, text, json));
}

fn render(format: Format, text: impl FnOnce() -> String, json: impl FnOnce() -> serde_json::Value) -> String {
    match format {
        Format::Text => text(),
        Format::Json => format!("{:#}\n", json()),
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

/// A progress line on a terminal for commands that take a while (explain,
/// registry pack, apply): the stage and the seconds since it began, redrawn
/// four times a second and cleared when dropped. Nothing when stderr is not a
/// terminal or with `-q`, so piped output and logs stay clean.
pub struct Ticker {
    state: Option<(std::sync::Arc<TickerState>, std::thread::JoinHandle<()>)>,
}

struct TickerState {
    stage: String,
    done: std::sync::atomic::AtomicBool,
}

impl Ticker {
    /// Starts ticking with `stage`, when stderr is a terminal.
    pub fn start(stage: &str) -> Ticker {
        use std::io::IsTerminal;
        if !std::io::stderr().is_terminal() || !notes_shown() {
            return Ticker { state: None };
        }
        let state = std::sync::Arc::new(TickerState {
            stage: stage.to_owned(),
            done: std::sync::atomic::AtomicBool::new(false),
        });
        let shared = std::sync::Arc::clone(&state);
        let started = std::time::Instant::now();
        let thread = std::thread::spawn(move || {
            while !shared.done.load(std::sync::atomic::Ordering::Relaxed) {
                eprint!("\rrtt: {}  {:.1} s\x1b[K", shared.stage, started.elapsed().as_secs_f64());
                std::thread::sleep(std::time::Duration::from_millis(250));
            }
            eprint!("\r\x1b[K");
        });
        Ticker { state: Some((state, thread)) }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        if let Some((state, thread)) = self.state.take() {
            state.done.store(true, std::sync::atomic::Ordering::Relaxed);
            let _ = thread.join();
        }
    }
}
