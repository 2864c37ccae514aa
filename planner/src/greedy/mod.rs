//! A greedy placement, kube-scheduler style: replica by replica, the feasible
//! node that keeps the most traffic local. It seeds the MILP with an
//! incumbent (and serves as the baseline in benchmarks); it does not promise
//! feasibility — HiGHS discards a start that breaks a constraint.

use std::collections::{BTreeMap, BTreeSet};

use rtt_schema::model::{AgentId, Model};

use crate::pools::Pools;

use crate::placement::Placement;
use crate::previous::Previous;
use crate::topology::{NodeId, Topology, ZONE_LEVEL, level_index};

mod zones;

/// Rounds of placing again the agents whose rules a placement breaks.
const AGAIN_ROUNDS: usize = 4;

/// Which greedy rule (docs/model.md §5, "Seeds").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Traffic, spread and rules only.
    Classic,
    /// Also SLO locality (replica counts proportional to SLO partners'),
    /// with colocate followers right after their targets.
    SloAware,
}

/// Places every replica of every agent. When the classic rule breaks some
/// rule of the config, the SLO-aware rule is tried too, then, a few times
/// over, the agents of whatever it still breaks are placed again; the start
/// that breaks fewer rules is kept. (The classic rule stays first: where it
/// is feasible, the search from it ends lower on planbench tier S.)
pub fn place(model: &Model, topology: &Topology, previous: Option<&Previous>) -> Placement {
    let broken_of = |placement: &Placement| crate::score::score(model, topology, placement, previous).violations;
    let classic = place_onto(model, topology, previous, Placement::empty(model.agents.len()), Rule::Classic, None);
    let classic_broken = broken_of(&classic);
    if classic_broken.is_empty() {
        return classic;
    }
    let (mut placed, mut broken) = slo_aware(model, topology, previous, None);
    if !broken.is_empty() {
        // Last, the zone shares decided per SLO component up front.
        let targets = zones::zone_targets(model, topology);
        let (shared, shared_broken) = slo_aware(model, topology, previous, Some(&targets));
        if shared_broken.len() < broken.len() {
            (placed, broken) = (shared, shared_broken);
        }
    }
    if broken.len() < classic_broken.len() { placed } else { classic }
}

/// The SLO-aware rule with every agent's replicas per zone given
/// ([`crate::zone_plan`]); what it still breaks beside it.
pub fn place_in_zones(
    model: &Model,
    topology: &Topology,
    targets: &crate::zone_plan::ZoneTargets,
) -> (Placement, Vec<crate::score::Violation>) {
    within_targets(model, targets, |targets, _| slo_aware(model, topology, None, Some(targets)))
}

/// `base` (a feasible re-plan) moved toward every agent's replicas per zone
/// ([`crate::zone_plan`] against the previous plan): each agent keeps
/// `base`'s replicas up to its target in each zone, those where the previous
/// plan had them first, and the SLO-aware rule places the rest within the
/// targets. An agent whose counts the plan leaves alone keeps its replicas
/// where they are, so the packing `base` found stays (a drained agent placed
/// again from scratch often finds no node with room). What it still breaks
/// beside it.
pub fn repair_in_zones(
    model: &Model,
    topology: &Topology,
    previous: &Previous,
    base: &Placement,
    targets: &crate::zone_plan::ZoneTargets,
) -> (Placement, Vec<crate::score::Violation>) {
    let mut kept = Placement::empty(model.agents.len());
    for (index, target) in targets.iter().enumerate() {
        let agent = AgentId(index as u32);
        let mut room = target.clone();
        let before = |node: &NodeId| previous.agent(agent).map_or(0, |b| b.on_nodes.get(node).copied().unwrap_or(0));
        let on = &base.by_agent[index];
        // Where the previous plan had them first, then the rest.
        for staying in [true, false] {
            for (node, count) in on.iter().filter(|(node, _)| may_stay(model, topology, agent, **node)) {
                let can = if staying { (*count).min(before(node)) } else { count - kept.get(agent, *node) };
                let zone_room = room.entry(topology.domain_of(ZONE_LEVEL, *node)).or_insert(0);
                let keep = can.min(*zone_room);
                if keep > 0 {
                    kept.add(agent, *node, keep);
                    *zone_room -= keep;
                }
            }
        }
    }
    within_targets(model, targets, |targets, freed| {
        let mut start = kept.clone();
        for agent in freed {
            start.by_agent[agent.0 as usize].clear();
        }
        let placed = place_onto(model, topology, Some(previous), start, Rule::SloAware, Some(targets));
        let broken = crate::score::score(model, topology, &placed, Some(previous)).violations;
        (placed, broken)
    })
}

/// `place` on every agent's zone targets, then, a few times over, again
/// with the agents of a broken rule (and their colocate targets) free of
/// theirs, keeping a round only when it breaks fewer rules. Capacity per
/// zone is not capacity per host: an agent the targets leave no room for (a
/// colocate follower whose target's hosts are full, planbench XL seed 101)
/// goes free, with what it must sit with. `place` gets the targets left and
/// the agents freed so far.
fn within_targets(
    model: &Model,
    targets: &crate::zone_plan::ZoneTargets,
    mut place: impl FnMut(&[Option<BTreeMap<u32, u32>>], &BTreeSet<AgentId>) -> (Placement, Vec<crate::score::Violation>),
) -> (Placement, Vec<crate::score::Violation>) {
    let mut targets: Vec<Option<BTreeMap<u32, u32>>> = targets.iter().map(|t| Some(t.clone())).collect();
    let mut freed = BTreeSet::new();
    let (mut placed, mut broken) = place(&targets, &freed);
    for _ in 0..AGAIN_ROUNDS {
        if broken.is_empty() {
            break;
        }
        for agent in breakers(model, &broken, &placed) {
            freed.insert(agent);
            targets[agent.0 as usize] = None;
            for (other, _) in &model.agents[agent.0 as usize].colocate {
                targets[other.0 as usize] = None;
            }
        }
        let (next, next_broken) = place(&targets, &freed);
        if next_broken.len() >= broken.len() {
            break;
        }
        (placed, broken) = (next, next_broken);
    }
    (placed, broken)
}

/// The SLO-aware rule (with zone shares when given), then, a few times over,
/// the agents of whatever it still breaks placed again, then [`mirror`];
/// the placement and what it still breaks.
fn slo_aware(
    model: &Model,
    topology: &Topology,
    previous: Option<&Previous>,
    targets: Option<&[Option<BTreeMap<u32, u32>>]>,
) -> (Placement, Vec<crate::score::Violation>) {
    let broken_of = |placement: &Placement| crate::score::score(model, topology, placement, previous).violations;
    let empty = Placement::empty(model.agents.len());
    let mut placed = place_onto(model, topology, previous, empty, Rule::SloAware, targets);
    let mut broken = broken_of(&placed);
    for _ in 0..AGAIN_ROUNDS {
        if broken.is_empty() {
            break;
        }
        let mut start = placed.clone();
        for agent in breakers(model, &broken, &placed) {
            start.by_agent[agent.0 as usize].clear();
        }
        let next = place_onto(model, topology, previous, start, Rule::SloAware, targets);
        let next_broken = broken_of(&next);
        if next_broken.len() >= broken.len() {
            break;
        }
        (placed, broken) = (next, next_broken);
    }
    for _ in 0..AGAIN_ROUNDS {
        let before = broken.len();
        mirror(model, topology, previous, &mut placed, &mut broken);
        if broken.is_empty() || broken.len() == before {
            break;
        }
    }
    (placed, broken)
}

/// The coarsest level (0 numa … 3 zone) whose latency still meets a
/// route's SLO: the ends must be local there. `None` without an SLO, when
/// the region level meets it, or when no level does.
pub(crate) fn slo_level(model: &Model, route: &rtt_schema::model::Route) -> Option<usize> {
    let slo = route.slo_p99_us?;
    let latency = model.latency.by_locality;
    let service = model.agents[route.to.0 as usize].service_us;
    if latency[4] + service <= slo {
        return None;
    }
    (0..4).rev().find(|level| latency[*level] + service <= slo)
}

/// Destination nodes [`mirror`] tries per replica move.
const MIRROR_TRIES: usize = 5;

/// The last step of the SLO-aware rule: for each broken SLO, moves one
/// replica of either end from a domain where it has more than its share of
/// the other end's to one where it has less (at the level the SLO needs),
/// keeping a move only when the placement then breaks fewer rules.
fn mirror(
    model: &Model,
    topology: &Topology,
    previous: Option<&Previous>,
    placed: &mut Placement,
    broken: &mut Vec<crate::score::Violation>,
) {
    let routes: Vec<usize> = broken
        .iter()
        .filter_map(|v| if let crate::score::Violation::Slo { route, .. } = v { Some(*route) } else { None })
        .collect();
    for index in routes {
        let route = &model.routes[index];
        let Some(level) = slo_level(model, route) else { continue };
        'ends: for (mover, other) in [(route.from, route.to), (route.to, route.from)] {
            let a = &model.agents[mover.0 as usize];
            let ratio = f64::from(a.n_replicas) / f64::from(model.agents[other.0 as usize].n_replicas);
            let mine = placed.per_domain(topology, mover, level);
            let theirs = placed.per_domain(topology, other, level);
            let share = |domain: u32| f64::from(theirs.get(&domain).copied().unwrap_or(0)) * ratio;
            let Some((&from_domain, _)) =
                mine.iter().filter(|(d, count)| f64::from(**count) > share(**d) + 1e-9).max_by_key(|(_, c)| **c)
            else {
                continue;
            };
            let Some(&to_domain) =
                theirs.keys().find(|d| f64::from(mine.get(d).copied().unwrap_or(0)) + 1.0 <= share(**d) + 1e-9)
            else {
                continue;
            };
            let Some((&source, _)) =
                placed.by_agent[mover.0 as usize].iter().find(|(n, _)| topology.domain_of(level, **n) == from_domain)
            else {
                continue;
            };
            // Room left per node, from what is placed.
            let mut cpu_used = vec![0.0; topology.nodes.len()];
            let mut memory_used = vec![0u64; topology.nodes.len()];
            for (agent, nodes) in placed.by_agent.iter().enumerate() {
                let placed_agent = &model.agents[agent];
                for (node, count) in nodes {
                    cpu_used[node.0 as usize] += model.effective_cpu(placed_agent) * f64::from(*count);
                    memory_used[node.0 as usize] += placed_agent.memory_mib * u64::from(*count);
                }
            }
            let cpu = model.effective_cpu(a);
            let mut pools = Pools::new(model, topology, placed);
            // The rules the greedy rule checks: anti-affinity, avoid (both
            // directions) and colocate, from what is placed.
            let domains = |agent: AgentId, level: usize| -> BTreeSet<u32> {
                placed.per_domain(topology, agent, level).into_keys().collect()
            };
            let mut kept_apart: Vec<(usize, BTreeSet<u32>)> = model
                .kept_apart(mover)
                .into_iter()
                .map(|(o, l)| (level_index(l), domains(o, level_index(l))))
                .collect();
            if let Some(l) = a.anti_affinity {
                kept_apart.push((level_index(l), domains(mover, level_index(l))));
            }
            for (_, group) in model.groups_of(mover) {
                if let Some(l) = group.anti_affinity {
                    let l = level_index(l);
                    kept_apart.extend(group.members.iter().map(|m| (l, domains(*m, l))));
                }
            }
            let together: Vec<(usize, BTreeSet<u32>)> =
                a.colocate.iter().map(|(o, l)| (level_index(*l), domains(*o, level_index(*l)))).collect();
            let mut targets: Vec<(f64, NodeId)> = (0..topology.nodes.len())
                .map(|i| NodeId(i as u32))
                .filter(|node| topology.domain_of(level, *node) == to_domain)
                .filter(|node| {
                    kept_apart.iter().all(|(l, set)| !set.contains(&topology.domain_of(*l, *node)))
                        && together.iter().all(|(l, set)| set.contains(&topology.domain_of(*l, *node)))
                })
                .filter(|node| {
                    let numa = topology.node(*node);
                    let capacity = model.node(numa);
                    model.host_is_eligible(a, numa.host)
                        && a.pin.and_then(|(_, n)| n).is_none_or(|n| n == numa.numa)
                        && f64::from(capacity.cores) - cpu_used[node.0 as usize] + 1e-9 >= cpu
                        && capacity.memory_mib.saturating_sub(memory_used[node.0 as usize]) >= a.memory_mib
                        && pools.fits(a, *node)
                })
                .map(|node| (f64::from(model.node(topology.node(node)).cores) - cpu_used[node.0 as usize], node))
                .collect();
            targets.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
            for (_, target) in targets.into_iter().take(MIRROR_TRIES) {
                let mut moved = placed.clone();
                let nodes = &mut moved.by_agent[mover.0 as usize];
                match nodes.get_mut(&source) {
                    Some(count) if *count > 1 => *count -= 1,
                    _ => {
                        nodes.remove(&source);
                    }
                }
                moved.add(mover, target, 1);
                let now = crate::score::score(model, topology, &moved, previous).violations;
                if now.len() < broken.len() {
                    (*placed, *broken) = (moved, now);
                    break 'ends;
                }
            }
        }
    }
}

/// The agents to place again for `violations`: each rule's agent, both ends
/// of a broken SLO, and whatever `on` holds on an overfull node.
fn breakers(model: &Model, violations: &[crate::score::Violation], on: &Placement) -> BTreeSet<AgentId> {
    use crate::score::Violation;
    let mut again = BTreeSet::new();
    for violation in violations {
        match violation {
            Violation::Count { agent, .. }
            | Violation::Ineligible { agent, .. }
            | Violation::Spread { agent, .. }
            | Violation::AntiAffinity { agent, .. }
            | Violation::Colocate { agent, .. }
            | Violation::Avoid { agent, .. } => {
                again.insert(*agent);
            }
            Violation::Resource { node, .. } => {
                // The pool may be the whole host: re-place what is on any of its nodes.
                let host = crate::statements::node_ref(model, *node).host;
                let on_host = |a: AgentId| {
                    on.by_agent[a.0 as usize].keys().any(|n| crate::statements::node_ref(model, *n).host == host)
                };
                again.extend((0..model.agents.len()).map(|a| AgentId(a as u32)).filter(|a| on_host(*a)));
            }
            Violation::Cpu { node, .. } | Violation::Memory { node, .. } => {
                again.extend((0..model.agents.len()).map(|a| AgentId(a as u32)).filter(|a| on.get(*a, *node) > 0));
            }
            Violation::Slo { route, .. } => {
                let route = &model.routes[*route];
                again.extend([route.from, route.to]);
            }
            Violation::GroupSpread { group, .. } | Violation::GroupAntiAffinity { group, .. } => {
                again.extend(model.groups[group.0 as usize].members.iter().copied());
            }
            Violation::GroupAvoid { group, rule, .. } => {
                let group = &model.groups[group.0 as usize];
                again.extend(group.members.iter().chain(&group.avoid[*rule].0).copied());
            }
        }
    }
    again
}

/// A re-plan's start: the previous placement where it is still allowed, and
/// the rest (replicas on drained, ineligible or gone nodes, new agents,
/// scale-ups) placed greedily around it. Agents whose kept replicas break a
/// rule once the others moved (a colocate target that left, a spread
/// skewed by the drain) are placed again from scratch, a few times over.
/// Not guaranteed feasible, like [`place`]; the caller scores it.
pub fn repair(model: &Model, topology: &Topology, previous: &Previous) -> Placement {
    let mut kept = Placement::empty(model.agents.len());
    for (index, agent) in model.agents.iter().enumerate() {
        let Some(before) = previous.agent(AgentId(index as u32)) else { continue };
        let mut room = agent.n_replicas;
        for (node, count) in &before.on_nodes {
            if may_stay(model, topology, AgentId(index as u32), *node) {
                let keep = (*count).min(room);
                kept.add(AgentId(index as u32), *node, keep);
                room -= keep;
            }
        }
    }
    let mut placed = place_onto(model, topology, Some(previous), kept.clone(), Rule::Classic, None);
    for _ in 0..AGAIN_ROUNDS {
        let figures = crate::score::score(model, topology, &placed, Some(previous));
        let again = breakers(model, &figures.violations, &kept);
        if again.is_empty() {
            break;
        }
        for agent in again {
            kept.by_agent[agent.0 as usize].clear();
        }
        placed = place_onto(model, topology, Some(previous), kept.clone(), Rule::Classic, None);
    }
    placed
}

/// Whether a replica of `agent` on `node` may stay there: the host is
/// eligible and the NUMA node the one a pin names, if any.
fn may_stay(model: &Model, topology: &Topology, agent: AgentId, node: NodeId) -> bool {
    let spec = &model.agents[agent.0 as usize];
    let numa = topology.node(node);
    model.host_is_eligible(spec, numa.host) && spec.pin.and_then(|(_, n)| n).is_none_or(|n| n == numa.numa)
}

/// Places the replicas `start` does not hold yet, around it.
fn place_onto(
    model: &Model,
    topology: &Topology,
    previous: Option<&Previous>,
    start: Placement,
    rule: Rule,
    targets: Option<&[Option<BTreeMap<u32, u32>>]>,
) -> Placement {
    let n_nodes = topology.nodes.len();
    let mut cpu_left: Vec<f64> = topology.nodes.iter().map(|n| f64::from(model.node(*n).cores)).collect();
    let mut memory_left: Vec<u64> = topology.nodes.iter().map(|n| model.node(*n).memory_mib).collect();
    for (agent, nodes) in start.by_agent.iter().enumerate() {
        let a = &model.agents[agent];
        for (node, count) in nodes {
            cpu_left[node.0 as usize] -= model.effective_cpu(a) * f64::from(*count);
            memory_left[node.0 as usize] =
                memory_left[node.0 as usize].saturating_sub(a.memory_mib * u64::from(*count));
        }
    }
    let mut pools = Pools::new(model, topology, &start);
    let mut placement = start;
    let total_rps: f64 = model.routes.iter().map(|r| r.rps).sum::<f64>().max(f64::MIN_POSITIVE);
    let latency = model.latency.by_locality;

    for agent in order(model, rule) {
        let a = &model.agents[agent.0 as usize];
        let cpu = model.effective_cpu(a);
        let partners: Vec<(AgentId, f64)> = model
            .routes
            .iter()
            .filter_map(|r| {
                let weight = r.rps / total_rps;
                if r.from == agent {
                    Some((r.to, weight))
                } else if r.to == agent {
                    Some((r.from, weight))
                } else {
                    None
                }
            })
            .collect();
        // Partners of SLO routes and the level the SLO needs: the coarsest
        // whose latency still meets it. Being local there (F ≥ 0.99) means
        // replica counts proportional to the partner's in every domain.
        let slo_partners: Vec<(AgentId, usize)> = model
            .routes
            .iter()
            .filter(|r| rule == Rule::SloAware && (r.from == agent || r.to == agent))
            .filter_map(|r| {
                let level = slo_level(model, r)?;
                Some((if r.from == agent { r.to } else { r.from }, level))
            })
            .collect();
        let avoided: Vec<(AgentId, usize)> =
            model.kept_apart(agent).into_iter().map(|(o, l)| (o, level_index(l))).collect();
        // Group rules this agent is under: members kept one per domain, and
        // members counted together for spread.
        let group_anti: Vec<(usize, &[AgentId])> = model
            .groups_of(agent)
            .filter_map(|(_, g)| g.anti_affinity.map(|l| (level_index(l), g.members.as_slice())))
            .collect();
        let group_spread: Vec<(usize, &[AgentId])> = model
            .groups_of(agent)
            .filter_map(|(_, g)| g.spread.map(|(l, _)| (level_index(l), g.members.as_slice())))
            .collect();
        for _ in placement.total(agent)..a.n_replicas {
            // Domain sets of what is placed so far, computed once per replica.
            let domains = |other: AgentId, level: usize| -> BTreeSet<u32> {
                placement.per_domain(topology, other, level).into_keys().collect()
            };
            let spread = a.spread.map(|(level, _)| {
                let level = level_index(level);
                (level, placement.per_domain(topology, agent, level))
            });
            let anti = a.anti_affinity.map(|level| (level_index(level), domains(agent, level_index(level))));
            let mut avoid: Vec<(usize, BTreeSet<u32>)> = avoided.iter().map(|(o, l)| (*l, domains(*o, *l))).collect();
            for (level, members) in &group_anti {
                avoid.extend(members.iter().map(|m| (*level, domains(*m, *level))));
            }
            let group_counts: Vec<(usize, BTreeMap<u32, u32>)> = group_spread
                .iter()
                .map(|(level, members)| {
                    let mut counts = BTreeMap::new();
                    for m in *members {
                        for (d, c) in placement.per_domain(topology, *m, *level) {
                            *counts.entry(d).or_insert(0) += c;
                        }
                    }
                    (*level, counts)
                })
                .collect();
            let colocate: Vec<(usize, BTreeSet<u32>)> = a
                .colocate
                .iter()
                .map(|(o, l)| (level_index(*l), domains(*o, level_index(*l))))
                .filter(|(_, set)| !set.is_empty())
                .collect();
            let near: Vec<(f64, [BTreeSet<u32>; 4])> =
                partners.iter().map(|(p, w)| (*w, [0, 1, 2, 3].map(|level| domains(*p, level)))).collect();
            let kept_before = previous.and_then(|p| p.agent(agent));
            let zone_counts = targets.map(|_| placement.per_domain(topology, agent, 3)).unwrap_or_default();
            // Per SLO partner already placed: (level, its counts, my counts, my R / its R).
            let proportional: Vec<_> = slo_partners
                .iter()
                .filter(|(partner, _)| placement.total(*partner) > 0)
                .map(|(partner, level)| {
                    let ratio = f64::from(a.n_replicas) / f64::from(model.agents[partner.0 as usize].n_replicas);
                    let theirs = placement.per_domain(topology, *partner, *level);
                    (*level, theirs, placement.per_domain(topology, agent, *level), ratio)
                })
                .collect();
            // SLO partners still to come: spread evenly at the level they
            // need, which any spread-constrained partner can then mirror.
            let even: Vec<(usize, BTreeMap<u32, u32>)> = slo_partners
                .iter()
                .filter(|(partner, _)| placement.total(*partner) == 0)
                .map(|(_, level)| *level)
                .collect::<BTreeSet<usize>>()
                .into_iter()
                .map(|level| (level, placement.per_domain(topology, agent, level)))
                .collect();

            let mut best: Option<(f64, NodeId)> = None;
            for index in 0..n_nodes {
                let node = NodeId(index as u32);
                let numa = topology.node(node);
                let pinned_numa_ok = a.pin.and_then(|(_, n)| n).is_none_or(|n| n == numa.numa);
                if !model.host_is_eligible(a, numa.host) || !pinned_numa_ok {
                    continue;
                }
                if cpu_left[index] + 1e-9 < cpu || memory_left[index] < a.memory_mib || !pools.fits(a, node) {
                    continue;
                }
                let in_domain = |level: usize, set: &BTreeSet<u32>| set.contains(&topology.domain_of(level, node));
                if anti.as_ref().is_some_and(|(level, set)| in_domain(*level, set))
                    || avoid.iter().any(|(level, set)| in_domain(*level, set))
                    || colocate.iter().any(|(level, set)| !in_domain(*level, set))
                {
                    continue;
                }
                let mut cost = 0.0;
                if let Some((level, counts)) = &spread {
                    let here = counts.get(&topology.domain_of(*level, node)).copied().unwrap_or(0);
                    cost += 1e6 * f64::from(here);
                }
                for (level, counts) in &group_counts {
                    cost += 1e6 * f64::from(counts.get(&topology.domain_of(*level, node)).copied().unwrap_or(0));
                }
                for (weight, sets) in &near {
                    for (level, set) in sets.iter().enumerate() {
                        if in_domain(level, set) {
                            cost -= weight * (latency[level + 1] - latency[level]);
                        }
                    }
                }
                if let Some(targets) = targets
                    && !zones::within(targets, topology, &zone_counts, agent, node)
                {
                    cost += 1e7;
                }
                for (level, mine) in &even {
                    cost += 1e4 * f64::from(mine.get(&topology.domain_of(*level, node)).copied().unwrap_or(0));
                }
                // Past a partner's share of a domain, the SLO's locality is lost.
                for (level, theirs, mine, ratio) in &proportional {
                    let domain = topology.domain_of(*level, node);
                    let target = f64::from(theirs.get(&domain).copied().unwrap_or(0)) * ratio;
                    let after = f64::from(mine.get(&domain).copied().unwrap_or(0) + 1);
                    cost += 1e5 * (after - target).max(0.0);
                }
                if kept_before.is_some_and(|b| b.on_nodes.get(&node).is_some_and(|c| *c > placement.get(agent, node))) {
                    cost -= model.churn_weight;
                }
                // Prefer emptier nodes among equals, to leave room for the rest.
                cost -= 1e-6 * cpu_left[index];
                if best.is_none_or(|(c, _)| cost < c) {
                    best = Some((cost, node));
                }
            }
            let Some((_, node)) = best else { break };
            placement.add(agent, node, 1);
            cpu_left[node.0 as usize] -= cpu;
            memory_left[node.0 as usize] -= a.memory_mib;
            pools.take(a, node, 1);
        }
    }
    placement
}

/// Pinned agents first, then colocate targets before the agents that follow
/// them, then constrained before free, bigger before smaller.
fn order(model: &Model, rule: Rule) -> Vec<AgentId> {
    // depth[t] > depth[a] whenever a must be colocated with t, so targets come
    // first along whole chains (capped, in case of cycles).
    let n = model.agents.len();
    let mut depth = vec![0usize; n];
    for _ in 0..n.min(32) {
        let mut changed = false;
        for (index, agent) in model.agents.iter().enumerate() {
            for (target, _) in &agent.colocate {
                let t = target.0 as usize;
                if depth[t] < depth[index] + 1 && depth[index] < n {
                    depth[t] = depth[index] + 1;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    let mut ids: Vec<AgentId> = (0..n as u32).map(AgentId).collect();
    ids.sort_by(|x, y| {
        let key = |id: &AgentId| {
            let a = &model.agents[id.0 as usize];
            // SLO-aware, spread counts too: an SLO partner placed first
            // would be mirrored (see `proportional`) where the spread cannot follow.
            let constrained = a.pin.is_some()
                || !a.selector.is_empty()
                || a.anti_affinity.is_some()
                || (rule == Rule::SloAware && a.spread.is_some());
            let size = model.effective_cpu(a) * f64::from(a.n_replicas);
            (a.pin.is_none(), std::cmp::Reverse(depth[id.0 as usize]), !constrained, -size)
        };
        key(x).partial_cmp(&key(y)).unwrap_or(std::cmp::Ordering::Equal).then(x.cmp(y))
    });
    if rule == Rule::Classic {
        return ids;
    }
    // Each agent that must be colocated with a target comes right after it,
    // while the target's hosts still have room: placed after every other
    // agent, a host-level follower found its target's hosts full (31 agents
    // of planbench XL seed 101 were left unplaced so).
    let rank: Vec<usize> = {
        let mut rank = vec![0; n];
        for (position, id) in ids.iter().enumerate() {
            rank[id.0 as usize] = position;
        }
        rank
    };
    let mut followers: Vec<Vec<AgentId>> = vec![Vec::new(); n];
    for (index, agent) in model.agents.iter().enumerate() {
        for (target, _) in &agent.colocate {
            followers[target.0 as usize].push(AgentId(index as u32));
        }
    }
    for list in &mut followers {
        list.sort_by_key(|id| rank[id.0 as usize]);
        list.dedup();
    }
    let mut emitted = vec![false; n];
    let mut out = Vec::with_capacity(n);
    for id in ids {
        let mut stack = vec![id];
        while let Some(next) = stack.pop() {
            if std::mem::replace(&mut emitted[next.0 as usize], true) {
                continue;
            }
            out.push(next);
            stack.extend(followers[next.0 as usize].iter().rev().filter(|f| !emitted[f.0 as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::from_yaml as model;

    /// Two zones of two hosts; `api` and `db` with an SLO only zone locality meets.
    const TWO_ZONES: &str = "version: 1
topology:
  latency_us: {numa: 1, host: 2, rack: 25, zone: 250, region: 1500}
  hosts:
    - {name: a1, zone: za, rack: r1, numa: [{cores: 8, memory_mib: 4096}]}
    - {name: a2, zone: za, rack: r2, numa: [{cores: 8, memory_mib: 4096}]}
    - {name: b1, zone: zb, rack: r3, numa: [{cores: 8, memory_mib: 4096}]}
    - {name: b2, zone: zb, rack: r4, numa: [{cores: 8, memory_mib: 4096}]}
agents:
  - {id: api@1, replicas: 2, cpu: 1, memory_mib: 64, qos: guaranteed, service_us: 50}
  - {id: db@1, replicas: 2, cpu: 1, memory_mib: 64, qos: guaranteed, service_us: 50, spread: {level: zone, max_skew: 0}}
routes:
  - {from: api@1, to: db@1, rps: 10, slo_p99_us: 400}
";

    #[test]
    fn mirror_moves_a_replica_to_make_an_slo_partner_proportional() {
        let model = model(TWO_ZONES);
        let topology = Topology::new(&model);
        // api in one zone, db spread over both: zone locality is 1/2, the SLO is broken.
        let mut placed = Placement::empty(2);
        placed.add(AgentId(0), NodeId(0), 1);
        placed.add(AgentId(0), NodeId(1), 1);
        placed.add(AgentId(1), NodeId(0), 1);
        placed.add(AgentId(1), NodeId(2), 1);
        let mut broken = crate::score::score(&model, &topology, &placed, None).violations;
        assert!(matches!(broken.as_slice(), [crate::score::Violation::Slo { route: 0, .. }]), "{broken:?}");
        mirror(&model, &topology, None, &mut placed, &mut broken);
        assert!(broken.is_empty(), "{broken:?}");
        assert_eq!(placed.per_domain(&topology, AgentId(0), 3).len(), 2, "api now in both zones");
    }

    #[test]
    fn place_meets_an_slo_that_needs_zone_locality() {
        let model = model(TWO_ZONES);
        let topology = Topology::new(&model);
        let placed = place(&model, &topology, None);
        assert!(crate::score::score(&model, &topology, &placed, None).violations.is_empty());
    }
}
