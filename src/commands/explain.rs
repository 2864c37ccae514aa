//! `rtt explain PLAN --config CONFIG`: why the plan is as it is — the
//! objective split, what stops each route from being closer, what binds,
//! shadow prices, `--what-if` counterfactuals and the churn trade-off.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use miette::Diagnostic;
use rtt_planner::explain::{Explanation, Input, WhatIf, what_if};
use rtt_schema::LoadedConfig;

use crate::cli::{ExplainArgs, Format};
use crate::exit::Failure;
use crate::exit::Internal;
use crate::files::read_plan;
use crate::render;

pub fn run(args: &ExplainArgs, dir: Option<&Path>) -> Result<ExitCode, Failure> {
    let loaded = crate::files::with_calibration(rtt_schema::load(&args.config)?, args.profile.as_deref())?;
    let plan = read_plan(&args.plan)?;
    let previous = args.previous.as_deref().map(read_plan).transpose()?;
    let what_ifs = parse_what_ifs(&loaded, &args.what_if)?;
    let ticker = crate::output::Ticker::start(&format!(
        "explain: route tests, bindings, shadow prices{}",
        if what_ifs.is_empty() { String::new() } else { format!(", {} what-ifs", what_ifs.len()) }
    ));
    let input = Input::new(&loaded.model, Internal::config_hash(&loaded.config)?, &plan, previous.as_ref(), &what_ifs);
    let explanation = rtt_planner::explain::explain(&input)?;
    drop(ticker);
    let observed = observed(&plan, &args.config, dir)?;
    let output = match args.format {
        Format::Text => {
            let mut text = render::explain::text(&explanation);
            if !observed.is_empty() {
                text.push_str("\nplanned vs observed (under this plan, from the telemetry store)\n");
                text.push_str(&render::telemetry::route_table(&observed));
            }
            text
        }
        Format::Json => {
            let observed: Vec<serde_json::Value> = observed
                .iter()
                .map(|r| {
                    serde_json::json!({"route": r.route, "planned_p99_us": r.planned_p99_us,
                    "slo_p99_us": r.slo_p99_us, "observed": r.observed})
                })
                .collect();
            let document = WithObserved { explanation: &explanation, observed };
            let mut json = serde_json::to_string_pretty(&document).map_err(|e| Internal { reason: e.to_string() })?;
            json.push('\n');
            json
        }
    };
    if let Some(chart) = &args.chart {
        write_chart(chart, &explanation)?;
    }
    std::io::stdout().write_all(output.as_bytes()).map_err(|e| Internal { reason: e.to_string() })?;
    Ok(ExitCode::SUCCESS)
}

/// The explanation, and `observed` when the telemetry store has readings
/// of the plan (absent otherwise, so the document is as before).
#[derive(serde::Serialize)]
struct WithObserved<'a> {
    #[serde(flatten)]
    explanation: &'a Explanation,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    observed: Vec<serde_json::Value>,
}

/// The plan's routes with what the telemetry store (beside the config)
/// observed under it; empty when nothing was.
fn observed(
    plan: &rtt_plan::PlanDocument,
    config: &Path,
    dir: Option<&Path>,
) -> Result<Vec<render::telemetry::RouteRow>, Failure> {
    let hash = plan.hash().map_err(|e| Internal { reason: e.to_string() })?;
    let layout = crate::workspace::rtt_dir(dir, Some(config));
    let seen = rtt_telemetry::store::Store::new(&layout).read(&hash)?;
    if seen.routes.is_empty() {
        return Ok(Vec::new());
    }
    Ok(render::telemetry::RouteRow::of_plan(plan, &seen))
}

/// Parses every `--what-if` before any work starts, so a typo costs nothing.
pub fn parse_what_ifs(loaded: &LoadedConfig, texts: &[String]) -> Result<Vec<(String, WhatIf)>, Failure> {
    texts
        .iter()
        .map(|text| {
            what_if::parse(&loaded.model, text)
                .map(|parsed| (text.clone(), parsed))
                .map_err(|error| BadWhatIf { message: error.to_string(), help: error.help }.into())
        })
        .collect()
}

fn write_chart(path: &Path, explanation: &Explanation) -> Result<(), Failure> {
    std::fs::write(path, render::explain::chart(explanation))
        .map_err(|e| ChartNotWritten { path: path.display().to_string(), reason: e.to_string() }.into())
}

/// A `--what-if` that cannot be read.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{message}")]
#[diagnostic(code(rtt::explain::what_if))]
pub struct BadWhatIf {
    message: String,
    #[help]
    help: String,
}

/// The chart file cannot be written.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("failed to write the chart {path}: {reason}")]
pub struct ChartNotWritten {
    path: String,
    reason: String,
}
