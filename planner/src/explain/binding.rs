//! Constraints that hold with no room to spare, read off the placement:
//! NUMA nodes no eligible agent could add a replica to, SLOs that one level
//! worse would break, spreads at their max skew, saturated anti-affinity,
//! pins, and the same two limits of group rules. Pure arithmetic on the scorer's view; no solves.

use rtt_schema::model::AgentId;
use serde::Serialize;

use super::Context;
use crate::definitions::spread_skew;
use crate::topology::level_index;
use rtt_plan::round_figure;

/// The binding constraints of a plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Binding {
    /// NUMA nodes where no eligible agent fits one more replica.
    pub full_nodes: Vec<FullNode>,
    /// Routes whose SLO one level worse would break.
    pub slos_at_limit: Vec<SloAtLimit>,
    /// Agents whose spread is at its max skew.
    pub spreads_at_max_skew: Vec<SpreadAtMaxSkew>,
    /// Agents whose anti-affinity uses every eligible domain.
    pub saturated_anti_affinity: Vec<SaturatedAntiAffinity>,
    /// Pinned agents: placed where the config says, whatever it costs.
    pub pins: Vec<Pin>,
    /// Group spreads at their max skew and group anti-affinity that uses every domain.
    pub groups_at_limit: Vec<GroupAtLimit>,
}

/// A group rule with no room to spare.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupAtLimit {
    /// Group name.
    pub group: String,
    /// `spread` (at its max skew) or `anti_affinity` (a member replica in every eligible domain).
    pub rule: &'static str,
    /// Level.
    pub level: &'static str,
    /// `max_skew` for a spread, the domains for anti-affinity.
    pub limit: u32,
}

/// A NUMA node with no room for another replica of any agent eligible there.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FullNode {
    /// Host name.
    pub host: String,
    /// NUMA index.
    pub numa: u32,
    /// Cores used (after QoS overcommit).
    pub cpu_used: f64,
    /// Cores.
    pub cores: u32,
    /// MiB used.
    pub memory_used_mib: u64,
    /// MiB.
    pub memory_mib: u64,
    /// The resources that are short: `cpu`, `memory` or both.
    pub short_of: Vec<&'static str>,
    /// Who is there (`id ×replicas`), by id.
    pub agents: Vec<String>,
}

/// A route's SLO that leaves less than one level of room.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SloAtLimit {
    /// Caller.
    pub from: String,
    /// Callee.
    pub to: String,
    /// p99, µs.
    pub p99_us: f64,
    /// SLO, µs.
    pub slo_p99_us: f64,
    /// The p99 one level worse, µs (above the SLO).
    pub one_level_worse_us: f64,
}

/// A spread at its limit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpreadAtMaxSkew {
    /// Agent id.
    pub agent: String,
    /// Spread level.
    pub level: &'static str,
    /// `max_skew`, reached.
    pub max_skew: u32,
}

/// An anti-affinity rule with a replica in every eligible domain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SaturatedAntiAffinity {
    /// Agent id.
    pub agent: String,
    /// Level.
    pub level: &'static str,
    /// Eligible domains at that level (all used).
    pub domains: u32,
}

/// A pinned agent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pin {
    /// Agent id.
    pub agent: String,
    /// Host.
    pub host: String,
    /// NUMA node, when pinned to one.
    pub numa: Option<u32>,
}

const LEVELS: [&str; 4] = ["numa", "host", "rack", "zone"];

pub(super) fn binding(context: &Context<'_>) -> Binding {
    let mut slos_at_limit: Vec<SloAtLimit> = Vec::new();
    let model = context.model;
    for (index, route) in model.routes.iter().enumerate() {
        let Some(slo) = route.slo_p99_us else { continue };
        let figure = &context.score.routes[index];
        let coarser = (figure.level as usize + 1).min(4);
        let worse = model.latency.by_locality[coarser] + model.agents[route.to.0 as usize].service_us;
        if worse > slo {
            slos_at_limit.push(SloAtLimit {
                from: model.agents[route.from.0 as usize].id.clone(),
                to: model.agents[route.to.0 as usize].id.clone(),
                p99_us: round_figure(figure.p99_us),
                slo_p99_us: slo,
                one_level_worse_us: round_figure(worse),
            });
        }
    }
    slos_at_limit.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
    let mut spreads_at_max_skew = Vec::new();
    let mut saturated_anti_affinity = Vec::new();
    let mut pins = Vec::new();
    for (index, agent) in model.agents.iter().enumerate() {
        let id = AgentId(index as u32);
        if let Some((level, max_skew)) = agent.spread {
            let domains = crate::definitions::spread_domains(model, &context.topology, id, level_index(level));
            if domains.len() > 1 && spread_skew(model, &context.topology, &context.placement, id, level) == max_skew {
                spreads_at_max_skew.push(SpreadAtMaxSkew {
                    agent: agent.id.clone(),
                    level: LEVELS[level_index(level)],
                    max_skew,
                });
            }
        }
        if let Some(level) = agent.anti_affinity {
            let domains = crate::definitions::spread_domains(model, &context.topology, id, level_index(level));
            if domains.len() as u32 == agent.n_replicas {
                saturated_anti_affinity.push(SaturatedAntiAffinity {
                    agent: agent.id.clone(),
                    level: LEVELS[level_index(level)],
                    domains: domains.len() as u32,
                });
            }
        }
        if let Some((host, numa)) = agent.pin {
            pins.push(Pin { agent: agent.id.clone(), host: model.hosts[host.0 as usize].name.clone(), numa });
        }
    }
    let mut groups_at_limit = Vec::new();
    for group in &model.groups {
        if let Some((level, max_skew)) = group.spread {
            let domains = crate::definitions::group_spread_domains(model, &context.topology, group, level_index(level));
            let skew =
                crate::definitions::group_spread_skew(model, &context.topology, &context.placement, group, level);
            if domains.len() > 1 && skew == max_skew {
                let level = LEVELS[level_index(level)];
                groups_at_limit.push(GroupAtLimit {
                    group: group.name.clone(),
                    rule: "spread",
                    level,
                    limit: max_skew,
                });
            }
        }
        if let Some(level) = group.anti_affinity {
            let domains = crate::definitions::group_spread_domains(model, &context.topology, group, level_index(level));
            let replicas: u32 = group.members.iter().map(|m| model.agents[m.0 as usize].n_replicas).sum();
            if domains.len() as u32 == replicas {
                let level = LEVELS[level_index(level)];
                let limit = domains.len() as u32;
                groups_at_limit.push(GroupAtLimit { group: group.name.clone(), rule: "anti_affinity", level, limit });
            }
        }
    }
    spreads_at_max_skew.sort_by(|a, b| a.agent.cmp(&b.agent));
    saturated_anti_affinity.sort_by(|a, b| a.agent.cmp(&b.agent));
    pins.sort_by(|a, b| a.agent.cmp(&b.agent));
    Binding {
        full_nodes: full_nodes(context),
        slos_at_limit,
        spreads_at_max_skew,
        saturated_anti_affinity,
        pins,
        groups_at_limit,
    }
}

/// Nodes where every agent that may run there is too big for what is left.
pub(super) fn full_nodes(context: &Context<'_>) -> Vec<FullNode> {
    let model = context.model;
    let topology = &context.topology;
    let mut cpu = vec![0.0; topology.nodes.len()];
    let mut memory = vec![0u64; topology.nodes.len()];
    let mut holders: Vec<Vec<String>> = vec![Vec::new(); topology.nodes.len()];
    for (index, nodes) in context.placement.by_agent.iter().enumerate() {
        let agent = &model.agents[index];
        for (node, count) in nodes {
            let n = node.0 as usize;
            cpu[n] += model.effective_cpu(agent) * f64::from(*count);
            memory[n] += agent.memory_mib * u64::from(*count);
            holders[n].push(format!("{} ×{count}", agent.id));
        }
    }
    let mut full = Vec::new();
    for (n, numa) in topology.nodes.iter().enumerate() {
        let host = &model.hosts[numa.host.0 as usize];
        if !host.schedulable || holders[n].is_empty() {
            continue;
        }
        let capacity = model.node(*numa);
        let free_cpu = f64::from(capacity.cores) - cpu[n];
        let free_memory = capacity.memory_mib.saturating_sub(memory[n]);
        let eligible: Vec<_> = model
            .agents
            .iter()
            .filter(|a| {
                model.host_is_eligible(a, numa.host) && a.pin.and_then(|(_, p)| p).is_none_or(|p| p == numa.numa)
            })
            .collect();
        if eligible.is_empty() {
            continue;
        }
        let cpu_short = eligible.iter().all(|a| model.effective_cpu(a) > free_cpu + 1e-9);
        let memory_short = eligible.iter().all(|a| a.memory_mib > free_memory);
        let fits_none = eligible.iter().all(|a| model.effective_cpu(a) > free_cpu + 1e-9 || a.memory_mib > free_memory);
        if !fits_none {
            continue;
        }
        let mut short_of = Vec::new();
        if cpu_short {
            short_of.push("cpu");
        }
        if memory_short {
            short_of.push("memory");
        }
        if short_of.is_empty() {
            // Each agent is short of one or the other: name both.
            short_of = vec!["cpu", "memory"];
        }
        let mut agents = holders[n].clone();
        agents.sort();
        full.push(FullNode {
            host: host.name.clone(),
            numa: numa.numa,
            cpu_used: round_figure(cpu[n]),
            cores: capacity.cores,
            memory_used_mib: memory[n],
            memory_mib: capacity.memory_mib,
            short_of,
            agents,
        });
    }
    // Nodes are listed host by host already: the config's order.
    full
}
