//! Agents and routes: unique ids, resolved references, eligibility and fit.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{dangling, duplicate, host_index};
use crate::issue::Issue;
use crate::model::{Agent, AgentId, Model, Route};
use crate::raw::{self, Level, Qos};
use crate::source::Path;

pub(super) fn agents(config: &raw::Config, model: &Model, issues: &mut Vec<Issue>) -> Vec<Agent> {
    let base = Path::root().key("agents");
    let mut ids: HashMap<&str, AgentId> = HashMap::new();
    for (index, agent) in config.agents.iter().enumerate() {
        if let Some(first) = ids.insert(&agent.id, AgentId(index as u32)) {
            // Keep the first definition as the one references resolve to.
            ids.insert(&config.agents[first.0 as usize].id, first);
            issues.push(duplicate(
                "agent",
                &agent.id,
                &base.index(index).key("id"),
                &base.index(first.0 as usize).key("id"),
            ));
        }
    }
    let known: Vec<&str> = config.agents.iter().map(|a| a.id.as_str()).collect();
    let hosts = host_index(&model.hosts);
    let host_names: Vec<&str> = model.hosts.iter().map(|h| h.name.as_str()).collect();
    let mut fit = FitIndex::new(model);
    if !fit.any_schedulable() && !config.agents.is_empty() {
        // Every agent would fail the per-agent checks below; one message says why.
        let label = if model.hosts.is_empty() { "no hosts" } else { "every host has `schedulable: false`" };
        issues.push(
            Issue::new(&Path::root().key("topology").key("hosts"), "no host is schedulable".into(), label.into())
                .help("add a host, or set `schedulable: true` (the default) on at least one"),
        );
    }

    let mut agents = Vec::with_capacity(config.agents.len());
    for (index, raw_agent) in config.agents.iter().enumerate() {
        let path = base.index(index);
        let manifest = raw_agent.manifest.as_deref().and_then(|m| m.parse().ok());
        if raw_agent.qos == Qos::Guaranteed && raw_agent.cpu.fract() != 0.0 {
            issues.push(
                Issue::new(
                    &path.key("cpu"),
                    format!("guaranteed agent `{}` asks for a fraction of a core", raw_agent.id),
                    format!("found {}", raw_agent.cpu),
                )
                .help(format!(
                    "guaranteed agents take whole cores: use {} or {}, or make the agent `burstable`",
                    raw_agent.cpu.floor().max(1.0),
                    raw_agent.cpu.ceil()
                )),
            );
        }
        let pin = raw_agent.pin.as_ref().and_then(|pin| {
            let pin_path = path.key("pin");
            let Some(&host) = hosts.get(pin.host.as_str()) else {
                issues.push(dangling("host", &pin.host, &pin_path.key("host"), &host_names));
                return None;
            };
            let n_numa = model.hosts[host.0 as usize].numa.len() as u32;
            if let Some(numa) = pin.numa.filter(|n| *n >= n_numa) {
                issues.push(
                    Issue::new(
                        &pin_path.key("numa"),
                        format!("host `{}` has no NUMA node {numa}", pin.host),
                        format!("found {numa}"),
                    )
                    .help(format!("`{}` has NUMA nodes 0..={}", pin.host, n_numa - 1)),
                );
                return None;
            }
            Some((host, pin.numa))
        });
        let mut agent = Agent {
            id: raw_agent.id.clone(),
            manifest,
            n_replicas: raw_agent.replicas,
            cpu: raw_agent.cpu,
            memory_mib: raw_agent.memory_mib,
            qos: raw_agent.qos,
            service_us: raw_agent.service_us,
            selector: raw_agent.selector.clone(),
            pin,
            spread: raw_agent.spread.map(|s| (Level::from(s.level), s.max_skew)),
            anti_affinity: raw_agent.anti_affinity.map(|a| a.level),
            colocate: Vec::new(),
            avoid: Vec::new(),
            labels: raw_agent.labels.clone(),
            resources: super::resources::of_agent(raw_agent, &path, &model.resources, issues),
        };
        agent.colocate = relations(
            &raw_agent.id,
            raw_agent.colocate.iter().map(|c| (&c.with, c.level)),
            &path.key("colocate"),
            "with",
            &ids,
            &known,
            issues,
        );
        agent.avoid = relations(
            &raw_agent.id,
            raw_agent.avoid.iter().map(|a| (&a.agent, a.level)),
            &path.key("avoid"),
            "agent",
            &ids,
            &known,
            issues,
        );
        if fit.any_schedulable() && (raw_agent.pin.is_none() || agent.pin.is_some()) {
            check_placeable(model, &agent, &path, &mut fit, issues);
            super::resources::check_fit(model, &agent, &path, issues);
        }
        agents.push(agent);
    }
    agents
}

/// Resolves colocate/avoid targets; the agent itself and repeats are errors.
fn relations<'a>(
    own_id: &str,
    entries: impl Iterator<Item = (&'a String, Level)>,
    path: &Path,
    field: &str,
    ids: &HashMap<&str, AgentId>,
    known: &[&str],
    issues: &mut Vec<Issue>,
) -> Vec<(AgentId, Level)> {
    let mut resolved: Vec<(AgentId, Level)> = Vec::new();
    for (i, (other, level)) in entries.enumerate() {
        let item = path.index(i).key(field);
        let relation = path.0.last().map_or(String::new(), |s| match s {
            crate::source::Segment::Key(k) => k.clone(),
            crate::source::Segment::Index(_) => String::new(),
        });
        if other == own_id {
            let help = if relation == "avoid" {
                "to keep replicas of one agent apart use `anti_affinity`"
            } else {
                "an agent is always colocated with itself; remove the entry"
            };
            issues.push(
                Issue::new(&item, format!("agent `{own_id}` names itself in `{relation}`"), "the agent itself".into())
                    .help(help),
            );
            continue;
        }
        match ids.get(other.as_str()) {
            Some(&id) if resolved.contains(&(id, level)) => {
                issues.push(
                    Issue::new(
                        &item,
                        format!("`{relation}` lists `{other}` at level {level:?} twice").to_lowercase(),
                        "repeated".into(),
                    )
                    .help("list each rule once"),
                );
            }
            Some(&id) => resolved.push((id, level)),
            None => issues.push(dangling("agent", other, &item, known)),
        }
    }
    resolved
}

/// Selector/pin must leave a schedulable host, and one replica must fit one
/// eligible NUMA node (cpu after QoS overcommit, and memory, on the same node).
fn check_placeable(model: &Model, agent: &Agent, path: &Path, fit: &mut FitIndex, issues: &mut Vec<Issue>) {
    let shapes = match agent.pin {
        Some((host, numa)) => {
            if !model.host_is_eligible(agent, host) {
                let h = &model.hosts[host.0 as usize];
                let (reason, help) = if !h.schedulable {
                    (
                        "the pinned host is not schedulable",
                        format!("host `{}` has `schedulable: false`; pin another host or make it schedulable", h.name),
                    )
                } else {
                    (
                        "the pinned host does not match the selector",
                        format!("host `{}` lacks labels the selector asks for", h.name),
                    )
                };
                issues.push(
                    Issue::new(
                        &path.key("pin").key("host"),
                        format!("pin of `{}` matches no schedulable host", agent.id),
                        reason.into(),
                    )
                    .help(help),
                );
                return;
            }
            let nodes = &model.hosts[host.0 as usize].numa;
            let shapes: BTreeSet<(u32, u64)> = match numa {
                Some(n) => [(nodes[n as usize].cores, nodes[n as usize].memory_mib)].into(),
                None => nodes.iter().map(|n| (n.cores, n.memory_mib)).collect(),
            };
            shapes
        }
        None => {
            let shapes = fit.shapes(&agent.selector);
            if shapes.is_empty() {
                let labels: Vec<String> = agent.selector.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                issues.push(
                    Issue::new(
                        &path.key("selector"),
                        format!("selector of `{}` matches no schedulable host", agent.id),
                        format!("no schedulable host has {{{}}}", labels.join(", ")),
                    )
                    .help("label a schedulable host with these labels, or relax the selector"),
                );
                return;
            }
            shapes.clone()
        }
    };
    let cpu = model.effective_cpu(agent);
    let fits = shapes.iter().any(|&(cores, memory)| cpu <= f64::from(cores) && agent.memory_mib <= memory);
    if !fits {
        let largest_cores = shapes.iter().map(|s| s.0).max().unwrap_or(0);
        let largest_memory = shapes.iter().map(|s| s.1).max().unwrap_or(0);
        let message = format!("a replica of `{}` is larger than every eligible NUMA node", agent.id);
        let label = format!("{cpu} cores, {} MiB per replica", agent.memory_mib);
        let help = format!(
            "the largest eligible nodes have {largest_cores} cores and {largest_memory} MiB; lower cpu/memory_mib or add larger hosts"
        );
        issues.push(Issue::new(&path.key("cpu"), message, label).help(help));
    }
}

/// Distinct (cores, memory) shapes of schedulable NUMA nodes, per selector,
/// so checking 10,000 agents does not rescan 2,000 hosts each time.
struct FitIndex<'m> {
    model: &'m Model,
    by_selector: HashMap<BTreeMap<String, String>, BTreeSet<(u32, u64)>>,
}

impl<'m> FitIndex<'m> {
    fn new(model: &'m Model) -> Self {
        Self { model, by_selector: HashMap::new() }
    }

    fn any_schedulable(&self) -> bool {
        self.model.hosts.iter().any(|h| h.schedulable)
    }

    fn shapes(&mut self, selector: &BTreeMap<String, String>) -> &BTreeSet<(u32, u64)> {
        let model = self.model;
        self.by_selector.entry(selector.clone()).or_insert_with(|| {
            model
                .hosts
                .iter()
                .filter(|h| h.schedulable && selector.iter().all(|(k, v)| h.labels.get(k) == Some(v)))
                .flat_map(|h| h.numa.iter().map(|n| (n.cores, n.memory_mib)))
                .collect()
        })
    }
}

pub(super) fn routes(config: &raw::Config, model: &Model, issues: &mut Vec<Issue>) -> Vec<Route> {
    let base = Path::root().key("routes");
    let known: Vec<&str> = model.agents.iter().map(|a| a.id.as_str()).collect();
    let ids: HashMap<&str, AgentId> =
        model.agents.iter().enumerate().rev().map(|(i, a)| (a.id.as_str(), AgentId(i as u32))).collect();
    let mut seen: HashMap<(AgentId, AgentId), usize> = HashMap::new();
    let mut routes = Vec::new();
    for (index, route) in config.routes.iter().enumerate() {
        let path = base.index(index);
        let from = ids.get(route.from.as_str()).copied();
        let to = ids.get(route.to.as_str()).copied();
        if from.is_none() {
            issues.push(dangling("agent", &route.from, &path.key("from"), &known));
        }
        if to.is_none() {
            issues.push(dangling("agent", &route.to, &path.key("to"), &known));
        }
        let (Some(from), Some(to)) = (from, to) else { continue };
        if from == to {
            issues.push(
                Issue::new(&path.key("to"), format!("route from `{}` to itself", route.from), "same as `from`".into())
                    .help("a route joins two different agents; traffic inside one agent is its service_us"),
            );
            continue;
        }
        if let Some(first) = seen.insert((from, to), index) {
            issues.push(
                Issue::new(
                    &path,
                    format!("duplicate route `{}` → `{}`", route.from, route.to),
                    "defined again here".into(),
                )
                .help("merge the two: add their rps into one route")
                .also(&base.index(first), "first defined here"),
            );
            continue;
        }
        routes.push(Route { from, to, rps: route.rps, slo_p99_us: route.slo_p99_us });
    }
    routes
}
