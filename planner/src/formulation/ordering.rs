//! Symmetry-breaking rows: interchangeable hosts and NUMA nodes ordered
//! by load, except where a previous plan tells them apart.

use super::*;

/// Orders interchangeable hosts and NUMA nodes by CPU load (docs/model.md §3).
pub(super) fn symmetry_rows(b: &mut Builder<'_>, previous: Option<&Previous>) -> Symmetry {
    let model = b.model;
    let n_nodes = b.topology.nodes.len();
    let mut agents_on: Vec<Vec<AgentId>> = vec![Vec::new(); n_nodes];
    for (agent, vars) in b.y.iter().enumerate() {
        for (node, _) in vars {
            agents_on[node.0 as usize].push(AgentId(agent as u32));
        }
    }
    let mut blocked = vec![false; n_nodes];
    let fixed_nodes = b.fixed.map(|(placement, fixed)| {
        placement.by_agent.iter().zip(fixed).filter(|(_, is_fixed)| **is_fixed).flat_map(|(nodes, _)| nodes.keys())
    });
    let previous_nodes = previous.map(|p| p.by_agent.iter().flatten().flat_map(|before| before.on_nodes.keys()));
    for node in fixed_nodes.into_iter().flatten().chain(previous_nodes.into_iter().flatten()) {
        blocked[node.0 as usize] = true;
    }
    let symmetry = Symmetry::find(model, b.topology, &agents_on, &blocked);
    let pairs = symmetry.ordered_pairs();
    // CPU load of each node in a class, as an expression.
    let mut load: BTreeMap<NodeId, Expression> =
        pairs.iter().flat_map(|(a, b)| a.iter().chain(b)).map(|node| (*node, Expression::from(0.0))).collect();
    for (agent, vars) in b.y.iter().enumerate() {
        let cpu = model.effective_cpu(&model.agents[agent]);
        for (node, var) in vars {
            if let Some(expression) = load.get_mut(node) {
                expression.add_mul(cpu, var.lp());
            }
        }
    }
    for (heavier, lighter) in pairs {
        let mut difference = Expression::from(0.0);
        for node in &heavier {
            difference += load[node].clone();
        }
        for node in &lighter {
            difference -= load[node].clone();
        }
        b.milp.constrain(difference, Sense::Ge, 0.0, STRUCTURAL);
    }
    symmetry
}
