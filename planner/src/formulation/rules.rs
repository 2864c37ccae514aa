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
                // Valid bounds while every replica lands in a spread domain,
                // which only the eligibility rows guarantee when they are relaxable.
                let per = if b.relaxable { 0.0 } else { n_replicas / domains.len() as f64 };
                let max = b.milp.continuous(per.ceil(), n_replicas);
                let min = b.milp.continuous(0.0, if b.relaxable { n_replicas } else { per.floor() });
                let group = b.group(Statement::Spread(id));
                for domain in &domains {
                    let count = counts.get(domain).cloned().unwrap_or_default();
                    b.milp.constrain(count.clone() - max.lp(), Sense::Le, 0.0, group);
                    b.milp.constrain(count - min.lp(), Sense::Ge, 0.0, group);
                }
                b.milp.constrain(max.lp() - min.lp(), Sense::Le, f64::from(max_skew), group);
                spread = Some((max, min));
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
