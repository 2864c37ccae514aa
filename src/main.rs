//! The `rtt` binary: parses the command line and hands each command to its
//! module. Glue only: the work lives in the library crates.

mod cli;
mod commands;
mod explain;
mod report;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    report::install_handler();
    match commands::run(cli) {
        Ok(code) => code,
        Err(failure) => {
            report::print(&failure.report);
            ExitCode::from(failure.exit_code)
        }
    }
}
