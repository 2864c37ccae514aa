//! `rtt gate` and `rtt telemetry ingest`: observed route latency into the
//! store, and the SLO gate's verdict on a plan for CI (docs/telemetry.md).

use rtt_telemetry::now_ms;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;

use rtt_apply::coordinator::soak::planned_routes;
use rtt_telemetry::RouteKey;
use rtt_telemetry::gate::{self, Outcome};
use rtt_telemetry::source::{IngestReport, ingest as ingest_sources};
use rtt_telemetry::store::Store;

use crate::cli::{GateCommandArgs, IngestArgs};
use crate::exit::{EXIT_BREACH, EXIT_INVALID, Failure};
use crate::files::config_path;
use crate::output::emit;

pub fn gate(args: &GateCommandArgs, dir: Option<&Path>) -> Result<ExitCode, Failure> {
    let workspace = crate::workspace::apply_workspace(&config_path(args.config.as_deref())?, dir);
    let bytes = crate::files::read_plan_bytes(&args.plan)?;
    let parsed = rtt_trust::parse_plan(&bytes)?;
    let store = Store::new(&workspace.layout);
    let planned = planned_routes(&parsed.document);
    let sources = args.gate.sources.sources();
    if !sources.is_empty() {
        let routes: BTreeSet<RouteKey> = planned.iter().map(|p| p.route.clone()).collect();
        let (report, _) = ingest_sources(&store, &parsed.hash, &routes, &sources, args.from_zero, now_ms())?;
        note_skipped(&report);
    }
    let observed = store.read(&parsed.hash)?;
    let baseline = match parsed.document.inputs.previous {
        Some(previous) => Some(store.read(&previous)?),
        None => None,
    };
    let verdict = gate::judge(&planned, &observed, baseline.as_ref(), args.gate.policy());
    emit(
        args.format,
        || crate::render::telemetry::render_verdict(&verdict),
        || serde_json::json!({"kind": "rtt.gate", "plan": parsed.hash.to_string(), "verdict": verdict}),
    );
    Ok(match verdict.outcome {
        Outcome::Pass => ExitCode::SUCCESS,
        Outcome::Breach => ExitCode::from(EXIT_BREACH),
        Outcome::NoEvidence => ExitCode::from(EXIT_INVALID),
    })
}

pub fn ingest(args: &IngestArgs, dir: Option<&Path>) -> Result<ExitCode, Failure> {
    let workspace = crate::workspace::apply_workspace(&config_path(args.config.as_deref())?, dir);
    let (hash, document) = crate::workspace::plan_or_applied(&workspace, args.plan.as_deref())?;
    let sources = args.sources.sources();
    let routes: BTreeSet<RouteKey> = planned_routes(&document).into_iter().map(|p| p.route).collect();
    let store = Store::new(&workspace.layout);
    let (report, added) = ingest_sources(&store, &hash, &routes, &sources, args.from_zero, now_ms())?;
    note_skipped(&report);
    emit(
        args.format,
        || {
            let mut out =
                format!("ingested {} samples on {} routes under plan {hash}\n", added.samples(), added.routes.len());
            for (source, samples) in &report.samples {
                out.push_str(&format!("  {samples:>9}  {source}\n"));
            }
            out
        },
        || {
            serde_json::json!({"kind": "rtt.telemetry.ingest", "plan": hash.to_string(), "samples": added.samples(),
            "routes": added.routes.len(), "report": report})
        },
    );
    Ok(ExitCode::SUCCESS)
}

fn note_skipped(report: &IngestReport) {
    for (route, samples) in &report.skipped {
        crate::output::note(format_args!("note: skipped {samples} samples of {route}, which the plan does not route"));
    }
}
