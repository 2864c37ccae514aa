//! Extended resources left in each pool (`definitions::resource_pool`: a
//! NUMA node, or a host that keeps the resource as a whole) as the greedy
//! start places replicas one by one.

use std::collections::BTreeMap;

use rtt_schema::model::{Agent, Model, ResourceId};

use crate::placement::Placement;
use crate::topology::{NodeId, Topology};

/// Extended resources left in each pool (`definitions::resource_pool`).
pub(crate) struct Pools<'m> {
    model: &'m Model,
    topology: &'m Topology,
    left: BTreeMap<(ResourceId, NodeId), u64>,
}

impl<'m> Pools<'m> {
    /// What `placement` leaves.
    pub(crate) fn new(model: &'m Model, topology: &'m Topology, placement: &Placement) -> Self {
        let mut pools = Self { model, topology, left: BTreeMap::new() };
        for (index, agent) in model.agents.iter().enumerate() {
            for (node, count) in &placement.by_agent[index] {
                pools.take(agent, *node, *count);
            }
        }
        pools
    }

    fn left(&mut self, r: ResourceId, node: NodeId) -> &mut u64 {
        let (pool, capacity) = crate::definitions::resource_pool(self.model, self.topology, node, r);
        self.left.entry((r, pool)).or_insert(capacity)
    }

    /// Whether one more replica of `agent` fits on `node`.
    pub(crate) fn fits(&mut self, agent: &Agent, node: NodeId) -> bool {
        agent.resources.iter().all(|(r, need)| *self.left(*r, node) >= *need)
    }

    pub(crate) fn take(&mut self, agent: &Agent, node: NodeId, count: u32) {
        for (r, need) in &agent.resources {
            let left = self.left(*r, node);
            *left = left.saturating_sub(need * u64::from(count));
        }
    }
}
