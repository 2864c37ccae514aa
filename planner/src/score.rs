//! The scorer: every figure of SPEC §4 computed from placements alone, and
//! every constraint checked. Independent of the solver, so anyone can check a
//! plan against its config; the plan's stated figures come from here.

use std::collections::BTreeMap;

use rtt_schema::model::{AgentId, Locality, Model};
use rtt_schema::raw::Level;

use crate::placement::Placement;
use crate::previous::Previous;
use crate::topology::{LEVELS, NodeId, Topology, level_index};

/// The locality share a route needs at a level for that level to set its p99.
pub const LOCAL_SHARE: f64 = 0.99;
/// Slack for floating-point sums of shares (shares are ratios of small integers).
pub const SHARE_EPSILON: f64 = 1e-9;

/// A route's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteScore {
    /// `F_L` for numa, host, rack, zone.
    pub locality: [f64; 4],
    /// The finest level with `F_L ≥ 0.99` (region when none).
    pub level: Locality,
    /// `net99 + service_us(to)`.
    pub p99_us: f64,
}

/// A constraint a placement breaks.
#[derive(Debug, Clone, PartialEq)]
#[expect(missing_docs, reason = "fields are named for what they hold; each variant says the rest")]
pub enum Violation {
    /// Replica count differs from `replicas`.
    Count { agent: AgentId, placed: u32 },
    /// A replica on a node the agent may not use (drain, selector, pin).
    Ineligible { agent: AgentId, node: NodeId },
    /// CPU over capacity on a node (cores, after QoS overcommit).
    Cpu { node: NodeId, used: f64 },
    /// Memory over capacity on a node (MiB).
    Memory { node: NodeId, used: u64 },
    /// Spread skew above `max_skew`.
    Spread { agent: AgentId, skew: u32 },
    /// More than one replica in a domain.
    AntiAffinity { agent: AgentId, domain: u32 },
    /// A domain with `agent` but without the agent it must be colocated with.
    Colocate { agent: AgentId, rule: usize, domain: u32 },
    /// A domain holding both agents of an `avoid` rule.
    Avoid { agent: AgentId, rule: usize, domain: u32 },
    /// Route p99 above its SLO.
    Slo { route: usize, p99_us: f64 },
}

/// Every figure of a placement.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// Per route, in config order.
    pub routes: Vec<RouteScore>,
    /// Traffic-weighted mean route p99, µs (0 with no routes).
    pub latency_us: f64,
    /// Replicas moved from the previous plan (`M`).
    pub moves: u64,
    /// `latency_weight · latency_us + churn_weight · moves`.
    pub total: f64,
    /// Broken constraints; empty for a feasible placement.
    pub violations: Vec<Violation>,
}

/// The locality-aware share of a route's traffic that stays in each domain, summed.
pub fn locality_shares(
    model: &Model,
    topology: &Topology,
    placement: &Placement,
    from: AgentId,
    to: AgentId,
) -> [f64; 4] {
    let counts = |agent| std::array::from_fn(|level| placement.per_domain(topology, agent, level));
    shares_between(model, [&counts(from), &counts(to)], from, to)
}

/// Replicas of one agent per domain, for each level.
type DomainCounts = [BTreeMap<u32, u32>; 4];

/// [`locality_shares`] from the two agents' counts per domain.
fn shares_between(model: &Model, counts: [&DomainCounts; 2], from: AgentId, to: AgentId) -> [f64; 4] {
    let r_from = f64::from(model.agents[from.0 as usize].n_replicas);
    let r_to = f64::from(model.agents[to.0 as usize].n_replicas);
    std::array::from_fn(|level| {
        let (a, b) = (&counts[0][level], &counts[1][level]);
        a.iter()
            .filter_map(|(domain, ya)| b.get(domain).map(|yb| (f64::from(*ya) / r_from).min(f64::from(*yb) / r_to)))
            .sum()
    })
}

/// The finest level whose share reaches 0.99.
pub fn route_level(shares: &[f64; 4]) -> Locality {
    const BY_INDEX: [Locality; 4] = [Locality::Numa, Locality::Host, Locality::Rack, Locality::Zone];
    shares.iter().position(|f| *f >= LOCAL_SHARE - SHARE_EPSILON).map_or(Locality::Region, |i| BY_INDEX[i])
}

/// Moves of SPEC §4 against a previous plan.
pub fn moves(model: &Model, placement: &Placement, previous: Option<&Previous>) -> u64 {
    let Some(previous) = previous else { return 0 };
    let mut total = 0i64;
    for (index, agent) in model.agents.iter().enumerate() {
        let id = AgentId(index as u32);
        let Some(before) = previous.agent(id) else { continue };
        let left: i64 = before
            .on_nodes
            .iter()
            .map(|(node, p)| (i64::from(*p) - i64::from(placement.get(id, *node))).max(0))
            .sum::<i64>()
            + i64::from(before.on_gone_nodes);
        let scale_down = (i64::from(before.n_replicas) - i64::from(agent.n_replicas)).max(0);
        total += left - scale_down;
    }
    total.max(0) as u64
}

/// Scores a placement.
pub fn score(model: &Model, topology: &Topology, placement: &Placement, previous: Option<&Previous>) -> Score {
    let total_rps: f64 = model.routes.iter().map(|r| r.rps).sum();
    let mut routes = Vec::with_capacity(model.routes.len());
    let mut latency_us = 0.0;
    let mut violations = Vec::new();
    // Each agent's counts once, not once per route it is on (a few times fewer maps).
    let counts: Vec<DomainCounts> = (0..model.agents.len() as u32)
        .map(|agent| std::array::from_fn(|level| placement.per_domain(topology, AgentId(agent), level)))
        .collect();
    for (index, route) in model.routes.iter().enumerate() {
        let pair = [&counts[route.from.0 as usize], &counts[route.to.0 as usize]];
        let locality = shares_between(model, pair, route.from, route.to);
        let level = route_level(&locality);
        let p99_us = model.latency.of(level) + model.agents[route.to.0 as usize].service_us;
        if route.slo_p99_us.is_some_and(|slo| p99_us > slo) {
            violations.push(Violation::Slo { route: index, p99_us });
        }
        latency_us += route.rps / total_rps * p99_us;
        routes.push(RouteScore { locality, level, p99_us });
    }
    let moves = moves(model, placement, previous);
    check_constraints(model, topology, placement, &mut violations);
    let total = model.latency_weight * latency_us + model.churn_weight * moves as f64;
    Score { routes, latency_us, moves, total, violations }
}

fn check_constraints(model: &Model, topology: &Topology, placement: &Placement, violations: &mut Vec<Violation>) {
    let mut cpu = vec![0.0; topology.nodes.len()];
    let mut memory = vec![0u64; topology.nodes.len()];
    for (index, agent) in model.agents.iter().enumerate() {
        let id = AgentId(index as u32);
        let placed = placement.total(id);
        if placed != agent.n_replicas {
            violations.push(Violation::Count { agent: id, placed });
        }
        for (node, count) in &placement.by_agent[index] {
            let numa = topology.node(*node);
            let pinned_numa_ok = agent.pin.and_then(|(_, n)| n).is_none_or(|n| n == numa.numa);
            if !model.host_is_eligible(agent, numa.host) || !pinned_numa_ok {
                violations.push(Violation::Ineligible { agent: id, node: *node });
            }
            cpu[node.0 as usize] += model.effective_cpu(agent) * f64::from(*count);
            memory[node.0 as usize] += agent.memory_mib * u64::from(*count);
        }
        if let Some((level, max_skew)) = agent.spread {
            let skew = spread_skew(model, topology, placement, id, level);
            if skew > max_skew {
                violations.push(Violation::Spread { agent: id, skew });
            }
        }
        if let Some(level) = agent.anti_affinity {
            for (domain, count) in placement.per_domain(topology, id, level_index(level)) {
                if count > 1 {
                    violations.push(Violation::AntiAffinity { agent: id, domain });
                }
            }
        }
        for (rule, (other, level)) in agent.colocate.iter().enumerate() {
            let theirs = placement.per_domain(topology, *other, level_index(*level));
            for domain in placement.per_domain(topology, id, level_index(*level)).keys() {
                if !theirs.contains_key(domain) {
                    violations.push(Violation::Colocate { agent: id, rule, domain: *domain });
                }
            }
        }
        for (rule, (other, level)) in agent.avoid.iter().enumerate() {
            let theirs = placement.per_domain(topology, *other, level_index(*level));
            for domain in placement.per_domain(topology, id, level_index(*level)).keys() {
                if theirs.contains_key(domain) {
                    violations.push(Violation::Avoid { agent: id, rule, domain: *domain });
                }
            }
        }
    }
    for (index, numa) in topology.nodes.iter().enumerate() {
        let capacity = model.node(*numa);
        // Overcommitted CPU is fractional; allow for the rounding of sums.
        if cpu[index] > f64::from(capacity.cores) + 1e-9 {
            violations.push(Violation::Cpu { node: NodeId(index as u32), used: cpu[index] });
        }
        if memory[index] > capacity.memory_mib {
            violations.push(Violation::Memory { node: NodeId(index as u32), used: memory[index] });
        }
    }
}

/// `max − min` of an agent's replicas over the domains of `level` that hold
/// at least one host eligible for it.
pub fn spread_skew(model: &Model, topology: &Topology, placement: &Placement, agent: AgentId, level: Level) -> u32 {
    let level = level_index(level);
    let domains = spread_domains(model, topology, agent, level);
    let counts = placement.per_domain(topology, agent, level);
    let values: Vec<u32> = domains.iter().map(|d| counts.get(d).copied().unwrap_or(0)).collect();
    match (values.iter().max(), values.iter().min()) {
        (Some(max), Some(min)) => max - min,
        _ => 0,
    }
}

/// Domains of a level that hold at least one host eligible for `agent`, sorted.
pub fn spread_domains(model: &Model, topology: &Topology, agent: AgentId, level: usize) -> Vec<u32> {
    let a = &model.agents[agent.0 as usize];
    // The agent's own spread level is asked for on every score: kept.
    if a.spread.is_some_and(|(spread_level, _)| level_index(spread_level) == level) {
        let compute = || eligible_domains(model, topology, agent, level);
        return topology.spread_domains_of(agent.0 as usize, compute).to_vec();
    }
    eligible_domains(model, topology, agent, level)
}

fn eligible_domains(model: &Model, topology: &Topology, agent: AgentId, level: usize) -> Vec<u32> {
    let a = &model.agents[agent.0 as usize];
    let mut domains: Vec<u32> = topology
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, numa)| model.host_is_eligible(a, numa.host))
        .map(|(index, _)| topology.domain[level][index])
        .collect();
    domains.sort_unstable();
    domains.dedup();
    domains
}

/// The level names of [`LEVELS`], for messages.
pub fn level_name(level: usize) -> &'static str {
    match LEVELS[level] {
        Level::Numa => "numa",
        Level::Host => "host",
        Level::Rack => "rack",
        Level::Zone => "zone",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::previous::PreviousAgent;

    fn model() -> Model {
        let yaml = "version: 1\ntopology:\n  latency_us: {numa: 1, host: 2, rack: 3, zone: 4, region: 5}\n  hosts:\n    - {name: h0, zone: z, rack: r, numa: [{cores: 8, memory_mib: 8192}, {cores: 8, memory_mib: 8192}]}\nagents:\n  - {id: a@1, replicas: 2, cpu: 1, memory_mib: 10, qos: guaranteed, service_us: 0}\n";
        rtt_schema::check_text(rtt_schema::source::SourceFile::new("t", yaml), rtt_schema::Format::Yaml).unwrap().model
    }

    #[test]
    fn moves_count_replicas_that_left_their_slot_but_not_a_scale_down() {
        let model = model();
        let a = AgentId(0);
        let mut now = Placement::empty(1);
        now.add(a, NodeId(0), 2);
        // Before: 3 replicas, 1 on node 0 and 2 on node 1; now 2 on node 0.
        let before = PreviousAgent {
            n_replicas: 3,
            on_nodes: BTreeMap::from([(NodeId(0), 1), (NodeId(1), 2)]),
            on_gone_nodes: 0,
        };
        let previous = Previous { by_agent: vec![Some(before)] };
        // Left node 1: 2; scale-down 3 → 2: 1; moves = 1.
        assert_eq!(moves(&model, &now, Some(&previous)), 1);
        assert_eq!(moves(&model, &now, None), 0);
    }

    #[test]
    fn a_route_is_as_local_as_its_finest_level_with_99_percent_of_traffic() {
        assert_eq!(route_level(&[1.0, 1.0, 1.0, 1.0]), Locality::Numa);
        assert_eq!(route_level(&[0.5, 0.99, 1.0, 1.0]), Locality::Host);
        assert_eq!(route_level(&[0.5, 0.98, 0.989, 1.0]), Locality::Zone);
        assert_eq!(route_level(&[0.0, 0.0, 0.0, 0.5]), Locality::Region);
    }
}
