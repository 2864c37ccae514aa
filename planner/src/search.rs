//! Large-neighbourhood search: free a few agents that talk to each other, fix
//! everyone else at the incumbent, and let HiGHS re-place the few. Sub-MILPs
//! may model route locality coarsely (a heuristic: every candidate is accepted
//! or rejected by the exact scorer). Each
//! sub-MILP is small, so a few hundred branch-and-bound nodes go far; the
//! sequence of neighbourhoods and the node limits are fixed, so the search is
//! deterministic.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Instant;

use rtt_schema::model::{AgentId, HostId, Model};
use rtt_solver::Limits;

use crate::formulation::{Formulation, Options};
use crate::placement::Placement;
use crate::previous::Previous;
use crate::score::score;
use crate::topology::Topology;
use crate::zone_plan::{ZONE_PLAN_NODES, zone_plan};

/// Fleets with more agents than this start the search with coarse sub-MILPs.
pub const COARSE_FIRST_MIN_AGENTS: usize = 64;
/// Fleets with more agents than this start coarser still, at the zone level,
/// for three quarters of their rounds, and get more rounds.
pub const ZONE_FIRST_MIN_AGENTS: usize = 500;

/// Budget of a search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Sub-MILPs to solve at most.
    pub rounds: usize,
    /// Agents freed per neighbourhood.
    pub agents_per_round: usize,
    /// Branch-and-bound nodes per sub-MILP.
    pub node_limit: u64,
    /// Hosts with the most free cores that a neighbourhood may also use,
    /// besides the hosts its agents and their partners are on.
    pub spare_hosts: usize,
    /// When the search must stop (`--time-limit`); `None` keeps it
    /// deterministic.
    pub deadline: Option<Instant>,
    /// The start follows the zone plan ([`crate::zone_plan`]): its counts
    /// per zone are already the best the zone level allows, so a large
    /// fleet skips the zone-level rounds (three quarters of its budget).
    pub zones_planned: bool,
}

impl Budget {
    /// A budget that grows gently with the instance.
    pub fn for_model(model: &Model) -> Self {
        let n_agents = model.agents.len();
        // Zone-level rounds are cheap (few indicators), so large fleets can
        // afford more of them within the same time.
        let rounds = if n_agents > ZONE_FIRST_MIN_AGENTS {
            (4 * n_agents / 5).clamp(150, 800)
        } else {
            (3 * n_agents).clamp(12, 150)
        };
        Self {
            rounds,
            agents_per_round: 5.min(n_agents),
            node_limit: 100,
            spare_hosts: 8,
            deadline: None,
            zones_planned: false,
        }
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
    if budget.rounds == 0 {
        return incumbent;
    }
    let neighbourhoods = neighbourhoods(model, budget.agents_per_round);
    // On larger fleets, sub-MILPs model route locality from the rack level up
    // first (a third of the variables, most of the latency), and refine to
    // host, then NUMA, once a whole pass at the current level finds nothing
    // better; small fleets can afford the exact model from the start.
    let n_agents = model.agents.len();
    if n_agents > ZONE_FIRST_MIN_AGENTS && budget.zones_planned {
        // The zone plan settled the zone level: only the rounds that refine
        // below it.
        let rest = Budget { rounds: budget.rounds - budget.rounds * 3 / 4, ..budget };
        return improve_over(model, topology, previous, incumbent, &neighbourhoods, rest, 2, progress);
    }
    if n_agents > ZONE_FIRST_MIN_AGENTS {
        // Most of the latency is whether routes stay in a zone (docs/model.md
        // §5): settle that first with the cheapest sub-MILPs, then refine.
        let zone_rounds = budget.rounds * 3 / 4;
        let zoned = improve_over(
            model,
            topology,
            previous,
            incumbent,
            &neighbourhoods,
            Budget { rounds: zone_rounds, ..budget },
            3,
            &|p: Progress| progress(Progress { rounds: budget.rounds, ..p }),
        );
        let rest = Budget { rounds: budget.rounds - zone_rounds, ..budget };
        return improve_over(model, topology, previous, zoned, &neighbourhoods, rest, 2, &|p: Progress| {
            progress(Progress { round: zone_rounds + p.round, rounds: budget.rounds, ..p })
        });
    }
    if n_agents > COARSE_FIRST_MIN_AGENTS {
        return improve_over(model, topology, previous, incumbent, &neighbourhoods, budget, 2, progress);
    }
    let best = improve_over(model, topology, previous, incumbent, &neighbourhoods, budget, 0, progress);
    let best = domain_passes(model, topology, previous, best, budget, &|_, _| true);
    rezone(model, topology, previous, best, budget)
}

/// Branch-and-bound nodes of the re-zoning MILP.
pub const REZONE_NODES: u64 = 200;

/// Re-zoning solves the whole fleet: past this many variables its 200
/// nodes take too long for what they find (planbench S: 1,900–2,600; the
/// bundled `examples/fleet`, 7,200 variables, spent 39 s for nothing).
pub const REZONE_MAX_VARIABLES: usize = 4_000;

/// Small fleets, last: the zone plan from the searched placement, and when
/// it differs, the whole fleet re-placed on its counts
/// ([`Formulation::build_zoned`]), then the domain passes from there; kept
/// only when better. Every neighbourhood keeps most agents' zones, so a
/// better zone distribution that needs a few agents to change zones at
/// once, with capacity made elsewhere, is out of their reach (planbench S
/// seed 109: five agents, 850.2 → 842.8, CP-SAT's optimum).
fn rezone(
    model: &Model,
    topology: &Topology,
    previous: Option<&Previous>,
    best: Placement,
    budget: Budget,
) -> Placement {
    let total = score(model, topology, &best, previous).total;
    let mut limits = Limits { gap: 1e-6, node_limit: Some(ZONE_PLAN_NODES), time_limit: None, light: false };
    if !within_deadline(&budget, &mut limits) {
        return best;
    }
    let candidates = crate::bound::candidate_nodes(model, topology);
    let Some(targets) = zone_plan(model, topology, &candidates, &best, previous, &limits) else {
        return best;
    };
    let options = Options { break_symmetry: true, ..Options::default() };
    let sub = Formulation::build_zoned(model, topology, previous, &targets, options);
    if sub.milp.n_variables() > REZONE_MAX_VARIABLES {
        return best;
    }
    let mut limits = Limits { gap: 1e-6, node_limit: Some(REZONE_NODES), time_limit: None, light: true };
    if !within_deadline(&budget, &mut limits) {
        return best;
    }
    // No start: the searched placement has other counts per zone.
    let Ok(solution) = sub.milp.solve(&limits, None) else {
        return best;
    };
    let placed = sub.placement(&solution);
    let figures = score(model, topology, &placed, previous);
    if !figures.violations.is_empty() || figures.total >= total - 1e-9 {
        return best;
    }
    domain_passes(model, topology, previous, placed, budget, &|_, _| true)
}

/// Small fleets re-place whole domains after their agent neighbourhoods:
/// those move a few agents anywhere, a domain pass every agent of a zone,
/// rack or host at once below it (docs/model.md §5, "Domain passes").
/// Passes repeat while one improves, at most [`DOMAIN_PASSES`]; only the
/// domains `touched(level, domain)` accepts are re-placed.
fn domain_passes(
    model: &Model,
    topology: &Topology,
    previous: Option<&Previous>,
    mut best: Placement,
    budget: Budget,
    touched: &dyn Fn(usize, u32) -> bool,
) -> Placement {
    let mut total = score(model, topology, &best, previous).total;
    for _ in 0..DOMAIN_PASSES {
        let before = total;
        (best, total) = improve_within(model, topology, previous, (best, total), budget, touched);
        if total >= before - 1e-9 {
            break;
        }
    }
    best
}

/// Domain passes a small fleet's search makes at most; it stops at the
/// first that finds nothing better.
pub const DOMAIN_PASSES: usize = 3;

/// Branch-and-bound nodes per domain sub-MILP.
pub const DOMAIN_NODE_LIMIT: u64 = 200;

/// One domain pass: for each zone, then each rack, then each host, the
/// sub-MILP that re-places every replica in that domain while each agent
/// keeps its count per domain of the level
/// ([`Formulation::build_within`]); a better placement is kept. Takes and
/// returns a placement with its scorer total.
pub fn improve_within(
    model: &Model,
    topology: &Topology,
    previous: Option<&Previous>,
    (mut best, mut best_total): (Placement, f64),
    budget: Budget,
    touched: &dyn Fn(usize, u32) -> bool,
) -> (Placement, f64) {
    let mut limits = Limits { gap: 1e-6, node_limit: Some(DOMAIN_NODE_LIMIT), time_limit: None, light: true };
    for level in (1..4).rev() {
        // Domains equal to those of the level above were just done.
        if level < 3 && topology.same_partition(level, level + 1) {
            continue;
        }
        for domain in 0..topology.n_domains[level] {
            if !within_deadline(&budget, &mut limits) {
                return (best, best_total);
            }
            let occupied = |nodes: &BTreeMap<_, u32>| nodes.keys().any(|n| topology.domain_of(level, *n) == domain);
            if !touched(level, domain) || !best.by_agent.iter().any(occupied) {
                continue;
            }
            let options = Options { break_symmetry: true, ..Options::default() };
            let sub = Formulation::build_within(model, topology, previous, &best, level, domain, options);
            if let Some(better) = solve_better(model, topology, previous, &sub, &best, best_total, &limits) {
                (best, best_total) = better;
            }
        }
    }
    (best, best_total)
}

/// A re-plan's search: one pass over the neighbourhoods that hold an agent
/// whose placement differs from the previous plan (at most two per such
/// agent), so that its cost follows the size of the change, not of the fleet;
/// then, on small fleets, the domain passes.
pub fn improve_moved(
    model: &Model,
    topology: &Topology,
    previous: &Previous,
    incumbent: Placement,
    budget: Budget,
    progress: &dyn Fn(Progress),
) -> Placement {
    let moved: BTreeSet<AgentId> = (0..model.agents.len())
        .map(|a| AgentId(a as u32))
        .filter(|a| previous.agent(*a).is_none_or(|before| before.on_nodes != incumbent.by_agent[a.0 as usize]))
        .collect();
    // First the agents that left one host, together: what a drain displaces
    // often moves best as a group (to one new host, say), which no small
    // neighbourhood can do, and a group sub-problem keeps the moves to the
    // forced ones (docs/model.md §5).
    let mut around = moved_groups(topology, previous, &incumbent, &moved);
    around.extend(
        neighbourhoods(model, budget.agents_per_round).into_iter().filter(|set| set.iter().any(|a| moved.contains(a))),
    );
    let rounds = budget.rounds.min(around.len()).min(2 * moved.len());
    let small = model.agents.len() <= COARSE_FIRST_MIN_AGENTS;
    let finest_level = if small { 0 } else { 2 };
    let best = improve_over(
        model,
        topology,
        Some(previous),
        incumbent,
        &around,
        Budget { rounds, ..budget },
        finest_level,
        progress,
    );
    // A drain's displaced replicas often land where a whole rack or host
    // should be re-packed around them (planbench S drains 102 and 110
    // reached CP-SAT's optimum only so).
    if !small {
        return best;
    }
    // Only where the change is: the domains where an agent that moved is
    // or was.
    let mut touched: BTreeSet<(usize, u32)> = BTreeSet::new();
    for (agent, now) in best.by_agent.iter().enumerate() {
        let before = previous.agent(AgentId(agent as u32)).map(|b| &b.on_nodes);
        if before == Some(now) {
            continue;
        }
        for node in now.keys().chain(before.into_iter().flat_map(|b| b.keys())) {
            touched.extend((1..4).map(|level| (level, topology.domain_of(level, *node))));
        }
    }
    domain_passes(model, topology, Some(previous), best, budget, &|level, domain| touched.contains(&(level, domain)))
}

/// Agents per group sub-problem of a re-plan: a single drained host of tier
/// L holds ~35 agents, solved in ~2 s.
pub const MOVED_GROUP_MAX: usize = 48;

/// The moved agents as one group when there are at most
/// [`MOVED_GROUP_MAX`] of them (those a drain displaces and those the repair
/// pushed aside to make room, so that the pushing can be undone); past
/// that, grouped by the host they left the most replicas on (the first such
/// host in config order on a tie), in chunks of at most that many, in host
/// order. Agents new to the plan, or that only gained replicas, are in no group.
fn moved_groups(
    topology: &Topology,
    previous: &Previous,
    placement: &Placement,
    moved: &BTreeSet<AgentId>,
) -> Vec<BTreeSet<AgentId>> {
    let leavers: Vec<AgentId> = moved.iter().copied().filter(|a| previous.agent(*a).is_some()).collect();
    if leavers.len() <= MOVED_GROUP_MAX {
        return if leavers.is_empty() { Vec::new() } else { vec![leavers.into_iter().collect()] };
    }
    let mut by_host: BTreeMap<HostId, Vec<AgentId>> = BTreeMap::new();
    for agent in moved {
        let Some(before) = previous.agent(*agent) else { continue };
        let mut left: BTreeMap<HostId, u32> = BTreeMap::new();
        for (node, count) in &before.on_nodes {
            let gone = count.saturating_sub(placement.get(*agent, *node));
            if gone > 0 {
                *left.entry(topology.node(*node).host).or_insert(0) += gone;
            }
        }
        let most = left.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)));
        if let Some((host, _)) = most {
            by_host.entry(*host).or_default().push(*agent);
        }
    }
    by_host
        .into_values()
        .flat_map(|agents| agents.chunks(MOVED_GROUP_MAX).map(|c| c.iter().copied().collect()).collect::<Vec<_>>())
        .collect()
}

/// [`improve`] over given neighbourhoods, starting at a given finest
/// locality level (0: exact). Explanations use it with neighbourhoods around
/// the agents a counterfactual touches.
#[expect(clippy::too_many_arguments, reason = "each argument is one independent knob of the search")]
pub fn improve_over(
    model: &Model,
    topology: &Topology,
    previous: Option<&Previous>,
    incumbent: Placement,
    neighbourhoods: &[BTreeSet<AgentId>],
    budget: Budget,
    mut finest_level: usize,
    progress: &dyn Fn(Progress),
) -> Placement {
    let mut best_total = score(model, topology, &incumbent, previous).total;
    let mut best = incumbent;
    if neighbourhoods.is_empty() {
        return best;
    }
    let mut limits = Limits { gap: 1e-6, node_limit: Some(budget.node_limit), time_limit: None, light: true };
    let mut since_improvement = 0;
    for round in 0..budget.rounds {
        if !within_deadline(&budget, &mut limits) {
            break;
        }
        if since_improvement >= neighbourhoods.len() {
            if finest_level == 0 {
                break;
            }
            finest_level -= 1;
            since_improvement = 0;
        }
        let free = &neighbourhoods[round % neighbourhoods.len()];
        let hosts = candidate_hosts(model, topology, &best, previous, free, budget.spare_hosts);
        let sub = Formulation::build_neighbourhood(
            model,
            topology,
            previous,
            &best,
            |agent| free.contains(&agent),
            &hosts,
            finest_level,
            Options { break_symmetry: true, ..Options::default() },
        );
        since_improvement += 1;
        if let Some(better) = solve_better(model, topology, previous, &sub, &best, best_total, &limits) {
            if better.1 < best_total * (1.0 - SIGNIFICANT_GAIN) {
                since_improvement = 0;
            }
            (best, best_total) = better;
        }
        progress(Progress { round: round + 1, rounds: budget.rounds, incumbent: best_total });
    }
    best
}

/// A gain below this fraction of the total is kept, but does not renew the
/// search: a whole cycle of neighbourhoods without a larger one ends a level.
/// On planbench S the gains past that point summed to under 0.001 %, for a
/// fifth of the time (BENCHMARKS.md, "S (12 hosts)").
pub const SIGNIFICANT_GAIN: f64 = 1e-4;

/// Whether the budget's deadline (if any) is still ahead; if so, caps the
/// next sub-MILP at the time left, so that none runs past it either.
fn within_deadline(budget: &Budget, limits: &mut Limits) -> bool {
    let Some(deadline) = budget.deadline else { return true };
    let left = deadline.saturating_duration_since(Instant::now()).as_secs_f64();
    limits.time_limit = Some(left);
    left > 0.0
}

/// Solves a sub-MILP from `best` and returns its placement with its scorer
/// total when the scorer finds no violation and a total lower than
/// `best_total` (by more than 1e-9): the one acceptance rule of the search.
fn solve_better(
    model: &Model,
    topology: &Topology,
    previous: Option<&Previous>,
    sub: &Formulation,
    best: &Placement,
    best_total: f64,
    limits: &Limits,
) -> Option<(Placement, f64)> {
    let start = sub.start(model, topology, best);
    let solution = sub.milp.solve(limits, start.as_deref()).ok()?;
    let candidate = sub.placement(&solution);
    let figures = score(model, topology, &candidate, previous);
    (figures.violations.is_empty() && figures.total < best_total - 1e-9).then_some((candidate, figures.total))
}

/// The hosts a neighbourhood may use: where its agents and everything they
/// talk to or must sit with are, where its agents were in the previous plan
/// (going back is what undoes a move), plus the hosts with the most free cores.
pub(crate) fn candidate_hosts(
    model: &Model,
    topology: &Topology,
    placement: &Placement,
    previous: Option<&Previous>,
    free: &BTreeSet<AgentId>,
    spare: usize,
) -> BTreeSet<HostId> {
    let mut related: BTreeSet<AgentId> = free.clone();
    for route in &model.routes {
        if free.contains(&route.from) {
            related.insert(route.to);
        }
        if free.contains(&route.to) {
            related.insert(route.from);
        }
    }
    for agent in free {
        let a = &model.agents[agent.0 as usize];
        related.extend(a.colocate.iter().map(|(other, _)| *other));
    }
    let mut hosts: BTreeSet<HostId> = BTreeSet::new();
    for agent in &related {
        hosts.extend(placement.by_agent[agent.0 as usize].keys().map(|node| topology.node(*node).host));
    }
    for agent in free {
        let before = previous.and_then(|p| p.agent(*agent)).into_iter().flat_map(|b| b.on_nodes.keys());
        hosts.extend(before.map(|node| topology.node(*node).host).filter(|h| model.hosts[h.0 as usize].schedulable));
    }
    let mut free_cores = vec![0.0; model.hosts.len()];
    for numa in &topology.nodes {
        free_cores[numa.host.0 as usize] += f64::from(model.node(*numa).cores);
    }
    for (agent, nodes) in placement.by_agent.iter().enumerate() {
        let cpu = model.effective_cpu(&model.agents[agent]);
        for (node, count) in nodes {
            free_cores[topology.node(*node).host.0 as usize] -= cpu * f64::from(*count);
        }
    }
    let mut by_room: Vec<usize> = (0..model.hosts.len()).filter(|h| model.hosts[*h].schedulable).collect();
    by_room.sort_by(|a, b| free_cores[*b].total_cmp(&free_cores[*a]).then(a.cmp(b)));
    hosts.extend(by_room.into_iter().take(spare).map(|h| HostId(h as u32)));
    hosts
}

/// Agents that talk to each other: from each agent, in order of the traffic
/// it carries, a breadth-first walk over routes and placement rules.
pub(crate) fn neighbourhoods(model: &Model, size: usize) -> Vec<BTreeSet<AgentId>> {
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
    // A group's members may move together: a chain through them (linear,
    // not one link per pair), and on to the agents its avoid rules name;
    // weighted below every route, so that a walk takes an agent's traffic
    // partners first and its group fills what room is left.
    for group in &model.groups {
        let chain: Vec<AgentId> =
            group.members.iter().chain(group.avoid.iter().flat_map(|(a, _)| a.iter())).copied().collect();
        for pair in chain.windows(2) {
            links[pair[0].0 as usize].push((0.0, pair[1]));
            links[pair[1].0 as usize].push((0.0, pair[0]));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::NodeId;

    /// Four one-node hosts in two zones, three agents in a chain a → b → c,
    /// placed apart: everything the search can gain is there to find.
    fn spread_out() -> (Model, Topology, Placement) {
        let agents = ["a", "b", "c"]
            .map(|id| {
                format!("  - {{id: {id}@1, replicas: 1, cpu: 4, memory_mib: 10, qos: guaranteed, service_us: 0}}\n")
            })
            .concat();
        let routes = "  - {from: a@1, to: b@1, rps: 1}\n  - {from: b@1, to: c@1, rps: 1}\n";
        let model = crate::fixtures::two_per_zone(4, &agents, routes);
        let topology = Topology::new(&model);
        let mut start = Placement::empty(3);
        for (agent, node) in [(0, 0), (1, 1), (2, 2)] {
            start.add(AgentId(agent), NodeId(node), 1);
        }
        (model, topology, start)
    }

    #[test]
    fn no_rounds_means_no_search_domain_passes_included() {
        let (model, topology, start) = spread_out();
        let budget = Budget { rounds: 0, ..Budget::for_model(&model) };
        let placed = improve(&model, &topology, None, start.clone(), budget, &|_| {});
        assert_eq!(placed, start);
    }

    #[test]
    fn a_domain_pass_never_worsens_and_gives_the_same_placement_twice() {
        let (model, topology, start) = spread_out();
        let budget = Budget::for_model(&model);
        let before = score(&model, &topology, &start, None);
        let from = || (start.clone(), before.total);
        let (once, total) = improve_within(&model, &topology, None, from(), budget, &|_, _| true);
        let (twice, _) = improve_within(&model, &topology, None, from(), budget, &|_, _| true);
        assert_eq!(once, twice);
        let after = score(&model, &topology, &once, None);
        assert!(after.violations.is_empty());
        assert_eq!(after.total, total);
        assert!(after.total < before.total, "a and b share z0 and can meet: {} → {}", before.total, after.total);
        // c is alone in z1 and a zone pass keeps every count per zone, so it
        // stays there; a and b meet on one node.
        assert_eq!(once.per_domain(&topology, AgentId(2), 3), start.per_domain(&topology, AgentId(2), 3));
        assert_eq!(once.by_agent[0], once.by_agent[1]);
    }
}
