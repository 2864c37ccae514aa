//! Large-neighbourhood search: free a few agents that talk to each other, fix
//! everyone else at the incumbent, and let HiGHS re-place the few. Each
//! sub-MILP is small, so a few hundred branch-and-bound nodes go far; the
//! sequence of neighbourhoods and the node limits are fixed, so the search is
//! deterministic.

use std::collections::{BTreeSet, VecDeque};

use rtt_schema::model::{AgentId, Model};
use rtt_solver::Limits;

use crate::formulation::Formulation;
use crate::placement::Placement;
use crate::previous::Previous;
use crate::score::score;
use crate::topology::Topology;

/// Budget of a search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Sub-MILPs to solve at most.
    pub rounds: usize,
    /// Agents freed per neighbourhood.
    pub agents_per_round: usize,
    /// Branch-and-bound nodes per sub-MILP.
    pub node_limit: u64,
}

impl Budget {
    /// A budget that grows gently with the instance.
    pub fn for_model(model: &Model) -> Self {
        let n_agents = model.agents.len();
        Self { rounds: n_agents.clamp(4, 100), agents_per_round: 5.min(n_agents), node_limit: 100 }
    }
}

/// Where a search stands, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Sub-MILPs solved so far.
    pub round: usize,
    /// The budget.
    pub rounds: usize,
    /// Objective of the best placement so far.
    pub incumbent: f64,
}

/// Improves `incumbent` (feasible) and returns the best placement found.
pub fn improve(
    model: &Model,
    topology: &Topology,
    previous: Option<&Previous>,
    incumbent: Placement,
    budget: Budget,
    progress: &dyn Fn(Progress),
) -> Placement {
    let mut best_total = score(model, topology, &incumbent, previous).total;
    let mut best = incumbent;
    let neighbourhoods = neighbourhoods(model, budget.agents_per_round);
    if neighbourhoods.is_empty() {
        return best;
    }
    let limits = Limits { gap: 1e-6, node_limit: Some(budget.node_limit), time_limit: None, light: true };
    let mut since_improvement = 0;
    for round in 0..budget.rounds {
        // A whole pass without improvement: nothing left for these neighbourhoods.
        if since_improvement >= neighbourhoods.len() {
            break;
        }
        let free = &neighbourhoods[round % neighbourhoods.len()];
        let sub = Formulation::build_neighbourhood(model, topology, previous, &best, |agent| free.contains(&agent));
        let start = sub.start(model, topology, &best);
        since_improvement += 1;
        let Ok(solution) = sub.milp.solve(&limits, start.as_deref()) else { continue };
        let candidate = sub.placement(&solution);
        let figures = score(model, topology, &candidate, previous);
        if figures.violations.is_empty() && figures.total < best_total - 1e-9 {
            best_total = figures.total;
            best = candidate;
            since_improvement = 0;
        }
        progress(Progress { round: round + 1, rounds: budget.rounds, incumbent: best_total });
    }
    best
}

/// Agents that talk to each other: from each agent, in order of the traffic
/// it carries, a breadth-first walk over routes and placement rules.
fn neighbourhoods(model: &Model, size: usize) -> Vec<BTreeSet<AgentId>> {
    let n = model.agents.len();
    if n == 0 || size == 0 {
        return Vec::new();
    }
    let mut links: Vec<Vec<(f64, AgentId)>> = vec![Vec::new(); n];
    let mut traffic = vec![0.0; n];
    for route in &model.routes {
        links[route.from.0 as usize].push((route.rps, route.to));
        links[route.to.0 as usize].push((route.rps, route.from));
        traffic[route.from.0 as usize] += route.rps;
        traffic[route.to.0 as usize] += route.rps;
    }
    for (index, agent) in model.agents.iter().enumerate() {
        for (other, _) in agent.colocate.iter().chain(&agent.avoid) {
            links[index].push((f64::MAX, *other));
            links[other.0 as usize].push((f64::MAX, AgentId(index as u32)));
        }
    }
    for list in &mut links {
        list.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|a, b| traffic[*b].total_cmp(&traffic[*a]).then(a.cmp(b)));
    let mut seen: BTreeSet<Vec<AgentId>> = BTreeSet::new();
    let mut result = Vec::new();
    for start in order {
        let mut set = BTreeSet::new();
        let mut queue = VecDeque::from([AgentId(start as u32)]);
        while let Some(agent) = queue.pop_front() {
            if set.len() >= size {
                break;
            }
            if set.insert(agent) {
                queue.extend(links[agent.0 as usize].iter().map(|(_, other)| *other));
            }
        }
        if seen.insert(set.iter().copied().collect()) {
            result.push(set);
        }
    }
    result
}
