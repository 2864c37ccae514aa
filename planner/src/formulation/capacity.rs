//! Capacity rows (cpu and memory per NUMA node, QoS headroom; extended
//! resources per NUMA node or per host), the load
//! of fixed agents in a neighbourhood, and the per-node share ceilings
//! that bound route locality (docs/model.md §2, §3).

use super::*;

/// CPU (after QoS overcommit) and memory per NUMA node, grouped by zone.
pub(super) fn capacity_rows(b: &mut Builder<'_>) {
    let model = b.model;
    let mut cpu: Vec<Expression> = vec![Expression::from(0.0); b.topology.nodes.len()];
    let mut memory: Vec<Expression> = vec![Expression::from(0.0); b.topology.nodes.len()];
    let mut cpu_demand = vec![0.0; b.topology.nodes.len()];
    let mut memory_demand = vec![0.0; b.topology.nodes.len()];
    for (index, vars) in b.y.iter().enumerate() {
        let agent = &model.agents[index];
        let agent_cpu = model.effective_cpu(agent);
        if let Some((placement, _)) = b.fixed.filter(|_| b.is_fixed(AgentId(index as u32))) {
            for (node, count) in &placement.by_agent[index] {
                let n = node.0 as usize;
                let used_cpu = agent_cpu * f64::from(*count);
                let used_memory = (agent.memory_mib * u64::from(*count)) as f64;
                cpu[n] += used_cpu;
                memory[n] += used_memory;
                cpu_demand[n] += used_cpu;
                memory_demand[n] += used_memory;
            }
            continue;
        }
        for (node, var) in vars {
            let n = node.0 as usize;
            cpu[n].add_mul(agent_cpu, var.lp());
            memory[n].add_mul(agent.memory_mib as f64, var.lp());
            cpu_demand[n] += agent_cpu * f64::from(agent.n_replicas);
            memory_demand[n] += (agent.memory_mib * u64::from(agent.n_replicas)) as f64;
        }
    }
    for (n, numa) in b.topology.nodes.clone().iter().enumerate() {
        let capacity = model.node(*numa);
        let node = NodeId(n as u32);
        let statement = if b.capacity_per_node {
            Statement::NodeCapacity(node)
        } else {
            Statement::Capacity(b.topology.domain[3][n])
        };
        let group = b.group(statement);
        // A row that cannot bind is left out.
        if cpu_demand[n] > f64::from(capacity.cores) {
            let row = b.milp.constrain(std::mem::take(&mut cpu[n]), Sense::Le, f64::from(capacity.cores), group);
            b.capacity.push(CapacityRow { row, node, resource: Resource::Cores });
        }
        if memory_demand[n] > capacity.memory_mib as f64 {
            let row = b.milp.constrain(std::mem::take(&mut memory[n]), Sense::Le, capacity.memory_mib as f64, group);
            b.capacity.push(CapacityRow { row, node, resource: Resource::Memory });
        }
    }
}

/// Extended resources: `Σ need · y ≤ capacity` per NUMA node for a resource
/// the host keeps per node, over the host's nodes for one it keeps as a
/// whole; in the capacity group of the zone (or of the node, for explain).
/// A row that cannot bind is left out, as for cores.
pub(super) fn resource_rows(b: &mut Builder<'_>) {
    let model = b.model;
    if model.resources.is_empty() {
        return;
    }
    // (pool's first node, resource) → (Σ need · y, demand at most, capacity)
    let mut pools: BTreeMap<(NodeId, ResourceId), (Expression, u64, u64)> = BTreeMap::new();
    let pool_of = |node: NodeId, r: ResourceId| crate::definitions::resource_pool(model, b.topology, node, r);
    for (index, agent) in model.agents.iter().enumerate() {
        if agent.resources.is_empty() {
            continue;
        }
        let fixed = b.fixed.filter(|_| b.is_fixed(AgentId(index as u32)));
        let terms: Vec<(NodeId, Option<Var>, u64)> = match fixed {
            Some((placement, _)) => placement.by_agent[index].iter().map(|(n, c)| (*n, None, u64::from(*c))).collect(),
            None => b.y[index].iter().map(|(n, v)| (*n, Some(*v), u64::from(agent.n_replicas))).collect(),
        };
        for (node, var, most) in terms {
            for (r, need) in &agent.resources {
                let (key, capacity) = pool_of(node, *r);
                let pool = pools.entry((key, *r)).or_insert_with(|| (Expression::from(0.0), 0, capacity));
                match var {
                    Some(var) => pool.0.add_mul(*need as f64, var.lp()),
                    None => pool.0 += (*need * most) as f64,
                }
                pool.1 += need * most;
            }
        }
    }
    for ((node, r), (used, demand, capacity)) in pools {
        if demand <= capacity {
            continue;
        }
        let statement = if b.capacity_per_node {
            Statement::NodeCapacity(node)
        } else {
            Statement::Capacity(b.topology.domain[3][node.0 as usize])
        };
        let group = b.group(statement);
        let row = b.milp.constrain(used, Sense::Le, capacity as f64, group);
        b.capacity.push(CapacityRow { row, node, resource: Resource::Extended(r) });
    }
}

/// CPU and memory the fixed agents of a neighbourhood use, per node.
pub(super) fn fixed_use(b: &Builder<'_>) -> Vec<(f64, u64)> {
    let mut used = vec![(0.0, 0); b.topology.nodes.len()];
    let Some((placement, fixed)) = b.fixed else { return used };
    for (agent, nodes) in placement.by_agent.iter().enumerate().filter(|(agent, _)| fixed[*agent]) {
        let spec = &b.model.agents[agent];
        let cpu = b.model.effective_cpu(spec);
        for (node, count) in nodes {
            let entry = &mut used[node.0 as usize];
            entry.0 += cpu * f64::from(*count);
            entry.1 += spec.memory_mib * u64::from(*count);
        }
    }
    used
}

/// For a route, the largest share `min(y_a/R_a, y_b/R_b)` each NUMA node can
/// hold when the two ends have it to themselves: what fits beside the fixed
/// agents, within the bounds of `y`. A valid upper bound on the share
/// variable, and 0 where the two cannot meet (two 5-core agents on a 8-core
/// node). Docs: model.md §2.
pub(super) fn node_share_ceilings<'b>(
    b: &'b Builder<'_>,
    route: &rtt_schema::model::Route,
    used: &'b [(f64, u64)],
) -> impl Fn(NodeId) -> f64 + 'b {
    let model = b.model;
    let end = |agent: AgentId| {
        let spec = &model.agents[agent.0 as usize];
        (agent, model.effective_cpu(spec), spec.memory_mib, f64::from(spec.n_replicas))
    };
    let (from, to) = (end(route.from), end(route.to));
    move |node: NodeId| {
        if from.0 == to.0 {
            return 1.0;
        }
        // The counts an end may take on this node: a constant for a fixed
        // agent (already in `used`), else 0 up to its variable's bound.
        let choices = |agent: AgentId| -> (u32, u32, bool) {
            if let Some((placement, _)) = b.fixed.filter(|_| b.is_fixed(agent)) {
                let count = placement.get(agent, node);
                return (count, count, true);
            }
            let vars = &b.y[agent.0 as usize];
            match vars.binary_search_by_key(&node, |(n, _)| *n) {
                Ok(i) => (0, b.y_upper[agent.0 as usize][i], false),
                Err(_) => (0, 0, false),
            }
        };
        let capacity = model.node(b.topology.node(node));
        let (cpu_used, memory_used) = used[node.0 as usize];
        let cpu_left = f64::from(capacity.cores) - cpu_used + 1e-9;
        let memory_left = capacity.memory_mib.saturating_sub(memory_used);
        let (from_low, from_high, from_fixed) = choices(from.0);
        let (to_low, to_high, to_fixed) = choices(to.0);
        let mut best: f64 = 0.0;
        for from_count in from_low..=from_high {
            let (cpu, memory) =
                if from_fixed { (0.0, 0) } else { (from.1 * f64::from(from_count), from.2 * u64::from(from_count)) };
            if cpu > cpu_left || memory > memory_left {
                break;
            }
            let to_count = if to_fixed {
                to_low
            } else {
                let by_cpu = ((cpu_left - cpu) / to.1).floor().max(0.0) as u32;
                let by_memory = ((memory_left - memory) / to.2.max(1)) as u32;
                to_high.min(by_cpu).min(by_memory)
            };
            best = best.max((f64::from(from_count) / from.3).min(f64::from(to_count) / to.3));
        }
        best.min(1.0)
    }
}
