//! `rtt report PLAN --html OUT`: one self-contained page of a plan — the
//! fleet map, routes planned against observed against their SLOs, and the
//! churn/latency trade-off (docs/telemetry.md, "The report").

use std::path::Path;
use std::process::ExitCode;

use miette::Diagnostic;
use rtt_planner::explain::Input;
use rtt_telemetry::store::Store;

use crate::cli::ReportArgs;
use crate::exit::{Failure, Internal};
use crate::files::read_plan;
use crate::render::html::{HostView, Page, RackView, ZoneView, page};
use crate::render::telemetry::RouteRow;

pub fn run(args: &ReportArgs, dir: Option<&Path>) -> Result<ExitCode, Failure> {
    let loaded = crate::files::with_calibration(rtt_schema::load(&args.config)?, args.profile.as_deref())?;
    let plan = read_plan(&args.plan)?;
    let previous = args.previous.as_deref().map(read_plan).transpose()?;
    let hash = plan.hash().map_err(|e| Internal { reason: e.to_string() })?;
    let layout = crate::workspace::rtt_dir(dir, Some(&args.config));
    let observed = Store::new(&layout).read(&hash)?;
    let model = &loaded.model;

    let zones = model
        .zones
        .iter()
        .enumerate()
        .map(|(z, zone)| ZoneView {
            name: zone.clone(),
            racks: model
                .racks
                .iter()
                .enumerate()
                .filter(|(_, rack)| rack.zone.0 as usize == z)
                .map(|(r, rack)| RackView {
                    name: rack.name.clone(),
                    hosts: model
                        .hosts
                        .iter()
                        .filter(|host| host.rack.0 as usize == r)
                        .map(|host| HostView {
                            name: host.name.clone(),
                            schedulable: host.schedulable,
                            numa_nodes: host.numa.len(),
                            placements: plan
                                .placements
                                .iter()
                                .filter(|p| p.host == host.name)
                                .map(|p| (p.agent.clone(), p.numa, p.replicas))
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    let routes = RouteRow::of_plan(&plan, &observed);
    // The trade-off is explain's: re-solves at other churn weights, from
    // the previous plan.
    let ticker = crate::output::Ticker::start("report: the churn trade-off");
    let input = Input::new(model, Internal::config_hash(&loaded.config)?, &plan, previous.as_ref(), &[]);
    let explanation = rtt_planner::explain::explain(&input)?;
    drop(ticker);
    let tradeoff = if explanation.churn_tradeoff.points.is_empty() {
        Err(explanation.churn_tradeoff.note.clone().unwrap_or_else(|| "no trade-off points".to_owned()))
    } else {
        Ok(crate::render::explain::chart(&explanation))
    };
    let facts = vec![
        (
            "objective".to_owned(),
            format!(
                "{:.3} (latency {:.3} µs, {} moves)",
                plan.objective.total, plan.objective.latency_us, plan.objective.moves
            ),
        ),
        ("solver".to_owned(), format!("{:?}, gap {:.4} %", plan.solver.status, plan.solver.gap * 100.0)),
        ("placements".to_owned(), format!("{} rows on {} hosts", plan.placements.len(), model.hosts.len())),
        (
            "config".to_owned(),
            if explanation.config_matches_plan { "this plan's".to_owned() } else { "NOT the plan's config".to_owned() },
        ),
        ("observed".to_owned(), format!("{} samples on {} routes", observed.samples(), observed.routes.len())),
    ];
    let html =
        page(&Page { title: format!("rtt plan {hash} (serial {})", plan.serial), facts, zones, routes, tradeoff });
    rtt_durable::write_atomic(&args.html, html.as_bytes(), rtt_durable::READ_WRITE)
        .map_err(|e| NotWritten { path: args.html.display().to_string(), reason: e.to_string() })?;
    crate::output::note(format_args!("wrote {} ({} bytes)", args.html.display(), html.len()));
    Ok(ExitCode::SUCCESS)
}

/// The page could not be written.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("failed to write the report {path}: {reason}")]
#[diagnostic(code(rtt::report::write))]
struct NotWritten {
    path: String,
    reason: String,
}
