//! Interchangeable NUMA nodes and hosts, and the order that keeps one
//! placement of each set of equivalent ones (docs/model.md §3, Symmetry).
//!
//! Swapping the contents of two NUMA nodes of one host changes no figure of
//! SPEC §4 when both have the same cores, memory and extended resources and
//! the same agents may use them: every domain above the NUMA level is unchanged, and the NUMA
//! level only sees which replicas share a node, not which node. The same holds
//! for two hosts of one rack, NUMA node by NUMA node. Nothing may tell them
//! apart, so a node that holds a replica of the previous plan (churn) or of an
//! agent a neighbourhood holds fixed (a constant) belongs to no class.
//!
//! Branch and bound would otherwise explore every permutation of the same
//! packing. The formulation orders each class by CPU load, non-increasing;
//! [`Symmetry::canonical`] puts any placement in that order, so that the
//! incumbent stays a valid MIP start. Pure.

use std::collections::BTreeMap;

use rtt_schema::model::{AgentId, Model};

use crate::placement::Placement;
use crate::topology::{NodeId, Topology};

/// The classes of interchangeable hosts and NUMA nodes of one formulation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Symmetry {
    /// Classes of interchangeable hosts, in host order; a member is its
    /// host's nodes in NUMA order.
    pub hosts: Vec<Vec<Vec<NodeId>>>,
    /// Classes of interchangeable NUMA nodes of one host, in node order.
    pub numa: Vec<Vec<NodeId>>,
}

impl Symmetry {
    /// Finds the classes. `agents_on[n]` lists the agents with a variable on
    /// node `n` (the same for two nodes exactly when the same agents may use
    /// them); `blocked[n]` marks nodes that something outside the variables
    /// tells apart (previous replicas, fixed agents).
    pub fn find(model: &Model, topology: &Topology, agents_on: &[Vec<AgentId>], blocked: &[bool]) -> Self {
        let usable = |n: usize| !blocked[n] && !agents_on[n].is_empty();
        // Extended resources tell nodes apart too: the node's own, and the
        // pool of its host (a host-wide pool is shared, so it is part of
        // every node's key, and hosts are alike only when their pools are).
        let key = |n: usize| {
            let numa = topology.nodes[n];
            let node = model.node(numa);
            let host = &model.hosts[numa.host.0 as usize];
            (
                node.cores,
                node.memory_mib,
                agents_on[n].clone(),
                host.numa_resources[numa.numa as usize].clone(),
                host.resources.clone(),
            )
        };
        let mut by_host: Vec<Vec<usize>> = vec![Vec::new(); model.hosts.len()];
        for (n, numa) in topology.nodes.iter().enumerate() {
            by_host[numa.host.0 as usize].push(n);
        }

        let mut numa = Vec::new();
        for nodes in &by_host {
            let mut classes: BTreeMap<_, Vec<NodeId>> = BTreeMap::new();
            for &n in nodes.iter().filter(|&&n| usable(n)) {
                classes.entry(key(n)).or_default().push(NodeId(n as u32));
            }
            numa.extend(classes.into_values().filter(|class| class.len() > 1));
        }

        let mut host_classes: BTreeMap<_, Vec<Vec<NodeId>>> = BTreeMap::new();
        for nodes in &by_host {
            let Some(&first) = nodes.first() else { continue };
            // A host is a whole unit: one blocked node pins all of it.
            if nodes.iter().any(|&n| blocked[n]) || nodes.iter().all(|&n| agents_on[n].is_empty()) {
                continue;
            }
            let shape: Vec<_> = nodes.iter().map(|&n| key(n)).collect();
            let rack = topology.domain[2][first];
            host_classes.entry((rack, shape)).or_default().push(nodes.iter().map(|&n| NodeId(n as u32)).collect());
        }
        let mut hosts: Vec<Vec<Vec<NodeId>>> = host_classes.into_values().filter(|class| class.len() > 1).collect();
        hosts.sort();
        Self { hosts, numa }
    }

    /// True when no two hosts or nodes are interchangeable.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty() && self.numa.is_empty()
    }

    /// Consecutive members of every class as `(heavier, lighter)` node sets:
    /// the formulation requires the CPU load of the first to be at least that
    /// of the second.
    pub fn ordered_pairs(&self) -> Vec<(Vec<NodeId>, Vec<NodeId>)> {
        let mut pairs = Vec::new();
        for class in &self.hosts {
            for pair in class.windows(2) {
                pairs.push((pair[0].clone(), pair[1].clone()));
            }
        }
        for class in &self.numa {
            for pair in class.windows(2) {
                pairs.push((vec![pair[0]], vec![pair[1]]));
            }
        }
        pairs
    }

    /// An equivalent placement (same figures) in which every class is
    /// ordered by CPU load, non-increasing: hosts first, then the NUMA nodes
    /// within each host. Ties keep their order, so this is deterministic and
    /// a placement already in order is returned unchanged.
    pub fn canonical(&self, model: &Model, placement: &Placement) -> Placement {
        if self.is_empty() {
            return placement.clone();
        }
        let mut image: BTreeMap<NodeId, NodeId> = BTreeMap::new();
        let loads = node_loads(model, placement);
        for class in &self.hosts {
            let load = |member: &Vec<NodeId>| member.iter().map(|n| loads.get(n).copied().unwrap_or(0.0)).sum::<f64>();
            for (target, source) in class.iter().zip(by_load_descending(class, load)) {
                for (from, to) in source.iter().zip(target) {
                    image.insert(*from, *to);
                }
            }
        }
        let hosts_ordered = relabel(placement, &image);
        image.clear();
        let loads = node_loads(model, &hosts_ordered);
        for class in &self.numa {
            let load = |node: &NodeId| loads.get(node).copied().unwrap_or(0.0);
            for (target, source) in class.iter().zip(by_load_descending(class, load)) {
                image.insert(source, *target);
            }
        }
        relabel(&hosts_ordered, &image)
    }
}

/// CPU (after QoS overcommit) used on each node.
fn node_loads(model: &Model, placement: &Placement) -> BTreeMap<NodeId, f64> {
    let mut loads = BTreeMap::new();
    for (agent, nodes) in placement.by_agent.iter().enumerate() {
        let cpu = model.effective_cpu(&model.agents[agent]);
        for (node, count) in nodes {
            *loads.entry(*node).or_insert(0.0) += cpu * f64::from(*count);
        }
    }
    loads
}

/// The members of a class, heaviest first; ties keep their order.
fn by_load_descending<T: Clone>(class: &[T], load: impl Fn(&T) -> f64) -> Vec<T> {
    let mut members: Vec<(f64, T)> = class.iter().map(|m| (load(m), m.clone())).collect();
    members.sort_by(|a, b| b.0.total_cmp(&a.0));
    members.into_iter().map(|(_, m)| m).collect()
}

/// The placement with every node moved to its image (nodes without one stay).
fn relabel(placement: &Placement, image: &BTreeMap<NodeId, NodeId>) -> Placement {
    let mut moved = Placement::empty(placement.by_agent.len());
    for (agent, nodes) in placement.by_agent.iter().enumerate() {
        for (node, count) in nodes {
            moved.add(AgentId(agent as u32), image.get(node).copied().unwrap_or(*node), *count);
        }
    }
    moved
}

#[cfg(test)]
mod tests {
    use super::*;

    /// h0, h1 and h3 are alike (rack r of z0, two 16-core nodes); h2 is in
    /// another zone; h4 has one node; b may only use nvme hosts (h3).
    const CONFIG: &str = "version: 1\ntopology:\n  latency_us: {numa: 1, host: 2, rack: 3, zone: 4, region: 5}\n  hosts:\n    - {name: h0, zone: z0, rack: r, numa: [{cores: 16, memory_mib: 8192}, {cores: 16, memory_mib: 8192}]}\n    - {name: h1, zone: z0, rack: r, numa: [{cores: 16, memory_mib: 8192}, {cores: 16, memory_mib: 8192}]}\n    - {name: h2, zone: z1, rack: r, numa: [{cores: 16, memory_mib: 8192}, {cores: 16, memory_mib: 8192}]}\n    - {name: h3, zone: z0, rack: r, labels: {disk: nvme}, numa: [{cores: 16, memory_mib: 8192}, {cores: 16, memory_mib: 8192}]}\n    - {name: h4, zone: z0, rack: r, numa: [{cores: 16, memory_mib: 8192}]}\nagents:\n  - {id: a@1, replicas: 2, cpu: 2, memory_mib: 10, qos: guaranteed, service_us: 0}\n  - {id: b@1, replicas: 1, cpu: 4, memory_mib: 10, qos: guaranteed, service_us: 0, selector: {disk: nvme}}\n";

    fn model() -> (Model, Topology) {
        let source = rtt_schema::source::SourceFile::new("t.yaml", CONFIG);
        let model = rtt_schema::check_text(source, rtt_schema::Format::Yaml).unwrap().model;
        let topology = Topology::new(&model);
        (model, topology)
    }

    /// The agents with a variable per node: every eligible node.
    fn agents_on(model: &Model, topology: &Topology) -> Vec<Vec<AgentId>> {
        (0..topology.nodes.len())
            .map(|n| {
                (0..model.agents.len() as u32)
                    .map(AgentId)
                    .filter(|a| model.host_is_eligible(&model.agents[a.0 as usize], topology.nodes[n].host))
                    .collect()
            })
            .collect()
    }

    fn nodes(ids: &[u32]) -> Vec<NodeId> {
        ids.iter().map(|n| NodeId(*n)).collect()
    }

    #[test]
    fn alike_hosts_of_one_rack_and_alike_nodes_of_one_host_form_classes() {
        let (model, topology) = model();
        let symmetry = Symmetry::find(&model, &topology, &agents_on(&model, &topology), &[false; 9]);
        // h2 is in another zone, h3 has b, h4 another shape.
        assert_eq!(symmetry.hosts, vec![vec![nodes(&[0, 1]), nodes(&[2, 3])]]);
        assert_eq!(symmetry.numa, vec![nodes(&[0, 1]), nodes(&[2, 3]), nodes(&[4, 5]), nodes(&[6, 7])]);
    }

    #[test]
    fn a_node_with_previous_or_fixed_replicas_belongs_to_no_class() {
        let (model, topology) = model();
        let mut blocked = [false; 9];
        blocked[1] = true;
        let symmetry = Symmetry::find(&model, &topology, &agents_on(&model, &topology), &blocked);
        assert!(symmetry.hosts.is_empty(), "h0 is pinned by its blocked node");
        assert_eq!(symmetry.numa, vec![nodes(&[2, 3]), nodes(&[4, 5]), nodes(&[6, 7])]);
    }

    #[test]
    fn canonical_orders_hosts_then_nodes_by_load_and_keeps_every_figure() {
        let (model, topology) = model();
        let symmetry = Symmetry::find(&model, &topology, &agents_on(&model, &topology), &[false; 9]);
        // Both replicas of a on h1's second node, b on h3's second node.
        let mut placement = Placement::empty(2);
        placement.add(AgentId(0), NodeId(3), 2);
        placement.add(AgentId(1), NodeId(7), 1);
        let canonical = symmetry.canonical(&model, &placement);
        let mut expected = Placement::empty(2);
        expected.add(AgentId(0), NodeId(0), 2);
        expected.add(AgentId(1), NodeId(6), 1);
        assert_eq!(canonical, expected);
        assert_eq!(symmetry.canonical(&model, &canonical), canonical, "a canonical placement is a fixed point");
        let before = crate::score::score(&model, &topology, &placement, None);
        let after = crate::score::score(&model, &topology, &canonical, None);
        assert_eq!(before.total, after.total);
        assert_eq!(before.routes, after.routes);
    }
}
