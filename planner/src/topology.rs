//! NUMA nodes as a flat list and the domains of every level they belong to.
//!
//! Levels are indexed finest first (numa, host, rack, zone), matching
//! [`rtt_schema::model::Locality`]; a domain is a plain index within its level.
//!
//! A topology belongs to the model it was built from: it also keeps facts
//! about that model's agents and routes that take a scan of the fleet to
//! find (spread domains, reachable levels), computed on first use, so that
//! the search's thousands of sub-problems each pay for them once per plan.

use std::sync::OnceLock;

use rtt_schema::model::{HostId, Model, NumaRef};
use rtt_schema::raw::Level;

/// Index of a NUMA node in [`Topology::nodes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u32);

/// The four domain levels, finest first.
pub const LEVELS: [Level; 4] = [Level::Numa, Level::Host, Level::Rack, Level::Zone];

/// Position of a level in [`LEVELS`].
pub fn level_index(level: Level) -> usize {
    match level {
        Level::Numa => 0,
        Level::Host => 1,
        Level::Rack => 2,
        Level::Zone => 3,
    }
}

/// Index of the zone level (0 numa, 1 host, 2 rack, 3 zone).
pub const ZONE_LEVEL: usize = 3;

/// Flattened nodes and their domains.
#[derive(Debug, Clone)]
pub struct Topology {
    /// Every NUMA node, host by host.
    pub nodes: Vec<NumaRef>,
    /// `domain[level][node]`: the domain of that node at that level.
    pub domain: [Vec<u32>; 4],
    /// Number of domains per level.
    pub n_domains: [u32; 4],
    first_node_of_host: Vec<u32>,
    /// Domains that hold at least one node, per level.
    n_occupied: [usize; 4],
    /// Per agent: the domains of its spread level it can use.
    spread_domains: Vec<OnceLock<Vec<u32>>>,
    /// Per route: the levels it can be local at (`reach.rs`).
    route_reach: Vec<OnceLock<[bool; 4]>>,
}

impl Topology {
    /// The topology of a model.
    pub fn new(model: &Model) -> Self {
        let mut nodes = Vec::new();
        let mut first_node_of_host = Vec::with_capacity(model.hosts.len());
        let mut domain: [Vec<u32>; 4] = Default::default();
        for (index, host) in model.hosts.iter().enumerate() {
            first_node_of_host.push(nodes.len() as u32);
            for numa in 0..host.numa.len() as u32 {
                domain[0].push(nodes.len() as u32);
                domain[1].push(index as u32);
                domain[2].push(host.rack.0);
                domain[3].push(host.zone.0);
                nodes.push(NumaRef { host: HostId(index as u32), numa });
            }
        }
        let n_domains =
            [nodes.len() as u32, model.hosts.len() as u32, model.racks.len() as u32, model.zones.len() as u32];
        let n_occupied =
            std::array::from_fn(|level| domain[level].iter().collect::<std::collections::BTreeSet<_>>().len());
        Self {
            nodes,
            domain,
            n_domains,
            first_node_of_host,
            n_occupied,
            spread_domains: (0..model.agents.len()).map(|_| OnceLock::new()).collect(),
            route_reach: (0..model.routes.len()).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The spread domains of an agent, from `compute` the first time.
    pub(crate) fn spread_domains_of(&self, agent: usize, compute: impl FnOnce() -> Vec<u32>) -> &[u32] {
        self.spread_domains[agent].get_or_init(compute)
    }

    /// The levels a route can be local at, when already judged.
    pub(crate) fn known_route_reach(&self, route: usize) -> Option<[bool; 4]> {
        self.route_reach[route].get().copied()
    }

    /// The levels a route can be local at, from `compute` the first time.
    pub(crate) fn route_reach(&self, route: usize, compute: impl FnOnce() -> [bool; 4]) -> [bool; 4] {
        *self.route_reach[route].get_or_init(compute)
    }

    /// True when the domains of level `fine` are exactly those of the coarser
    /// level `coarse` (every zone one rack, say): the nodes two agents share
    /// there are the same, so a route is local at one exactly when at the other.
    pub fn same_partition(&self, fine: usize, coarse: usize) -> bool {
        // Domains nest, so each coarse domain holds at least one fine one;
        // equal counts leave room for exactly one.
        fine <= coarse && self.n_occupied[fine] == self.n_occupied[coarse]
    }

    /// The node id of a host's NUMA node.
    pub fn node_id(&self, node: NumaRef) -> NodeId {
        NodeId(self.first_node_of_host[node.host.0 as usize] + node.numa)
    }

    /// The node behind an id.
    pub fn node(&self, id: NodeId) -> NumaRef {
        self.nodes[id.0 as usize]
    }

    /// The domain of `node` at level index `level`.
    pub fn domain_of(&self, level: usize, node: NodeId) -> u32 {
        self.domain[level][node.0 as usize]
    }
}
