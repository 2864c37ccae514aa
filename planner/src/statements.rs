//! Config statements behind constraint groups: where they are written and
//! how to say them, for infeasibility reports and explanations.

use rtt_schema::model::{HostId, Model, NumaRef};
use rtt_schema::source::Path;

use crate::formulation::Statement;
use crate::infeasible::Relaxation;
use crate::topology::NodeId;

/// The path of the config text a statement stands for.
pub fn path(model: &Model, statement: Statement) -> Path {
    let agent = |a: rtt_schema::model::AgentId| Path::root().key("agents").index(a.0 as usize);
    let group = |g: rtt_schema::model::GroupId| Path::root().key("groups").index(g.0 as usize);
    match statement {
        Statement::Replicas(a) => agent(a).key("replicas"),
        Statement::Capacity(zone) => {
            let first = model.hosts.iter().position(|h| h.zone.0 == zone).unwrap_or(0);
            Path::root().key("topology").key("hosts").index(first).key("zone")
        }
        Statement::Spread(a) => agent(a).key("spread"),
        Statement::AntiAffinity(a) => agent(a).key("anti_affinity"),
        Statement::Colocate(a, rule) => agent(a).key("colocate").index(rule),
        Statement::Avoid(a, rule) => agent(a).key("avoid").index(rule),
        Statement::Slo(route) => Path::root().key("routes").index(route).key("slo_p99_us"),
        Statement::GroupSpread(g) => group(g).key("spread"),
        Statement::GroupAntiAffinity(g) => group(g).key("anti_affinity"),
        Statement::GroupAvoid(g, rule) => group(g).key("avoid").index(rule),
        Statement::NodeCapacity(node) => {
            let numa = node_ref(model, node);
            Path::root().key("topology").key("hosts").index(numa.host.0 as usize).key("numa").index(numa.numa as usize)
        }
        Statement::Eligibility(a) => {
            if model.agents[a.0 as usize].pin.is_some() {
                agent(a).key("pin")
            } else {
                agent(a).key("selector")
            }
        }
    }
}

/// A short description, e.g. "slo_p99_us of gateway@1 → search@1".
pub fn describe(model: &Model, statement: Statement) -> String {
    let id = |a: rtt_schema::model::AgentId| model.agents[a.0 as usize].id.as_str();
    match statement {
        Statement::Replicas(a) => format!("replicas of {} ({})", id(a), model.agents[a.0 as usize].n_replicas),
        Statement::Capacity(zone) => format!("capacity of zone {}", model.zones[zone as usize]),
        Statement::NodeCapacity(node) => {
            let numa = node_ref(model, node);
            format!("capacity of {} NUMA {}", model.hosts[numa.host.0 as usize].name, numa.numa)
        }
        Statement::Spread(a) => format!("spread of {}", id(a)),
        Statement::AntiAffinity(a) => format!("anti_affinity of {}", id(a)),
        Statement::Colocate(a, rule) => {
            let (other, _) = model.agents[a.0 as usize].colocate[rule];
            format!("colocate of {} with {}", id(a), id(other))
        }
        Statement::Avoid(a, rule) => {
            let (other, _) = model.agents[a.0 as usize].avoid[rule];
            format!("avoid of {} and {}", id(a), id(other))
        }
        Statement::Slo(route) => {
            let r = &model.routes[route];
            format!("slo_p99_us of {} → {}", id(r.from), id(r.to))
        }
        Statement::GroupSpread(g) => format!("spread of group {}", model.groups[g.0 as usize].name),
        Statement::GroupAntiAffinity(g) => format!("anti_affinity of group {}", model.groups[g.0 as usize].name),
        Statement::GroupAvoid(g, rule) => {
            let group = &model.groups[g.0 as usize];
            let (avoided, _) = &group.avoid[rule];
            match avoided.as_slice() {
                [one] => format!("avoid of group {} and {}", group.name, id(*one)),
                many => format!("avoid of group {} and {} agents", group.name, many.len()),
            }
        }
        Statement::Eligibility(a) => {
            if model.agents[a.0 as usize].pin.is_some() {
                format!("pin of {}", id(a))
            } else {
                format!("selector of {}", id(a))
            }
        }
    }
}

/// The relaxation as advice, e.g. "raise slo_p99_us of gateway@1 → search@1 to 125".
pub fn advise(model: &Model, statement: Statement, relaxation: &Relaxation) -> String {
    let what = describe(model, statement);
    match relaxation {
        Relaxation::Slo { at_least_us } => format!("raise {what} to {}", trim(*at_least_us)),
        Relaxation::Capacity { cores, memory_mib, extended } => {
            let zone = match statement {
                Statement::NodeCapacity(_) => what.replacen("capacity of ", "on ", 1),
                _ => format!("in {}", what.trim_start_matches("capacity of ")),
            };
            let mut parts = Vec::new();
            if *cores > 0.0 {
                parts.push(format!("{} cores", trim(*cores)));
            }
            match (*memory_mib > 0.0, parts.is_empty() && extended.is_empty()) {
                (true, true) => parts.push(format!("{} MiB of memory", trim(*memory_mib))),
                (true, false) => parts.push(format!("{} MiB", trim(*memory_mib))),
                _ => {}
            }
            parts.extend(extended.iter().map(|(name, units)| format!("{} {name}", trim(*units))));
            if parts.is_empty() {
                format!("add capacity {zone}")
            } else {
                format!("add {} {zone}", parts.join(" and "))
            }
        }
        Relaxation::FewerReplicas { by } => format!("lower {what} by {by}"),
        Relaxation::MoreSkew { by } => format!("raise max_skew of the {what} by {by}"),
        Relaxation::SharedDomains { replicas } => {
            format!(
                "relax the {what}: {replicas} replica(s) would have to share a domain (lower replicas or use a finer level)"
            )
        }
        Relaxation::Drop => format!("drop the {what}"),
        Relaxation::WiderEligibility { replicas } => {
            format!("widen the {what}: {replicas} replica(s) need hosts outside it")
        }
    }
}

/// The host and NUMA index of a node id (nodes are numbered host by host).
pub fn node_ref(model: &Model, node: NodeId) -> NumaRef {
    let mut first = 0u32;
    for (index, host) in model.hosts.iter().enumerate() {
        let n = host.numa.len() as u32;
        if node.0 < first + n {
            return NumaRef { host: HostId(index as u32), numa: node.0 - first };
        }
        first += n;
    }
    NumaRef { host: HostId(0), numa: 0 }
}

fn trim(x: f64) -> String {
    if x.fract() == 0.0 { format!("{}", x as i64) } else { format!("{x:.1}") }
}
