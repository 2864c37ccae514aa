//! `rtt diff OLD NEW`: the semantic diff of two plans, for a person, a pull
//! request or a program, with exit codes a CI job can gate on.

use std::io::Write;
use std::process::ExitCode;

use miette::Diagnostic;

use crate::cli::{DiffArgs, DiffFormat};
use crate::exit::Internal;
use crate::exit::{EXIT_DIFFERENT, EXIT_INVALID, Failure};
use crate::files::read_plan;
use crate::render;

pub fn run(args: &DiffArgs) -> Result<ExitCode, Failure> {
    if let Some(pct) = args.fail_on_regression.filter(|p| !p.is_finite() || *p < 0.0) {
        return Err(BadGate { pct }.into());
    }
    let old = read_plan(&args.old)?;
    let new = read_plan(&args.new)?;
    let diff = match &args.config {
        Some(path) => {
            let loaded = rtt_schema::load(path)?;
            rtt_planner::diff::diff_under(&loaded.model, &old, &new)
                .map_err(|e| PlansDoNotFit { reason: e.to_string() })?
        }
        None => rtt_planner::diff::diff(&old, &new),
    };
    let output = match args.format {
        DiffFormat::Text => render::diff::text(&diff),
        DiffFormat::Markdown => render::diff::markdown(&diff),
        DiffFormat::Json => {
            let mut json = serde_json::to_string_pretty(&diff).map_err(|e| Internal { reason: e.to_string() })?;
            json.push('\n');
            json
        }
    };
    std::io::stdout().write_all(output.as_bytes()).map_err(|e| Internal { reason: e.to_string() })?;
    if let Some(pct) = args.fail_on_regression {
        let regressions = diff.regressions(pct);
        if !regressions.is_empty() {
            let routes = regressions
                .iter()
                .map(|r| {
                    let change = r.p99_change_pct.map_or_else(|| "from 0".to_owned(), |p| format!("+{p:.1}%"));
                    format!("{} → {} ({change})", r.from, r.to)
                })
                .collect::<Vec<_>>()
                .join(", ");
            return Err(Failure {
                report: miette::Report::new(Regression { pct, count: regressions.len(), routes }),
                exit_code: EXIT_INVALID,
            });
        }
    }
    if args.exit_code && !diff.is_empty() {
        return Ok(ExitCode::from(EXIT_DIFFERENT));
    }
    Ok(ExitCode::SUCCESS)
}

/// The regression gate tripped.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{count} route p99 regression(s) beyond {pct}%: {routes}")]
#[diagnostic(
    code(rtt::diff::regression),
    help("the diff above shows each route; raise --fail-on-regression to accept")
)]
pub struct Regression {
    pct: f64,
    count: usize,
    routes: String,
}

/// A gate that is not a percentage.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("failed to use --fail-on-regression {pct}: not a percentage")]
#[diagnostic(help("give a non-negative number of percent, e.g. --fail-on-regression 5"))]
pub struct BadGate {
    pct: f64,
}

/// A plan names agents or hosts the config lacks.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("failed to compare the plans under --config: {reason}")]
#[diagnostic(help(
    "pass the config both plans were made from, or leave out --config to compare the plans' own figures"
))]
pub struct PlansDoNotFit {
    reason: String,
}
