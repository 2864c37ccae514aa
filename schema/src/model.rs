//! The refined config: names resolved to indices, defaults applied, every
//! cross-reference checked. Later stages (planner, apply, vfs) accept only
//! this type, so they never re-check a string reference.

use std::collections::BTreeMap;

use crate::raw::{Level, Qos};
use rtt_canonical::Sha256;

/// Index of a zone in [`Model::zones`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ZoneId(pub u32);
/// Index of a rack in [`Model::racks`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RackId(pub u32);
/// Index of a host in [`Model::hosts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostId(pub u32);
/// Index of an agent in [`Model::agents`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AgentId(pub u32);
/// Index of a group in [`Model::groups`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupId(pub u32);
/// Index of an extended resource in [`Model::resources`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceId(pub u32);
/// Index of a driver in [`Model::drivers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DriverId(pub u32);

/// One-way latency (µs) of each locality, finest first: numa, host, rack, zone, region.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    /// Latency by [`Locality`] index.
    pub by_locality: [f64; 5],
}

/// How close the two ends of a route are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Locality {
    /// Same NUMA node.
    Numa = 0,
    /// Same host.
    Host = 1,
    /// Same rack.
    Rack = 2,
    /// Same zone.
    Zone = 3,
    /// Anywhere.
    Region = 4,
}

impl Latency {
    /// The latency of a locality.
    pub fn of(&self, locality: Locality) -> f64 {
        self.by_locality[locality as usize]
    }
}

/// The validated config.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// Network latency by locality.
    pub latency: Latency,
    /// Zones in first-seen order.
    pub zones: Vec<String>,
    /// Racks (scoped by zone) in first-seen order.
    pub racks: Vec<Rack>,
    /// Hosts in config order.
    pub hosts: Vec<Host>,
    /// Agents in config order.
    pub agents: Vec<Agent>,
    /// Routes in config order.
    pub routes: Vec<Route>,
    /// Objective weights.
    pub latency_weight: f64,
    /// Weight of one moved replica.
    pub churn_weight: f64,
    /// CPU overcommit for burstable agents.
    pub burstable_overcommit: f64,
    /// CPU overcommit for best-effort agents.
    pub best_effort_overcommit: f64,
    /// Providers, sorted by name.
    pub providers: Vec<Provider>,
    /// Selected environment overlay.
    pub env: Option<String>,
    /// Drivers, sorted by name (the implicit `dir` driver when the config names none).
    pub drivers: Vec<Driver>,
    /// Groups in config order.
    pub groups: Vec<Group>,
    /// Names of the extended resources hosts offer, sorted.
    pub resources: Vec<String>,
}

/// Rules over a set of agents (`groups:`), members resolved from labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Group name.
    pub name: String,
    /// The agents the selector matches, in agent order (at least one).
    pub members: Vec<AgentId>,
    /// Spread of the members' replicas, counted together.
    pub spread: Option<(Level, u32)>,
    /// At most one replica of any member per domain of this level.
    pub anti_affinity: Option<Level>,
    /// Agents (in agent order, none a member) that share no domain of the
    /// level with a member.
    pub avoid: Vec<(Vec<AgentId>, Level)>,
}

/// A rack.
#[derive(Debug, Clone, PartialEq)]
pub struct Rack {
    /// Rack name.
    pub name: String,
    /// Its zone.
    pub zone: ZoneId,
}

/// A host.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    /// Host name.
    pub name: String,
    /// Zone.
    pub zone: ZoneId,
    /// Rack.
    pub rack: RackId,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Whether agents may be placed here.
    pub schedulable: bool,
    /// Driver carrying plans to the host.
    pub driver: DriverId,
    /// NUMA nodes.
    pub numa: Vec<NumaNode>,
    /// Extended resources offered by the host as a whole (a resource is
    /// either here or per NUMA node, never both).
    pub resources: BTreeMap<ResourceId, u64>,
    /// Extended resources per NUMA node, by node index.
    pub numa_resources: Vec<BTreeMap<ResourceId, u64>>,
}

/// Where a host keeps an extended resource: one pool for the host, or one per NUMA node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Shared by the host's NUMA nodes.
    Host,
    /// Each NUMA node has its own (0 where it names none).
    Numa,
}

/// Capacity of one NUMA node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NumaNode {
    /// Cores.
    pub cores: u32,
    /// Memory, MiB.
    pub memory_mib: u64,
}

/// A NUMA node of a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NumaRef {
    /// The host.
    pub host: HostId,
    /// Index of the node on the host.
    pub numa: u32,
}

/// An agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    /// `name@version`.
    pub id: String,
    /// Manifest in the registry.
    pub manifest: Option<Sha256>,
    /// Replicas to place.
    pub n_replicas: u32,
    /// Cores per replica (before QoS overcommit).
    pub cpu: f64,
    /// MiB per replica.
    pub memory_mib: u64,
    /// QoS class.
    pub qos: Qos,
    /// p99 service time, µs.
    pub service_us: f64,
    /// Labels hosts must carry.
    pub selector: BTreeMap<String, String>,
    /// Pin to a host and maybe a NUMA node.
    pub pin: Option<(HostId, Option<u32>)>,
    /// Spread over a level with a maximum skew.
    pub spread: Option<(Level, u32)>,
    /// At most one replica per domain of this level.
    pub anti_affinity: Option<Level>,
    /// Agents whose replicas must share domains with this one's.
    pub colocate: Vec<(AgentId, Level)>,
    /// Agents that must not share a domain with this one.
    pub avoid: Vec<(AgentId, Level)>,
    /// Labels that group selectors match.
    pub labels: BTreeMap<String, String>,
    /// Extended resources one replica takes, sorted by resource.
    pub resources: Vec<(ResourceId, u64)>,
}

/// A route.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Caller.
    pub from: AgentId,
    /// Callee.
    pub to: AgentId,
    /// Requests per second.
    pub rps: f64,
    /// p99 objective, µs.
    pub slo_p99_us: Option<f64>,
}

/// A provider view.
#[derive(Debug, Clone, PartialEq)]
pub struct Provider {
    /// Provider name.
    pub name: String,
    /// Relative directory (checked not to escape).
    pub dir: String,
    /// Agents in the view, in id order.
    pub agents: Vec<AgentId>,
}

/// A driver.
#[derive(Debug, Clone, PartialEq)]
pub struct Driver {
    /// Driver name.
    pub name: String,
    /// What runs it.
    pub kind: DriverKind,
}

/// How a driver runs.
#[derive(Debug, Clone, PartialEq)]
pub enum DriverKind {
    /// The built-in directory driver.
    Dir {
        /// Root directory.
        root: String,
    },
    /// An external process speaking protocol 1.
    Command {
        /// Program and arguments.
        argv: Vec<String>,
        /// Granted capabilities.
        capabilities: Vec<String>,
        /// Per-call timeout, ms.
        timeout_ms: u64,
        /// The one directory it may write, relative to the config (`None`: `.rtt/drivers/<name>`).
        root: Option<String>,
        /// Its environment, beyond what rtt sets.
        env: BTreeMap<String, String>,
        /// How strictly it is sandboxed.
        sandbox: crate::raw::SandboxMode,
    },
    /// A resident driver listening on a Unix socket, started by someone else.
    Socket {
        /// The socket, relative to the config.
        path: String,
        /// The user it must run as (`None`: the user rtt runs as).
        uid: Option<u32>,
        /// Granted capabilities (protocol capabilities only: rtt does not sandbox it).
        capabilities: Vec<String>,
        /// Per-call timeout, ms.
        timeout_ms: u64,
    },
}

/// A capability word that widens an external driver's sandbox
/// (docs/apply.md, "Sandbox"); other words (`placements.write`, …) are
/// protocol capabilities and grant no right there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant<'a> {
    /// `fs:PATH`: read and write beneath PATH.
    Write(&'a str),
    /// `fs.read:PATH`: read and execute beneath PATH.
    Read(&'a str),
    /// `net`: any network.
    AnyNet,
    /// `net:PORT` or `net:HOST:PORT`: TCP to that port.
    Port(u16),
    /// `exec`: start processes.
    Exec,
}

impl<'a> Grant<'a> {
    /// The grant `word` is, `None` for a protocol capability, or what is
    /// wrong with a malformed grant.
    pub fn parse(word: &'a str) -> Result<Option<Self>, &'static str> {
        let path = |p: &'a str| if p.is_empty() { Err("name a path, e.g. `fs:./data`") } else { Ok(p) };
        Ok(Some(if let Some(p) = word.strip_prefix("fs:") {
            Self::Write(path(p)?)
        } else if let Some(p) = word.strip_prefix("fs.read:") {
            Self::Read(path(p)?)
        } else if word == "net" {
            Self::AnyNet
        } else if let Some(target) = word.strip_prefix("net:") {
            match target.rsplit(':').next().and_then(|p| p.parse::<u16>().ok()) {
                Some(port) if port > 0 => Self::Port(port),
                _ => return Err("expected `net:PORT` or `net:HOST:PORT`, PORT 1–65535"),
            }
        } else if word == "exec" {
            Self::Exec
        } else {
            return Ok(None);
        }))
    }
}

/// Name of the driver the config gets when it names none.
pub const IMPLICIT_DRIVER: &str = "dir";
/// Root of the implicit driver.
pub const IMPLICIT_DRIVER_ROOT: &str = "./.rtt/hosts";
/// Timeout of external drivers that set none.
pub const DEFAULT_DRIVER_TIMEOUT_MS: u64 = 5000;

impl Model {
    /// The CPU an agent's replica takes from a node, after QoS overcommit.
    pub fn effective_cpu(&self, agent: &Agent) -> f64 {
        match agent.qos {
            Qos::Guaranteed => agent.cpu,
            Qos::Burstable => agent.cpu / self.burstable_overcommit,
            Qos::BestEffort => agent.cpu / self.best_effort_overcommit,
        }
    }

    /// Whether `host` may hold replicas of `agent` (schedulable, selector,
    /// pin host), ignoring capacity.
    pub fn host_is_eligible(&self, agent: &Agent, host: HostId) -> bool {
        let h = &self.hosts[host.0 as usize];
        h.schedulable
            && agent.pin.is_none_or(|(pinned, _)| pinned == host)
            && agent.selector.iter().all(|(k, v)| h.labels.get(k) == Some(v))
    }

    /// The NUMA nodes `agent` may use, ignoring capacity.
    pub fn eligible_nodes<'m>(&'m self, agent: &'m Agent) -> impl Iterator<Item = NumaRef> + 'm {
        self.hosts.iter().enumerate().flat_map(move |(index, host)| {
            let host_id = HostId(index as u32);
            let eligible = self.host_is_eligible(agent, host_id);
            let pinned_numa = agent.pin.and_then(|(_, numa)| numa);
            (0..host.numa.len() as u32)
                .filter(move |numa| eligible && pinned_numa.is_none_or(|p| p == *numa))
                .map(move |numa| NumaRef { host: host_id, numa })
        })
    }

    /// The capacity of a NUMA node.
    pub fn node(&self, node: NumaRef) -> NumaNode {
        self.hosts[node.host.0 as usize].numa[node.numa as usize]
    }

    /// Where `node`'s host keeps resource `r` and how much it has there
    /// (a host that names it nowhere has 0 of it, per NUMA node).
    pub fn resource_capacity(&self, node: NumaRef, r: ResourceId) -> (Scope, u64) {
        let host = &self.hosts[node.host.0 as usize];
        match host.resources.get(&r) {
            Some(capacity) => (Scope::Host, *capacity),
            None => (Scope::Numa, host.numa_resources[node.numa as usize].get(&r).copied().unwrap_or(0)),
        }
    }

    /// How many replicas of `agent` the extended resources of `node` hold
    /// when nothing else is there (`u64::MAX` when it asks for none).
    pub fn resource_fit(&self, agent: &Agent, node: NumaRef) -> u64 {
        agent.resources.iter().map(|(r, need)| self.resource_capacity(node, *r).1 / need).min().unwrap_or(u64::MAX)
    }

    /// The groups `agent` is a member of.
    pub fn groups_of(&self, agent: AgentId) -> impl Iterator<Item = (GroupId, &Group)> + '_ {
        self.groups
            .iter()
            .enumerate()
            .filter(move |(_, g)| g.members.binary_search(&agent).is_ok())
            .map(|(i, g)| (GroupId(i as u32), g))
    }

    /// The agents that share no domain of a level with `agent`: its own
    /// `avoid` list, the agents whose `avoid` names it, and both sides of every
    /// group `avoid` it is on, with each pair's level.
    pub fn kept_apart(&self, agent: AgentId) -> Vec<(AgentId, Level)> {
        let mut apart: Vec<(AgentId, Level)> = self.agents[agent.0 as usize].avoid.clone();
        for (index, other) in self.agents.iter().enumerate() {
            apart.extend(other.avoid.iter().filter(|(o, _)| *o == agent).map(|(_, l)| (AgentId(index as u32), *l)));
        }
        for group in &self.groups {
            let member = group.members.binary_search(&agent).is_ok();
            for (avoided, level) in &group.avoid {
                if member {
                    apart.extend(avoided.iter().map(|o| (*o, *level)));
                } else if avoided.binary_search(&agent).is_ok() {
                    apart.extend(group.members.iter().map(|m| (*m, *level)));
                }
            }
        }
        apart.sort();
        apart.dedup();
        apart
    }

    /// Looks an agent up by id.
    pub fn agent_by_id(&self, id: &str) -> Option<AgentId> {
        self.agents.iter().position(|a| a.id == id).map(|i| AgentId(i as u32))
    }

    /// Looks a host up by name.
    pub fn host_by_name(&self, name: &str) -> Option<HostId> {
        self.hosts.iter().position(|h| h.name == name).map(|i| HostId(i as u32))
    }
}
