//! The `rtt` binary: parses the command line and hands each command to its
//! module. Glue only: the work lives in the library crates.

mod chaos;
mod cli;
mod commands;
mod exit;
mod files;
mod mcp;
mod output;
mod profiles;
mod reconcile;
mod render;
mod report;
mod scaffold;
mod signed_manifests;
mod views;
mod workspace;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    report::quiet_on_closed_pipe();
    // clap exits 2 on a usage error, which SPEC §9 reserves for `diff
    // --exit-code` finding changes: a CI gate must not read a typo as "differs".
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let code = if error.use_stderr() { exit::EXIT_INVALID } else { 0 };
            let _ = error.print();
            return ExitCode::from(code);
        }
    };
    report::install_handler(report::use_color(cli.color));
    output::set_verbosity(cli.quiet, cli.verbose);
    if let Some(dir) = &cli.chdir
        && let Err(error) = std::env::set_current_dir(dir)
    {
        eprintln!("rtt: error: cannot change to {} (-C): {error}", dir.display());
        return ExitCode::from(exit::EXIT_INVALID);
    }
    let all_errors = cli.all_errors;
    match commands::run(cli) {
        Ok(code) => code,
        Err(mut failure) => {
            if !all_errors {
                failure = failure.map_config_error(|error| error.keep_first(exit::ERRORS_SHOWN));
            }
            report::print(&failure.report);
            ExitCode::from(failure.exit_code)
        }
    }
}
