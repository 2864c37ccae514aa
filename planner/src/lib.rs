//! The planner: models the fleet as the MILP of SPEC §4, solves it with the
//! [`rtt_solver`] layer, scores the result independently and emits the plan
//! document of SPEC §5.
//!
//! Pure apart from the solver call: no files, no clocks in the output (solve
//! times are reported in [`Stats`] for stderr, never in the document).

pub mod bound;
pub mod definitions;
pub mod diff;
pub mod explain;
pub mod formulation;
pub mod greedy;
pub mod infeasible;
pub mod placement;
pub mod previous;
pub mod reach;
pub mod score;
pub mod search;
pub mod statements;
pub mod symmetry;
pub mod topology;

use std::time::Instant;

use rtt_canonical::Sha256;
use rtt_schema::model::Model;
use rtt_solver::{SolveError, Status};

use crate::formulation::{Formulation, Options};
use crate::infeasible::Conflict;
use crate::placement::Placement;
use crate::previous::Previous;
use crate::score::{Score, score};
use crate::topology::Topology;
use rtt_plan::{
    Inputs, Locality, ObjectiveReport, PLAN_KIND, PlacementRow, PlanDocument, RouteRow, SolverReport, SolverStatus,
    round_figure,
};

/// Limits of a solve (node, time, gap), as the command line sets them.
pub use rtt_solver::Limits;

/// What to plan.
#[derive(Clone)]
pub struct Request<'a> {
    /// The refined config.
    pub model: &'a Model,
    /// `inputs.config`.
    pub config_hash: Sha256,
    /// The plan to move from, if any.
    pub previous: Option<&'a PlanDocument>,
    /// Limits of the final branch and bound.
    pub limits: Limits,
    /// Run the final branch and bound even on large models (a node or time
    /// limit was given); otherwise large models get the LP bound only.
    pub exhaustive: bool,
    /// Large-neighbourhood search budget (default: sized to the model).
    pub search: Option<search::Budget>,
    /// Called as planning goes (for a progress display). Asking for it also
    /// computes the combinatorial bound before the search, so that the
    /// display can show a gap from the start.
    pub progress: Option<&'a dyn Fn(Progress)>,
}

/// Where planning is, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// What runs now.
    pub stage: Stage,
    /// The best feasible objective so far, if any.
    pub incumbent: Option<f64>,
    /// The best proven lower bound so far, if any.
    pub bound: Option<f64>,
}

impl Progress {
    /// `(incumbent − bound) / |incumbent|`, when both are known.
    pub fn gap(&self) -> Option<f64> {
        Some(relative_gap(self.incumbent?, self.bound?))
    }
}

/// A stage of [`plan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Large-neighbourhood search, after `round` of `rounds` sub-MILPs.
    Search {
        /// Sub-MILPs solved so far.
        round: usize,
        /// The budget.
        rounds: usize,
    },
    /// The final solve on the whole-fleet MILP (branch and bound, or its LP
    /// relaxation for the bound); HiGHS reports nothing until it ends.
    Solve {
        /// Branch and bound (true) or only the LP relaxation (false).
        branch_and_bound: bool,
    },
}

/// Models with at most this many variables get a full branch and bound by
/// default. Past it, a root node with cuts alone can take tens of seconds
/// (tier S: 2,900 variables, 7–24 s), so larger models get the LP bound
/// unless a limit asks for more.
pub const FULL_SOLVE_MAX_VARIABLES: usize = 1_000;
/// Nodes of that default full branch and bound: it ends in a bounded time on
/// any model of that size, and deterministically (no clock).
pub const FULL_SOLVE_DEFAULT_NODES: u64 = 20_000;
/// Past this many variables the LP relaxation costs more than it proves.
pub const LP_BOUND_MAX_VARIABLES: usize = 20_000;

/// A plan and how it was reached.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The document.
    pub document: PlanDocument,
    /// Its placement.
    pub placement: Placement,
    /// Its figures.
    pub score: Score,
    /// Solve statistics (not part of the document).
    pub stats: Stats,
}

/// Statistics for stderr and benchmarks.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// MILP variables.
    pub n_variables: usize,
    /// MILP rows.
    pub n_rows: usize,
    /// Seconds spent building the model and the greedy start.
    pub build_seconds: f64,
    /// Seconds in the large-neighbourhood search.
    pub search_seconds: f64,
    /// Seconds inside HiGHS for the final solve.
    pub solve_seconds: f64,
    /// Objective of the greedy start, when it was feasible.
    pub greedy_objective: Option<f64>,
}

/// Why no plan came out.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PlanError {
    /// The config cannot be satisfied.
    #[error("the config is infeasible")]
    Infeasible(Conflict),
    /// No plan was found within the limits.
    #[error("no plan was found within the limits: {0}")]
    NoPlan(String),
    /// A bug: the solver's plan breaks a constraint, or HiGHS failed.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Plans a request.
pub fn plan(request: &Request<'_>) -> Result<Planned, PlanError> {
    let model = request.model;
    let started = Instant::now();
    let topology = Topology::new(model);
    let previous = request.previous.map(|plan| previous_of(model, &topology, plan));
    // The whole-fleet MILP is built only when something uses it: a large
    // fleet's would take gigabytes just to prove a weak bound.
    let candidates = bound::candidate_nodes(model, &topology);
    let n_candidates: usize = candidates.iter().map(|c| c.len()).sum();
    let whole = std::cell::OnceCell::new();
    let options = Options { break_symmetry: true, ..Options::default() };
    let formulation = || whole.get_or_init(|| Formulation::build(model, &topology, previous.as_ref(), options));

    // The better feasible of the greedy placement and the previous plan seeds the search.
    let mut stats = Stats::default();
    let mut seeds = vec![greedy::place(model, &topology, previous.as_ref())];
    if let Some(previous) = &previous {
        seeds.push(placement_of_previous(model, previous));
        seeds.push(greedy::repair(model, &topology, previous));
    }
    let mut best_seed: Option<(f64, Placement)> = None;
    for (index, seed) in seeds.into_iter().enumerate() {
        let seed_score = score(model, &topology, &seed, previous.as_ref());
        if !seed_score.violations.is_empty() {
            continue;
        }
        if index == 0 {
            stats.greedy_objective = Some(seed_score.total);
        }
        if best_seed.as_ref().is_none_or(|(total, _)| seed_score.total < *total) {
            best_seed = Some((seed_score.total, seed));
        }
    }
    if best_seed.is_none() {
        // No heuristic placement is feasible: ask HiGHS for any feasible point
        // first (no objective: much faster), and start from that.
        let phase_one = Limits { gap: 1.0, ..request.limits };
        match formulation().milp.find_feasible(&phase_one) {
            Ok(solution) => {
                let found = formulation().placement(&solution);
                let found_score = score(model, &topology, &found, previous.as_ref());
                if found_score.violations.is_empty() {
                    best_seed = Some((found_score.total, found));
                }
            }
            Err(SolveError::Infeasible) => {
                return Err(PlanError::Infeasible(infeasible::explain(model, &topology, previous.as_ref())));
            }
            Err(_) => {}
        }
    }
    stats.build_seconds = started.elapsed().as_secs_f64();
    // For the display only: the figures in the plan come from the final stage.
    let early_bound = request.progress.map(|_| bound::lower_bound(model, &topology, &candidates, previous.as_ref()));
    let searching = Instant::now();
    if let Some((_, seed)) = best_seed.take() {
        let budget = request.search.unwrap_or_else(|| search::Budget::for_model(model));
        let report = |p: search::Progress| {
            if let Some(progress) = request.progress {
                let stage = Stage::Search { round: p.round, rounds: p.rounds };
                progress(Progress { stage, incumbent: Some(p.incumbent), bound: early_bound });
            }
        };
        let improved = match (&previous, request.search) {
            // A re-plan searches around what had to move, not the whole fleet again.
            (Some(previous), None) => search::improve_moved(model, &topology, previous, seed, budget, &report),
            _ => search::improve(model, &topology, previous.as_ref(), seed, budget, &report),
        };
        let total = score(model, &topology, &improved, previous.as_ref()).total;
        best_seed = Some((total, improved));
    }
    stats.search_seconds = searching.elapsed().as_secs_f64();
    let solving = Instant::now();
    let use_milp = request.exhaustive || best_seed.is_none() || n_candidates <= LP_BOUND_MAX_VARIABLES;
    if let Some(progress) = request.progress.filter(|_| use_milp) {
        let branch_and_bound = best_seed.is_none() || branch_and_bound(request, formulation());
        progress(Progress {
            stage: Stage::Solve { branch_and_bound },
            incumbent: best_seed.as_ref().map(|(total, _)| *total),
            bound: early_bound,
        });
    }
    let outcome = if !use_milp {
        // Too large for the MILP to prove more than the combinatorial bound does.
        let placement = best_seed.map(|(_, p)| p).unwrap_or_default();
        let total = score(model, &topology, &placement, previous.as_ref()).total;
        let bound = early_bound.unwrap_or_else(|| bound::lower_bound(model, &topology, &candidates, previous.as_ref()));
        let gap = relative_gap(total, bound);
        let status = if gap <= request.limits.gap { SolverStatus::Optimal } else { SolverStatus::Feasible };
        Ok((placement, SolverReport { status, objective: total, bound, gap }))
    } else {
        let formulation = formulation();
        stats.n_variables = formulation.milp.n_variables();
        stats.n_rows = formulation.milp.n_rows();
        solve_whole(request, model, &topology, &candidates, previous.as_ref(), formulation, best_seed)
    };
    stats.solve_seconds = solving.elapsed().as_secs_f64();
    let (placement, solver) = match outcome {
        Ok(found) => found,
        Err(SolveError::Infeasible) => {
            return Err(PlanError::Infeasible(infeasible::explain(model, &topology, previous.as_ref())));
        }
        Err(SolveError::NoSolution(reason)) => return Err(PlanError::NoPlan(reason)),
        Err(SolveError::Solver(reason)) => return Err(PlanError::Internal(reason)),
    };
    let figures = score(model, &topology, &placement, previous.as_ref());
    if !figures.violations.is_empty() {
        return Err(PlanError::Internal(format!("the solver's placement breaks {:?}", figures.violations)));
    }
    let solver = SolverReport {
        objective: round_figure(solver.objective),
        bound: round_figure(solver.bound),
        gap: round_figure(solver.gap),
        ..solver
    };
    let previous_hash = request
        .previous
        .map(PlanDocument::hash)
        .transpose()
        .map_err(|e| PlanError::Internal(format!("the previous plan cannot be hashed: {e}")))?;
    let inputs = Inputs { config: request.config_hash, previous: previous_hash, registry: None };
    let serial = request.previous.map_or(1, |p| p.serial + 1);
    let document = document(model, &topology, &placement, &figures, inputs, solver, serial);
    Ok(Planned { document, placement, score: figures, stats })
}

/// The final stage on the whole-fleet MILP: branch and bound from the searched
/// placement when the model is small (or a limit asks for it), else the LP
/// relaxation's bound (or the combinatorial one past its size).
fn solve_whole(
    request: &Request<'_>,
    model: &Model,
    topology: &Topology,
    candidates: &[std::collections::BTreeSet<topology::NodeId>],
    previous: Option<&Previous>,
    formulation: &Formulation,
    best_seed: Option<(f64, Placement)>,
) -> Result<(Placement, SolverReport), SolveError> {
    let start = best_seed.as_ref().and_then(|(_, seed)| formulation.start(model, topology, seed));
    if branch_and_bound(request, formulation) || start.is_none() {
        let limits = if request.exhaustive {
            request.limits
        } else {
            Limits { node_limit: request.limits.node_limit.or(Some(FULL_SOLVE_DEFAULT_NODES)), ..request.limits }
        };
        return formulation.milp.solve(&limits, start.as_deref()).map(|solution| {
            let objective = solution.objective + formulation.objective_constant;
            let bound = solution.bound + formulation.objective_constant;
            let report = SolverReport {
                status: match solution.status {
                    Status::Optimal => SolverStatus::Optimal,
                    Status::Feasible => SolverStatus::Feasible,
                },
                objective,
                bound,
                // On the totals the plan states, like the other paths: HiGHS's
                // own gap is relative to its objective without the constant.
                gap: relative_gap(objective, bound),
            };
            (formulation.placement(&solution), report)
        });
    }
    let placement = best_seed.map(|(_, p)| p).unwrap_or_default();
    let total = score(model, topology, &placement, previous).total;
    let bound = if formulation.milp.n_variables() <= LP_BOUND_MAX_VARIABLES {
        formulation.milp.relaxation_bound().map(|b| b + formulation.objective_constant)?
    } else {
        bound::lower_bound(model, topology, candidates, previous)
    };
    let gap = relative_gap(total, bound);
    let status = if gap <= request.limits.gap { SolverStatus::Optimal } else { SolverStatus::Feasible };
    Ok((placement, SolverReport { status, objective: total, bound, gap }))
}

/// Whether the final stage is a branch and bound (given a MIP start): on
/// small models, or when a limit asks for it.
fn branch_and_bound(request: &Request<'_>, formulation: &Formulation) -> bool {
    request.exhaustive || formulation.milp.n_variables() <= FULL_SOLVE_MAX_VARIABLES
}

/// `(objective − bound) / |objective|`, never negative, 0 for a zero objective.
fn relative_gap(objective: f64, bound: f64) -> f64 {
    if objective.abs() > 1e-12 { ((objective - bound) / objective.abs()).max(0.0) } else { 0.0 }
}

/// The previous plan's placements resolved against the current config.
pub fn previous_of(model: &Model, topology: &Topology, plan: &PlanDocument) -> Previous {
    Previous::resolve(
        model,
        topology,
        plan.placements.iter().map(|row| (row.agent.as_str(), row.host.as_str(), row.numa, row.replicas)),
    )
}

/// The previous plan as a placement of the current agents, where its nodes still exist.
fn placement_of_previous(model: &Model, previous: &Previous) -> Placement {
    let mut placement = Placement::empty(model.agents.len());
    for (agent, before) in previous.by_agent.iter().enumerate() {
        if let Some(before) = before {
            for (node, count) in &before.on_nodes {
                placement.add(rtt_schema::model::AgentId(agent as u32), *node, *count);
            }
        }
    }
    placement
}

/// Builds the document from a scored placement.
pub fn document(
    model: &Model,
    topology: &Topology,
    placement: &Placement,
    figures: &Score,
    inputs: Inputs,
    solver: SolverReport,
    serial: u64,
) -> PlanDocument {
    let placements = placement
        .rows(model, topology)
        .into_iter()
        .map(|(agent, host, numa, replicas)| PlacementRow { agent: agent.into(), host: host.into(), numa, replicas })
        .collect();
    let mut routes: Vec<RouteRow> = model
        .routes
        .iter()
        .zip(&figures.routes)
        .map(|(route, figure)| RouteRow {
            from: model.agents[route.from.0 as usize].id.clone(),
            to: model.agents[route.to.0 as usize].id.clone(),
            p99_us: figure.p99_us,
            slo_p99_us: route.slo_p99_us,
            locality: Locality {
                numa: round_figure(figure.locality[0]),
                host: round_figure(figure.locality[1]),
                rack: round_figure(figure.locality[2]),
                zone: round_figure(figure.locality[3]),
            },
        })
        .collect();
    routes.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
    PlanDocument {
        kind: PLAN_KIND.into(),
        version: 1,
        serial,
        inputs,
        solver,
        objective: ObjectiveReport {
            latency_us: round_figure(figures.latency_us),
            moves: figures.moves,
            total: round_figure(figures.total),
        },
        placements,
        routes,
        views: Default::default(),
        signatures: Vec::new(),
    }
}
