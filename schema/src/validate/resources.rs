//! Extended resources (`gpu`, `net_mbps`, …): well-formed names, each kept
//! per host or per NUMA node on a host (never both), requests that some
//! host offers, and a replica that fits an eligible node with them.

use std::collections::{BTreeMap, BTreeSet};

use crate::issue::Issue;
use crate::model::{Agent, Model, ResourceId};
use crate::raw;
use crate::source::{Path, Target};

/// Names rtt already plans by, under their own fields.
const RESERVED: [&str; 4] = ["cpu", "cores", "memory", "memory_mib"];

/// Every well-formed resource name a host or NUMA node offers, sorted.
pub(super) fn offered(config: &raw::Config) -> Vec<String> {
    let mut names: BTreeSet<&String> = BTreeSet::new();
    for host in &config.topology.hosts {
        names.extend(host.resources.keys());
        names.extend(host.numa.iter().flat_map(|n| n.resources.keys()));
    }
    names.into_iter().filter(|n| well_formed(n) && !RESERVED.contains(&n.as_str())).cloned().collect()
}

fn well_formed(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._/-".contains(c))
}

fn id(names: &[String], name: &str) -> Option<ResourceId> {
    names.binary_search_by(|n| n.as_str().cmp(name)).ok().map(|i| ResourceId(i as u32))
}

fn check_name(name: &str, path: &Path, issues: &mut Vec<Issue>) -> bool {
    if !well_formed(name) {
        issues.push(
            Issue::at(&path.key(name), Target::Key, format!("resource name `{name}` is not valid"), "here".into())
                .help("resource names are lowercase letters, digits and `._/-`, starting with a letter, e.g. `gpu` or `net_mbps`"),
        );
        return false;
    }
    if RESERVED.contains(&name) {
        issues.push(
            Issue::at(&path.key(name), Target::Key, format!("`{name}` is not an extended resource"), "reserved".into())
                .help("cores and memory are given by `cores` and `memory_mib` of each NUMA node and `cpu` and `memory_mib` of each agent"),
        );
        return false;
    }
    true
}

/// A host's resources: those of the host, and those of each NUMA node.
pub(super) fn of_host(
    host: &raw::Host,
    path: &Path,
    names: &[String],
    issues: &mut Vec<Issue>,
) -> (BTreeMap<ResourceId, u64>, Vec<BTreeMap<ResourceId, u64>>) {
    let mut whole = BTreeMap::new();
    for (name, capacity) in &host.resources {
        if check_name(name, &path.key("resources"), issues)
            && let Some(r) = id(names, name)
        {
            whole.insert(r, *capacity);
        }
    }
    let mut per_node = Vec::with_capacity(host.numa.len());
    for (index, node) in host.numa.iter().enumerate() {
        let node_path = path.key("numa").index(index).key("resources");
        let mut resources = BTreeMap::new();
        for (name, capacity) in &node.resources {
            if !check_name(name, &node_path, issues) {
                continue;
            }
            if host.resources.contains_key(name) {
                issues.push(
                    Issue::at(
                        &node_path.key(name),
                        Target::Key,
                        format!("host `{}` offers `{name}` both as a whole and per NUMA node", host.name),
                        "per NUMA node here".into(),
                    )
                    .help(format!(
                        "a host keeps `{name}` in one place: under the host's `resources` (one pool) or under its NUMA nodes'"
                    ))
                    .also(&path.key("resources").key(name), "and for the whole host here"),
                );
                continue;
            }
            if let Some(r) = id(names, name) {
                resources.insert(r, *capacity);
            }
        }
        per_node.push(resources);
    }
    (whole, per_node)
}

/// An agent's requests, resolved; zero and unknown resources are errors.
pub(super) fn of_agent(
    agent: &raw::Agent,
    path: &Path,
    names: &[String],
    issues: &mut Vec<Issue>,
) -> Vec<(ResourceId, u64)> {
    let path = path.key("resources");
    let mut requests = Vec::new();
    for (name, need) in &agent.resources {
        if !check_name(name, &path, issues) {
            continue;
        }
        if *need == 0 {
            issues.push(
                Issue::new(&path.key(name), format!("agent `{}` asks for 0 `{name}`", agent.id), "0".into())
                    .help("leave the resource out, or ask for at least 1"),
            );
            continue;
        }
        match id(names, name) {
            Some(r) => requests.push((r, *need)),
            None => {
                let help = match names.len() {
                    0 => "no host offers extended resources; add `resources:` to the hosts or NUMA nodes that have it"
                        .to_owned(),
                    _ => format!("hosts offer: {}", names.join(", ")),
                };
                issues.push(
                    Issue::at(
                        &path.key(name),
                        Target::Key,
                        format!("no host offers `{name}`"),
                        "unknown resource".into(),
                    )
                    .help(help),
                );
            }
        }
    }
    requests
}

/// One replica of an agent that asks for extended resources must fit, with
/// its cores and memory, on one eligible NUMA node.
pub(super) fn check_fit(model: &Model, agent: &Agent, path: &Path, issues: &mut Vec<Issue>) {
    if agent.resources.is_empty() {
        return;
    }
    let cpu = model.effective_cpu(agent);
    let room = |node| {
        let capacity = model.node(node);
        f64::from(capacity.cores) + 1e-9 >= cpu && capacity.memory_mib >= agent.memory_mib
    };
    // Without room for cores and memory the agent's fit check has said so already.
    let fits = model.eligible_nodes(agent).filter(|n| room(*n)).map(|n| model.resource_fit(agent, n)).max();
    if fits == Some(0) {
        let asked: Vec<String> =
            agent.resources.iter().map(|(r, n)| format!("{}: {n}", model.resources[r.0 as usize])).collect();
        issues.push(
            Issue::new(
                &path.key("resources"),
                format!("no eligible NUMA node fits one replica of `{}`", agent.id),
                format!("{{{}}} with {cpu} cores and {} MiB", asked.join(", "), agent.memory_mib),
            )
            .help("offer these resources on a host the agent may use (a host-wide resource counts for each of its NUMA nodes), or ask for less"),
        );
    }
}
