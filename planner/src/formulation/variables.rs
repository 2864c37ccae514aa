//! The placement variables: `y[a,n]` replicas of agent `a` on NUMA node
//! `n`, integer, over the nodes an agent may use (docs/model.md §2).

use super::*;

/// `y[a, n]` for every node an agent may use and a replica fits, and `Σ y = R`.
pub(super) fn placement_variables(b: &mut Builder<'_>, options: Options) {
    let model = b.model;
    for (index, agent) in model.agents.iter().enumerate() {
        let id = AgentId(index as u32);
        let cpu = model.effective_cpu(agent);
        if b.is_fixed(id) {
            b.y.push(Vec::new());
            b.y_upper.push(Vec::new());
            continue;
        }
        let fine = |level: Option<rtt_schema::raw::Level>| {
            matches!(level, Some(rtt_schema::raw::Level::Numa | rtt_schema::raw::Level::Host))
        };
        let one_per_node = fine(agent.anti_affinity) || model.groups_of(id).any(|(_, g)| fine(g.anti_affinity));
        let mut vars = Vec::new();
        let mut uppers = Vec::new();
        let mut ineligible = Vec::new();
        for (node_index, numa) in b.topology.nodes.iter().enumerate() {
            let host = &model.hosts[numa.host.0 as usize];
            if !host.schedulable {
                continue;
            }
            if let Some(allowed) = b.allowed {
                let occupied = b.fixed.is_some_and(|(p, _)| p.get(id, NodeId(node_index as u32)) > 0);
                if !allowed[node_index] && !occupied {
                    continue;
                }
            }
            let pinned_numa_ok = agent.pin.and_then(|(_, n)| n).is_none_or(|n| n == numa.numa);
            let eligible = model.host_is_eligible(agent, numa.host) && pinned_numa_ok;
            if !eligible && !options.relaxable_eligibility {
                continue;
            }
            let capacity = model.node(*numa);
            let by_cpu = (f64::from(capacity.cores) / cpu + 1e-9).floor();
            let by_memory = (capacity.memory_mib / agent.memory_mib) as f64;
            let by_resources = model.resource_fit(agent, *numa).min(u64::from(agent.n_replicas)) as f64;
            let fits_one = by_cpu >= 1.0 && by_memory >= 1.0 && by_resources >= 1.0;
            let mut upper = f64::from(agent.n_replicas);
            // Capacity and anti-affinity tighten the bounds, except when the
            // formulation is built to name conflicts: then only their rows
            // may hold them, so that they can be found and relaxed.
            if !options.relaxable_eligibility {
                upper = upper.min(by_cpu).min(by_memory).min(by_resources);
                if one_per_node {
                    upper = upper.min(1.0);
                }
            } else if !fits_one {
                upper = 0.0;
            }
            if upper < 1.0 {
                continue;
            }
            let var = b.milp.integer(0.0, upper);
            let node = NodeId(node_index as u32);
            vars.push((node, var));
            uppers.push(upper as u32);
            if !eligible {
                ineligible.push(var);
            }
        }
        let mut sum = Expression::from(0.0);
        for (_, var) in &vars {
            sum.add_mul(1.0, var.lp());
        }
        let group = b.group(Statement::Replicas(id));
        b.milp.constrain(sum, Sense::Eq, f64::from(agent.n_replicas), group);
        if let Some(held) = b.held {
            let mut per_domain: BTreeMap<u32, Expression> = BTreeMap::new();
            for (node, var) in &vars {
                per_domain.entry(b.topology.domain_of(held.level, *node)).or_default().add_mul(1.0, var.lp());
            }
            let counts = &held.counts[index];
            for (domain, sum) in per_domain {
                let count = counts.get(&domain).copied().unwrap_or(0);
                b.milp.constrain(sum, Sense::Eq, f64::from(count), group);
            }
        }
        if !ineligible.is_empty() {
            let group = b.group(Statement::Eligibility(id));
            for var in ineligible {
                b.milp.constrain(Expression::from(var.lp()), Sense::Le, 0.0, group);
            }
        }
        b.y.push(vars);
        b.y_upper.push(uppers);
    }
}
