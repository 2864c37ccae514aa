//! Bounded re-solves from the explained plan (the warm start), for
//! counterfactuals and the churn trade-off.
//!
//! A small model (at most [`crate::FULL_SOLVE_MAX_VARIABLES`] variables) is
//! re-solved whole by branch and bound from the plan; a larger one by a few
//! rounds of the large-neighbourhood search around the agents the question
//! touches. Either way the plan is kept unless a strictly better placement is
//! found, so a change that does not bind changes nothing. When the plan no
//! longer fits the changed config, the planner starts afresh (and may report
//! the changed config infeasible).

use std::collections::BTreeSet;

use rtt_schema::model::{AgentId, Model};
use rtt_solver::{Limits, SolveError};

use super::Context;
use crate::formulation::{Formulation, Options};
use crate::infeasible::Conflict;
use crate::placement::Placement;
use crate::score::{Score, score};
use crate::search::{Budget, improve_over, neighbourhoods};
use crate::topology::Topology;
use crate::{FULL_SOLVE_MAX_VARIABLES, PlanError, Request};

/// What a re-solve found.
pub(super) enum Resolved {
    /// A feasible placement and its figures.
    Found(Placement, Score),
    /// The changed config admits no placement.
    Infeasible(Conflict),
    /// Nothing was found within the limits.
    NoPlan(String),
}

/// Re-solves `model` (the explained config, possibly changed) from the
/// explained placement; `focus` names the agents the question touches
/// (empty: no preference).
pub(super) fn resolve(context: &Context<'_>, model: &Model, focus: &BTreeSet<AgentId>) -> Resolved {
    // The topology is the same unless hosts changed, which no what-if does.
    let topology = Topology::new(model);
    let previous = context.previous_document.map(|p| crate::previous_of(model, &topology, p));
    let seed = &context.placement;
    let seed_score = score(model, &topology, seed, previous.as_ref());
    if !seed_score.violations.is_empty() {
        return afresh(context, model);
    }
    // Count candidates before building: a large fleet's whole MILP is
    // expensive to build and is not what answers the question anyway.
    let n_candidates: usize = crate::bound::candidate_nodes(model, &topology).iter().map(|c| c.len()).sum();
    let whole = (n_candidates <= FULL_SOLVE_MAX_VARIABLES)
        .then(|| Formulation::build(model, &topology, previous.as_ref(), Options::default()))
        .filter(|f| f.milp.n_variables() <= FULL_SOLVE_MAX_VARIABLES);
    if let Some(formulation) = whole {
        let limits = Limits { gap: 1e-6, node_limit: Some(context.effort.whole_nodes), time_limit: None, light: false };
        let start = formulation.start(model, &topology, seed);
        if let Ok(solution) = formulation.milp.solve(&limits, start.as_deref()) {
            let candidate = formulation.placement(&solution);
            let figures = score(model, &topology, &candidate, previous.as_ref());
            if figures.violations.is_empty() && figures.total < seed_score.total - 1e-9 {
                return Resolved::Found(candidate, figures);
            }
        }
        return Resolved::Found(seed.clone(), seed_score);
    }
    let budget = Budget::for_model(model);
    let all = neighbourhoods(model, budget.agents_per_round);
    let mut chosen: Vec<BTreeSet<AgentId>> =
        all.iter().filter(|n| focus.is_empty() || !n.is_disjoint(focus)).cloned().collect();
    chosen.truncate(context.effort.resolve_rounds);
    let budget = Budget { rounds: chosen.len(), node_limit: context.effort.resolve_nodes, ..budget };
    let improved = improve_over(model, &topology, previous.as_ref(), seed.clone(), &chosen, budget, 0, &|_| {});
    let figures = score(model, &topology, &improved, previous.as_ref());
    Resolved::Found(improved, figures)
}

/// The plan breaks the changed config: plan it from scratch, within limits.
fn afresh(context: &Context<'_>, model: &Model) -> Resolved {
    let budget = Budget { rounds: context.effort.resolve_rounds, ..Budget::for_model(model) };
    let request = Request {
        model,
        // Only the placement is used; the document's hashes are not shown.
        config_hash: rtt_canonical::Sha256::of(b""),
        previous: context.previous_document,
        limits: Limits { gap: 1e-4, node_limit: Some(context.effort.whole_nodes), time_limit: None, light: false },
        exhaustive: false,
        search: Some(budget),
        progress: None,
        memory_limit: None,
    };
    match crate::plan(&request) {
        Ok(planned) => Resolved::Found(planned.placement, planned.score),
        Err(PlanError::Infeasible(conflict)) => Resolved::Infeasible(conflict),
        Err(PlanError::NoPlan(reason) | PlanError::Internal(reason)) => Resolved::NoPlan(reason),
        Err(error @ PlanError::OverMemory(_)) => Resolved::NoPlan(error.to_string()),
    }
}

/// Solve errors as text for an undetermined answer.
pub(super) fn reason(error: &SolveError) -> String {
    match error {
        SolveError::Infeasible => "infeasible".into(),
        SolveError::NoSolution(why) => format!("no answer within the node limit ({why})"),
        SolveError::Solver(why) => format!("solver failure: {why}"),
    }
}
