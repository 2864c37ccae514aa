//! Planner benchmark on generated tiers, beside the greedy baseline measured
//! in the same run (kube-scheduler-like: replica by replica, best feasible node).
//!
//!     cargo bench --bench plan                  # tiers S and M
//!     RTT_BENCH_TIERS=S,M,L cargo bench --bench plan

use std::time::Instant;

use rtt_instances::{Tier, generate};
use rtt_planner::score::score;
use rtt_planner::topology::Topology;
use rtt_planner::{Request, greedy};
use rtt_solver::Limits;

fn main() {
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
            config_hash: loaded.config_hash(),
            previous: None,
            limits: Limits::default(),
            exhaustive: false,
            search: None,
            progress: None,
        };
        let plan_started = Instant::now();
        let planned = rtt_planner::plan(&request).expect("generated tiers are feasible");
        let plan_seconds = plan_started.elapsed().as_secs_f64();
        let stats = &planned.stats;
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
}
