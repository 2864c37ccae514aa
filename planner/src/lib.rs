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
#[cfg(test)]
mod fixtures;
pub mod formulation;
pub mod greedy;
pub mod infeasible;
pub mod pipeline;
pub mod placement;
mod pools;
pub mod previous;
pub mod reach;
pub mod score;
pub mod search;
pub mod statements;
pub mod symmetry;
pub mod topology;
pub mod transports;
pub mod waves;
pub mod zone_plan;

use rtt_canonical::Sha256;
use rtt_plan::PlanDocument;
use rtt_schema::model::Model;

pub use pipeline::document;

use crate::infeasible::Conflict;
use crate::placement::Placement;
use crate::previous::Previous;
use crate::score::Score;
use crate::topology::Topology;

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
    /// Bytes the whole-fleet MILP may take (`--memory-limit`): past it the
    /// planner does not build that model (see [`formulation::size`]) and
    /// says what it would need instead of being killed. `None`: no limit.
    pub memory_limit: Option<u64>,
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
/// Nodes of the churn-only branch and bound of a re-plan (docs/model.md §5).
pub const CHURN_FIRST_NODES: u64 = 5_000;
/// Past this many candidate (agent, node) pairs the churn-only model is not
/// built; the repaired previous plan stands in for it.
pub const CHURN_FIRST_MAX_CANDIDATES: usize = 60_000;
/// Nodes of that default full branch and bound: it ends in a bounded time on
/// any model of that size, and deterministically (no clock).
pub const FULL_SOLVE_DEFAULT_NODES: u64 = 20_000;
/// Re-plans get a full branch and bound by default up to this many
/// variables: the previous plan's churn term makes them far easier to close
/// than fresh plans of the same size (planbench S drains: 1,200–2,000
/// variables, each closed within 542 nodes, to CP-SAT's proven optimum;
/// a fresh S plan of that size still has a 3–4 % gap after 20,000 nodes).
pub const REPLAN_FULL_SOLVE_MAX_VARIABLES: usize = 3_000;
/// Nodes of that re-plan branch and bound: the slowest S drain took 542
/// nodes, 35 s; a harder one stops here with its bound.
pub const REPLAN_FULL_SOLVE_NODES: u64 = 1_000;
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
    /// A re-plan's churn-first stage: the fewest moves any feasible
    /// placement needs, and whether that minimum is proven.
    pub minimum_moves: Option<MinimumMoves>,
    /// The whole-fleet MILP's estimated size when `--memory-limit` kept it
    /// from being built.
    pub over_memory: Option<OverMemory>,
}

/// A model past `--memory-limit`: what it would need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverMemory {
    /// Its estimated size.
    pub size: formulation::size::Size,
    /// The limit it is over, in bytes.
    pub limit: u64,
}

impl std::fmt::Display for OverMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use formulation::size::human_bytes;
        write!(
            f,
            "about {} ({} columns, {} nonzeros), over --memory-limit {}",
            human_bytes(self.size.bytes()),
            self.size.columns,
            self.size.nonzeros,
            human_bytes(self.limit)
        )
    }
}

/// The fewest moves a re-plan needs (the churn-only model's answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinimumMoves {
    /// Moves of the churn-only model's best placement.
    pub moves: u64,
    /// No feasible placement moves fewer (the churn-only MILP was solved to optimality).
    pub proven: bool,
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
    /// No heuristic start is feasible and the model that could find one is
    /// past `--memory-limit`.
    #[error(
        "no heuristic start (greedy, the previous plan, its repair) is feasible, and the whole-fleet MILP would take {0}"
    )]
    OverMemory(OverMemory),
    /// A bug: the solver's plan breaks a constraint, or HiGHS failed.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Plans a request: seeds (greedy, the previous plan and its repair, or a
/// feasibility solve), large-neighbourhood search, the final solve for the
/// bound, then the document from the scorer's figures.
pub fn plan(request: &Request<'_>) -> Result<Planned, PlanError> {
    pipeline::Run::new(request).plan()
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
