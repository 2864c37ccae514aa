//! Synthetic rtt configs, deterministic from a seed, for tests and benchmarks.
//!
//! A generated config is valid and, by construction, feasible: capacity is
//! sized for a target core utilisation, constraints are drawn so that a
//! placement exists (anti-affinity never asks for more domains than exist,
//! selectors match a good share of hosts, SLOs leave room above zone latency).

use std::collections::BTreeMap;

use rtt_schema::raw::{
    AgentSelection, AntiAffinity, Avoid, Colocate, Config, Host, LatencyUs, Level, NumaNode, Objective, Provider, Qos,
    QosOvercommit, Route, Spread, SpreadLevel, Topology,
};

/// The size of an instance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spec {
    /// Hosts.
    pub n_hosts: usize,
    /// Agents.
    pub n_agents: usize,
    /// Routes.
    pub n_routes: usize,
    /// Share of all cores the replicas use, after QoS overcommit.
    pub utilization: f64,
    /// PRNG seed.
    pub seed: u64,
}

/// The benchmark tiers of the planner issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// ≈ 12 hosts / 30 agents / 60 routes.
    S,
    /// ≈ 60 / 200 / 400.
    M,
    /// ≈ 300 / 1,000 / 2,500.
    L,
    /// ≈ 2,000 / 6,000 / 15,000.
    Xl,
}

impl Tier {
    /// The spec of a tier.
    pub fn spec(self, seed: u64) -> Spec {
        let (n_hosts, n_agents, n_routes) = match self {
            Tier::S => (12, 30, 60),
            Tier::M => (60, 200, 400),
            Tier::L => (300, 1_000, 2_500),
            Tier::Xl => (2_000, 6_000, 15_000),
        };
        Spec { n_hosts, n_agents, n_routes, utilization: 0.6, seed }
    }
}

/// splitmix64: tiny, fast, and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

/// Generates a config of the given spec.
pub fn generate(spec: Spec) -> Config {
    let mut rng = Rng(spec.seed);
    let n_zones = (spec.n_hosts / 20).clamp(2, 6).min(spec.n_hosts.max(1));
    let hosts_per_rack = 8;
    let mut hosts = Vec::with_capacity(spec.n_hosts);
    let mut total_cores = 0u64;
    for i in 0..spec.n_hosts {
        let zone = i % n_zones;
        let rack = (i / n_zones) / hosts_per_rack;
        let n_numa = 2 + rng.below(3);
        let cores = [8u32, 16, 24, 32][rng.below(4)];
        let memory_mib = u64::from(cores) * 8192;
        total_cores += u64::from(cores) * n_numa as u64;
        let mut labels = BTreeMap::new();
        // Host 0 always has NVMe, so selectors for it match on the smallest fleets.
        let nvme = rng.chance(0.4) || i == 0;
        labels.insert("disk".to_owned(), if nvme { "nvme" } else { "ssd" }.to_owned());
        if rng.chance(0.3) {
            labels.insert("net".to_owned(), "fast".to_owned());
        }
        hosts.push(Host {
            name: format!("h{i:05}"),
            zone: format!("z{zone}"),
            rack: format!("r{rack:03}"),
            labels,
            schedulable: true,
            driver: None,
            numa: vec![NumaNode { cores, memory_mib, resources: BTreeMap::new() }; n_numa],
            resources: BTreeMap::new(),
            fingerprint: None,
        });
    }

    // Raw sizes first, then one scale factor to hit the utilisation target.
    struct Draft {
        replicas: u32,
        weight: f64,
        qos: Qos,
    }
    let drafts: Vec<Draft> = (0..spec.n_agents)
        .map(|_| {
            let qos = match rng.below(10) {
                0..=5 => Qos::Guaranteed,
                6..=8 => Qos::Burstable,
                _ => Qos::BestEffort,
            };
            Draft { replicas: 1 + rng.below(4) as u32, weight: [1.0, 1.0, 2.0, 2.0, 4.0][rng.below(5)], qos }
        })
        .collect();
    let overcommit = QosOvercommit { burstable: 1.5, best_effort: 2.0 };
    let factor = |qos: Qos| match qos {
        Qos::Guaranteed => 1.0,
        Qos::Burstable => 1.0 / overcommit.burstable,
        Qos::BestEffort => 1.0 / overcommit.best_effort,
    };
    let demand: f64 = drafts.iter().map(|d| f64::from(d.replicas) * d.weight * factor(d.qos)).sum();
    let scale = spec.utilization * total_cores as f64 / demand.max(1.0);

    let mut agents = Vec::with_capacity(spec.n_agents);
    for (i, draft) in drafts.iter().enumerate() {
        let raw_cpu = (draft.weight * scale).clamp(0.25, 8.0);
        let cpu = match draft.qos {
            Qos::Guaranteed => raw_cpu.round().max(1.0),
            _ => (raw_cpu * 4.0).round().max(1.0) / 4.0,
        };
        let mut agent = rtt_schema::raw::Agent {
            id: format!("svc{i:05}@1"),
            manifest: None,
            replicas: draft.replicas,
            cpu,
            memory_mib: 1024 * (1 + rng.below(8) as u64),
            qos: draft.qos,
            service_us: (20 + rng.below(400)) as f64,
            selector: BTreeMap::new(),
            pin: None,
            spread: None,
            anti_affinity: None,
            colocate: Vec::new(),
            avoid: Vec::new(),
            labels: BTreeMap::new(),
            resources: BTreeMap::new(),
        };
        match rng.below(20) {
            0..=2 => agent.selector.insert("disk".into(), "nvme".into()).map_or((), drop),
            3..=5 => agent.spread = Some(Spread { level: SpreadLevel::Zone, max_skew: 1 }),
            6..=7 if draft.replicas as usize <= spec.n_hosts => {
                agent.anti_affinity = Some(AntiAffinity { level: Level::Host });
            }
            8 if i > 0 => {
                agent.colocate.push(Colocate { with: format!("svc{:05}@1", rng.below(i)), level: Level::Zone })
            }
            9 if i > 0 && spec.n_hosts >= 4 => {
                agent.avoid.push(Avoid { agent: format!("svc{:05}@1", rng.below(i)), level: Level::Host })
            }
            _ => {}
        }
        agents.push(agent);
    }

    let mut routes = Vec::with_capacity(spec.n_routes);
    let mut seen = std::collections::HashSet::new();
    let mut attempts = 0;
    while routes.len() < spec.n_routes && spec.n_agents > 1 && attempts < spec.n_routes * 20 {
        attempts += 1;
        let from = rng.below(spec.n_agents);
        // Mostly calls to nearby services, as in layered architectures.
        let to = (from + 1 + rng.below(spec.n_agents.min(50) - 1)) % spec.n_agents;
        if from == to || !seen.insert((from, to)) {
            continue;
        }
        let service_to = agents[to].service_us;
        let slo = rng.chance(1.0 / 3.0).then(|| (service_to + 900.0 + rng.below(400) as f64).round());
        routes.push(Route {
            from: agents[from].id.clone(),
            to: agents[to].id.clone(),
            rps: (10 + rng.below(5000)) as f64,
            slo_p99_us: slo,
            message_bytes: None,
        });
    }

    let mut providers = BTreeMap::new();
    providers.insert("claude".to_owned(), Provider { dir: ".claude/agents".into(), agents: AgentSelection::All });
    Config {
        version: 1,
        topology: Topology {
            latency_us: LatencyUs { numa: 1.5, host: 4.0, rack: 25.0, zone: 120.0, region: 900.0 },
            hosts,
        },
        agents,
        routes,
        objective: Objective::default(),
        qos_overcommit: overcommit,
        providers,
        env: None,
        drivers: BTreeMap::new(),
        hosts_driver: None,
        groups: Vec::new(),
        transports: None,
    }
}

/// The config as pretty JSON text.
pub fn to_json_text(config: &Config) -> String {
    serde_json::to_string_pretty(config).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_config() {
        assert_eq!(generate(Tier::S.spec(7)), generate(Tier::S.spec(7)));
        assert_ne!(generate(Tier::S.spec(7)), generate(Tier::S.spec(8)));
    }

    #[test]
    fn every_tier_validates() {
        for tier in [Tier::S, Tier::M, Tier::L] {
            let config = generate(tier.spec(1));
            if let Err(issues) = rtt_schema::refine(&config) {
                panic!("{tier:?}: {:#?}", &issues[..issues.len().min(5)]);
            }
        }
    }
}
