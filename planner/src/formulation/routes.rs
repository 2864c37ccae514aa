//! Route rows: locality shares per level, the p99 model of SPEC §4 and
//! SLO rows (docs/model.md §2–§4).

use super::*;

/// Locality shares, the 0.99 indicators, the latency objective and SLOs.
pub(super) fn route_rows(b: &mut Builder<'_>, objective_constant: &mut f64) -> Vec<RouteVars> {
    let model = b.model;
    let total_rps: f64 = model.routes.iter().map(|r| r.rps).sum();
    let latency = model.latency.by_locality;
    let mut all = Vec::with_capacity(model.routes.len());
    // What the agents routes touch can hold, for `reach` (config facts, the
    // same in every neighbourhood), once per agent.
    let mut sides: Vec<Option<crate::reach::AgentReach>> = (0..model.agents.len()).map(|_| None).collect();
    let used = fixed_use(b);
    for (index, route) in model.routes.iter().enumerate() {
        let mut vars = RouteVars::default();
        if b.is_fixed(route.from) && b.is_fixed(route.to) {
            all.push(vars);
            continue;
        }
        // Levels the route can never be local at get no indicator: a valid
        // fixing w = 0 that keeps the relaxation from crediting them. Not
        // when built to name conflicts: it assumes spread and anti-affinity
        // hold, and the filter must be able to drop them.
        let reachable = if b.relaxable {
            [true; 4]
        } else {
            let finest = b.finest_level;
            let mut judge = || {
                for agent in [route.from, route.to] {
                    sides[agent.0 as usize].get_or_insert_with(|| {
                        let nodes = crate::bound::candidates_of(model, b.topology, agent);
                        crate::reach::agent_reach_down_to(model, b.topology, &nodes, agent, finest)
                    });
                }
                match (&sides[route.from.0 as usize], &sides[route.to.0 as usize]) {
                    (Some(from), Some(to)) => crate::reach::reachable_between(model, [from, to], route.from, route.to),
                    _ => [true; 4],
                }
            };
            // A complete answer is kept for the plan; a coarse sub-problem's
            // partial one (cheap) is not.
            if finest == 0 { b.topology.route_reach(index, judge) } else { judge() }
        };
        let weight = model.latency_weight * route.rps / total_rps;
        let service = model.agents[route.to.0 as usize].service_us;
        let worst = latency[4] + service;
        *objective_constant += weight * worst;
        let from_n = f64::from(model.agents[route.from.0 as usize].n_replicas);
        let to_n = f64::from(model.agents[route.to.0 as usize].n_replicas);
        let mut p99_gain = Expression::from(0.0);
        let mut previous_local: Option<(usize, Var)> = None;
        // Coarsest first, so that each finer indicator can be chained below it.
        for level in (b.finest_level..4).rev() {
            let step = latency[level + 1] - latency[level];
            if step <= 0.0 || !reachable[level] {
                continue;
            }
            if let Some((coarser_level, coarser)) =
                previous_local.filter(|(coarser_level, _)| b.topology.same_partition(level, *coarser_level))
            {
                // The same domains as the coarser level: one indicator serves
                // both, with both steps (fewer columns, no duplicate rows).
                b.milp.add_objective(-weight * step, coarser);
                p99_gain.add_mul(step, coarser.lp());
                vars.local[level] = Some(coarser);
                previous_local = Some((coarser_level.min(level), coarser));
                continue;
            }
            let from_counts = b.per_domain(route.from, level);
            let to_counts = b.per_domain(route.to, level);
            let shares: Vec<_> = {
                let ceilings = (level == 0 && !b.relaxable).then(|| node_share_ceilings(b, route, &used));
                from_counts
                    .iter()
                    .filter_map(|(domain, from_count)| {
                        let to_count = to_counts.get(domain)?;
                        let ceiling = ceilings.as_ref().map_or(1.0, |c| c(NodeId(*domain)));
                        (ceiling > 0.0).then_some((*domain, from_count, to_count, ceiling))
                    })
                    .collect()
            };
            // Shares that cannot add up to 0.99 leave the level unreachable.
            if shares.iter().map(|(.., ceiling)| ceiling).sum::<f64>() < LOCAL_SHARE - SHARE_EPSILON {
                continue;
            }
            let mut share_sum = Expression::from(0.0);
            for (domain, from_count, to_count, ceiling) in shares {
                let share = b.milp.continuous(0.0, ceiling);
                b.milp.constrain(from_n * share.lp() - from_count.clone(), Sense::Le, 0.0, STRUCTURAL);
                b.milp.constrain(to_n * share.lp() - to_count.clone(), Sense::Le, 0.0, STRUCTURAL);
                share_sum.add_mul(1.0, share.lp());
                vars.shares[level].push((domain, share));
            }
            let local = b.milp.binary();
            b.milp.constrain(share_sum - (LOCAL_SHARE - SHARE_EPSILON) * local.lp(), Sense::Ge, 0.0, STRUCTURAL);
            if let Some((_, coarser)) = previous_local {
                // Local at a finer level implies local at every coarser one.
                b.milp.constrain(local.lp() - coarser.lp(), Sense::Le, 0.0, STRUCTURAL);
            }
            b.milp.add_objective(-weight * step, local);
            p99_gain.add_mul(step, local.lp());
            vars.local[level] = Some(local);
            previous_local = Some((level, local));
        }
        if let Some(slo) = route.slo_p99_us {
            let group = b.group(Statement::Slo(index));
            // worst − Σ step·w ≤ slo
            let row = b.milp.constrain(p99_gain, Sense::Ge, worst - slo, group);
            b.slo_rows.push((index, row));
        }
        all.push(vars);
    }
    all
}
