//! Counterfactuals (`--what-if`): one config statement changed, the plan
//! re-solved from itself, and what would change.
//!
//! Grammar (tokens are separated by spaces; `→` and `->` both name a route):
//!
//! ```text
//! drop RULE of AGENT [with|and AGENT]   RULE: anti_affinity spread selector pin colocate avoid
//! drop slo FROM -> TO
//! slo FROM -> TO = MICROSECONDS
//! cores HOST/NUMA +N | -N
//! memory HOST/NUMA +MIB | -MIB
//! ```

use std::collections::BTreeSet;

use rtt_schema::model::{AgentId, HostId, Model, NumaRef};
use serde::Serialize;

use super::resolve::{Resolved, resolve};
use super::{Context, Outcome};
use crate::statements;

/// A parsed counterfactual.
#[derive(Debug, Clone, PartialEq)]
pub enum WhatIf {
    /// Drop an agent's rule (for colocate/avoid: every rule, or the one with `other`).
    Drop {
        /// Which rule.
        rule: Rule,
        /// Whose.
        agent: AgentId,
        /// For colocate/avoid: the other agent of the one rule to drop.
        other: Option<AgentId>,
    },
    /// Drop a route's SLO.
    DropSlo {
        /// Route index.
        route: usize,
    },
    /// Set a route's SLO.
    Slo {
        /// Route index.
        route: usize,
        /// New SLO, µs.
        slo_us: f64,
    },
    /// Change a NUMA node's cores.
    Cores {
        /// The node.
        node: NumaRef,
        /// Cores to add (negative: remove).
        delta: i64,
    },
    /// Change a NUMA node's memory.
    Memory {
        /// The node.
        node: NumaRef,
        /// MiB to add (negative: remove).
        delta: i64,
    },
}

/// A droppable agent rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[expect(missing_docs, reason = "each variant is the config key of the same name")]
pub enum Rule {
    AntiAffinity,
    Spread,
    Selector,
    Pin,
    Colocate,
    Avoid,
}

const RULES: [(&str, Rule); 6] = [
    ("anti_affinity", Rule::AntiAffinity),
    ("spread", Rule::Spread),
    ("selector", Rule::Selector),
    ("pin", Rule::Pin),
    ("colocate", Rule::Colocate),
    ("avoid", Rule::Avoid),
];

/// A `--what-if` that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to read --what-if `{text}`: {reason}")]
pub struct WhatIfError {
    /// The text given.
    pub text: String,
    /// What is wrong.
    pub reason: String,
    /// What would be valid.
    pub help: String,
}

/// The result of one counterfactual.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhatIfResult {
    /// The text given.
    pub what_if: String,
    /// What was changed, in words.
    pub change: String,
    /// The objective the same bounded re-solve reaches *without* the change.
    /// Below the plan's own total when the plan is not optimal; the change's
    /// own effect is then `outcome.total − baseline_total`.
    pub baseline_total: f64,
    /// The answer.
    #[serde(flatten)]
    pub outcome: WhatIfOutcome,
}

/// What a counterfactual would do.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum WhatIfOutcome {
    /// A placement at least as good was found (the plan itself when nothing better was).
    Solved(Outcome),
    /// The changed config is infeasible: these statements conflict.
    Infeasible {
        /// The conflicting statements, described.
        conflict: Vec<String>,
    },
    /// Nothing was found within the limits.
    NoPlan {
        /// Why.
        reason: String,
    },
}

const GRAMMAR: &str = "drop RULE of AGENT [with AGENT] (RULE: anti_affinity, spread, selector, pin, colocate, \
                       avoid) | drop slo FROM->TO | slo FROM->TO = MICROSECONDS | cores HOST/NUMA +N | \
                       memory HOST/NUMA +MIB";

/// Parses a counterfactual against the config it changes.
pub fn parse(model: &Model, text: &str) -> Result<WhatIf, WhatIfError> {
    let fail = |reason: String, help: String| WhatIfError { text: text.to_owned(), reason, help };
    let normalised = text.replace('→', " -> ").replace("->", " -> ").replace('=', " = ");
    let words: Vec<&str> = normalised.split_whitespace().collect();
    let agent = |id: &str| -> Result<AgentId, WhatIfError> {
        model.agent_by_id(id).ok_or_else(|| fail(format!("no agent `{id}` in the config"), valid_agents(model)))
    };
    let route = |from: &str, to: &str| -> Result<usize, WhatIfError> {
        let (from, to) = (agent(from)?, agent(to)?);
        model
            .routes
            .iter()
            .position(|r| r.from == from && r.to == to)
            .ok_or_else(|| fail("no such route in the config".into(), valid_routes(model)))
    };
    match words.as_slice() {
        ["drop", "slo", from, "->", to] => {
            let route = route(from, to)?;
            if model.routes[route].slo_p99_us.is_none() {
                return Err(fail("that route has no slo_p99_us to drop".into(), GRAMMAR.into()));
            }
            Ok(WhatIf::DropSlo { route })
        }
        ["drop", rule, "of", id, rest @ ..] => {
            let rule = RULES.iter().find(|(name, _)| name == rule).map(|(_, r)| *r).ok_or_else(|| {
                fail(format!("`{rule}` is not a rule that can be dropped"), format!("rules: {}", rule_names()))
            })?;
            let agent = agent(id)?;
            let other = match rest {
                [] => None,
                ["with" | "and", other] if matches!(rule, Rule::Colocate | Rule::Avoid) => Some(
                    self::agent_id(model, other)
                        .ok_or_else(|| fail(format!("no agent `{other}` in the config"), valid_agents(model)))?,
                ),
                _ => return Err(fail("unexpected words after the agent".into(), GRAMMAR.into())),
            };
            let a = &model.agents[agent.0 as usize];
            let has = match rule {
                Rule::AntiAffinity => a.anti_affinity.is_some(),
                Rule::Spread => a.spread.is_some(),
                Rule::Selector => !a.selector.is_empty(),
                Rule::Pin => a.pin.is_some(),
                Rule::Colocate => a.colocate.iter().any(|(o, _)| other.is_none_or(|x| x == *o)),
                Rule::Avoid => a.avoid.iter().any(|(o, _)| other.is_none_or(|x| x == *o)),
            };
            if !has {
                return Err(fail(format!("{} has no such {} rule", a.id, rule_name(rule)), rules_of(model, agent)));
            }
            Ok(WhatIf::Drop { rule, agent, other })
        }
        ["slo", from, "->", to, "=", value] => {
            let route = route(from, to)?;
            let slo_us: f64 = value
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v > 0.0)
                .ok_or_else(|| fail(format!("`{value}` is not a positive number of µs"), GRAMMAR.into()))?;
            Ok(WhatIf::Slo { route, slo_us })
        }
        [resource @ ("cores" | "memory"), node, delta] => {
            let node =
                numa_ref(model, node).ok_or_else(|| fail(format!("no NUMA node `{node}`"), valid_nodes(model)))?;
            let delta: i64 = delta
                .strip_prefix('+')
                .unwrap_or(delta)
                .parse()
                .map_err(|_| fail(format!("`{delta}` is not a whole change like +8 or -4"), GRAMMAR.into()))?;
            let capacity = model.node(node);
            let now = if *resource == "cores" { i64::from(capacity.cores) } else { capacity.memory_mib as i64 };
            match now.checked_add(delta) {
                Some(after) if after >= 1 => {}
                Some(_) => {
                    return Err(fail(format!("the node has {now}; it cannot lose {}", -delta), GRAMMAR.into()));
                }
                None => return Err(fail(format!("`{delta}` is out of range"), GRAMMAR.into())),
            }
            Ok(if *resource == "cores" { WhatIf::Cores { node, delta } } else { WhatIf::Memory { node, delta } })
        }
        _ => Err(fail("not a counterfactual rtt knows".into(), GRAMMAR.into())),
    }
}

fn agent_id(model: &Model, id: &str) -> Option<AgentId> {
    model.agent_by_id(id)
}

fn numa_ref(model: &Model, text: &str) -> Option<NumaRef> {
    let (host, numa) = text.rsplit_once('/')?;
    let host: HostId = model.host_by_name(host)?;
    let numa: u32 = numa.parse().ok()?;
    ((numa as usize) < model.hosts[host.0 as usize].numa.len()).then_some(NumaRef { host, numa })
}

fn rule_name(rule: Rule) -> &'static str {
    RULES.iter().find(|(_, r)| *r == rule).map_or("", |(name, _)| name)
}

fn rule_names() -> String {
    RULES.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
}

fn listed(items: Vec<String>) -> String {
    const SHOWN: usize = 8;
    let more = items.len().saturating_sub(SHOWN);
    let mut text = items.into_iter().take(SHOWN).collect::<Vec<_>>().join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}

fn valid_agents(model: &Model) -> String {
    format!("agents: {}", listed(model.agents.iter().map(|a| a.id.clone()).collect()))
}

fn valid_routes(model: &Model) -> String {
    let id = |a: AgentId| model.agents[a.0 as usize].id.clone();
    format!("routes: {}", listed(model.routes.iter().map(|r| format!("{}->{}", id(r.from), id(r.to))).collect()))
}

fn valid_nodes(model: &Model) -> String {
    let first = model.hosts.first().map_or_else(|| "HOST".to_owned(), |h| h.name.clone());
    format!("HOST/NUMA with a host from topology.hosts and a NUMA index from 0, e.g. {first}/0")
}

fn rules_of(model: &Model, agent: AgentId) -> String {
    let a = &model.agents[agent.0 as usize];
    let id = |x: AgentId| model.agents[x.0 as usize].id.clone();
    let mut rules = Vec::new();
    if a.anti_affinity.is_some() {
        rules.push("anti_affinity".to_owned());
    }
    if a.spread.is_some() {
        rules.push("spread".to_owned());
    }
    if !a.selector.is_empty() {
        rules.push("selector".to_owned());
    }
    if a.pin.is_some() {
        rules.push("pin".to_owned());
    }
    rules.extend(a.colocate.iter().map(|(o, _)| format!("colocate with {}", id(*o))));
    rules.extend(a.avoid.iter().map(|(o, _)| format!("avoid with {}", id(*o))));
    if rules.is_empty() {
        format!("{} has no rules to drop", a.id)
    } else {
        format!("{} has: {}", a.id, rules.join(", "))
    }
}

/// The config with the change applied.
pub fn apply(model: &Model, what_if: &WhatIf) -> Model {
    let mut changed = model.clone();
    match *what_if {
        WhatIf::Drop { rule, agent, other } => {
            let a = &mut changed.agents[agent.0 as usize];
            match rule {
                Rule::AntiAffinity => a.anti_affinity = None,
                Rule::Spread => a.spread = None,
                Rule::Selector => a.selector.clear(),
                Rule::Pin => a.pin = None,
                Rule::Colocate => a.colocate.retain(|(o, _)| other.is_some_and(|x| x != *o)),
                Rule::Avoid => a.avoid.retain(|(o, _)| other.is_some_and(|x| x != *o)),
            }
        }
        WhatIf::DropSlo { route } => changed.routes[route].slo_p99_us = None,
        WhatIf::Slo { route, slo_us } => changed.routes[route].slo_p99_us = Some(slo_us),
        WhatIf::Cores { node, delta } => {
            let numa = &mut changed.hosts[node.host.0 as usize].numa[node.numa as usize];
            numa.cores = i64::from(numa.cores).saturating_add(delta).clamp(1, i64::from(u32::MAX)) as u32;
        }
        WhatIf::Memory { node, delta } => {
            let numa = &mut changed.hosts[node.host.0 as usize].numa[node.numa as usize];
            numa.memory_mib = (numa.memory_mib as i64).saturating_add(delta).max(1) as u64;
        }
    }
    changed
}

/// The change in words.
pub fn describe(model: &Model, what_if: &WhatIf) -> String {
    let id = |a: AgentId| model.agents[a.0 as usize].id.as_str();
    let node = |n: NumaRef| format!("{} NUMA {}", model.hosts[n.host.0 as usize].name, n.numa);
    let route = |r: usize| {
        let r = &model.routes[r];
        format!("{} → {}", id(r.from), id(r.to))
    };
    match *what_if {
        WhatIf::Drop { rule, agent, other: Some(other) } => {
            format!("drop the {} rule of {} with {}", rule_name(rule), id(agent), id(other))
        }
        WhatIf::Drop { rule, agent, other: None } => format!("drop the {} of {}", rule_name(rule), id(agent)),
        WhatIf::DropSlo { route: r } => format!("drop the slo_p99_us of {}", route(r)),
        WhatIf::Slo { route: r, slo_us } => {
            let before = model.routes[r].slo_p99_us.map_or_else(|| "none".to_owned(), |s| format!("{s}"));
            format!("slo_p99_us of {} from {before} to {slo_us} µs", route(r))
        }
        WhatIf::Cores { node: n, delta } => {
            format!(
                "{} cores on {} ({} → {})",
                signed(delta),
                node(n),
                model.node(n).cores,
                i64::from(model.node(n).cores) + delta
            )
        }
        WhatIf::Memory { node: n, delta } => format!("{} MiB of memory on {}", signed(delta), node(n)),
    }
}

fn signed(x: i64) -> String {
    if x >= 0 { format!("+{x}") } else { format!("{x}") }
}

/// The agents a change touches: re-solves of large models look around them.
fn focus(model: &Model, context: &Context<'_>, what_if: &WhatIf) -> BTreeSet<AgentId> {
    let mut focus = BTreeSet::new();
    match *what_if {
        WhatIf::Drop { agent, other, .. } => {
            focus.insert(agent);
            focus.extend(other);
        }
        WhatIf::DropSlo { route } | WhatIf::Slo { route, .. } => {
            focus.insert(model.routes[route].from);
            focus.insert(model.routes[route].to);
        }
        WhatIf::Cores { node, .. } | WhatIf::Memory { node, .. } => {
            let id = context.topology.node_id(node);
            for (agent, nodes) in context.placement.by_agent.iter().enumerate() {
                if nodes.contains_key(&id) {
                    focus.insert(AgentId(agent as u32));
                }
            }
        }
    }
    // Their route partners move with them.
    let partners: Vec<AgentId> = model
        .routes
        .iter()
        .filter(|r| focus.contains(&r.from) || focus.contains(&r.to))
        .flat_map(|r| [r.from, r.to])
        .collect();
    focus.extend(partners);
    focus
}

pub(super) fn run(context: &Context<'_>, text: &str, what_if: &WhatIf) -> WhatIfResult {
    let model = context.model;
    let changed = apply(model, what_if);
    let focus = focus(model, context, what_if);
    let baseline_total = match resolve(context, model, &focus) {
        Resolved::Found(_, figures) => rtt_plan::round_figure(figures.total),
        Resolved::Infeasible(_) | Resolved::NoPlan(_) => rtt_plan::round_figure(context.score.total),
    };
    let outcome = match resolve(context, &changed, &focus) {
        Resolved::Found(placement, figures) => WhatIfOutcome::Solved(context.outcome(&changed, &placement, &figures)),
        Resolved::Infeasible(conflict) => WhatIfOutcome::Infeasible {
            conflict: conflict.statements.iter().map(|s| statements::describe(&changed, *s)).collect(),
        },
        Resolved::NoPlan(reason) => WhatIfOutcome::NoPlan { reason },
    };
    WhatIfResult { what_if: text.to_owned(), change: describe(model, what_if), baseline_total, outcome }
}
