//! A greedy placement, kube-scheduler style: replica by replica, the feasible
//! node that keeps the most traffic local. It seeds the MILP with an
//! incumbent (and serves as the baseline in benchmarks); it does not promise
//! feasibility — HiGHS discards a start that breaks a constraint.

use std::collections::BTreeSet;

use rtt_schema::model::{AgentId, Model};

use crate::placement::Placement;
use crate::previous::Previous;
use crate::topology::{NodeId, Topology, level_index};

/// Places every replica of every agent.
pub fn place(model: &Model, topology: &Topology, previous: Option<&Previous>) -> Placement {
    place_onto(model, topology, previous, Placement::empty(model.agents.len()))
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
            let numa = topology.node(*node);
            let pinned_numa_ok = agent.pin.and_then(|(_, n)| n).is_none_or(|n| n == numa.numa);
            if model.host_is_eligible(agent, numa.host) && pinned_numa_ok {
                let keep = (*count).min(room);
                kept.add(AgentId(index as u32), *node, keep);
                room -= keep;
            }
        }
    }
    let mut placed = place_onto(model, topology, Some(previous), kept.clone());
    for _ in 0..4 {
        let figures = crate::score::score(model, topology, &placed, Some(previous));
        let mut again: BTreeSet<AgentId> = BTreeSet::new();
        for violation in &figures.violations {
            use crate::score::Violation;
            match violation {
                Violation::Count { agent, .. }
                | Violation::Ineligible { agent, .. }
                | Violation::Spread { agent, .. }
                | Violation::AntiAffinity { agent, .. }
                | Violation::Colocate { agent, .. }
                | Violation::Avoid { agent, .. } => {
                    again.insert(*agent);
                }
                Violation::Cpu { node, .. } | Violation::Memory { node, .. } => {
                    again
                        .extend((0..model.agents.len()).map(|a| AgentId(a as u32)).filter(|a| kept.get(*a, *node) > 0));
                }
                Violation::Slo { route, .. } => {
                    let route = &model.routes[*route];
                    again.extend([route.from, route.to]);
                }
            }
        }
        if again.is_empty() {
            break;
        }
        for agent in again {
            kept.by_agent[agent.0 as usize].clear();
        }
        placed = place_onto(model, topology, Some(previous), kept.clone());
    }
    placed
}

/// Places the replicas `start` does not hold yet, around it.
fn place_onto(model: &Model, topology: &Topology, previous: Option<&Previous>, start: Placement) -> Placement {
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
    let mut placement = start;
    let total_rps: f64 = model.routes.iter().map(|r| r.rps).sum::<f64>().max(f64::MIN_POSITIVE);
    let latency = model.latency.by_locality;
    let mut reverse_avoid: Vec<Vec<(AgentId, usize)>> = vec![Vec::new(); model.agents.len()];
    for (index, a) in model.agents.iter().enumerate() {
        for (other, level) in &a.avoid {
            reverse_avoid[other.0 as usize].push((AgentId(index as u32), level_index(*level)));
        }
    }

    for agent in order(model) {
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
        let mut avoided: Vec<(AgentId, usize)> = a.avoid.iter().map(|(o, l)| (*o, level_index(*l))).collect();
        avoided.extend(reverse_avoid[agent.0 as usize].iter().copied());
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
            let avoid: Vec<(usize, BTreeSet<u32>)> = avoided.iter().map(|(o, l)| (*l, domains(*o, *l))).collect();
            let colocate: Vec<(usize, BTreeSet<u32>)> = a
                .colocate
                .iter()
                .map(|(o, l)| (level_index(*l), domains(*o, level_index(*l))))
                .filter(|(_, set)| !set.is_empty())
                .collect();
            let near: Vec<(f64, [BTreeSet<u32>; 4])> =
                partners.iter().map(|(p, w)| (*w, [0, 1, 2, 3].map(|level| domains(*p, level)))).collect();
            let kept_before = previous.and_then(|p| p.agent(agent));

            let mut best: Option<(f64, NodeId)> = None;
            for index in 0..n_nodes {
                let node = NodeId(index as u32);
                let numa = topology.node(node);
                let pinned_numa_ok = a.pin.and_then(|(_, n)| n).is_none_or(|n| n == numa.numa);
                if !model.host_is_eligible(a, numa.host) || !pinned_numa_ok {
                    continue;
                }
                if cpu_left[index] + 1e-9 < cpu || memory_left[index] < a.memory_mib {
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
                for (weight, sets) in &near {
                    for (level, set) in sets.iter().enumerate() {
                        if in_domain(level, set) {
                            cost -= weight * (latency[level + 1] - latency[level]);
                        }
                    }
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
        }
    }
    placement
}

/// Pinned agents first, then colocate targets before the agents that follow
/// them, then constrained before free, bigger before smaller.
fn order(model: &Model) -> Vec<AgentId> {
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
            let constrained = a.pin.is_some() || !a.selector.is_empty() || a.anti_affinity.is_some();
            let size = model.effective_cpu(a) * f64::from(a.n_replicas);
            (a.pin.is_none(), std::cmp::Reverse(depth[id.0 as usize]), !constrained, -size)
        };
        key(x).partial_cmp(&key(y)).unwrap_or(std::cmp::Ordering::Equal).then(x.cmp(y))
    });
    ids
}
