//! How a command ends: SPEC §9's exit codes, and [`Failure`], the error a
//! command returns (a miette report and its exit code). Every command module
//! uses these; none defines its own.

use miette::Diagnostic;

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
/// Exit code of `rtt gate` and `rtt apply --soak` when a route breached its
/// SLO or regression budget (the same code as a diff: "it changed for the worse").
pub const EXIT_BREACH: u8 = 2;
/// Exit code of `rtt drift` when hosts hold other placements than the plan
/// in force (and were not repaired).
pub const EXIT_DRIFT: u8 = 2;
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

/// A bug.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("internal error: {reason}")]
#[diagnostic(code(rtt::internal), help("this is a bug in rtt; please report it with the config"))]
pub struct Internal {
    pub reason: String,
}

impl Internal {
    /// `inputs.config` of a checked config; failing to hash one is a bug.
    pub fn config_hash(config: &rtt_schema::raw::Config) -> Result<rtt_canonical::Sha256, Internal> {
        rtt_schema::config_hash(config)
            .map_err(|e| Internal { reason: format!("the checked config cannot be hashed: {e}") })
    }
}
