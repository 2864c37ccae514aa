//! Semantic checks of SPEC §3.3 and refinement into [`Model`].
//!
//! Runs on a config whose shape is already right ([`crate::structure`]) and
//! reports every problem it finds, not only the first. Pure: it needs nothing
//! on disk besides the config itself (registry, overlays and driver roots are
//! checked when they are used).

mod agents;
mod groups;
mod resources;
mod wiring;

use std::collections::HashMap;

use crate::issue::Issue;
use crate::model::{Host, HostId, Latency, Model, NumaNode, Rack, RackId, ZoneId};
use crate::raw;
use crate::source::{Path, Target};

/// Checks `config` and refines it, or returns every problem found.
pub fn refine(config: &raw::Config) -> Result<Model, Vec<Issue>> {
    let mut issues = Vec::new();
    let root = Path::root();
    let latency = check_latency(&config.topology.latency_us, &mut issues);
    let drivers = wiring::drivers(config, &mut issues);
    let resource_names = resources::offered(config);
    let (zones, racks, hosts) = hosts(config, &drivers, &resource_names, &mut issues);
    let mut model = Model {
        latency,
        zones,
        racks,
        hosts,
        agents: Vec::new(),
        routes: Vec::new(),
        latency_weight: config.objective.latency_weight,
        churn_weight: config.objective.churn_weight,
        burstable_overcommit: config.qos_overcommit.burstable,
        best_effort_overcommit: config.qos_overcommit.best_effort,
        providers: Vec::new(),
        env: config.env.clone(),
        drivers: drivers.list,
        groups: Vec::new(),
        resources: resource_names,
    };
    model.agents = agents::agents(config, &model, &mut issues);
    model.routes = agents::routes(config, &model, &mut issues);
    model.groups = groups::groups(config, &model, &mut issues);
    model.providers = wiring::providers(config, &model, &mut issues);
    wiring::env(config, &mut issues);
    if config.version != 1 {
        issues.push(
            Issue::new(&root.key("version"), "unsupported config version".into(), format!("found {}", config.version))
                .help("this rtt reads `version: 1`"),
        );
    }
    if issues.is_empty() { Ok(model) } else { Err(issues) }
}

fn check_latency(latency: &raw::LatencyUs, issues: &mut Vec<Issue>) -> Latency {
    let by_locality = [latency.numa, latency.host, latency.rack, latency.zone, latency.region];
    let names = ["numa", "host", "rack", "zone", "region"];
    let base = Path::root().key("topology").key("latency_us");
    for i in 1..by_locality.len() {
        if by_locality[i] < by_locality[i - 1] {
            let message = format!("latency `{}` is lower than `{}`", names[i], names[i - 1]);
            let label = format!("{} µs < {} µs", by_locality[i], by_locality[i - 1]);
            let help = "latencies must not decrease from numa to host, rack, zone and region".to_owned();
            issues.push(
                Issue::new(&base.key(names[i]), message, label)
                    .help(help)
                    .also(&base.key(names[i - 1]), "the finer level"),
            );
        }
    }
    Latency { by_locality }
}

fn hosts(
    config: &raw::Config,
    drivers: &wiring::Drivers,
    resource_names: &[String],
    issues: &mut Vec<Issue>,
) -> (Vec<String>, Vec<Rack>, Vec<Host>) {
    let mut zones: Vec<String> = Vec::new();
    let mut zone_ids: HashMap<&str, ZoneId> = HashMap::new();
    let mut racks: Vec<Rack> = Vec::new();
    let mut rack_ids: HashMap<(ZoneId, &str), RackId> = HashMap::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut hosts = Vec::with_capacity(config.topology.hosts.len());
    let base = Path::root().key("topology").key("hosts");
    for (index, host) in config.topology.hosts.iter().enumerate() {
        let path = base.index(index);
        if let Some(first) = seen.insert(&host.name, index) {
            issues.push(duplicate("host", &host.name, &path.key("name"), &base.index(first).key("name")));
        }
        let zone = *zone_ids.entry(&host.zone).or_insert_with(|| {
            zones.push(host.zone.clone());
            ZoneId(zones.len() as u32 - 1)
        });
        let rack = *rack_ids.entry((zone, &host.rack)).or_insert_with(|| {
            racks.push(Rack { name: host.rack.clone(), zone });
            RackId(racks.len() as u32 - 1)
        });
        if let Some(fingerprint) = &host.fingerprint
            && !(fingerprint.len() == 16
                && fingerprint.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        {
            issues.push(
                Issue::new(
                    &path.key("fingerprint"),
                    format!("`{fingerprint}` is not a machine fingerprint"),
                    "not 16 hex digits".into(),
                )
                .help("use the fingerprint `rtt tune` prints on that machine (16 lowercase hex digits)"),
            );
        }
        let driver = drivers.for_host(host, &path, issues);
        let (resources, numa_resources) = resources::of_host(host, &path, resource_names, issues);
        hosts.push(Host {
            name: host.name.clone(),
            zone,
            rack,
            labels: host.labels.clone(),
            schedulable: host.schedulable,
            driver,
            numa: host.numa.iter().map(|n| NumaNode { cores: n.cores, memory_mib: n.memory_mib }).collect(),
            resources,
            numa_resources,
        });
    }
    (zones, racks, hosts)
}

/// "duplicate X" with both places shown.
fn duplicate(what: &str, name: &str, path: &Path, first: &Path) -> Issue {
    Issue::new(path, format!("duplicate {what} `{name}`"), "defined again here".into())
        .help(format!("{what} names must be unique; rename or remove one"))
        .also(first, "first defined here")
}

/// "unknown X" with a suggestion from the known names.
fn dangling(what: &str, name: &str, path: &Path, known: &[&str]) -> Issue {
    let help = match crate::structure::did_you_mean(name, known) {
        Some(guess) => format!("did you mean `{guess}`?"),
        None if known.len() <= 8 => format!("known {what}s: {}", known.join(", ")),
        None => format!("no {what} is named `{name}`; check the spelling"),
    };
    Issue::at(path, Target::Value, format!("unknown {what} `{name}`"), format!("no such {what}")).help(help)
}

fn host_index(hosts: &[Host]) -> HashMap<&str, HostId> {
    hosts.iter().enumerate().map(|(i, h)| (h.name.as_str(), HostId(i as u32))).collect()
}
