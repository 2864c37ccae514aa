//! The stages of [`crate::plan`]: seed, search, solve, emit. Each stage
//! reads what the earlier ones left in [`Run`] and adds to it; the whole-fleet
//! MILP is built only when a stage asks for it.

use std::cell::OnceCell;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rtt_plan::{
    Inputs, Locality, ObjectiveReport, PLAN_KIND, PlacementRow, PlanDocument, RouteRow, SolverReport, SolverStatus,
    round_figure,
};
use rtt_schema::model::Model;
use rtt_solver::{SolveError, Status};

use crate::formulation::size::Size;
use crate::formulation::{Formulation, Options};
use crate::placement::Placement;
use crate::previous::Previous;
use crate::score::{Score, score};
use crate::topology::{NodeId, Topology};
use crate::{
    CHURN_FIRST_MAX_CANDIDATES, CHURN_FIRST_NODES, FULL_SOLVE_DEFAULT_NODES, FULL_SOLVE_MAX_VARIABLES,
    LP_BOUND_MAX_VARIABLES, Limits, MinimumMoves, OverMemory, PlanError, Planned, Progress,
    REPLAN_FULL_SOLVE_MAX_VARIABLES, REPLAN_FULL_SOLVE_NODES, Request, Stage, Stats, bound, greedy, infeasible,
    previous_of, relative_gap, search, zone_plan,
};

/// One planning run: the request, what every stage shares, and statistics.
pub struct Run<'r> {
    request: &'r Request<'r>,
    model: &'r Model,
    topology: Topology,
    previous: Option<Previous>,
    /// Per agent, the NUMA nodes it may use.
    candidates: Vec<BTreeSet<NodeId>>,
    /// The whole-fleet MILP, built on first use: a large fleet's would take
    /// gigabytes just to prove a weak bound.
    whole: OnceCell<Formulation>,
    /// Its estimated size, computed when a stage first asks whether it fits.
    whole_size: OnceCell<Size>,
    /// When the whole run must end (`--time-limit`, counted from
    /// [`Run::new`]); `None` keeps it deterministic.
    deadline: Option<Instant>,
    stats: Stats,
    /// The search starts from the zone plan's placement.
    zones_planned: bool,
}

/// The part of a `--time-limit` the search may use; the final solve gets
/// what is left.
pub const SEARCH_SHARE: f64 = 0.6;

/// How long the bound shown on a terminal before the search may take:
/// routes it has not judged by then count as NUMA-local (still a bound).
const DISPLAY_BOUND_SECONDS: std::time::Duration = std::time::Duration::from_secs(5);

/// A placement with its objective.
type Scored = (f64, Placement);

impl<'r> Run<'r> {
    /// Flattens the topology and resolves the previous plan.
    pub fn new(request: &'r Request<'r>) -> Run<'r> {
        let deadline =
            request.limits.time_limit.map(|seconds| Instant::now() + Duration::from_secs_f64(seconds.max(0.0)));
        let model = request.model;
        let topology = Topology::new(model);
        let previous = request.previous.map(|plan| previous_of(model, &topology, plan));
        let candidates = bound::candidate_nodes(model, &topology);
        Run {
            request,
            model,
            topology,
            previous,
            candidates,
            whole: OnceCell::new(),
            whole_size: OnceCell::new(),
            deadline,
            stats: Stats::default(),
            zones_planned: false,
        }
    }

    /// Runs every stage.
    pub fn plan(mut self) -> Result<Planned, PlanError> {
        let started = Instant::now();
        let seed = self.seed()?;
        self.stats.build_seconds = started.elapsed().as_secs_f64();
        // For the display only: the figures in the plan come from the final stage.
        // Judged for a few seconds at most: the final stage judges the rest.
        let display_deadline = Instant::now() + DISPLAY_BOUND_SECONDS;
        let early_bound = self.request.progress.map(|_| {
            self.combinatorial_bound(Some(self.deadline.map_or(display_deadline, |d| d.min(display_deadline))))
        });
        let searching = Instant::now();
        // The first of equally good results wins, so the outcome is deterministic.
        let best = seed.into_iter().map(|(_, seed)| self.search(seed, early_bound)).min_by(|a, b| a.0.total_cmp(&b.0));
        self.stats.search_seconds = searching.elapsed().as_secs_f64();
        let solving = Instant::now();
        let outcome = self.solve(best, early_bound);
        self.stats.solve_seconds = solving.elapsed().as_secs_f64();
        let (placement, solver) = match outcome {
            Ok(found) => found,
            Err(SolveError::Infeasible) => return Err(self.infeasible()),
            Err(SolveError::NoSolution(reason)) => return Err(PlanError::NoPlan(reason)),
            Err(SolveError::Solver(reason)) => return Err(PlanError::Internal(reason)),
        };
        self.emit(placement, solver)
    }

    /// The request's limits with the time left until the deadline.
    fn limits_now(&self) -> Limits {
        let left = self.deadline.map(|d| d.saturating_duration_since(Instant::now()).as_secs_f64().max(0.01));
        Limits { time_limit: left, ..self.request.limits }
    }

    fn formulation(&self) -> &Formulation {
        let options = Options { break_symmetry: true, ..Options::default() };
        self.whole.get_or_init(|| Formulation::build(self.model, &self.topology, self.previous.as_ref(), options))
    }

    /// Whether the whole-fleet MILP fits `--memory-limit` (always, once
    /// built or without a limit); what it would need when not.
    fn whole_fits(&self) -> Result<(), OverMemory> {
        let Some(limit) = self.request.memory_limit.filter(|_| self.whole.get().is_none()) else {
            return Ok(());
        };
        let size = *self
            .whole_size
            .get_or_init(|| crate::formulation::size::estimate(self.model, &self.topology, &self.candidates));
        if size.bytes() <= limit { Ok(()) } else { Err(OverMemory { size, limit }) }
    }

    fn score(&self, placement: &Placement) -> Score {
        score(self.model, &self.topology, placement, self.previous.as_ref())
    }

    /// SPEC §4's combinatorial bound; once the churn-first stage proved the
    /// fewest moves, those replace the forced ones in it (every placement
    /// moves at least that many, and is at least as slow as the bound says).
    fn combinatorial_bound(&self, deadline: Option<Instant>) -> f64 {
        let previous = self.previous.as_ref();
        let bound = bound::lower_bound(self.model, &self.topology, &self.candidates, previous, deadline);
        match self.stats.minimum_moves {
            Some(minimum) if minimum.proven => {
                let forced = bound::forced_moves(self.model, &self.candidates, previous);
                bound + self.model.churn_weight * minimum.moves.saturating_sub(forced) as f64
            }
            _ => bound,
        }
    }

    fn infeasible(&self) -> PlanError {
        PlanError::Infeasible(infeasible::explain(self.model, &self.topology, self.previous.as_ref()))
    }

    /// Where the search starts: the best feasible of the greedy placement
    /// (on a fresh plan of a larger fleet, the one that follows the zone
    /// plan when that is better),
    /// the previous plan and its repair, and a re-plan's fewest-moves
    /// placement beside it (the two often lead the search to different
    /// local optima, and neither is always the better start). When no
    /// heuristic start is feasible, phase one's point stands in for them.
    /// Empty when nothing feasible was found within the limits.
    fn seed(&mut self) -> Result<Vec<Scored>, PlanError> {
        let (model, topology) = (self.model, &self.topology);
        let mut seeds = vec![greedy::place(model, topology, self.previous.as_ref())];
        // Fresh plans of larger fleets: the greedy rule again on the zone
        // plan's counts (docs/model.md §5, "Zone plan").
        if self.previous.is_none()
            && model.agents.len() > search::COARSE_FIRST_MIN_AGENTS
            && let Some(zoned) = self.zoned(&seeds[0])
        {
            seeds[0] = zoned;
            self.zones_planned = true;
        }
        if let Some(previous) = &self.previous {
            seeds.push(placement_of_previous(model, previous));
            seeds.push(greedy::repair(model, topology, previous));
        }
        let mut best: Option<Scored> = None;
        for (index, seed) in seeds.into_iter().enumerate() {
            let seed_score = self.score(&seed);
            if !seed_score.violations.is_empty() {
                continue;
            }
            if index == 0 {
                self.stats.greedy_objective = Some(seed_score.total);
            }
            if best.as_ref().is_none_or(|(total, _)| seed_score.total < *total) {
                best = Some((seed_score.total, seed));
            }
        }
        if best.is_none() {
            best = self.phase_one()?;
        }
        let mut starts: Vec<Scored> = best.into_iter().collect();
        if let Some(found) = self.churn_first() {
            let found_score = self.score(&found);
            if found_score.violations.is_empty() {
                starts.push((found_score.total, found));
            }
        }
        // Past the small fleets, a re-plan searches from the better of the
        // two, and from it moved to the zone plan's counts: on planbench M
        // drains the fewest-moves start was 1–40 % better than the other and
        // its search always won, while the re-zoned one won on 5 of 10
        // (docs/model.md §5).
        // (`min_by` keeps the first of equal totals, as the search's order would.)
        if model.agents.len() > search::COARSE_FIRST_MIN_AGENTS
            && let Some(better) = starts.iter().enumerate().min_by(|a, b| a.1.0.total_cmp(&b.1.0)).map(|(i, _)| i)
        {
            starts = vec![starts.swap_remove(better)];
            starts.extend(self.rezoned(&starts[0]));
        }
        Ok(starts)
    }

    /// The zone plan from `start`'s counts, moves priced in a re-plan.
    fn zone_plan(&self, start: &Placement) -> Option<zone_plan::ZoneTargets> {
        let limits =
            Limits { gap: 1e-6, node_limit: Some(zone_plan::ZONE_PLAN_NODES), light: false, ..self.limits_now() };
        zone_plan::zone_plan(self.model, &self.topology, &self.candidates, start, self.previous.as_ref(), &limits)
    }

    /// The greedy rule again on the zone plan's counts ([`zone_plan`]), when
    /// that placement is feasible and better than `greedy`.
    fn zoned(&self, greedy: &Placement) -> Option<Placement> {
        let greedy_score = self.score(greedy);
        if !greedy_score.violations.is_empty() {
            return None;
        }
        let targets = self.zone_plan(greedy)?;
        let (placed, broken) = greedy::place_in_zones(self.model, &self.topology, &targets);
        let placed_score = self.score(&placed);
        (broken.is_empty() && placed_score.violations.is_empty() && placed_score.total < greedy_score.total)
            .then_some(placed)
    }

    /// A re-plan's start with every agent's replicas per zone from the zone
    /// plan, moves priced ([`greedy::repair_in_zones`]), when that is
    /// feasible and better than `start`: the better of two, one keeping what
    /// `start` holds where the plan allows, one what the previous plan held
    /// (neither is always the better on planbench M drains).
    fn rezoned(&self, start: &Scored) -> Option<Scored> {
        let previous = self.previous.as_ref()?;
        let (model, topology) = (self.model, &self.topology);
        let targets = self.zone_plan(&start.1)?;
        let before = placement_of_previous(model, previous);
        [&start.1, &before]
            .into_iter()
            .filter_map(|base| {
                let (placed, broken) = greedy::repair_in_zones(model, topology, previous, base, &targets);
                let placed_score = self.score(&placed);
                (broken.is_empty() && placed_score.violations.is_empty()).then_some((placed_score.total, placed))
            })
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .filter(|(total, _)| *total < start.0)
    }

    /// Any feasible point of the whole-fleet MILP (no objective: much faster
    /// than a solve); `None` when none was found within the limits.
    fn phase_one(&self) -> Result<Option<Scored>, PlanError> {
        self.whole_fits().map_err(PlanError::OverMemory)?;
        let phase_one = Limits { gap: 1.0, ..self.limits_now() };
        match self.formulation().milp.find_feasible(&phase_one) {
            Ok(solution) => {
                let found = self.formulation().placement(&solution);
                let found_score = self.score(&found);
                Ok(found_score.violations.is_empty().then_some((found_score.total, found)))
            }
            Err(SolveError::Infeasible) => Err(self.infeasible()),
            Err(_) => Ok(None),
        }
    }

    /// A re-plan's churn-first stage: the placement with the fewest moves
    /// (latency weighed at zero, every constraint and SLO kept), from the
    /// repaired previous plan. Its moves are the minimum the plan reports
    /// against; the search then trades moves for latency only where
    /// `churn_weight` says a move pays, so the plan is never worse than this
    /// repair. Skipped without a previous plan, without a churn weight, or
    /// past [`CHURN_FIRST_MAX_CANDIDATES`].
    fn churn_first(&mut self) -> Option<Placement> {
        let previous = self.previous.as_ref()?;
        let n_candidates: usize = self.candidates.iter().map(BTreeSet::len).sum();
        // The churn-only model is the whole fleet's with other weights.
        if self.model.churn_weight <= 0.0 || n_candidates > CHURN_FIRST_MAX_CANDIDATES || self.whole_fits().is_err() {
            return None;
        }
        let churn_only = Model { latency_weight: 0.0, ..self.model.clone() };
        let options = Options { break_symmetry: true, ..Options::default() };
        let formulation = Formulation::build(&churn_only, &self.topology, Some(previous), options);
        let repair = greedy::repair(self.model, &self.topology, previous);
        let start = formulation.start(&churn_only, &self.topology, &repair);
        let limits = Limits { gap: 1e-9, node_limit: Some(CHURN_FIRST_NODES), light: false, ..self.limits_now() };
        let solution = formulation.milp.solve(&limits, start.as_deref()).ok()?;
        let placement = formulation.placement(&solution);
        let figures = self.score(&placement);
        if !figures.violations.is_empty() {
            return None;
        }
        // Moves are whole: the bound rounds up to them.
        let bound = (solution.bound + formulation.objective_constant) / self.model.churn_weight;
        let proven = solution.status == Status::Optimal || (figures.moves as f64) <= bound.ceil() + 1e-9;
        self.stats.minimum_moves = Some(MinimumMoves { moves: figures.moves, proven });
        Some(placement)
    }

    /// Large-neighbourhood search from the seed; a re-plan searches around
    /// what had to move, not the whole fleet again.
    fn search(&self, seed: Placement, early_bound: Option<f64>) -> Scored {
        let (model, topology, request) = (self.model, &self.topology, self.request);
        let mut budget = request.search.unwrap_or_else(|| search::Budget::for_model(model));
        budget.zones_planned = self.zones_planned;
        if let Some(deadline) = self.deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            budget.deadline = Some(Instant::now() + left.mul_f64(SEARCH_SHARE));
        }
        let report = |p: search::Progress| {
            if let Some(progress) = request.progress {
                let stage = Stage::Search { round: p.round, rounds: p.rounds };
                progress(Progress { stage, incumbent: Some(p.incumbent), bound: early_bound });
            }
        };
        let improved = match (&self.previous, request.search) {
            (Some(previous), None) => search::improve_moved(model, topology, previous, seed, budget, &report),
            _ => search::improve(model, topology, self.previous.as_ref(), seed, budget, &report),
        };
        (self.score(&improved).total, improved)
    }

    /// The final stage: the whole-fleet MILP when it can prove something
    /// (branch and bound from the best placement on small models or when a
    /// limit asks, else its LP bound), the combinatorial bound past its size.
    fn solve(
        &mut self,
        best: Option<Scored>,
        early_bound: Option<f64>,
    ) -> Result<(Placement, SolverReport), SolveError> {
        let request = self.request;
        let n_candidates: usize = self.candidates.iter().map(BTreeSet::len).sum();
        let use_milp = (request.exhaustive || best.is_none() || n_candidates <= LP_BOUND_MAX_VARIABLES)
            && (best.is_none() || self.whole_fits().is_ok());
        if let Some(progress) = request.progress.filter(|_| use_milp) {
            let branch_and_bound = best.is_none() || branch_and_bound(request, self.formulation()).is_some();
            progress(Progress {
                stage: Stage::Solve { branch_and_bound },
                incumbent: best.as_ref().map(|(total, _)| *total),
                bound: early_bound,
            });
        }
        if !use_milp {
            // Too large for the MILP to prove more than the combinatorial bound does.
            let placement = best.map(|(_, p)| p).unwrap_or_default();
            let total = self.score(&placement).total;
            // Judged again, not the display's: that one may have stopped early.
            let bound = self.combinatorial_bound(self.deadline);
            return Ok(self.report_without_milp(placement, total, bound));
        }
        self.stats.n_variables = self.formulation().milp.n_variables();
        self.stats.n_rows = self.formulation().milp.n_rows();
        self.solve_whole(best)
    }

    fn report_without_milp(&self, placement: Placement, total: f64, bound: f64) -> (Placement, SolverReport) {
        let gap = relative_gap(total, bound);
        let status = status_of(false, gap, self.request.limits.gap);
        (placement, SolverReport { status, objective: total, bound, gap })
    }

    fn solve_whole(&self, best: Option<Scored>) -> Result<(Placement, SolverReport), SolveError> {
        let (request, formulation) = (self.request, self.formulation());
        let now = self.limits_now();
        let start = best.as_ref().and_then(|(_, seed)| formulation.start(self.model, &self.topology, seed));
        let nodes = branch_and_bound(request, formulation);
        if nodes.is_some() || start.is_none() {
            let limits = if request.exhaustive {
                now
            } else {
                Limits { node_limit: now.node_limit.or(nodes).or(Some(FULL_SOLVE_DEFAULT_NODES)), ..now }
            };
            return formulation.milp.solve(&limits, start.as_deref()).map(|solution| {
                let objective = solution.objective + formulation.objective_constant;
                let bound = solution.bound + formulation.objective_constant;
                // On the totals the plan states, like the other paths: HiGHS's
                // own gap is relative to its objective without the constant.
                let gap = relative_gap(objective, bound);
                let status = status_of(solution.status == Status::Optimal, gap, request.limits.gap);
                let report = SolverReport { status, objective, bound, gap };
                (formulation.placement(&solution), report)
            });
        }
        let placement = best.map(|(_, p)| p).unwrap_or_default();
        let total = self.score(&placement).total;
        let bound = if formulation.milp.n_variables() <= LP_BOUND_MAX_VARIABLES {
            let relaxation = formulation.milp.relaxation_bound().map(|b| b + formulation.objective_constant)?;
            // The proven fewest moves can prove more than the relaxation does.
            if self.stats.minimum_moves.is_some_and(|m| m.proven) {
                relaxation.max(self.combinatorial_bound(self.deadline))
            } else {
                relaxation
            }
        } else {
            self.combinatorial_bound(self.deadline)
        };
        Ok(self.report_without_milp(placement, total, bound))
    }

    /// The document, every figure from the scorer; a placement that breaks a
    /// constraint is a bug, never a plan.
    fn emit(mut self, placement: Placement, solver: SolverReport) -> Result<Planned, PlanError> {
        self.stats.over_memory = self.whole_fits().err();
        let figures = self.score(&placement);
        if !figures.violations.is_empty() {
            return Err(PlanError::Internal(format!("the solver's placement breaks {:?}", figures.violations)));
        }
        let solver = SolverReport {
            objective: round_figure(solver.objective),
            bound: round_figure(solver.bound),
            gap: round_figure(solver.gap),
            ..solver
        };
        let request = self.request;
        let previous_hash = request
            .previous
            .map(PlanDocument::hash)
            .transpose()
            .map_err(|e| PlanError::Internal(format!("the previous plan cannot be hashed: {e}")))?;
        let inputs = Inputs { config: request.config_hash, previous: previous_hash, registry: None };
        let serial = request.previous.map_or(1, |p| p.serial + 1);
        let document = document(self.model, &self.topology, &placement, &figures, inputs, solver, serial);
        Ok(Planned { document, placement, score: figures, stats: self.stats })
    }
}

/// `optimal` when the solver proved it or when objective and bound meet
/// within the gap asked for: a limit that stops HiGHS at a proven optimum
/// (objective = bound, 0 = 0 included) does not make it any less optimal.
fn status_of(solver_proved: bool, gap: f64, tolerance: f64) -> SolverStatus {
    if solver_proved || gap <= tolerance { SolverStatus::Optimal } else { SolverStatus::Feasible }
}

/// Whether the final stage runs branch and bound (an exhaustive request or
/// a limit from the command line, a small model, or a re-plan of a
/// mid-sized one), and then its node limit when the command line gives none.
fn branch_and_bound(request: &Request<'_>, formulation: &Formulation) -> Option<u64> {
    let n_variables = formulation.milp.n_variables();
    if request.exhaustive || n_variables <= FULL_SOLVE_MAX_VARIABLES {
        Some(FULL_SOLVE_DEFAULT_NODES)
    } else if request.previous.is_some() && n_variables <= REPLAN_FULL_SOLVE_MAX_VARIABLES {
        Some(REPLAN_FULL_SOLVE_NODES)
    } else {
        None
    }
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
            transport: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objective_equal_to_bound_is_optimal_whatever_stopped_the_solver() {
        assert_eq!(status_of(false, relative_gap(0.0, 0.0), 1e-4), SolverStatus::Optimal);
        assert_eq!(status_of(false, relative_gap(10.0, 10.0), 1e-4), SolverStatus::Optimal);
        assert_eq!(status_of(false, relative_gap(10.0, 9.0), 1e-4), SolverStatus::Feasible);
        assert_eq!(status_of(true, relative_gap(10.0, 9.0), 1e-4), SolverStatus::Optimal);
    }
}
