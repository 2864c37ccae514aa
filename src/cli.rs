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
    /// Place every replica: solve the MILP and write a deterministic plan.
    Plan(PlanArgs),
    /// Explain a plan: what binds, what stops each route being closer, what-ifs.
    Explain(ExplainArgs),
    /// Compare two plans: moved replicas, route p99 changes, new SLO violations (for CI).
    Diff(DiffArgs),
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

/// `rtt plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Config file (default: the rtt.cue, rtt.yaml, rtt.yml or rtt.json in this directory).
    pub config: Option<PathBuf>,
    /// The plan to move from (churn is counted against it; serial follows it).
    #[arg(long, value_name = "PLAN")]
    pub previous: Option<PathBuf>,
    /// Write the plan here (canonical JSON).
    #[arg(short, long, value_name = "PLAN")]
    pub output: Option<PathBuf>,
    /// Relative MIP gap at which the solver may stop.
    #[arg(long, default_value_t = 1e-4, value_name = "G")]
    pub gap: f64,
    /// Stop the solver after this many seconds (makes the plan depend on machine speed).
    #[arg(long, value_name = "S")]
    pub time_limit: Option<f64>,
    /// Stop the solver after this many branch-and-bound nodes (deterministic).
    #[arg(long, value_name = "N")]
    pub node_limit: Option<u64>,
    /// Sub-MILPs of the large-neighbourhood search (default: sized to the config; 0 turns it off).
    #[arg(long, value_name = "N")]
    pub search_rounds: Option<usize>,
    /// Treat these hosts as unschedulable for this plan.
    #[arg(long, value_name = "HOST", num_args = 1..)]
    pub drain: Vec<String>,
    /// Show what the objective is made of and what binds.
    #[arg(long)]
    pub explain: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `rtt explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The plan to explain.
    pub plan: PathBuf,
    /// The config the plan was made from.
    #[arg(long, value_name = "CONFIG")]
    pub config: PathBuf,
    /// The plan it moved from (churn is counted against it).
    #[arg(long, value_name = "PLAN")]
    pub previous: Option<PathBuf>,
    /// Re-solve with one statement changed, e.g. 'drop anti_affinity of search@1',
    /// 'cores h01/1 +8', 'slo gateway@1->search@1 = 300' (repeatable).
    #[arg(long = "what-if", value_name = "CHANGE")]
    pub what_if: Vec<String>,
    /// Write the churn trade-off chart (SVG) here.
    #[arg(long, value_name = "FILE")]
    pub chart: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `rtt diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The old plan.
    pub old: PathBuf,
    /// The new plan.
    pub new: PathBuf,
    /// Recompute both plans' route figures under this config (its SLOs included).
    #[arg(long, value_name = "CONFIG")]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
    /// Exit 2 when the plans differ (0 when they are the same).
    #[arg(long)]
    pub exit_code: bool,
    /// Exit 1 when any route's p99 grows by more than PCT percent.
    #[arg(long, value_name = "PCT", allow_negative_numbers = true)]
    pub fail_on_regression: Option<f64>,
}

/// `rtt completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

/// Output formats of `rtt diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// For a person.
    Text,
    /// For a pull-request comment.
    Markdown,
    /// For a program.
    Json,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For a person.
    Text,
    /// For a program.
    Json,
}
