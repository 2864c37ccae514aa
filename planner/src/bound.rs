//! A cheap proven lower bound: every route at the finest level it could ever
//! be local at (`reach.rs`: a shared domain, and replica counts that can be
//! split in the same proportions under spread and anti-affinity), and only
//! the moves the config forces (replicas on nodes the agent may no longer use).

use std::collections::BTreeSet;
use std::time::Instant;

use rtt_schema::model::{AgentId, Model};

use crate::previous::Previous;
use crate::topology::{NodeId, Topology};

/// Candidate nodes of every agent: eligible, and one replica fits.
pub fn candidate_nodes(model: &Model, topology: &Topology) -> Vec<BTreeSet<NodeId>> {
    (0..model.agents.len()).map(|a| candidates_of(model, topology, AgentId(a as u32))).collect()
}

/// Candidate nodes of one agent: eligible, and one replica fits.
pub fn candidates_of(model: &Model, topology: &Topology, agent: AgentId) -> BTreeSet<NodeId> {
    let agent = &model.agents[agent.0 as usize];
    let cpu = model.effective_cpu(agent);
    model
        .eligible_nodes(agent)
        .filter(|node| {
            let capacity = model.node(*node);
            f64::from(capacity.cores) + 1e-9 >= cpu && capacity.memory_mib >= agent.memory_mib
        })
        .map(|node| topology.node_id(node))
        .collect()
}

/// The lower bound on the objective, given each agent's [`candidate_nodes`].
///
/// Past `deadline` (the command's `--time-limit`), a route not judged yet
/// counts as reachable at the NUMA level: the smallest p99 it could have, so
/// the bound stays valid, only weaker. (The judgement searches replica
/// splits per level, and on planbench XL seed 102 it ran past 10 minutes.)
pub fn lower_bound(
    model: &Model,
    topology: &Topology,
    candidates: &[BTreeSet<NodeId>],
    previous: Option<&Previous>,
    deadline: Option<Instant>,
) -> f64 {
    let total_rps: f64 = model.routes.iter().map(|r| r.rps).sum();
    let mut latency = 0.0;
    // Routes grouped by their source: its side is computed once per group,
    // and only one is kept at a time (all of XL's would take over 1 GB).
    let mut order: Vec<usize> = (0..model.routes.len()).collect();
    order.sort_by_key(|r| (model.routes[*r].from, *r));
    let mut source: Option<(AgentId, crate::reach::AgentReach)> = None;
    let mut levels = vec![4; model.routes.len()];
    for index in order {
        let route = &model.routes[index];
        if deadline.is_some_and(|d| Instant::now() >= d) {
            levels[index] = topology.known_route_reach(index).map_or(0, |reach| crate::reach::finest_reachable(&reach));
            continue;
        }
        // Most routes were already judged while the search built its sub-problems.
        let reachable = topology.route_reach(index, || {
            if source.as_ref().is_none_or(|(agent, _)| *agent != route.from) {
                let index = route.from.0 as usize;
                source = Some((route.from, crate::reach::agent_reach(model, topology, &candidates[index], route.from)));
            }
            let target = crate::reach::agent_reach(model, topology, &candidates[route.to.0 as usize], route.to);
            match &source {
                Some((_, from)) => crate::reach::reachable_between(model, [from, &target], route.from, route.to),
                None => [true; 4],
            }
        });
        levels[index] = crate::reach::finest_reachable(&reachable);
    }
    // Summed in route order, so that the figure does not depend on the grouping.
    for (route, level) in model.routes.iter().zip(levels) {
        let p99 = model.latency.by_locality[level] + model.agents[route.to.0 as usize].service_us;
        latency += route.rps / total_rps * p99;
    }
    crate::definitions::objective(model, latency, forced_moves(model, candidates, previous))
}

/// Replicas that must move whatever the plan: those of the previous plan on
/// nodes their agent may no longer use, less scale-downs.
pub fn forced_moves(model: &Model, candidates: &[BTreeSet<NodeId>], previous: Option<&Previous>) -> u64 {
    let Some(previous) = previous else { return 0 };
    let mut forced = 0i64;
    for (index, agent) in model.agents.iter().enumerate() {
        let Some(before) = previous.agent(AgentId(index as u32)) else { continue };
        let stranded: u32 = before
            .on_nodes
            .iter()
            .filter(|(node, _)| !candidates[index].contains(node))
            .map(|(_, count)| count)
            .sum::<u32>()
            + before.on_gone_nodes;
        let scale_down = i64::from(before.n_replicas) - i64::from(agent.n_replicas);
        forced += (i64::from(stranded) - scale_down.max(0)).max(0);
    }
    forced.max(0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::two_per_zone;

    /// `a` keeps one replica per host, so it meets `b` (3 replicas, in
    /// proportion) no closer than a rack: p99 = 3 + b's service, 10.
    const AGENTS: &str = "  - {id: a@1, replicas: 2, cpu: 1, memory_mib: 1, qos: guaranteed, service_us: 0, anti_affinity: {level: host}}\n  - {id: b@1, replicas: 3, cpu: 1, memory_mib: 1, qos: guaranteed, service_us: 10}\n";
    const ROUTES: &str = "  - {from: a@1, to: b@1, rps: 1}\n";

    #[test]
    fn past_its_deadline_the_bound_counts_unjudged_routes_as_numa_local() {
        let model = two_per_zone(4, AGENTS, ROUTES);
        let judged = |deadline| {
            let topology = Topology::new(&model);
            lower_bound(&model, &topology, &candidate_nodes(&model, &topology), None, deadline)
        };
        assert_eq!(judged(None), 13.0, "rack level");
        assert_eq!(judged(Some(Instant::now())), 11.0, "NUMA level: smaller, still a bound");
    }
}
