//! One module per command; this file only dispatches.

mod apply;
mod diff;
mod driver;
mod explain;
mod init;
mod keygen;
mod man;
mod mount;
mod plan;
mod registry;
mod schema;
mod sign;
mod validate;
mod verify;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// A command that failed: what to show and which exit code to return.
pub struct Failure {
    /// The error for the person.
    pub report: miette::Report,
    /// SPEC §9 exit code.
    pub exit_code: u8,
}

/// Exit code for invalid input or a failed check.
pub const EXIT_INVALID: u8 = 1;
/// Exit code of `diff --exit-code` when the plans differ.
pub const EXIT_DIFFERENT: u8 = 2;
/// Exit code for an infeasible config.
pub const EXIT_INFEASIBLE: u8 = 3;
/// Exit code when no plan was found within the limits.
pub const EXIT_NO_PLAN: u8 = 4;

/// How many errors of an invalid config are shown without `--all-errors`.
pub const ERRORS_SHOWN: usize = 50;

impl Failure {
    /// The same failure, with its config error (if it is one) changed by `f`.
    pub fn map_config_error(self, f: impl FnOnce(rtt_schema::ConfigError) -> rtt_schema::ConfigError) -> Self {
        match self.report.downcast::<rtt_schema::ConfigError>() {
            Ok(error) => Failure { report: miette::Report::new(f(error)), exit_code: self.exit_code },
            Err(report) => Failure { report, exit_code: self.exit_code },
        }
    }
}

impl<E: miette::Diagnostic + Send + Sync + 'static> From<E> for Failure {
    fn from(error: E) -> Self {
        Failure { report: miette::Report::new(error), exit_code: EXIT_INVALID }
    }
}

/// Runs one command.
pub fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let dir = cli.dir.as_deref();
    // One rule for `.rtt/` (docs/cli.md): --dir, else beside the config.
    let rtt_dir = |config: Option<&std::path::Path>| crate::workspace::rtt_dir(dir, config);
    match cli.command {
        Command::Init(args) => init::run(&args),
        Command::Validate(args) => validate::run(&args, cli.all_errors),
        Command::Plan(args) => plan::run(&args, dir),
        Command::Explain(args) => explain::run(&args),
        Command::Diff(args) => diff::run(&args),
        Command::Registry(mut args) => {
            args.dir = rtt_dir(None);
            registry::run(&args)
        }
        Command::View(mut args) => {
            args.dir = rtt_dir(None);
            registry::view(&args)
        }
        Command::Keygen(args) => keygen::run(&args),
        Command::Sign(args) => sign::run(&args),
        Command::Verify(mut args) => {
            args.checks.resolve(&rtt_dir(None));
            verify::run(&args)
        }
        Command::Mount(mut args) => {
            args.checks.resolve(&rtt_dir(None));
            mount::mount(&args)
        }
        Command::Materialize(mut args) => {
            args.checks.resolve(&rtt_dir(None));
            mount::materialize(&args)
        }
        Command::Apply(args) => apply::apply(&args, dir),
        Command::Recover(args) => apply::recover(&args, dir),
        Command::Rollback(args) => apply::rollback(&args, dir),
        Command::Status(args) => apply::status(&args, dir),
        Command::Wal(args) => match args.command {
            crate::cli::WalCommand::Verify(args) => apply::wal_verify(&args, dir),
        },
        Command::Driver(args) => driver::run(args),
        Command::Schema => schema::run(),
        Command::Man(args) => man::run(&args),
        Command::Completions(args) => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(args.shell, &mut command, "rtt", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    }
}
