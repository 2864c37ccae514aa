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

/// A plan row that does not fit the config it is read against.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowMismatch {
    /// The plan places an agent the config does not declare.
    #[error("the plan places `{agent}`, which the config does not declare")]
    UnknownAgent {
        /// The agent id in the plan.
        agent: String,
    },
    /// The plan uses a host or NUMA node the config does not have.
    #[error("the plan uses {host} NUMA {numa}, which the config does not have")]
    UnknownNode {
        /// The host name in the plan.
        host: String,
        /// The NUMA index in the plan.
        numa: u32,
    },
}

impl Placement {
    /// The placement a plan's `(agent id, host name, numa, replicas)` rows
    /// describe, resolved against `model`; every name must exist there.
    pub fn from_rows<'r>(
        model: &Model,
        topology: &Topology,
        rows: impl IntoIterator<Item = (&'r str, &'r str, u32, u32)>,
    ) -> Result<Self, RowMismatch> {
        let mut placement = Placement::empty(model.agents.len());
        for (agent_id, host_name, numa, replicas) in rows {
            let agent =
                model.agent_by_id(agent_id).ok_or_else(|| RowMismatch::UnknownAgent { agent: agent_id.to_owned() })?;
            let host = model
                .host_by_name(host_name)
                .filter(|host| (numa as usize) < model.hosts[host.0 as usize].numa.len())
                .ok_or_else(|| RowMismatch::UnknownNode { host: host_name.to_owned(), numa })?;
            placement.add(agent, topology.node_id(rtt_schema::model::NumaRef { host, numa }), replicas);
        }
        Ok(placement)
    }
}
