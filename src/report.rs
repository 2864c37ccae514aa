//! How errors reach a person: miette's graphical handler, without colour or
//! terminal-dependent width when stderr is not a terminal, so piped output
//! and test snapshots are stable.

use std::io::IsTerminal;

use miette::MietteHandlerOpts;

/// Width used when stderr is not a terminal.
const PIPED_WIDTH: usize = 100;

/// Installs the process-wide miette handler.
pub fn install_handler() {
    let on_terminal = std::io::stderr().is_terminal();
    // Fails only if a hook is already set, which leaves that one in force.
    let _ = miette::set_hook(Box::new(move |_| {
        let opts = MietteHandlerOpts::new().force_graphical(true).terminal_links(false);
        if on_terminal {
            Box::new(opts.build())
        } else {
            Box::new(opts.color(false).width(PIPED_WIDTH).unicode(true).build())
        }
    }));
}

/// Prints a report to stderr.
pub fn print(report: &miette::Report) {
    eprintln!("{report:?}");
}
