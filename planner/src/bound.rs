//! A cheap proven lower bound for models too large for an LP relaxation:
//! every route at the finest level its two ends could ever share, and only
//! the moves the config forces (replicas on nodes the agent may no longer use).
//! As weak as the LP bound in practice (which also sees every route local),
//! at a tiny fraction of the cost.

use std::collections::BTreeSet;

use rtt_schema::model::{AgentId, Model};

use crate::previous::Previous;
use crate::topology::{NodeId, Topology};

/// Candidate nodes of every agent: eligible, and one replica fits.
pub fn candidate_nodes(model: &Model, topology: &Topology) -> Vec<BTreeSet<NodeId>> {
    model
        .agents
        .iter()
        .map(|agent| {
            let cpu = model.effective_cpu(agent);
            model
                .eligible_nodes(agent)
                .filter(|node| {
                    let capacity = model.node(*node);
                    f64::from(capacity.cores) + 1e-9 >= cpu && capacity.memory_mib >= agent.memory_mib
                })
                .map(|node| topology.node_id(node))
                .collect()
        })
        .collect()
}

/// The lower bound on the objective, given each agent's [`candidate_nodes`].
pub fn lower_bound(
    model: &Model,
    topology: &Topology,
    candidates: &[BTreeSet<NodeId>],
    previous: Option<&Previous>,
) -> f64 {
    let total_rps: f64 = model.routes.iter().map(|r| r.rps).sum();
    let mut latency = 0.0;
    for route in &model.routes {
        let from = &candidates[route.from.0 as usize];
        let to = &candidates[route.to.0 as usize];
        let level = (0..4)
            .find(|level| {
                let theirs: BTreeSet<u32> = to.iter().map(|n| topology.domain_of(*level, *n)).collect();
                from.iter().any(|n| theirs.contains(&topology.domain_of(*level, *n)))
            })
            .unwrap_or(4);
        let p99 = model.latency.by_locality[level] + model.agents[route.to.0 as usize].service_us;
        latency += route.rps / total_rps * p99;
    }
    let mut forced_moves = 0i64;
    if let Some(previous) = previous {
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
            forced_moves += (i64::from(stranded) - scale_down.max(0)).max(0);
        }
    }
    model.latency_weight * latency + model.churn_weight * forced_moves as f64
}
