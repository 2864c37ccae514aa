//! One module per command; this file only dispatches.

mod apply;
mod calibrate;
mod diff;
mod driver;
mod explain;
mod flight;
mod gate;
mod init;
mod keygen;
mod keys;
mod man;
mod mount;
mod plan;
mod registry;
mod report;
mod schema;
mod sign;
mod tune;
mod validate;
mod verify;
mod waves;

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::exit::Failure;

/// Runs one command.
pub fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let dir = cli.dir.as_deref();
    // One rule for `.rtt/` (docs/cli.md): --dir, else beside the config.
    let rtt_dir = |config: Option<&std::path::Path>| crate::workspace::rtt_dir(dir, config);
    match cli.command {
        Command::Init(args) => init::run(&args),
        Command::Validate(args) => validate::run(&args, cli.all_errors),
        Command::Plan(args) => plan::run(&args, dir),
        Command::Explain(args) => explain::run(&args, dir),
        Command::Diff(args) => diff::run(&args),
        Command::Registry(mut args) => {
            args.layout = rtt_dir(None);
            registry::run(&args)
        }
        Command::View(mut args) => {
            args.layout = rtt_dir(None);
            registry::view(&args)
        }
        Command::Keygen(args) => keygen::run(&args),
        Command::Keys(mut args) => {
            args.trust =
                args.trust_override.clone().unwrap_or_else(|| rtt_dir(None).registry().trust().dir().to_owned());
            keys::run(&args)
        }
        Command::Sign(args) => sign::run(&args),
        Command::Verify(mut args) => {
            args.checks.resolve(rtt_dir(None));
            verify::run(&args)
        }
        Command::Mount(mut args) => {
            args.checks.resolve(rtt_dir(None));
            mount::mount(&args)
        }
        Command::Materialize(mut args) => {
            args.checks.resolve(rtt_dir(None));
            mount::materialize(&args)
        }
        Command::Apply(args) => apply::apply(&args, dir),
        Command::Recover(args) => apply::recover(&args, dir),
        Command::Rollback(args) => apply::rollback(&args, dir),
        Command::Status(args) => apply::status(&args, dir),
        Command::Drift(args) => apply::drift(&args, dir),
        Command::Reconcile(args) => crate::reconcile::run(&args, dir),
        Command::Waves(args) => waves::run(&args),
        Command::Gate(args) => gate::gate(&args, dir),
        Command::Calibrate(args) => calibrate::run(&args, dir),
        Command::Report(args) => report::run(&args, dir),
        Command::Chaos(args) => match args.command {
            crate::cli::ChaosCommand::Run(args) => crate::chaos::run(&args, dir),
            crate::cli::ChaosCommand::List => crate::chaos::list(),
            crate::cli::ChaosCommand::Proxy { fault, marker, command } => {
                crate::chaos::proxy_command(&fault, marker, command)
            }
        },
        Command::Flight(args) => match args.command {
            crate::cli::FlightCommand::List(args) => flight::list(&args, dir),
            crate::cli::FlightCommand::Show { id, workspace } => flight::show(id.as_deref(), &workspace, dir),
        },
        Command::Telemetry(args) => match args.command {
            crate::cli::TelemetryCommand::Ingest(args) => gate::ingest(&args, dir),
        },
        Command::Wal(args) => match args.command {
            crate::cli::WalCommand::Verify(args) => apply::wal_verify(&args, dir),
        },
        Command::Driver(args) => driver::run(args),
        Command::Tune(mut args) => {
            args.layout = rtt_dir(None);
            tune::run(&args)
        }
        Command::Mcp(mut args) => {
            args.checks.resolve(rtt_dir(None));
            crate::mcp::run(&args, dir)
        }
        Command::Schema => schema::run(),
        Command::Man(args) => man::run(&args),
        Command::Completions(args) => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(args.shell, &mut command, "rtt", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    }
}
