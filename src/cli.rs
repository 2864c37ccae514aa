//! The command line (SPEC §9), declared with clap.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// rtt turns a typed fleet config into a deterministic, signed placement plan.
#[derive(Debug, Parser)]
#[command(name = "rtt", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// rtt's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented starter config.
    Init(InitArgs),
    /// Check a config and report every error with its file, line and column.
    Validate(ValidateArgs),
    /// Print the JSON Schema of the config (for editors).
    Schema,
    /// Print shell completions.
    Completions(CompletionsArgs),
}

/// `rtt init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write the config.
    #[arg(default_value = "rtt.yaml")]
    pub path: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

/// `rtt validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Config file (default: the rtt.cue, rtt.yaml, rtt.yml or rtt.json in this directory).
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `rtt completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For a person.
    Text,
    /// For a program.
    Json,
}
