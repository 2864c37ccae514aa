//! SPEC §4 as functions: what a route's locality, level and p99 are, what
//! a move is, what the objective totals, what spread skew counts. The
//! scorer, the MILP, explain, the bounds and the property tests all ask
//! here, so there is one reading of the contract.

use std::collections::BTreeMap;

use rtt_schema::model::{AgentId, Group, Locality, Model, ResourceId, Scope};
use rtt_schema::raw::Level;

use crate::placement::Placement;
use crate::previous::Previous;
use crate::topology::{NodeId, Topology, level_index};

/// The locality share a route needs at a level for that level to set its p99.
pub const LOCAL_SHARE: f64 = 0.99;
/// Slack for floating-point sums of shares (shares are ratios of small integers).
pub const SHARE_EPSILON: f64 = 1e-9;

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
pub(crate) type DomainCounts = [BTreeMap<u32, u32>; 4];

/// [`locality_shares`] from the two agents' counts per domain.
pub(crate) fn shares_between(model: &Model, counts: [&DomainCounts; 2], from: AgentId, to: AgentId) -> [f64; 4] {
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

/// A route's p99 at a locality level: `net99(level) + service_us(to)`.
pub fn route_p99(model: &Model, level: Locality, to: AgentId) -> f64 {
    model.latency.of(level) + model.agents[to.0 as usize].service_us
}

/// The objective: `latency_weight · latency_us + churn_weight · moves`.
pub fn objective(model: &Model, latency_us: f64, moves: u64) -> f64 {
    model.latency_weight * latency_us + model.churn_weight * moves as f64
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

/// The pool an extended resource `r` is drawn from at `node`, and its
/// capacity: the node itself, or for a resource its host keeps as a whole,
/// the host (named by its first node). Capacity holds per pool:
/// `Σ need_a · y[a,n]` over the pool's nodes `≤` capacity.
pub fn resource_pool(model: &Model, topology: &Topology, node: NodeId, r: ResourceId) -> (NodeId, u64) {
    let numa = topology.node(node);
    match model.resource_capacity(numa, r) {
        (Scope::Host, capacity) => {
            (topology.node_id(rtt_schema::model::NumaRef { host: numa.host, numa: 0 }), capacity)
        }
        (Scope::Numa, capacity) => (node, capacity),
    }
}

/// Replicas of a group's members per domain of `level`, counted together.
pub fn group_counts(topology: &Topology, placement: &Placement, group: &Group, level: usize) -> BTreeMap<u32, u32> {
    let mut counts = BTreeMap::new();
    for member in &group.members {
        for (domain, count) in placement.per_domain(topology, *member, level) {
            *counts.entry(domain).or_insert(0) += count;
        }
    }
    counts
}

/// Domains of a level that hold at least one host eligible for some member
/// of `group`, sorted: the domains a group `spread` balances over.
pub fn group_spread_domains(model: &Model, topology: &Topology, group: &Group, level: usize) -> Vec<u32> {
    let mut domains: Vec<u32> = group.members.iter().flat_map(|m| spread_domains(model, topology, *m, level)).collect();
    domains.sort_unstable();
    domains.dedup();
    domains
}

/// `max − min` of a group's replicas, counted together, over its spread domains.
pub fn group_spread_skew(
    model: &Model,
    topology: &Topology,
    placement: &Placement,
    group: &Group,
    level: Level,
) -> u32 {
    let level = level_index(level);
    let counts = group_counts(topology, placement, group, level);
    let values: Vec<u32> = group_spread_domains(model, topology, group, level)
        .iter()
        .map(|d| counts.get(d).copied().unwrap_or(0))
        .collect();
    match (values.iter().max(), values.iter().min()) {
        (Some(max), Some(min)) => max - min,
        _ => 0,
    }
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::previous::PreviousAgent;
    use crate::topology::NodeId;

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
