//! Where replicas are: counts per (agent, NUMA node).

use std::collections::BTreeMap;

use rtt_schema::model::{AgentId, Model};

use crate::topology::{NodeId, Topology};

/// Replica counts per agent and node; zero entries are never stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    /// `by_agent[a]`: node → replicas, ordered by node.
    pub by_agent: Vec<BTreeMap<NodeId, u32>>,
}

impl Placement {
    /// An empty placement for `n_agents` agents.
    pub fn empty(n_agents: usize) -> Self {
        Self { by_agent: vec![BTreeMap::new(); n_agents] }
    }

    /// Adds `count` replicas of `agent` on `node`.
    pub fn add(&mut self, agent: AgentId, node: NodeId, count: u32) {
        if count > 0 {
            *self.by_agent[agent.0 as usize].entry(node).or_insert(0) += count;
        }
    }

    /// Replicas of `agent` on `node`.
    pub fn get(&self, agent: AgentId, node: NodeId) -> u32 {
        self.by_agent[agent.0 as usize].get(&node).copied().unwrap_or(0)
    }

    /// Replicas of `agent` placed in total.
    pub fn total(&self, agent: AgentId) -> u32 {
        self.by_agent[agent.0 as usize].values().sum()
    }

    /// Replicas of `agent` per domain of a level (dense, by domain index).
    pub fn per_domain(&self, topology: &Topology, agent: AgentId, level: usize) -> BTreeMap<u32, u32> {
        let mut counts = BTreeMap::new();
        for (node, count) in &self.by_agent[agent.0 as usize] {
            *counts.entry(topology.domain_of(level, *node)).or_insert(0) += count;
        }
        counts
    }

    /// Rows `(agent id, host name, numa, replicas)`, sorted as a plan lists them.
    pub fn rows<'m>(&self, model: &'m Model, topology: &Topology) -> Vec<(&'m str, &'m str, u32, u32)> {
        let mut rows: Vec<(&str, &str, u32, u32)> = Vec::new();
        for (agent, nodes) in self.by_agent.iter().enumerate() {
            for (node, count) in nodes {
                let numa = topology.node(*node);
                rows.push((&model.agents[agent].id, &model.hosts[numa.host.0 as usize].name, numa.numa, *count));
            }
        }
        rows.sort();
        rows
    }
}
