//! A re-plan finds the fewest moves first (docs/model.md §5): on a drain the
//! plan reports that minimum, never moves fewer than it, and is never worse
//! than the repaired previous plan, by the scorer's own figures.

use rtt_plan::PlanDocument;
use rtt_planner::placement::Placement;
use rtt_planner::score::score;
use rtt_planner::topology::Topology;
use rtt_planner::{Request, greedy, plan, previous_of};
use rtt_schema::{Format, LoadedConfig};

fn load(text: &str) -> LoadedConfig {
    rtt_schema::check_text(rtt_schema::source::SourceFile::new("tier-s.json", text), Format::Json).unwrap()
}

fn request<'a>(loaded: &'a LoadedConfig, previous: Option<&'a PlanDocument>) -> Request<'a> {
    Request {
        model: &loaded.model,
        config_hash: loaded.config_hash().expect("a checked config hashes"),
        previous,
        limits: rtt_planner::Limits::default(),
        exhaustive: false,
        search: None,
        progress: None,
        memory_limit: None,
    }
}

#[test]
fn a_drain_moves_the_proven_minimum_and_beats_the_repair() {
    let config = rtt_instances::generate(rtt_instances::Tier::S.spec(3));
    let loaded = load(&rtt_instances::to_json_text(&config));
    let first = plan(&request(&loaded, None)).unwrap();
    // Drain the two hosts holding the most replicas.
    let mut per_host = std::collections::BTreeMap::<String, u32>::new();
    for row in &first.document.placements {
        *per_host.entry(row.host.clone()).or_default() += row.replicas;
    }
    let mut hosts: Vec<(u32, String)> = per_host.into_iter().map(|(h, n)| (n, h)).collect();
    hosts.sort();
    let drain: Vec<String> = hosts.iter().rev().take(2).map(|(_, h)| h.clone()).collect();
    let drained = loaded.drained(&drain).unwrap();
    let second = plan(&request(&drained, Some(&first.document))).unwrap();

    let minimum = second.stats.minimum_moves.expect("a re-plan runs the churn-first stage");
    assert!(minimum.proven, "tier S's churn-only model is solved to optimality");
    let stranded: u32 = hosts.iter().rev().take(2).map(|(n, _)| n).sum();
    assert!(minimum.moves >= u64::from(stranded), "every replica on a drained host moves");
    assert!(second.document.objective.moves >= minimum.moves, "nothing moves fewer than the proven minimum");
    // A re-plan of this size ends with a full branch and bound, which the
    // churn term makes easy to close (docs/model.md §5, "Final solve").
    assert_eq!(second.document.solver.status, rtt_plan::SolverStatus::Optimal, "{:?}", second.document.solver);

    let model = &drained.model;
    let topology = Topology::new(model);
    let previous = previous_of(model, &topology, &first.document);
    let repair: Placement = greedy::repair(model, &topology, &previous);
    let repaired = score(model, &topology, &repair, Some(&previous));
    if repaired.violations.is_empty() {
        assert!(second.score.total <= repaired.total + 1e-9, "{} > repair {}", second.score.total, repaired.total);
    }
    // The bound the plan states holds the proven minimum.
    let churn = model.churn_weight * minimum.moves as f64;
    assert!(second.document.solver.bound >= churn - 1e-6, "bound {} below {churn}", second.document.solver.bound);
}
