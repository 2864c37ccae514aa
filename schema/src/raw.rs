//! The config file's types, exactly as written (SPEC §3.2), with defaults filled.
//!
//! These types are the single source of truth for the config's shape: serde
//! reads them, schemars derives the JSON Schema from them (shipped as
//! `schema/rtt.schema.json` and used by [`crate::structure`] to report every
//! shape error with its position), and `schema/rtt.cue` mirrors them. They say
//! nothing about cross-references; [`crate::validate`] checks those and refines
//! the result into [`crate::model::Model`].

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Names of hosts, zones, racks, drivers and providers.
pub const NAME_PATTERN: &str = r"^[A-Za-z0-9._-]+$";
/// Agent ids: `name@version`.
pub const AGENT_ID_PATTERN: &str = r"^[a-z0-9._-]+@[a-z0-9._-]+$";
/// Content hashes.
pub const HASH_PATTERN: &str = r"^sha256:[0-9a-f]{64}$";

/// An rtt config, version 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "rtt config", extend("$id" = "https://rtt.invalid/schema/rtt.schema.json"))]
pub struct Config {
    /// Config format version; only 1 exists.
    #[schemars(range(min = 1, max = 1))]
    pub version: u32,
    /// The fleet: latencies by locality and the hosts.
    pub topology: Topology,
    /// The services to place.
    pub agents: Vec<Agent>,
    /// Traffic between agents.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Weights of the planning objective.
    #[serde(default)]
    pub objective: Objective,
    /// CPU overcommit ratios per QoS class.
    #[serde(default)]
    pub qos_overcommit: QosOvercommit,
    /// Views of agent manifests, by provider name.
    #[serde(default)]
    pub providers: BTreeMap<String, Provider>,
    /// Environment whose overlay applies (`.rtt/overlays/env/<env>.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    pub env: Option<String>,
    /// Drivers that carry plans to hosts, by name.
    #[serde(default)]
    pub drivers: BTreeMap<String, Driver>,
    /// Driver for hosts that do not name one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts_driver: Option<String>,
    /// Rules over every agent whose labels match a selector.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Group>,
    /// Per-route transports in the plan (off when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transports: Option<Transports>,
}

/// The fleet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// One-way network latency by locality, in µs.
    pub latency_us: LatencyUs,
    /// The hosts.
    pub hosts: Vec<Host>,
}

/// One-way network latency by locality, in µs; non-decreasing from `numa` to `region`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LatencyUs {
    /// Both ends on the same host and NUMA node.
    #[schemars(range(min = 0))]
    pub numa: f64,
    /// Same host, different NUMA node.
    #[schemars(range(min = 0))]
    pub host: f64,
    /// Same rack, different host.
    #[schemars(range(min = 0))]
    pub rack: f64,
    /// Same zone, different rack.
    #[schemars(range(min = 0))]
    pub zone: f64,
    /// Anything farther.
    #[schemars(range(min = 0))]
    pub region: f64,
}

/// A machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Host {
    /// Unique host name.
    #[schemars(regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    pub name: String,
    /// Zone of the host.
    #[schemars(regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    pub zone: String,
    /// Rack of the host; rack names are scoped by zone.
    #[schemars(regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    pub rack: String,
    /// Labels that agent selectors match.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `false` drains the host: nothing is placed on it.
    #[serde(default = "default_true")]
    pub schedulable: bool,
    /// Driver that carries plans to this host (default: `hosts_driver`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// NUMA nodes, indexed by position.
    #[schemars(length(min = 1))]
    pub numa: Vec<NumaNode>,
    /// Extended resources the host as a whole offers (e.g. `net_mbps`), by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resources: BTreeMap<String, u64>,
    /// The machine profile this host runs on (`rtt tune`'s fingerprint, 16
    /// hex digits): the transports of routes on it use that profile's ring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

/// One NUMA node of a host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NumaNode {
    /// CPU cores.
    #[schemars(range(min = 1))]
    pub cores: u32,
    /// Memory in MiB.
    #[schemars(range(min = 1))]
    pub memory_mib: u64,
    /// Extended resources this NUMA node offers (e.g. `gpu`), by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resources: BTreeMap<String, u64>,
}

/// A service with replicas.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    /// Unique `name@version`.
    #[schemars(regex(pattern = r"^[a-z0-9._-]+@[a-z0-9._-]+$"))]
    pub id: String,
    /// Canonical manifest in the registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^sha256:[0-9a-f]{64}$"))]
    pub manifest: Option<String>,
    /// Number of replicas.
    #[schemars(range(min = 1))]
    pub replicas: u32,
    /// Cores per replica; a whole number for `guaranteed`.
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub cpu: f64,
    /// Memory per replica in MiB.
    #[schemars(range(min = 1))]
    pub memory_mib: u64,
    /// QoS class.
    pub qos: Qos,
    /// p99 service time at this agent, µs.
    #[schemars(range(min = 0))]
    pub service_us: f64,
    /// Hosts must carry all these labels.
    #[serde(default)]
    pub selector: BTreeMap<String, String>,
    /// Place every replica on this host (and NUMA node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<Pin>,
    /// Balance replicas across domains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread: Option<Spread>,
    /// At most one replica per domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anti_affinity: Option<AntiAffinity>,
    /// Domains with a replica of this agent must hold one of another.
    #[serde(default)]
    pub colocate: Vec<Colocate>,
    /// Domains must not hold replicas of both this agent and another.
    #[serde(default)]
    pub avoid: Vec<Avoid>,
    /// Labels that group selectors match.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Extended resources one replica takes (whole units, as Kubernetes extended resources), by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resources: BTreeMap<String, u64>,
}

/// QoS class of an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Qos {
    /// Whole cores, never overcommitted.
    Guaranteed,
    /// CPU overcommitted by `qos_overcommit.burstable`.
    Burstable,
    /// CPU overcommitted by `qos_overcommit.best_effort`.
    BestEffort,
}

/// A pin to a host and optionally a NUMA node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    /// Host name.
    pub host: String,
    /// NUMA node index on that host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numa: Option<u32>,
}

/// A topology level that holds domains of hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// A NUMA node of a host.
    Numa,
    /// A host.
    Host,
    /// A rack (within its zone).
    Rack,
    /// A zone.
    Zone,
}

/// A topology level that spread balances over (NUMA nodes are not spread domains).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SpreadLevel {
    /// Hosts.
    Host,
    /// Racks.
    Rack,
    /// Zones.
    Zone,
}

impl From<SpreadLevel> for Level {
    fn from(level: SpreadLevel) -> Self {
        match level {
            SpreadLevel::Host => Level::Host,
            SpreadLevel::Rack => Level::Rack,
            SpreadLevel::Zone => Level::Zone,
        }
    }
}

/// Balance replicas over the domains of a level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spread {
    /// Domain level.
    pub level: SpreadLevel,
    /// Largest allowed difference between the fullest and emptiest domain.
    #[serde(default = "default_max_skew")]
    pub max_skew: u32,
}

/// At most one replica per domain of a level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AntiAffinity {
    /// Domain level.
    pub level: Level,
}

/// Every domain with a replica of this agent holds a replica of `with`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Colocate {
    /// The other agent's id.
    pub with: String,
    /// Domain level.
    pub level: Level,
}

/// No domain holds replicas of both this agent and `agent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Avoid {
    /// The other agent's id.
    pub agent: String,
    /// Domain level.
    pub level: Level,
}

/// Rules over a set of agents chosen by their labels, as Kubernetes pod
/// (anti-)affinity and topology spread count pods by a label selector: one
/// rule for the whole set, instead of one per pair of agents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// Unique group name.
    #[schemars(regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    pub name: String,
    /// The members: every agent carrying all these labels (at least one label).
    pub selector: BTreeMap<String, String>,
    /// Balance the members' replicas, counted together, across domains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread: Option<Spread>,
    /// At most one replica of any member per domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anti_affinity: Option<AntiAffinity>,
    /// Domains must not hold replicas of both a member and an agent the selector matches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub avoid: Vec<GroupAvoid>,
}

/// No domain holds replicas of both a group member and an agent `selector` matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupAvoid {
    /// The agents kept away: every agent carrying all these labels (at least one label).
    pub selector: BTreeMap<String, String>,
    /// Domain level.
    pub level: Level,
}

/// Traffic from one agent to another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Calling agent.
    pub from: String,
    /// Called agent.
    pub to: String,
    /// Requests per second.
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub rps: f64,
    /// p99 latency objective for the route, µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub slo_p99_us: Option<f64>,
    /// Typical message size on the route, bytes (default `transports.message_bytes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub message_bytes: Option<u32>,
}

/// Per-route transports in the plan (docs/transports.md): present, the plan
/// states for every route how its messages travel.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Transports {
    /// Message size of routes that state none, bytes (default 256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub message_bytes: Option<u32>,
    /// The longest batch window, µs (default 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub batch_max_us: Option<f64>,
}

/// Weights of the objective.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Objective {
    /// Weight of the traffic-weighted mean route p99 (µs).
    #[serde(default = "default_latency_weight")]
    #[schemars(range(min = 0))]
    pub latency_weight: f64,
    /// Weight of each moved replica.
    #[serde(default = "default_churn_weight")]
    #[schemars(range(min = 0))]
    pub churn_weight: f64,
}

impl Default for Objective {
    fn default() -> Self {
        Self { latency_weight: default_latency_weight(), churn_weight: default_churn_weight() }
    }
}

/// CPU overcommit ratios.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QosOvercommit {
    /// Ratio for `burstable` agents.
    #[serde(default = "default_overcommit")]
    #[schemars(range(min = 1))]
    pub burstable: f64,
    /// Ratio for `best-effort` agents.
    #[serde(default = "default_overcommit")]
    #[schemars(range(min = 1))]
    pub best_effort: f64,
}

impl Default for QosOvercommit {
    fn default() -> Self {
        Self { burstable: default_overcommit(), best_effort: default_overcommit() }
    }
}

/// A provider's view of agent manifests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// Relative directory the view is projected under.
    pub dir: String,
    /// Which agents the view holds.
    pub agents: AgentSelection,
}

/// `"*"` for every agent, or a list of agent ids.
///
/// Written by hand rather than `#[serde(untagged)]` so a wrong value gets a
/// precise message instead of "did not match any variant".
#[derive(Debug, Clone, PartialEq)]
pub enum AgentSelection {
    /// Every agent.
    All,
    /// These agents.
    Listed(Vec<String>),
}

impl Serialize for AgentSelection {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            AgentSelection::All => serializer.serialize_str("*"),
            AgentSelection::Listed(ids) => ids.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for AgentSelection {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = AgentSelection;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(r#""*" or a list of agent ids"#)
            }
            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<AgentSelection, E> {
                if value == "*" {
                    Ok(AgentSelection::All)
                } else {
                    Err(E::invalid_value(serde::de::Unexpected::Str(value), &self))
                }
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<AgentSelection, A::Error> {
                let mut ids = Vec::new();
                while let Some(id) = seq.next_element::<String>()? {
                    ids.push(id);
                }
                Ok(AgentSelection::Listed(ids))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl JsonSchema for AgentSelection {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "AgentSelection".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "\"*\" for every agent, or a list of agent ids.",
            "anyOf": [
                { "const": "*" },
                { "type": "array", "items": { "type": "string", "pattern": AGENT_ID_PATTERN } }
            ]
        })
    }
}

/// A driver: the built-in `dir`, an external process speaking protocol 1 that
/// rtt starts, or a resident one rtt reaches on a Unix socket.
///
/// Exactly one of `builtin`, `command` and `socket` is set ([`crate::validate`] checks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Driver {
    /// A built-in driver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builtin: Option<BuiltinDriver>,
    /// Root directory of the driver: where the built-in `dir` driver keeps
    /// placements, and the one directory an external driver may write
    /// (default `.rtt/drivers/<name>`; passed as `RTT_DRIVER_ROOT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// Program and arguments of an external driver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Unix socket a resident driver listens on (relative to the config):
    /// rtt connects instead of starting a process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket: Option<String>,
    /// The user a socket driver must run as, checked on every connection
    /// (SO_PEERCRED); default: the user rtt runs as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// Capabilities granted to an external driver.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Per-call timeout of an external driver, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub timeout_ms: Option<u64>,
    /// The whole environment of an external driver besides `PATH`, `HOME`,
    /// `LANG` and `RTT_DRIVER_ROOT` (the sandbox clears the rest).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// How strictly an external driver is sandboxed (default: every layer the kernel has).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxMode>,
}

/// How strictly an external driver is sandboxed (docs/apply.md, "Sandbox").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SandboxMode {
    /// Every layer the kernel has; a missing one is reported.
    Default,
    /// Every layer, or the driver does not start.
    Required,
    /// None (debugging only; shown loudly by `rtt status` and `rtt apply`).
    Off,
}

/// Built-in drivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BuiltinDriver {
    /// Writes `<root>/<host>/placements.json`.
    Dir,
}

fn default_true() -> bool {
    true
}
fn default_max_skew() -> u32 {
    1
}
fn default_latency_weight() -> f64 {
    1.0
}
fn default_churn_weight() -> f64 {
    50.0
}
fn default_overcommit() -> f64 {
    1.0
}

/// The JSON Schema of [`Config`], as shipped in `schema/rtt.schema.json`.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(Config);
    schema.to_value()
}
