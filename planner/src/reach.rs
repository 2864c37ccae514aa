//! How local a route can ever be, from the config alone: the finest level at
//! which some placement that respects eligibility, per-node fit,
//! anti-affinity and spread gives the route a share of at least 0.99
//! (capacity shared with other agents, colocate and avoid are ignored, so
//! "impossible" here is a proof). It strengthens both the combinatorial
//! bound (`bound.rs`) and the MILP, which gets no locality indicator at
//! levels a route cannot reach (docs/model.md §2, "Unreachable levels").
//!
//! The argument: when `R_a · R_b < 100`, `F_L ≥ 0.99` holds only if
//! `y[a,d]/R_a = y[b,d]/R_b` in every domain `d` of level `L` (docs/model.md
//! §4). With `g = gcd(R_a, R_b)` that means `y[a,d] = (R_a/g)·u_d` and
//! `y[b,d] = (R_b/g)·u_d` for whole numbers `u_d` summing to `g`. We look
//! for such a `u` that both agents can hold.

use std::collections::{BTreeMap, BTreeSet};

use rtt_schema::model::{AgentId, Model};

use crate::topology::{NodeId, Topology, level_index};

/// Distributions of `g` units tried per route and level before giving up
/// and calling the level reachable (a safe answer: it only weakens bounds).
const SEARCH_LIMIT: usize = 20_000;

/// Per level (0 numa … 3 zone): can the route `from → to` be local there?
/// `candidates` are the candidate nodes of `from` and `to`
/// ([`crate::bound::candidates_of`]). Monotone: a level is reachable only
/// if every coarser one is.
pub fn reachable_levels(
    model: &Model,
    topology: &Topology,
    candidates: [&BTreeSet<NodeId>; 2],
    from: AgentId,
    to: AgentId,
) -> [bool; 4] {
    let sides = [agent_reach(model, topology, candidates[0], from), agent_reach(model, topology, candidates[1], to)];
    reachable_between(model, [&sides[0], &sides[1]], from, to)
}

/// What one agent can hold at each level: computed once per agent, it
/// serves every route of the agent ([`reachable_between`]).
pub struct AgentReach([Option<Holder>; 4]);

/// [`AgentReach`] of `agent` over its candidate nodes.
pub fn agent_reach(model: &Model, topology: &Topology, nodes: &BTreeSet<NodeId>, agent: AgentId) -> AgentReach {
    agent_reach_down_to(model, topology, nodes, agent, 0)
}

/// [`AgentReach`] for the levels from `finest` up only. The NUMA and host
/// levels cost the most (a map over every candidate node); a sub-problem
/// that models routes from the zone or rack level up has no use for them.
pub fn agent_reach_down_to(
    model: &Model,
    topology: &Topology,
    nodes: &BTreeSet<NodeId>,
    agent: AgentId,
    finest: usize,
) -> AgentReach {
    AgentReach(std::array::from_fn(|level| (level >= finest).then(|| holder(model, topology, nodes, agent, level))))
}

/// [`reachable_levels`] from the two agents' [`AgentReach`]. Levels finer
/// than either side was computed for come out false: not an answer, so a
/// caller must not read them.
pub fn reachable_between(model: &Model, sides: [&AgentReach; 2], from: AgentId, to: AgentId) -> [bool; 4] {
    let mut reachable = [false; 4];
    for level in (0..4).rev() {
        let (Some(a), Some(b)) = (&sides[0].0[level], &sides[1].0[level]) else { break };
        if !level_reachable(model, [a, b], from, to) {
            break;
        }
        reachable[level] = true;
    }
    reachable
}

/// The finest level (0 numa … 3 zone, 4 region) the route can be local at.
pub fn finest_reachable(reachable: &[bool; 4]) -> usize {
    reachable.iter().position(|r| *r).unwrap_or(4)
}

pub(crate) fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// What an agent can hold in the domains of one level.
struct Holder {
    /// Replicas at most per domain (eligibility, fit, anti-affinity).
    cap: BTreeMap<u32, u32>,
    /// Spread, when it is at this level or coarser.
    spread: Option<Spread>,
}

/// An agent's spread, seen from the domains of a finer (or the same) level.
struct Spread {
    /// Domain at the route's level → the spread domain holding it.
    up: BTreeMap<u32, u32>,
    /// The spread domains (those with an eligible host).
    domains: Vec<u32>,
    max_skew: u32,
    level: usize,
}

fn holder(model: &Model, topology: &Topology, nodes: &BTreeSet<NodeId>, agent: AgentId, level: usize) -> Holder {
    let a = &model.agents[agent.0 as usize];
    let cpu = model.effective_cpu(a);
    let anti = a.anti_affinity.map(level_index);
    let mut cap: BTreeMap<u32, u32> = BTreeMap::new();
    // With anti-affinity at a finer level than this one, a domain holds at
    // most one replica per anti-affinity domain inside it.
    let mut anti_domains: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
    for node in nodes {
        let domain = topology.domain_of(level, *node);
        let capacity = model.node(topology.node(*node));
        let fits = ((f64::from(capacity.cores) / cpu + 1e-9).floor() as u64)
            .min(capacity.memory_mib / a.memory_mib)
            .min(u64::from(a.n_replicas)) as u32;
        let entry = cap.entry(domain).or_insert(0);
        *entry = (*entry + fits).min(a.n_replicas);
        if let Some(anti) = anti {
            anti_domains.entry(domain).or_default().insert(topology.domain_of(anti, *node));
        }
    }
    if let Some(anti) = anti {
        for (domain, count) in &mut cap {
            let limit = if anti >= level { 1 } else { anti_domains.get(domain).map_or(0, |s| s.len() as u32) };
            *count = (*count).min(limit);
        }
    }
    let spread = a.spread.and_then(|(spread_level, max_skew)| {
        let spread_level = level_index(spread_level);
        if spread_level < level {
            return None;
        }
        let domains = crate::definitions::spread_domains(model, topology, agent, spread_level);
        if domains.len() <= 1 {
            return None;
        }
        let up: BTreeMap<u32, u32> =
            nodes.iter().map(|n| (topology.domain_of(level, *n), topology.domain_of(spread_level, *n))).collect();
        Some(Spread { up, domains, max_skew, level: spread_level })
    });
    Holder { cap, spread }
}

fn level_reachable(model: &Model, holders: [&Holder; 2], from: AgentId, to: AgentId) -> bool {
    // Every domain with a candidate node has an entry in `cap`.
    let shared: Vec<u32> = holders[0].cap.keys().filter(|d| holders[1].cap.contains_key(d)).copied().collect();
    if shared.is_empty() {
        return false;
    }
    let r_a = model.agents[from.0 as usize].n_replicas;
    let r_b = model.agents[to.0 as usize].n_replicas;
    if u64::from(r_a) * u64::from(r_b) >= 100 {
        // A share of 0.99 no longer needs exact proportions.
        return true;
    }
    let g = gcd(r_a, r_b);
    let units = [r_a / g, r_b / g];
    // Units per shared domain at most, for both agents.
    let domains: Vec<(u32, u32)> = shared
        .iter()
        .map(|d| {
            let most = (0..2).map(|i| holders[i].cap.get(d).copied().unwrap_or(0) / units[i]).min().unwrap_or(0);
            (*d, most.min(g))
        })
        .filter(|(_, most)| *most > 0)
        .collect();
    if domains.iter().map(|(_, most)| most).sum::<u32>() < g {
        return false;
    }
    let spread_levels: Vec<usize> =
        holders.iter().filter_map(|h| h.spread.as_ref().map(|spread| spread.level)).collect();
    match spread_levels.as_slice() {
        // Only the per-domain room matters, and there is enough of it.
        [] => true,
        // One spread level: only the units per spread domain matter, so
        // search over those (a few zones or racks) instead of every domain.
        [only] | [only, _] if spread_levels.iter().all(|l| l == only) => {
            let Some(Spread { up, .. }) = holders.iter().find_map(|h| h.spread.as_ref()) else { return true };
            let mut cells: BTreeMap<u32, u32> = BTreeMap::new();
            for (domain, most) in &domains {
                if let Some(spread_domain) = up.get(domain) {
                    *cells.entry(*spread_domain).or_insert(0) += most;
                }
            }
            let cells: Vec<(u32, u32)> = cells.into_iter().map(|(d, most)| (d, most.min(g))).collect();
            let mut u = vec![0u32; cells.len()];
            let mut steps = 0usize;
            search(
                &cells,
                &mut u,
                0,
                g,
                &mut |u| (0..2).all(|i| spread_ok(holders[i], &cells, u, units[i], true)),
                &mut steps,
            )
        }
        _ => {
            let mut u = vec![0u32; domains.len()];
            let mut steps = 0usize;
            search(
                &domains,
                &mut u,
                0,
                g,
                &mut |u| (0..2).all(|i| spread_ok(holders[i], &domains, u, units[i], false)),
                &mut steps,
            )
        }
    }
}

/// Depth-first over the units per cell; true when a distribution passes
/// `fits`, or when the step limit is reached (unknown counts as reachable).
fn search(
    cells: &[(u32, u32)],
    u: &mut [u32],
    index: usize,
    left: u32,
    fits: &mut dyn FnMut(&[u32]) -> bool,
    steps: &mut usize,
) -> bool {
    *steps += 1;
    if *steps > SEARCH_LIMIT {
        return true;
    }
    if left == 0 {
        return fits(u);
    }
    if index == cells.len() {
        return false;
    }
    let most = cells[index].1.min(left);
    for take in (0..=most).rev() {
        u[index] = take;
        if search(cells, u, index + 1, left - take, fits, steps) {
            u[index] = 0;
            return true;
        }
    }
    u[index] = 0;
    false
}

/// Whether `unit · u` over `cells` keeps the agent's spread. Cells are
/// domains of the route's level, or (`aggregated`) spread domains already.
fn spread_ok(holder: &Holder, cells: &[(u32, u32)], u: &[u32], unit: u32, aggregated: bool) -> bool {
    let Some(Spread { up, domains, max_skew, .. }) = &holder.spread else { return true };
    let mut counts: BTreeMap<u32, u32> = domains.iter().map(|d| (*d, 0)).collect();
    // Most cells get no unit (a few units over thousands of NUMA nodes):
    // only the others are looked up.
    for ((cell, _), take) in cells.iter().zip(u).filter(|(_, take)| **take > 0) {
        let spread_domain = if aggregated { Some(cell) } else { up.get(cell) };
        if let Some(count) = spread_domain.and_then(|s| counts.get_mut(s)) {
            *count += unit * take;
        }
    }
    let max = counts.values().copied().max().unwrap_or(0);
    let min = counts.values().copied().min().unwrap_or(0);
    max - min <= *max_skew
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bound::candidates_of;

    fn reach(yaml: &str) -> [bool; 4] {
        let model =
            rtt_schema::check_text(rtt_schema::source::SourceFile::new("t.yaml", yaml), rtt_schema::Format::Yaml)
                .unwrap()
                .model;
        let topology = Topology::new(&model);
        let (a, b) = (AgentId(0), AgentId(1));
        let (ca, cb) = (candidates_of(&model, &topology, a), candidates_of(&model, &topology, b));
        reachable_levels(&model, &topology, [&ca, &cb], a, b)
    }

    const HOSTS: &str = "version: 1\ntopology:\n  latency_us: {numa: 1, host: 2, rack: 3, zone: 4, region: 5}\n  hosts:\n    - {name: h0, zone: z0, rack: r, numa: [{cores: 16, memory_mib: 8192}, {cores: 16, memory_mib: 8192}]}\n    - {name: h1, zone: z1, rack: r, numa: [{cores: 16, memory_mib: 8192}, {cores: 16, memory_mib: 8192}]}\n    - {name: h2, zone: z2, rack: r, numa: [{cores: 16, memory_mib: 8192}, {cores: 16, memory_mib: 8192}]}\n    - {name: h3, zone: z0, rack: r, numa: [{cores: 16, memory_mib: 8192}]}\n";

    #[test]
    fn a_zone_spread_of_four_cannot_be_matched_by_three_replicas() {
        let agents = "agents:\n  - {id: a@1, replicas: 4, cpu: 1, memory_mib: 10, qos: guaranteed, service_us: 0, spread: {level: zone, max_skew: 1}}\n  - {id: b@1, replicas: 3, cpu: 1, memory_mib: 10, qos: guaranteed, service_us: 0}\n";
        assert_eq!(reach(&format!("{HOSTS}{agents}")), [false; 4]);
    }

    #[test]
    fn four_replicas_can_follow_a_zone_spread_of_four_down_to_numa() {
        let agents = "agents:\n  - {id: a@1, replicas: 4, cpu: 1, memory_mib: 10, qos: guaranteed, service_us: 0, spread: {level: zone, max_skew: 1}}\n  - {id: b@1, replicas: 4, cpu: 1, memory_mib: 10, qos: guaranteed, service_us: 0}\n";
        assert_eq!(reach(&format!("{HOSTS}{agents}")), [true; 4]);
    }

    #[test]
    fn host_anti_affinity_keeps_two_replicas_from_following_one() {
        // a: one replica per host, so two hosts; b's single replica can share
        // a zone with both (z0 has h0 and h3) but not a host.
        let agents = "agents:\n  - {id: a@1, replicas: 2, cpu: 1, memory_mib: 10, qos: guaranteed, service_us: 0, anti_affinity: {level: host}}\n  - {id: b@1, replicas: 1, cpu: 1, memory_mib: 10, qos: guaranteed, service_us: 0}\n";
        assert_eq!(reach(&format!("{HOSTS}{agents}")), [false, false, true, true]);
    }
}
