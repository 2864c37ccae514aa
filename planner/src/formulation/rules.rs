//! Placement rules: spread, anti-affinity, colocate and avoid
//! (docs/model.md §3).

use super::*;

/// Spread, anti-affinity, colocate and avoid. Returns the spread max/min vars.
pub(super) fn topology_rows(b: &mut Builder<'_>) -> Vec<Option<(Var, Var)>> {
    let model = b.model;
    let mut spread_vars = Vec::with_capacity(model.agents.len());
    for (index, agent) in model.agents.iter().enumerate() {
        let id = AgentId(index as u32);
        let n_replicas = f64::from(agent.n_replicas);
        let mut spread = None;
        let fixed = b.is_fixed(id);
        if let Some((level, max_skew)) = agent.spread.filter(|_| !fixed) {
            let level = level_index(level);
            let domains = crate::definitions::spread_domains(model, b.topology, id, level);
            if domains.len() > 1 {
                let counts = b.per_domain(id, level);
                let group = b.group(Statement::Spread(id));
                spread = Some(spread_rows(b, &counts, &domains, n_replicas, max_skew, group));
            }
        }
        spread_vars.push(spread);
        if let Some(level) = agent.anti_affinity.filter(|_| !fixed) {
            let group = b.group(Statement::AntiAffinity(id));
            for (_, count) in b.per_domain(id, level_index(level)) {
                b.milp.constrain(count, Sense::Le, 1.0, group);
            }
        }
        for (rule, (other, level)) in agent.colocate.iter().enumerate() {
            if fixed && b.is_fixed(*other) {
                continue;
            }
            let level = level_index(*level);
            let group = b.group(Statement::Colocate(id, rule));
            let theirs = b.per_domain(*other, level);
            for (domain, count) in b.per_domain(id, level) {
                match theirs.get(&domain) {
                    Some(their_count) => {
                        let present = b.presence(*other, level, domain, their_count);
                        b.milp.constrain(count - n_replicas * present, Sense::Le, 0.0, group);
                    }
                    None => {
                        b.milp.constrain(count, Sense::Le, 0.0, group);
                    }
                }
            }
        }
        for (rule, (other, level)) in agent.avoid.iter().enumerate() {
            if fixed && b.is_fixed(*other) {
                continue;
            }
            let level = level_index(*level);
            let group = b.group(Statement::Avoid(id, rule));
            let theirs = b.per_domain(*other, level);
            for (domain, count) in b.per_domain(id, level) {
                let Some(their_count) = theirs.get(&domain) else { continue };
                let mine = b.presence(id, level, domain, &count);
                let other_present = b.presence(*other, level, domain, their_count);
                b.milp.constrain(mine + other_present, Sense::Le, 1.0, group);
            }
        }
    }
    spread_vars
}

/// Group spread, anti-affinity and avoid: rows over the members' counts
/// summed per domain, so a rule costs one row (or two and a binary) per
/// domain, not one per pair of agents. A rule whose agents are all fixed is
/// a constant and adds nothing.
pub(super) fn group_rows(b: &mut Builder<'_>) {
    let model = b.model;
    for (index, group) in model.groups.iter().enumerate() {
        let id = GroupId(index as u32);
        let members_fixed = group.members.iter().all(|m| b.is_fixed(*m));
        let n_replicas: f64 = group.members.iter().map(|m| f64::from(model.agents[m.0 as usize].n_replicas)).sum();
        if let Some((level, max_skew)) = group.spread.filter(|_| !members_fixed) {
            let level = level_index(level);
            let domains = crate::definitions::group_spread_domains(model, b.topology, group, level);
            if domains.len() > 1 {
                let counts = summed(b, &group.members, level);
                let rows = b.group(Statement::GroupSpread(id));
                spread_rows(b, &counts, &domains, n_replicas, max_skew, rows);
            }
        }
        if let Some(level) = group.anti_affinity.filter(|_| !members_fixed) {
            let rows = b.group(Statement::GroupAntiAffinity(id));
            for (_, count) in summed(b, &group.members, level_index(level)) {
                b.milp.constrain(count, Sense::Le, 1.0, rows);
            }
        }
        for (rule, (avoided, level)) in group.avoid.iter().enumerate() {
            if members_fixed && avoided.iter().all(|a| b.is_fixed(*a)) {
                continue;
            }
            let level = level_index(*level);
            let rows = b.group(Statement::GroupAvoid(id, rule));
            let theirs = summed(b, avoided, level);
            let their_replicas: f64 = avoided.iter().map(|a| f64::from(model.agents[a.0 as usize].n_replicas)).sum();
            for (domain, mine) in summed(b, &group.members, level) {
                let Some(their_count) = theirs.get(&domain) else { continue };
                // p = 1: members may be here and the others may not; p = 0: the reverse.
                let p = b.milp.binary();
                b.milp.constrain(mine - n_replicas * p.lp(), Sense::Le, 0.0, rows);
                b.milp.constrain(their_count.clone() + their_replicas * p.lp(), Sense::Le, their_replicas, rows);
            }
        }
    }
}

/// `min ≤ count[d] ≤ max` over the spread domains and `max − min ≤
/// max_skew`, for `n_replicas` replicas counted per domain; the max and
/// min variables.
fn spread_rows(
    b: &mut Builder<'_>,
    counts: &BTreeMap<u32, Expression>,
    domains: &[u32],
    n_replicas: f64,
    max_skew: u32,
    group: Group,
) -> (Var, Var) {
    // Valid bounds while every replica lands in a spread domain, which only
    // the eligibility rows guarantee when they are relaxable.
    let per = if b.relaxable { 0.0 } else { n_replicas / domains.len() as f64 };
    let max = b.milp.continuous(per.ceil(), n_replicas);
    let min = b.milp.continuous(0.0, if b.relaxable { n_replicas } else { per.floor() });
    for domain in domains {
        let count = counts.get(domain).cloned().unwrap_or_default();
        b.milp.constrain(count.clone() - max.lp(), Sense::Le, 0.0, group);
        b.milp.constrain(count - min.lp(), Sense::Ge, 0.0, group);
    }
    b.milp.constrain(max.lp() - min.lp(), Sense::Le, f64::from(max_skew), group);
    (max, min)
}

/// `Σ y` of several agents per domain of `level`.
fn summed(b: &Builder<'_>, agents: &[AgentId], level: usize) -> BTreeMap<u32, Expression> {
    let mut sums: BTreeMap<u32, Expression> = BTreeMap::new();
    for agent in agents {
        for (domain, count) in b.per_domain(*agent, level) {
            let sum = sums.entry(domain).or_default();
            *sum = std::mem::take(sum) + count;
        }
    }
    sums
}
