//! A disruption budget (pure): the move from the plan in force to a new
//! plan, cut into waves that each move at most `max_moves` replicas and at
//! most `max_agent_pct` % of any one agent's replicas, every wave a
//! placement no node is over capacity in (cpu, memory, extended resources).
//!
//! A move is one replica of an agent leaving one NUMA node for another;
//! within a wave it happens at once (one transaction), so replica counts
//! hold. Scale-downs go in the first wave (they only free room), scale-ups
//! join a wave as soon as they fit. Moves are taken in a fixed order, each
//! when its destination has room in the wave so far; a move that fits in no
//! wave (a swap between two full nodes, say) is left to the last wave,
//! which is the new plan itself and may then exceed the budget: the new
//! plan is feasible as a whole, its parts need not be.

use std::collections::BTreeMap;

use rtt_schema::model::{AgentId, Model};

use crate::placement::Placement;
use crate::score::{Violation, score};
use crate::topology::{NodeId, Topology};

/// How much may move at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// Replicas moved per wave.
    pub max_moves: Option<u32>,
    /// Percent of an agent's replicas moved per wave (at least one).
    pub max_agent_pct: Option<f64>,
}

/// A replica moving from one node to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Move {
    agent: AgentId,
    from: NodeId,
    to: NodeId,
}

/// The waves from `from` to `to`: placements to apply in order, the last
/// being `to`. One wave when everything fits in the budget.
pub fn waves(model: &Model, topology: &Topology, from: &Placement, to: &Placement, budget: Budget) -> Vec<Placement> {
    let (mut moves, removals, mut additions) = differences(from, to);
    let mut current = from.clone();
    for (agent, node, count) in removals {
        take(&mut current, agent, node, count);
    }
    let mut waves = Vec::new();
    // Never more waves than moves, and never a loop: each wave moves one or more.
    for _ in 0..=moves.len() {
        if moves.is_empty() {
            place_additions(model, topology, &mut current, &mut additions);
            break;
        }
        let mut moved_total = 0u32;
        let mut moved: BTreeMap<AgentId, u32> = BTreeMap::new();
        let mut deferred = Vec::new();
        for one in std::mem::take(&mut moves) {
            let cap = agent_cap(model, one.agent, budget.max_agent_pct);
            let within = budget.max_moves.is_none_or(|max| moved_total < max.max(1))
                && moved.get(&one.agent).copied().unwrap_or(0) < cap;
            if within
                && fits_after(model, topology, &current, |p| {
                    take(p, one.agent, one.from, 1);
                    p.add(one.agent, one.to, 1);
                })
            {
                take(&mut current, one.agent, one.from, 1);
                current.add(one.agent, one.to, 1);
                moved_total += 1;
                *moved.entry(one.agent).or_default() += 1;
            } else {
                deferred.push(one);
            }
        }
        moves = deferred;
        if moved_total == 0 {
            // What is left fits only all together: the last wave is the plan.
            break;
        }
        place_additions(model, topology, &mut current, &mut additions);
        waves.push(current.clone());
    }
    // The last wave is the plan itself: it ends every move, scale-up and
    // deferred swap.
    if waves.last() != Some(to) {
        waves.push(to.clone());
    }
    waves
}

/// Moves (paired per agent: surplus nodes to deficit nodes, in node order),
/// then unpaired removals and additions (scale-downs and scale-ups).
#[expect(clippy::type_complexity, reason = "three lists of the same small tuples, named at the call")]
fn differences(
    from: &Placement,
    to: &Placement,
) -> (Vec<Move>, Vec<(AgentId, NodeId, u32)>, Vec<(AgentId, NodeId, u32)>) {
    let mut moves = Vec::new();
    let mut removals = Vec::new();
    let mut additions = Vec::new();
    for (index, (before, after)) in from.by_agent.iter().zip(&to.by_agent).enumerate() {
        let agent = AgentId(index as u32);
        let mut surplus: Vec<(NodeId, u32)> = before
            .iter()
            .filter_map(|(node, &n)| {
                n.checked_sub(after.get(node).copied().unwrap_or(0)).filter(|d| *d > 0).map(|d| (*node, d))
            })
            .collect();
        let mut deficit: Vec<(NodeId, u32)> = after
            .iter()
            .filter_map(|(node, &n)| {
                n.checked_sub(before.get(node).copied().unwrap_or(0)).filter(|d| *d > 0).map(|d| (*node, d))
            })
            .collect();
        let (mut s, mut d) = (0, 0);
        while s < surplus.len() && d < deficit.len() {
            moves.push(Move { agent, from: surplus[s].0, to: deficit[d].0 });
            surplus[s].1 -= 1;
            deficit[d].1 -= 1;
            if surplus[s].1 == 0 {
                s += 1;
            }
            if deficit[d].1 == 0 {
                d += 1;
            }
        }
        removals.extend(surplus[s..].iter().filter(|(_, n)| *n > 0).map(|(node, n)| (agent, *node, *n)));
        additions.extend(deficit[d..].iter().filter(|(_, n)| *n > 0).map(|(node, n)| (agent, *node, *n)));
    }
    (moves, removals, additions)
}

fn place_additions(
    model: &Model,
    topology: &Topology,
    current: &mut Placement,
    additions: &mut Vec<(AgentId, NodeId, u32)>,
) {
    additions.retain(|&(agent, node, count)| {
        if fits_after(model, topology, current, |p| p.add(agent, node, count)) {
            current.add(agent, node, count);
            false
        } else {
            true
        }
    });
}

fn agent_cap(model: &Model, agent: AgentId, pct: Option<f64>) -> u32 {
    match pct {
        None => u32::MAX,
        Some(pct) => {
            let replicas = f64::from(model.agents[agent.0 as usize].n_replicas);
            ((replicas * pct / 100.0).floor() as u32).max(1)
        }
    }
}

fn take(placement: &mut Placement, agent: AgentId, node: NodeId, count: u32) {
    let nodes = &mut placement.by_agent[agent.0 as usize];
    if let Some(n) = nodes.get_mut(&node) {
        *n = n.saturating_sub(count);
        if *n == 0 {
            nodes.remove(&node);
        }
    }
}

/// Whether `change` leaves every node within capacity (no new capacity
/// violation: cpu, memory or an extended resource).
fn fits_after(model: &Model, topology: &Topology, current: &Placement, change: impl FnOnce(&mut Placement)) -> bool {
    let over = |p: &Placement| {
        score(model, topology, p, None)
            .violations
            .into_iter()
            .filter(|v| matches!(v, Violation::Cpu { .. } | Violation::Memory { .. } | Violation::Resource { .. }))
            .count()
    };
    let mut after = current.clone();
    change(&mut after);
    over(&after) <= over(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Model {
        let text = [
            "version: 1",
            "topology:",
            "  latency_us: {numa: 1, host: 2, rack: 3, zone: 4, region: 5}",
            "  hosts:",
            "    - {name: h1, zone: z, rack: r, numa: [{cores: 4, memory_mib: 4096}]}",
            "    - {name: h2, zone: z, rack: r, numa: [{cores: 4, memory_mib: 4096}]}",
            "    - {name: h3, zone: z, rack: r, numa: [{cores: 4, memory_mib: 4096}]}",
            "agents:",
            "  - {id: a@1, replicas: 4, cpu: 1, memory_mib: 512, qos: guaranteed, service_us: 1}",
            "  - {id: b@1, replicas: 2, cpu: 2, memory_mib: 512, qos: guaranteed, service_us: 1}",
        ]
        .join("\n");
        rtt_schema::check_text(rtt_schema::source::SourceFile::new("t.yaml", text), rtt_schema::Format::Yaml)
            .expect("valid")
            .model
    }

    fn placement(model: &Model, topology: &Topology, rows: &[(&str, &str, u32)]) -> Placement {
        Placement::from_rows(model, topology, rows.iter().map(|(a, h, n)| (*a, *h, 0, *n))).expect("rows")
    }

    fn moved(a: &Placement, b: &Placement) -> u32 {
        differences(a, b).0.len() as u32
    }

    #[test]
    fn a_budget_cuts_the_move_into_waves_that_end_at_the_plan() {
        let model = model();
        let topology = Topology::new(&model);
        let from = placement(&model, &topology, &[("a@1", "h1", 4), ("b@1", "h2", 2)]);
        let to = placement(&model, &topology, &[("a@1", "h3", 4), ("b@1", "h2", 2)]);
        let budget = Budget { max_moves: Some(1), max_agent_pct: None };
        let waves = waves(&model, &topology, &from, &to, budget);
        assert_eq!(waves.len(), 4);
        assert_eq!(waves.last(), Some(&to));
        let mut before = &from;
        for wave in &waves {
            assert_eq!(moved(before, wave), 1, "one replica a wave");
            assert!(fits_after(&model, &topology, wave, |_| {}));
            before = wave;
        }
        let by_pct = super::waves(&model, &topology, &from, &to, Budget { max_moves: None, max_agent_pct: Some(50.0) });
        assert_eq!(by_pct.len(), 2, "half of a@1's four replicas a wave");
        let unbounded = super::waves(&model, &topology, &from, &to, Budget { max_moves: None, max_agent_pct: None });
        assert_eq!(unbounded, vec![to.clone()]);
    }

    #[test]
    fn a_swap_between_full_nodes_is_left_to_the_last_wave() {
        let model = model();
        let topology = Topology::new(&model);
        // h1 and h2 are full (4 cores each); a and b swap: no single move fits.
        let from = placement(&model, &topology, &[("a@1", "h1", 4), ("b@1", "h2", 2)]);
        let to = placement(&model, &topology, &[("a@1", "h2", 4), ("b@1", "h1", 2)]);
        let waves = waves(&model, &topology, &from, &to, Budget { max_moves: Some(1), max_agent_pct: None });
        assert_eq!(waves, vec![to]);
    }
}
