//! How errors reach a person: miette's graphical handler, without colour or
//! terminal-dependent width when stderr is not a terminal, so piped output
//! and test snapshots are stable; and a closed pipe (`rtt … | head`), which
//! ends the process quietly.

use std::io::IsTerminal;

use miette::MietteHandlerOpts;

use crate::cli::Color;

/// Width used when stderr is not a terminal.
const PIPED_WIDTH: usize = 100;

/// Whether to colour output: `--color`, then `NO_COLOR` (any non-empty
/// value, as no-color.org says), then whether stderr is a terminal.
pub fn use_color(choice: Color) -> bool {
    match choice {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal(),
    }
}

/// Installs the process-wide miette handler.
pub fn install_handler(color: bool) {
    let on_terminal = std::io::stderr().is_terminal();
    // Fails only if a hook is already set, which leaves that one in force.
    let _ = miette::set_hook(Box::new(move |_| {
        let opts = MietteHandlerOpts::new().force_graphical(true).terminal_links(false).color(color);
        if on_terminal { Box::new(opts.build()) } else { Box::new(opts.width(PIPED_WIDTH).unicode(true).build()) }
    }));
}

/// Makes a write to a closed stdout end the process quietly. Rust ignores
/// SIGPIPE, so `println!` panics with "failed printing to stdout: Broken
/// pipe" when the reader has gone (`rtt … | head`); that one panic exits with
/// the shell's code for a pipe closed under it (128 + SIGPIPE) and says
/// nothing. Every other panic is reported as before.
pub fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("Broken pipe") && message.starts_with("failed printing to") {
            std::process::exit(141);
        }
        default(info);
    }));
}

/// Prints a report to stderr.
pub fn print(report: &miette::Report) {
    eprintln!("{report:?}");
}
