//! The previous plan's placements, resolved against the current model.

use std::collections::BTreeMap;

use rtt_schema::model::{AgentId, Model, NumaRef};

use crate::topology::{NodeId, Topology};

/// Where an agent's replicas were in the previous plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreviousAgent {
    /// Replicas it had in total.
    pub n_replicas: u32,
    /// Replicas on nodes that still exist.
    pub on_nodes: BTreeMap<NodeId, u32>,
    /// Replicas on hosts or NUMA nodes that are gone from the config.
    pub on_gone_nodes: u32,
}

/// The previous placement of every agent present in both plans.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Previous {
    /// `by_agent[a]`: `None` for agents new in this config.
    pub by_agent: Vec<Option<PreviousAgent>>,
}

impl Previous {
    /// Resolves `(agent id, host name, numa, replicas)` rows against `model`.
    pub fn resolve<'r>(
        model: &Model,
        topology: &Topology,
        rows: impl IntoIterator<Item = (&'r str, &'r str, u32, u32)>,
    ) -> Self {
        let mut by_agent: Vec<Option<PreviousAgent>> = vec![None; model.agents.len()];
        for (agent_id, host_name, numa, replicas) in rows {
            let Some(agent) = model.agent_by_id(agent_id) else { continue };
            let entry = by_agent[agent.0 as usize].get_or_insert_with(PreviousAgent::default);
            entry.n_replicas += replicas;
            let node = model
                .host_by_name(host_name)
                .filter(|host| (numa as usize) < model.hosts[host.0 as usize].numa.len())
                .map(|host| topology.node_id(NumaRef { host, numa }));
            match node {
                Some(node) => *entry.on_nodes.entry(node).or_insert(0) += replicas,
                None => entry.on_gone_nodes += replicas,
            }
        }
        Self { by_agent }
    }

    /// The previous placement of one agent.
    pub fn agent(&self, agent: AgentId) -> Option<&PreviousAgent> {
        self.by_agent.get(agent.0 as usize).and_then(Option::as_ref)
    }
}
