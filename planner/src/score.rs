//! The scorer: every figure of SPEC §4 computed from placements alone (by
//! the definitions in [`crate::definitions`]), and every constraint checked. Independent of the solver, so anyone can check a
//! plan against its config; the plan's stated figures come from here.

use rtt_schema::model::{AgentId, GroupId, Locality, Model, ResourceId};
use rtt_schema::raw::Level;

use crate::definitions::{
    DomainCounts, group_counts, group_spread_skew, moves, objective, resource_pool, route_level, route_p99,
    shares_between, spread_skew,
};
use crate::placement::Placement;
use crate::previous::Previous;
use crate::topology::{LEVELS, NodeId, Topology, level_index};

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
    /// An extended resource over capacity: on a NUMA node, or on a host
    /// that keeps it as a whole (then `node` is the host's first node).
    Resource { resource: ResourceId, node: NodeId, used: u64 },
    /// A group's spread skew, its members counted together, above `max_skew`.
    GroupSpread { group: GroupId, skew: u32 },
    /// More than one replica of a group's members in a domain.
    GroupAntiAffinity { group: GroupId, domain: u32 },
    /// A domain holding a member of a group and an agent its `avoid` rule keeps away.
    GroupAvoid { group: GroupId, rule: usize, domain: u32 },
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
        let p99_us = route_p99(model, level, route.to);
        if route.slo_p99_us.is_some_and(|slo| p99_us > slo) {
            violations.push(Violation::Slo { route: index, p99_us });
        }
        latency_us += route.rps / total_rps * p99_us;
        routes.push(RouteScore { locality, level, p99_us });
    }
    let moves = moves(model, placement, previous);
    check_constraints(model, topology, placement, &mut violations);
    let total = objective(model, latency_us, moves);
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
    check_resources(model, topology, placement, violations);
    for (index, group) in model.groups.iter().enumerate() {
        let id = GroupId(index as u32);
        if let Some((level, max_skew)) = group.spread {
            let skew = group_spread_skew(model, topology, placement, group, level);
            if skew > max_skew {
                violations.push(Violation::GroupSpread { group: id, skew });
            }
        }
        if let Some(level) = group.anti_affinity {
            for (domain, count) in group_counts(topology, placement, group, level_index(level)) {
                if count > 1 {
                    violations.push(Violation::GroupAntiAffinity { group: id, domain });
                }
            }
        }
        for (rule, (avoided, level)) in group.avoid.iter().enumerate() {
            let level = level_index(*level);
            let members = group_counts(topology, placement, group, level);
            let kept_away = avoided.iter().flat_map(|a| placement.per_domain(topology, *a, level).into_keys());
            let mut domains: Vec<u32> = kept_away.filter(|d| members.contains_key(d)).collect();
            domains.sort_unstable();
            domains.dedup();
            violations.extend(domains.into_iter().map(|domain| Violation::GroupAvoid { group: id, rule, domain }));
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

/// Extended resources per pool (a NUMA node, or a host that keeps the
/// resource as a whole): what the replicas there take within what it has.
fn check_resources(model: &Model, topology: &Topology, placement: &Placement, violations: &mut Vec<Violation>) {
    let mut pools: std::collections::BTreeMap<(ResourceId, NodeId), (u64, u64)> = std::collections::BTreeMap::new();
    for (index, agent) in model.agents.iter().enumerate() {
        for (node, count) in &placement.by_agent[index] {
            for (r, need) in &agent.resources {
                let (pool, capacity) = resource_pool(model, topology, *node, *r);
                pools.entry((*r, pool)).or_insert((0, capacity)).0 += need * u64::from(*count);
            }
        }
    }
    for ((resource, node), (used, capacity)) in pools {
        if used > capacity {
            violations.push(Violation::Resource { resource, node, used });
        }
    }
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
