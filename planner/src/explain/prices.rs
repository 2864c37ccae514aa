//! Shadow prices, in the config's units.
//!
//! Two kinds, because one alone would mislead. First the duals of the LP with
//! the plan's integer variables fixed (`solve_fixed`): exact marginal values of
//! the rows *at this placement*. In this formulation the latency term moves
//! only through binary locality indicators, and capacity and SLO rows hold
//! only integer terms, so once the integers are fixed those duals are zero by
//! construction; what can be non-zero are rows over continuous variables
//! (share bounds, spread bounds, churn rows). They are listed as computed.
//! Second, the marginal value of capacity by re-solve: for the busiest full
//! NUMA nodes, add the cores that one more replica needs and re-solve from the
//! plan; the change in mean p99 per core is what a core there is worth.

use std::collections::BTreeSet;

use rtt_schema::model::{AgentId, Model, Scope};
use serde::Serialize;

use super::resolve::{Resolved, resolve};
use super::{Context, binding};
use crate::formulation::{Formulation, Options, Resource};
use crate::statements;
use rtt_plan::round_figure;

/// Shadow prices of a plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShadowPrices {
    /// What the LP duals mean here (and why most are zero).
    pub lp_note: String,
    /// Non-zero duals of capacity and SLO rows of the fixed-placement LP.
    pub lp: Vec<ShadowPrice>,
    /// Marginal values of cores on full NUMA nodes, by re-solve.
    pub marginal: Vec<MarginalValue>,
}

/// One row's dual, translated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShadowPrice {
    /// The statement, e.g. "capacity of h07 NUMA 1".
    pub constraint: String,
    /// `core`, `MiB` or `µs of SLO`.
    pub unit: String,
    /// Objective change per unit more.
    pub objective_per_unit: f64,
    /// Mean route p99 change per unit more, µs.
    pub mean_p99_us_per_unit: f64,
}

/// What more cores on a full node are worth.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MarginalValue {
    /// Host.
    pub host: String,
    /// NUMA index.
    pub numa: u32,
    /// Cores added in the re-solve (enough for one more replica).
    pub added_cores: u32,
    /// Mean route p99 change, µs (negative: faster).
    pub latency_change_us: f64,
    /// Objective change.
    pub total_change: f64,
    /// Mean route p99 change per core added, µs.
    pub mean_p99_us_per_core: f64,
}

const LP_NOTE: &str = "duals of the LP with every integer variable fixed at this plan; capacity and SLO rows \
                       hold only integer terms, so their duals are zero by construction; see `marginal` for \
                       what capacity is worth by re-solve";

pub(super) fn shadow_prices(context: &Context<'_>) -> ShadowPrices {
    ShadowPrices { lp_note: LP_NOTE.to_owned(), lp: lp_duals(context), marginal: marginal_values(context) }
}

fn lp_duals(context: &Context<'_>) -> Vec<ShadowPrice> {
    let model = context.model;
    if model.latency_weight <= 0.0 {
        return Vec::new();
    }
    let n_candidates: usize = crate::bound::candidate_nodes(model, &context.topology).iter().map(|c| c.len()).sum();
    if n_candidates > crate::LP_BOUND_MAX_VARIABLES {
        // The planner does not build this MILP either (docs/model.md); the duals are zero anyway.
        return Vec::new();
    }
    let formulation = Formulation::build(model, &context.topology, context.previous.as_ref(), Options::default());
    let Some(start) = formulation.start(model, &context.topology, &context.placement) else { return Vec::new() };
    let Ok(lp) = formulation.milp.solve_fixed_at(&start) else { return Vec::new() };
    let duals = lp.row_duals();
    let mut prices = Vec::new();
    for row in &formulation.capacity {
        let dual = duals.get(row.row).copied().unwrap_or(0.0);
        if dual.abs() > 1e-9 {
            let numa = context.topology.node(row.node);
            let host = &model.hosts[numa.host.0 as usize].name;
            let (constraint, unit) = match row.resource {
                Resource::Cores => (format!("cores of {host} NUMA {}", numa.numa), "core".to_owned()),
                Resource::Memory => (format!("memory of {host} NUMA {}", numa.numa), "MiB".to_owned()),
                Resource::Extended(r) => {
                    let name = &model.resources[r.0 as usize];
                    match model.resource_capacity(numa, r).0 {
                        Scope::Host => (format!("{name} of {host}"), name.clone()),
                        Scope::Numa => (format!("{name} of {host} NUMA {}", numa.numa), name.clone()),
                    }
                }
            };
            prices.push(ShadowPrice {
                constraint,
                unit,
                objective_per_unit: round_figure(dual),
                mean_p99_us_per_unit: round_figure(dual / model.latency_weight),
            });
        }
    }
    for (route, row) in &formulation.slo_rows {
        let dual = duals.get(*row).copied().unwrap_or(0.0);
        if dual.abs() > 1e-9 {
            // The row is `gain ≥ worst − slo`: one µs more SLO lowers its right-hand side by one.
            prices.push(ShadowPrice {
                constraint: statements::describe(model, crate::formulation::Statement::Slo(*route)),
                unit: "µs of SLO".to_owned(),
                objective_per_unit: round_figure(-dual),
                mean_p99_us_per_unit: round_figure(-dual / model.latency_weight),
            });
        }
    }
    prices.sort_by(|a, b| a.constraint.cmp(&b.constraint));
    prices
}

fn marginal_values(context: &Context<'_>) -> Vec<MarginalValue> {
    let model = context.model;
    let full = binding::full_nodes(context);
    // The busiest first: the traffic of the routes touching agents on the node.
    let mut ranked: Vec<(f64, usize)> = full
        .iter()
        .enumerate()
        .filter(|(_, node)| node.short_of.contains(&"cpu"))
        .map(|(index, node)| {
            let agents = agents_on(model, context, &node.host, node.numa);
            let traffic: f64 =
                model.routes.iter().filter(|r| agents.contains(&r.from) || agents.contains(&r.to)).map(|r| r.rps).sum();
            (traffic, index)
        })
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked.truncate(context.effort.priced_nodes);
    let mut values = Vec::new();
    for (_, index) in ranked {
        let node = &full[index];
        let Some(host) = model.host_by_name(&node.host) else { continue };
        let free = f64::from(node.cores) - node.cpu_used;
        let smallest = model
            .agents
            .iter()
            .filter(|a| model.host_is_eligible(a, host))
            .map(|a| model.effective_cpu(a))
            .fold(f64::INFINITY, f64::min);
        if !smallest.is_finite() {
            continue;
        }
        let added = ((smallest - free).max(0.0) - 1e-9).ceil().max(1.0) as u32;
        let mut changed = model.clone();
        changed.hosts[host.0 as usize].numa[node.numa as usize].cores += added;
        let mut focus = agents_on(model, context, &node.host, node.numa);
        for route in &model.routes {
            if focus.contains(&route.from) || focus.contains(&route.to) {
                focus.insert(route.from);
                focus.insert(route.to);
            }
        }
        if let Resolved::Found(_, figures) = resolve(context, &changed, &focus) {
            let latency_change = figures.latency_us - context.score.latency_us;
            values.push(MarginalValue {
                host: node.host.clone(),
                numa: node.numa,
                added_cores: added,
                latency_change_us: round_figure(latency_change),
                total_change: round_figure(figures.total - context.score.total),
                mean_p99_us_per_core: round_figure(latency_change / f64::from(added)),
            });
        }
    }
    values
}

fn agents_on(model: &Model, context: &Context<'_>, host: &str, numa: u32) -> BTreeSet<AgentId> {
    let Some(host) = model.host_by_name(host) else { return BTreeSet::new() };
    let node = context.topology.node_id(rtt_schema::model::NumaRef { host, numa });
    context
        .placement
        .by_agent
        .iter()
        .enumerate()
        .filter(|(_, nodes)| nodes.contains_key(&node))
        .map(|(agent, _)| AgentId(agent as u32))
        .collect()
}
