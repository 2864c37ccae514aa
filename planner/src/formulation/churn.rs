//! Churn: `m ≥ P − y` per node an agent used before, constant terms for
//! replicas that must move whatever the plan (docs/model.md §4).

use super::*;

/// `m ≥ P − y` per node an agent used before; constant terms for the rest.
pub(super) fn churn_terms(
    b: &mut Builder<'_>,
    previous: Option<&Previous>,
    objective_constant: &mut f64,
) -> Vec<(AgentId, NodeId, u32, Var)> {
    let model = b.model;
    let mut moves = Vec::new();
    let Some(previous) = previous else { return moves };
    for (index, agent) in model.agents.iter().enumerate() {
        let id = AgentId(index as u32);
        let Some(before) = previous.agent(id).filter(|_| !b.is_fixed(id)) else { continue };
        let scale_down = (i64::from(before.n_replicas) - i64::from(agent.n_replicas)).max(0) as f64;
        let mut constant = f64::from(before.on_gone_nodes) - scale_down;
        for (node, count) in &before.on_nodes {
            let var = b.y[index].iter().find(|(n, _)| n == node).map(|(_, v)| *v);
            match var {
                Some(y) => {
                    let moved = b.milp.continuous(0.0, f64::from(*count));
                    b.milp.constrain(moved.lp() + y.lp(), Sense::Ge, f64::from(*count), STRUCTURAL);
                    b.milp.add_objective(model.churn_weight, moved);
                    moves.push((id, *node, *count, moved));
                }
                None => constant += f64::from(*count),
            }
        }
        *objective_constant += model.churn_weight * constant;
    }
    moves
}
