//! Infeasibility as an answer: the smallest set of config statements that
//! conflict, and for each the cheapest relaxation that resolves the conflict.
//!
//! HiGHS has no irreducible infeasible subset for MILPs, so the set is found
//! by a deletion filter over constraint groups (one group per statement),
//! dropping halves, then quarters, … of the candidates at a time, so that a
//! small conflict among hundreds of statements costs few solves. Each solve
//! checks feasibility only (no objective). Relaxations come from an elastic
//! solve per statement: slack on that statement's rows alone, the rest of the
//! conflict hard, total slack minimised — read back in the config's units.

use std::collections::BTreeSet;

use rtt_schema::model::{Model, ResourceId};
use rtt_solver::{Group, Limits};

use crate::formulation::{Formulation, Options, Resource, Statement};
use crate::previous::Previous;
use crate::topology::Topology;

/// A minimal conflict.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// The statements that cannot all hold, in config order.
    pub statements: Vec<Statement>,
    /// For each statement, its cheapest relaxation, when one exists alone.
    pub relaxations: Vec<(Statement, Relaxation)>,
}

/// How much one statement must give.
#[derive(Debug, Clone, PartialEq)]
#[expect(missing_docs, reason = "fields are named for what they hold; each variant says the rest")]
pub enum Relaxation {
    /// Raise a route's SLO to this many µs.
    Slo { at_least_us: f64 },
    /// Add this many cores, MiB and units of extended resources (by name) to a zone.
    Capacity { cores: f64, memory_mib: f64, extended: Vec<(String, f64)> },
    /// Place this many fewer replicas.
    FewerReplicas { by: u32 },
    /// Allow this much more skew.
    MoreSkew { by: u32 },
    /// This many replicas would have to share a domain.
    SharedDomains { replicas: u32 },
    /// Dropping the rule resolves the conflict.
    Drop,
    /// This many replicas need hosts outside the selector/pin.
    WiderEligibility { replicas: u32 },
}

/// Limits for the many small feasibility solves.
fn probe_limits() -> Limits {
    Limits { gap: 1.0, node_limit: Some(2_000), time_limit: None, light: true }
}

/// Finds a minimal conflict in an infeasible model.
pub fn explain(model: &Model, topology: &Topology, previous: Option<&Previous>) -> Conflict {
    let options = Options { relaxable_eligibility: true, ..Options::default() };
    let formulation = Formulation::build(model, topology, previous, options);
    let mut candidates: Vec<Group> =
        formulation.milp.groups().into_iter().filter(|g| *g != rtt_solver::STRUCTURAL).collect();
    // Statements tried first are the likeliest to be dropped from the answer:
    // try the ones that are rarely the point (replica counts) first.
    candidates.sort_by_key(|g| (!matches!(formulation.statement(*g), Some(Statement::Replicas(_))), *g));
    minimal_conflict(model, &formulation, &candidates, &[])
}

/// The deletion filter: a minimal subset of `candidates` that, together with
/// the `always` groups (and structural rows), admits no solution, with the
/// cheapest relaxation of each member. `formulation` must be infeasible with
/// all of them. Candidates are tried in the order given.
pub fn minimal_conflict(model: &Model, formulation: &Formulation, candidates: &[Group], always: &[Group]) -> Conflict {
    let milp = &formulation.milp;
    let infeasible_with = |kept: &BTreeSet<Group>| -> bool {
        // A probe that hits its limit counts as feasible, which keeps the group: safe.
        !milp.is_feasible(|g| kept.contains(&g) || always.contains(&g), &probe_limits()).unwrap_or(true)
    };
    let mut kept: BTreeSet<Group> = candidates.iter().copied().collect();
    let mut chunk = candidates.len().div_ceil(2).max(1);
    loop {
        let order: Vec<Group> = candidates.iter().copied().filter(|g| kept.contains(g)).collect();
        for part in order.chunks(chunk) {
            let without: BTreeSet<Group> = kept.iter().copied().filter(|g| !part.contains(g)).collect();
            if infeasible_with(&without) {
                kept = without;
            }
        }
        if chunk == 1 {
            break;
        }
        chunk = chunk.div_ceil(2);
    }

    let mut statements: Vec<Statement> = kept.iter().filter_map(|g| formulation.statement(*g)).collect();
    statements.sort();
    let relaxations = kept
        .iter()
        .filter_map(|group| {
            let statement = formulation.statement(*group)?;
            let limits = Limits { gap: 1e-6, ..probe_limits() };
            let slacks = milp.elastic(*group, |g| kept.contains(&g) || always.contains(&g), &limits).ok()?;
            Some((statement, relaxation(model, formulation, statement, &slacks)))
        })
        .collect();
    Conflict { statements, relaxations }
}

fn relaxation(model: &Model, formulation: &Formulation, statement: Statement, slacks: &[(usize, f64)]) -> Relaxation {
    let total: f64 = slacks.iter().map(|(_, s)| s).sum();
    let whole = |x: f64| (x - 1e-6).ceil().max(1.0) as u32;
    match statement {
        Statement::Slo(route) => {
            let slo = model.routes[route].slo_p99_us.unwrap_or(0.0);
            Relaxation::Slo { at_least_us: slo + total }
        }
        Statement::Capacity(_) | Statement::NodeCapacity(_) => {
            let (mut cores, mut memory_mib) = (0.0, 0.0);
            let mut extended: std::collections::BTreeMap<ResourceId, f64> = std::collections::BTreeMap::new();
            for (row, slack) in slacks {
                match formulation.capacity.iter().find(|c| c.row == *row).map(|c| c.resource) {
                    Some(Resource::Cores) => cores += slack,
                    Some(Resource::Memory) => memory_mib += slack,
                    Some(Resource::Extended(r)) => *extended.entry(r).or_default() += slack,
                    None => {}
                }
            }
            let extended = extended
                .into_iter()
                .filter(|(_, slack)| *slack > 1e-9)
                .map(|(r, slack)| (model.resources[r.0 as usize].clone(), slack.ceil()))
                .collect();
            Relaxation::Capacity { cores: cores.ceil(), memory_mib: memory_mib.ceil(), extended }
        }
        Statement::Replicas(_) => Relaxation::FewerReplicas { by: whole(total) },
        Statement::Spread(_) | Statement::GroupSpread(_) => Relaxation::MoreSkew { by: whole(total) },
        Statement::AntiAffinity(_) | Statement::GroupAntiAffinity(_) => {
            Relaxation::SharedDomains { replicas: whole(total) }
        }
        Statement::Colocate(..) | Statement::Avoid(..) | Statement::GroupAvoid(..) => Relaxation::Drop,
        Statement::Eligibility(_) => Relaxation::WiderEligibility { replicas: whole(total) },
    }
}
