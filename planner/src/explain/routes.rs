//! Per route: its figures, and what stops it from being one level closer —
//! found by testing that improvement, not guessed.
//!
//! The test is a sub-MILP around the plan: the route's two agents may move
//! anywhere, every other agent holds its place, and a structural row demands
//! that the route be local at the next better level (share ≥ 0.99). Selectors,
//! pins and capacity are relaxable rows grouped per statement (capacity per
//! NUMA node), so that when the sub-MILP is infeasible the deletion filter of
//! [`crate::infeasible`] names the statements that block it; each named
//! statement is then checked alone (is the improvement feasible with just it
//! dropped?). When the sub-MILP is feasible, its best placement is scored and
//! the answer is the cost of the improvement.

use std::collections::BTreeSet;

use rtt_schema::model::{AgentId, HostId, Locality};
use rtt_solver::{Group, Limits, STRUCTURAL, SolveError};
use serde::Serialize;

use super::resolve::reason;
use super::{Context, Outcome};
use crate::diff::level_name;
use crate::formulation::{Formulation, Options, Statement};
use crate::infeasible::minimal_conflict;
use crate::score::score;
use crate::statements;
use rtt_plan::round_figure;

/// A route's figures and what stops it from being closer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteExplanation {
    /// Caller.
    pub from: String,
    /// Callee.
    pub to: String,
    /// Requests per second.
    pub rps: f64,
    /// p99, µs.
    pub p99_us: f64,
    /// The locality level that sets the p99.
    pub level: &'static str,
    /// Share of traffic local at numa, host, rack, zone.
    pub locality: [f64; 4],
    /// The SLO, µs.
    pub slo_p99_us: Option<f64>,
    /// `slo − p99`, µs.
    pub slack_us: Option<f64>,
    /// The answer to "could it be one level closer?".
    pub improvement: Improvement,
    /// Why the route has the transport the plan states (docs/transports.md), when it states one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
}

/// Whether and at what price a route can be one level closer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum Improvement {
    /// Already at the fastest level.
    AlreadyBest,
    /// Feasible with the route's agents moved: this is what it costs.
    Feasible {
        /// The level tested.
        target_level: &'static str,
        /// The route's p99 there, µs.
        p99_us: f64,
        /// The whole plan after the move.
        outcome: Outcome,
    },
    /// Infeasible while every other agent holds its place; these block it.
    Blocked {
        /// The level tested.
        target_level: &'static str,
        /// Statements that block it: one or more minimal conflicts, found
        /// one after the other with the earlier ones set aside.
        blockers: Vec<Blocker>,
        /// Whether relaxing every listed blocker together makes it feasible
        /// (false: more conflicts remain than were searched for).
        together_suffice: bool,
    },
    /// Not tested: past the budget of tested routes (the busiest are tested).
    NotTested,
    /// The test did not finish within its node limit, or failed.
    Undetermined {
        /// The level tested.
        target_level: &'static str,
        /// Why.
        reason: String,
    },
}

/// A config statement that blocks an improvement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Blocker {
    /// What it is, e.g. "capacity of h07 NUMA 1".
    pub statement: String,
    /// Where it is written in the config (for a NUMA node's capacity, the node).
    pub path: String,
    /// The least it would have to give, e.g. "add 2 cores on h07 NUMA 1".
    pub relaxation: Option<String>,
    /// Whether relaxing this statement alone makes the improvement feasible
    /// (checked by a solve); false when only the set together blocks it.
    pub sufficient: bool,
    /// For a NUMA node's capacity: the agents that fill it (`id ×replicas`).
    pub held_by: Vec<String>,
}

pub(super) fn explain_routes(context: &Context<'_>) -> Vec<RouteExplanation> {
    let model = context.model;
    // The busiest routes are tested first; past the budget, routes are not tested.
    let mut by_traffic: Vec<usize> = (0..model.routes.len()).collect();
    by_traffic.sort_by(|a, b| model.routes[*b].rps.total_cmp(&model.routes[*a].rps).then(a.cmp(b)));
    let mut tested = vec![false; model.routes.len()];
    for index in by_traffic.into_iter().take(context.effort.tested_routes) {
        tested[index] = true;
    }
    let mut explained: Vec<RouteExplanation> = model
        .routes
        .iter()
        .enumerate()
        .map(|(index, route)| {
            let figure = &context.score.routes[index];
            RouteExplanation {
                from: model.agents[route.from.0 as usize].id.clone(),
                to: model.agents[route.to.0 as usize].id.clone(),
                rps: route.rps,
                p99_us: round_figure(figure.p99_us),
                level: level_name(figure.level),
                locality: figure.locality.map(round_figure),
                slo_p99_us: route.slo_p99_us,
                slack_us: route.slo_p99_us.map(|slo| round_figure(slo - figure.p99_us)),
                improvement: if tested[index] {
                    improvement(context, index, figure.level)
                } else {
                    Improvement::NotTested
                },
                transport: {
                    let (from, to) = (&model.agents[route.from.0 as usize].id, &model.agents[route.to.0 as usize].id);
                    context
                        .document
                        .routes
                        .iter()
                        .find(|r| &r.from == from && &r.to == to)
                        .and_then(|row| row.transport.as_ref().map(|t| crate::transports::why(row, t)))
                },
            }
        })
        .collect();
    explained.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
    explained
}

/// The next level with a strictly lower latency than `level`, if any.
fn next_better(context: &Context<'_>, level: Locality) -> Option<usize> {
    let latency = context.model.latency.by_locality;
    let current = level as usize;
    (0..current).rev().find(|l| latency[*l] < latency[current])
}

fn improvement(context: &Context<'_>, route: usize, level: Locality) -> Improvement {
    let Some(target) = next_better(context, level) else { return Improvement::AlreadyBest };
    let target_level = LEVEL_NAMES[target];
    let model = context.model;
    let ends = (model.routes[route].from, model.routes[route].to);
    let all_hosts: BTreeSet<HostId> = (0..model.hosts.len() as u32).map(HostId).collect();
    let options = Options { relaxable_eligibility: true, capacity_per_node: true, ..Options::default() };
    let mut sub = Formulation::build_neighbourhood(
        model,
        &context.topology,
        context.previous.as_ref(),
        &context.placement,
        |agent: AgentId| agent == ends.0 || agent == ends.1,
        &all_hosts,
        0,
        options,
    );
    if !sub.force_local(route, target) {
        return Improvement::Undetermined {
            target_level,
            reason: format!("no {target_level} domain can hold a replica of both ends"),
        };
    }
    let limits = Limits { gap: 1e-6, node_limit: Some(context.effort.probe_nodes), time_limit: None, light: true };
    match sub.milp.solve(&limits, None) {
        Ok(solution) => {
            let candidate = sub.placement(&solution);
            let figures = score(model, &context.topology, &candidate, context.previous.as_ref());
            if !figures.violations.is_empty() {
                return Improvement::Undetermined {
                    target_level,
                    reason: format!("the test's placement breaks {:?}", figures.violations[0]),
                };
            }
            Improvement::Feasible {
                target_level,
                p99_us: round_figure(figures.routes[route].p99_us),
                outcome: context.outcome(model, &candidate, &figures),
            }
        }
        Err(SolveError::Infeasible) => blocked(context, &sub, target_level, ends),
        Err(error) => Improvement::Undetermined { target_level, reason: reason(&error) },
    }
}

const LEVEL_NAMES: [&str; 5] = ["numa", "host", "rack", "zone", "region"];

/// Independent conflicts named per route at most: enough to say what it
/// would take, bounded so a route with many blockers stays cheap.
const MAX_CONFLICTS: usize = 3;

fn blocked(
    context: &Context<'_>,
    sub: &Formulation,
    target_level: &'static str,
    ends: (AgentId, AgentId),
) -> Improvement {
    let model = context.model;
    let groups: Vec<Group> = sub.milp.groups().into_iter().filter(|g| *g != STRUCTURAL).collect();
    // Replica counts are not what an operator relaxes to bring two agents
    // closer: they stay on, and the filter names the rules and capacity.
    let (always, mut candidates): (Vec<Group>, Vec<Group>) =
        groups.iter().partition(|g| matches!(sub.statement(**g), Some(Statement::Replicas(_))));
    let limits = Limits { gap: 1.0, node_limit: Some(context.effort.probe_nodes), time_limit: None, light: true };
    // One minimal conflict may not be the only one: set each found conflict
    // aside and look again, until what is left is feasible.
    let mut blockers = Vec::new();
    let mut together_suffice = false;
    for _ in 0..MAX_CONFLICTS {
        let conflict = minimal_conflict(model, sub, &candidates, &always);
        if conflict.statements.is_empty() {
            break;
        }
        for statement in &conflict.statements {
            let group = groups.iter().copied().find(|g| sub.statement(*g) == Some(*statement));
            let sufficient =
                group.is_some_and(|dropped| sub.milp.is_feasible(|g| g != dropped, &limits).unwrap_or(false));
            let relaxation = conflict
                .relaxations
                .iter()
                .find(|(s, _)| s == statement)
                .map(|(s, r)| statements::advise(model, *s, r));
            blockers.push(Blocker {
                statement: statements::describe(model, *statement),
                path: statements::path(model, *statement).to_string(),
                relaxation,
                sufficient,
                held_by: held_by(context, *statement, ends),
            });
            candidates.retain(|g| Some(g) != group.as_ref());
        }
        let rest_feasible =
            sub.milp.is_feasible(|g| candidates.contains(&g) || always.contains(&g), &limits).unwrap_or(false);
        if rest_feasible {
            together_suffice = true;
            break;
        }
    }
    Improvement::Blocked { target_level, blockers, together_suffice }
}

/// For a NUMA node's capacity: the agents that fill it, other than the route's ends.
fn held_by(context: &Context<'_>, statement: Statement, ends: (AgentId, AgentId)) -> Vec<String> {
    let Statement::NodeCapacity(node) = statement else { return Vec::new() };
    context
        .placement
        .by_agent
        .iter()
        .enumerate()
        .filter(|(agent, _)| *agent as u32 != ends.0.0 && *agent as u32 != ends.1.0)
        .filter_map(|(agent, nodes)| {
            nodes.get(&node).map(|count| format!("{} ×{count}", context.model.agents[agent].id))
        })
        .collect()
}
