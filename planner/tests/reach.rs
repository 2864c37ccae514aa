//! `reach` against brute force: on small random two-agent configs, every
//! placement of each agent that keeps its own rules (eligibility, per-node
//! fit, spread, anti-affinity) is enumerated; a level `reach` calls
//! unreachable must have no pair of placements with a share of 0.99 there.
//! (The MILP fixes those levels' indicators to 0, so a wrong "unreachable"
//! would cut off the optimum.)

use proptest::prelude::*;
use rtt_planner::bound::candidates_of;
use rtt_planner::definitions::{LOCAL_SHARE, SHARE_EPSILON, locality_shares};
use rtt_planner::placement::Placement;
use rtt_planner::reach::reachable_levels;
use rtt_planner::score::{Violation, score};
use rtt_planner::topology::{NodeId, Topology};
use rtt_schema::model::{AgentId, Model};

#[derive(Debug, Clone)]
struct Pair {
    /// (zone, rack, NUMA nodes, cores per NUMA node) per host.
    hosts: Vec<(u8, u8, u8, u8)>,
    /// (replicas, cpu, spread level (0 none, 1 host, 2 rack, 3 zone), max_skew,
    /// anti-affinity level (0 none, 1 numa, 2 host, 3 rack)) per agent.
    agents: [(u8, u8, u8, u8, u8); 2],
}

fn pair() -> impl Strategy<Value = Pair> {
    let host = (0u8..3, 0u8..2, 1u8..3, 2u8..5);
    let agent = (1u8..6, 1u8..3, 0u8..4, 0u8..2, 0u8..4);
    (prop::collection::vec(host, 1..4), agent.clone(), agent).prop_map(|(hosts, a, b)| Pair { hosts, agents: [a, b] })
}

fn yaml(p: &Pair) -> String {
    let mut text = String::from(
        "version: 1\ntopology:\n  latency_us: {numa: 1, host: 2, rack: 3, zone: 4, region: 5}\n  hosts:\n",
    );
    for (i, (zone, rack, numa, cores)) in p.hosts.iter().enumerate() {
        let nodes: Vec<String> = (0..*numa).map(|_| format!("{{cores: {cores}, memory_mib: 4096}}")).collect();
        text += &format!("    - {{name: h{i}, zone: z{zone}, rack: r{rack}, numa: [{}]}}\n", nodes.join(", "));
    }
    text += "agents:\n";
    for (i, (replicas, cpu, spread, skew, anti)) in p.agents.iter().enumerate() {
        let level = |l: u8| ["numa", "host", "rack", "zone"][l as usize];
        let mut rules = String::new();
        if *spread > 0 {
            rules += &format!(", spread: {{level: {}, max_skew: {skew}}}", level(*spread));
        }
        if *anti > 0 {
            rules += &format!(", anti_affinity: {{level: {}}}", level(*anti - 1));
        }
        text += &format!(
            "  - {{id: a{i}@1, replicas: {replicas}, cpu: {cpu}, memory_mib: 10, qos: guaranteed, service_us: 0{rules}}}\n"
        );
    }
    text
}

fn compositions(total: u32, parts: usize, most: &[u32]) -> Vec<Vec<u32>> {
    if parts == 0 {
        return if total == 0 { vec![Vec::new()] } else { Vec::new() };
    }
    let mut out = Vec::new();
    for first in 0..=total.min(most[0]) {
        for mut rest in compositions(total - first, parts - 1, &most[1..]) {
            rest.insert(0, first);
            out.push(rest);
        }
    }
    out
}

/// Every placement of one agent alone that keeps its own rules.
fn own_placements(model: &Model, topology: &Topology, agent: AgentId) -> Vec<Placement> {
    let a = &model.agents[agent.0 as usize];
    let most: Vec<u32> = topology
        .nodes
        .iter()
        .map(|n| {
            let capacity = model.node(*n);
            (f64::from(capacity.cores) / model.effective_cpu(a) + 1e-9).floor() as u32
        })
        .collect();
    compositions(a.n_replicas, topology.nodes.len(), &most)
        .into_iter()
        .map(|counts| {
            let mut placement = Placement::empty(model.agents.len());
            for (node, count) in counts.iter().enumerate() {
                placement.add(agent, NodeId(node as u32), *count);
            }
            placement
        })
        .filter(|placement| {
            score(model, topology, placement, None).violations.iter().all(|v| match v {
                // The other agent is absent here; capacity shared with it is
                // what reach ignores.
                Violation::Count { agent: other, .. } => *other != agent,
                Violation::Cpu { .. } | Violation::Memory { .. } => true,
                _ => false,
            })
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
    #[test]
    fn unreachable_levels_are_never_reached(p in pair()) {
        let text = yaml(&p);
        let Ok(loaded) = rtt_schema::check_text(rtt_schema::source::SourceFile::new("t.yaml", text.clone()), rtt_schema::Format::Yaml) else {
            // A replica larger than every node, and the like: not a config.
            return Ok(());
        };
        let model = loaded.model;
        let topology = Topology::new(&model);
        let (a, b) = (AgentId(0), AgentId(1));
        let (ca, cb) = (candidates_of(&model, &topology, a), candidates_of(&model, &topology, b));
        let reachable = reachable_levels(&model, &topology, [&ca, &cb], a, b);
        let mine = own_placements(&model, &topology, a);
        let theirs = own_placements(&model, &topology, b);
        for x in &mine {
            for y in &theirs {
                let mut both = x.clone();
                both.by_agent[1] = y.by_agent[1].clone();
                let shares = locality_shares(&model, &topology, &both, a, b);
                for level in 0..4 {
                    prop_assert!(
                        reachable[level] || shares[level] < LOCAL_SHARE - SHARE_EPSILON,
                        "level {level} called unreachable but {both:?} reaches it\n{text}"
                    );
                }
            }
        }
    }
}
