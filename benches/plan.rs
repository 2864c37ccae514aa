//! Planner benchmark on generated tiers, beside the greedy baseline measured
//! in the same run (kube-scheduler-like: replica by replica, best feasible node).
//!
//!     cargo bench --bench plan                  # tiers S and M
//!     RTT_BENCH_TIERS=S,M,L cargo bench --bench plan
//!     RTT_BENCH_CPSAT=60 cargo bench --bench plan   # also CP-SAT, 60 s, 2 workers
//!
//! With `RTT_BENCH_CPSAT=SECONDS`, each tier is also solved by the CP-SAT
//! baseline (`benches/cpsat/cpsat.py`, needs `pip install ortools`) and its
//! placement is re-scored here by rtt's scorer, so both columns are SPEC §4
//! figures computed the same way.

use std::time::Instant;

use rtt_instances::{Tier, generate};
use rtt_planner::score::score;
use rtt_planner::topology::Topology;
use rtt_planner::{Request, greedy};
use rtt_solver::Limits;

fn main() {
    let cpsat_seconds: Option<f64> = std::env::var("RTT_BENCH_CPSAT").ok().and_then(|s| s.parse().ok());
    let mut cpsat_rows = Vec::new();
    let tiers = std::env::var("RTT_BENCH_TIERS").unwrap_or_else(|_| "S,M".into());
    println!(
        "| tier | hosts/agents/routes | greedy objective (violations) | greedy s | rtt objective | bound | gap | rtt s | outside solver | drain re-plan s | drain moves (forced) |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for name in tiers.split(',') {
        let tier = match name.trim() {
            "S" => Tier::S,
            "M" => Tier::M,
            "L" => Tier::L,
            "XL" => Tier::Xl,
            other => panic!("unknown tier {other}"),
        };
        let spec = tier.spec(1);
        let started = Instant::now();
        let text = rtt_instances::to_json_text(&generate(spec));
        let loaded =
            rtt_schema::check_text(rtt_schema::source::SourceFile::new("bench.json", text), rtt_schema::Format::Json)
                .expect("generated configs are valid");
        let parse_seconds = started.elapsed().as_secs_f64();
        let model = &loaded.model;
        let topology = Topology::new(model);

        let greedy_started = Instant::now();
        let baseline = greedy::place(model, &topology, None);
        let greedy_seconds = greedy_started.elapsed().as_secs_f64();
        let baseline_score = score(model, &topology, &baseline, None);

        let request = Request {
            model,
            config_hash: loaded.config_hash().expect("a checked config hashes"),
            previous: None,
            limits: Limits::default(),
            exhaustive: false,
            search: None,
            progress: None,
            memory_limit: None,
        };
        let plan_started = Instant::now();
        let planned = rtt_planner::plan(&request).expect("generated tiers are feasible");
        let plan_seconds = plan_started.elapsed().as_secs_f64();
        let stats = &planned.stats;
        if let Some(seconds) = cpsat_seconds {
            cpsat_rows.push(cpsat_row(name, model, &topology, loaded.source.text(), seconds, &planned, plan_seconds));
        }
        let outside = parse_seconds + stats.build_seconds;

        // Drain the host with the most replicas and re-plan from the plan.
        let mut per_host = std::collections::BTreeMap::<&str, u64>::new();
        for row in &planned.document.placements {
            *per_host.entry(row.host.as_str()).or_default() += u64::from(row.replicas);
        }
        let (busiest, forced) = per_host.iter().max_by_key(|(_, n)| **n).map(|(h, n)| (h.to_string(), *n)).unwrap();
        let mut drained = loaded.config.clone();
        drained.topology.hosts.iter_mut().filter(|h| h.name == busiest).for_each(|h| h.schedulable = false);
        let drained_model = rtt_schema::refine(&drained).expect("still valid");
        let replan = Request { model: &drained_model, previous: Some(&planned.document), ..request.clone() };
        let replan_started = Instant::now();
        let replanned = rtt_planner::plan(&replan);
        let replan_seconds = replan_started.elapsed().as_secs_f64();
        let moves = replanned.map(|p| p.document.objective.moves.to_string()).unwrap_or_else(|e| format!("{e}"));

        println!(
            "| {name} | {}/{}/{} | {:.1} ({}) | {:.2} | {:.1} | {:.1} | {:.1}% | {:.1} | {:.1}% | {:.1} | {} ({}) |",
            spec.n_hosts,
            spec.n_agents,
            spec.n_routes,
            baseline_score.total,
            baseline_score.violations.len(),
            greedy_seconds,
            planned.document.objective.total,
            planned.document.solver.bound,
            planned.document.solver.gap * 100.0,
            plan_seconds,
            100.0 * outside / (plan_seconds + parse_seconds),
            replan_seconds,
            moves,
            forced,
        );
    }
    if !cpsat_rows.is_empty() {
        println!();
        println!(
            "| tier | CP-SAT status | CP-SAT objective (rtt scorer) | CP-SAT violations | CP-SAT bound | CP-SAT s (model build s) | rtt objective | rtt s | rtt vs CP-SAT |"
        );
        println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        for row in cpsat_rows {
            println!("{row}");
        }
    }
}

/// Runs the CP-SAT baseline on the same config and scores its placement with
/// rtt's scorer.
fn cpsat_row(
    tier: &str,
    model: &rtt_schema::model::Model,
    topology: &Topology,
    config_text: &str,
    seconds: f64,
    planned: &rtt_planner::Planned,
    plan_seconds: f64,
) -> String {
    let path = std::env::temp_dir().join(format!("rtt-bench-cpsat-{tier}-{}.json", std::process::id()));
    std::fs::write(&path, config_text).expect("temp file");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/cpsat/cpsat.py");
    let started = Instant::now();
    let output = std::process::Command::new("python3")
        .arg(script)
        .arg(&path)
        .args(["--seconds", &seconds.to_string(), "--workers", "2", "--seed", "1"])
        .output()
        .expect("python3 runs");
    let wall = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    let rtt = planned.document.objective.total;
    let result: serde_json::Value = match serde_json::from_slice(&output.stdout) {
        Ok(value) => value,
        Err(_) => {
            let error = String::from_utf8_lossy(&output.stderr);
            let last = error.lines().last().unwrap_or("no output");
            return format!("| {tier} | failed: {last} | — | — | — | {wall:.1} | {rtt:.1} | {plan_seconds:.1} | — |");
        }
    };
    let status = result["status"].as_str().unwrap_or("?").to_string();
    let solve = result["seconds"].as_f64().unwrap_or(f64::NAN);
    let rows = result["placements"].as_array().cloned().unwrap_or_default();
    let bound = result["bound"].as_f64().map_or("—".to_string(), |b| format!("{b:.1}"));
    if rows.is_empty() {
        return format!(
            "| {tier} | {status} | — | — | {bound} | {solve:.1} ({:.1}) | {rtt:.1} | {plan_seconds:.1} | — |",
            wall - solve
        );
    }
    let rows: Vec<(String, String, u32, u32)> = rows
        .iter()
        .map(|row| {
            (
                row["agent"].as_str().unwrap_or_default().to_string(),
                row["host"].as_str().unwrap_or_default().to_string(),
                row["numa"].as_u64().unwrap_or(0) as u32,
                row["replicas"].as_u64().unwrap_or(0) as u32,
            )
        })
        .collect();
    // Plan rows to a placement, the way a previous plan is read.
    let resolved = rtt_planner::previous::Previous::resolve(
        model,
        topology,
        rows.iter().map(|(a, h, n, r)| (a.as_str(), h.as_str(), *n, *r)),
    );
    let mut placement = rtt_planner::placement::Placement::empty(model.agents.len());
    for (agent, before) in resolved.by_agent.iter().enumerate() {
        if let Some(before) = before {
            assert_eq!(before.on_gone_nodes, 0, "CP-SAT placed a replica on a node rtt does not know");
            for (node, count) in &before.on_nodes {
                placement.add(rtt_schema::model::AgentId(agent as u32), *node, *count);
            }
        }
    }
    let figures = score(model, topology, &placement, None);
    let claimed = result["objective"].as_f64().unwrap_or(f64::NAN);
    // CP-SAT's own value can only be pessimistic (an indicator left at 0
    // where the share is local); a scorer total above it would mean the two
    // models disagree on SPEC §4.
    assert!(
        !figures.violations.is_empty() || figures.total <= claimed + 1e-6 * claimed.abs().max(1.0),
        "CP-SAT claims {claimed} but its placement scores {}",
        figures.total
    );
    format!(
        "| {tier} | {status} | {:.1} | {} | {bound} | {solve:.1} ({:.1}) | {rtt:.1} | {plan_seconds:.1} | {:+.1}% |",
        figures.total,
        figures.violations.len(),
        wall - solve,
        100.0 * (rtt - figures.total) / figures.total,
    )
}
