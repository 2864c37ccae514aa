//! `rtt waves PLAN --previous APPLIED`: the move from the plan in force to
//! PLAN cut into waves under a disruption budget (`rtt_planner::waves`),
//! each written as a plan document of its own — scored by SPEC §4 from its
//! placements, chained by `inputs.previous`, serials counting on from the
//! plan in force — ready to sign and apply in order with a soak between.

use std::process::ExitCode;

use miette::Diagnostic;
use rtt_plan::{SolverReport, SolverStatus};
use rtt_planner::placement::Placement;
use rtt_planner::topology::Topology;
use rtt_planner::waves::{Budget, waves};

use crate::cli::WavesArgs;
use crate::exit::{Failure, Internal};
use crate::files::{read_plan, write_plan};
use crate::output::emit;

pub fn run(args: &WavesArgs) -> Result<ExitCode, Failure> {
    let loaded = crate::files::with_calibration(rtt_schema::load(&args.config)?, args.profile.as_deref())?;
    let model = &loaded.model;
    let target = read_plan(&args.plan)?;
    let previous = read_plan(&args.previous)?;
    let sign_key = args.sign_key.as_deref().map(rtt_trust::keyfile::read_secret_key).transpose()?;
    let topology = Topology::new(model);
    let rows = |plan: &rtt_plan::PlanDocument| {
        Placement::from_rows(
            model,
            &topology,
            plan.placements.iter().map(|r| (r.agent.as_str(), r.host.as_str(), r.numa, r.replicas)),
        )
        .map_err(|e| NotOfConfig { reason: e.to_string() })
    };
    let (from, to) = (rows(&previous)?, rows(&target)?);
    let budget = Budget { max_moves: args.max_moves, max_agent_pct: args.max_agent_pct };
    let cut = waves(model, &topology, &from, &to, budget);
    std::fs::create_dir_all(&args.out)
        .map_err(|e| Internal { reason: format!("cannot create {}: {e}", args.out.display()) })?;
    let mut before = previous.clone();
    let mut before_hash = previous.hash().map_err(|e| Internal { reason: e.to_string() })?;
    let mut written = Vec::new();
    for (index, wave) in cut.iter().enumerate() {
        let prior = rtt_planner::previous_of(model, &topology, &before);
        let figures = rtt_planner::score::score(model, &topology, wave, Some(&prior));
        let inputs = rtt_plan::Inputs {
            config: target.inputs.config,
            previous: Some(before_hash),
            registry: target.inputs.registry,
        };
        // A wave is scored, not solved: no bound is claimed for it.
        let solver = SolverReport {
            status: SolverStatus::Feasible,
            objective: figures.total,
            bound: 0.0,
            gap: if figures.total.abs() > 1e-12 { 1.0 } else { 0.0 },
        };
        let mut document = rtt_planner::pipeline::document(
            model,
            &topology,
            wave,
            &figures,
            inputs,
            solver,
            previous.serial + index as u64 + 1,
        );
        document.views = target.views.clone();
        if let Some(key) = &sign_key {
            rtt_trust::sign_document(&mut document, key)?;
        }
        let path = args.out.join(format!("wave-{}.json", index + 1));
        write_plan(&path, &document)?;
        before_hash = document.hash().map_err(|e| Internal { reason: e.to_string() })?;
        written.push((path, document.serial, document.objective.moves, before_hash));
        before = document;
    }
    emit(
        args.format,
        || {
            let mut out = format!(
                "{} wave{} from serial {} to the plan's placements:\n",
                written.len(),
                if written.len() == 1 { "" } else { "s" },
                previous.serial
            );
            for (path, serial, moves, _) in &written {
                out.push_str(&format!("  {}  serial {serial}, {moves} moves\n", path.display()));
            }
            out
        },
        || {
            let waves: Vec<serde_json::Value> = written
                .iter()
                .map(|(path, serial, moves, hash)| serde_json::json!({"path": path.display().to_string(), "serial": serial, "moves": moves, "hash": hash.to_string()}))
                .collect();
            serde_json::json!({"kind": "rtt.waves", "waves": waves})
        },
    );
    Ok(ExitCode::SUCCESS)
}

/// A plan that does not fit the config.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("failed to cut waves: {reason}")]
#[diagnostic(code(rtt::waves::config), help("give the config the plans were made from"))]
struct NotOfConfig {
    reason: String,
}
