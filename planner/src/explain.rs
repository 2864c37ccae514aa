//! Explanations of a plan (SPEC §6, `rtt explain`, `rtt plan --explain`):
//! the objective split, what stops each route from being one level closer
//! (found by testing that improvement), binding constraints, shadow prices,
//! counterfactuals and the churn trade-off — as data with a versioned JSON
//! schema (docs/explain.md). Rendering for a person lives in the binary.
//!
//! Every figure is the scorer's (SPEC §4 from placements): solves only
//! propose placements, which are then scored. All work is bounded by node
//! and round counts, never by the clock, so the same inputs give the same
//! explanation on any machine.

mod binding;
mod prices;
mod resolve;
mod routes;
mod tradeoff;
pub mod what_if;

use rtt_canonical::Sha256;
use rtt_schema::model::Model;
use serde::Serialize;

pub use self::binding::{Binding, FullNode, Pin, SaturatedAntiAffinity, SloAtLimit, SpreadAtMaxSkew};
pub use self::prices::{MarginalValue, ShadowPrice, ShadowPrices};
pub use self::routes::{Blocker, Improvement, RouteExplanation};
pub use self::tradeoff::{Tradeoff, TradeoffPoint};
pub use self::what_if::{WhatIf, WhatIfError, WhatIfOutcome, WhatIfResult};
use crate::diff::{Move, ScaleChange};
use crate::placement::{Placement, RowMismatch};
use crate::previous::Previous;
use crate::score::{Score, score};
use crate::topology::Topology;
use rtt_plan::{PlacementRow, PlanDocument, round_figure};

/// `kind` of an explanation document.
pub const EXPLAIN_KIND: &str = "rtt.explain";
/// Version of the explanation's schema (docs/explain.md).
pub const EXPLAIN_VERSION: u32 = 1;

/// What to explain.
pub struct Input<'a> {
    /// The config the plan is read against.
    pub model: &'a Model,
    /// Its hash, to say whether the plan was made from it.
    pub config_hash: Sha256,
    /// The plan.
    pub plan: &'a PlanDocument,
    /// The plan it moved from (churn is counted against it).
    pub previous: Option<&'a PlanDocument>,
    /// Counterfactuals to re-solve (parsed with [`what_if::parse`]).
    pub what_ifs: &'a [(String, WhatIf)],
    /// How much work each question may take.
    pub effort: Effort,
}

/// Work limits (counts, not seconds, so that answers are deterministic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effort {
    /// Branch-and-bound nodes per route improvement test.
    pub probe_nodes: u64,
    /// Sub-MILPs per re-solve of a large model (what-ifs, trade-off).
    pub resolve_rounds: usize,
    /// Branch-and-bound nodes per sub-MILP of a re-solve.
    pub resolve_nodes: u64,
    /// Branch-and-bound nodes when a small model is re-solved whole.
    pub whole_nodes: u64,
    /// Full NUMA nodes whose marginal core is priced by a re-solve.
    pub priced_nodes: usize,
    /// Routes whose improvement is tested, the busiest first (the rest are
    /// reported as not tested): bounds explain on very large fleets.
    pub tested_routes: usize,
}

impl Default for Effort {
    fn default() -> Self {
        Self {
            probe_nodes: 500,
            resolve_rounds: 8,
            resolve_nodes: 100,
            whole_nodes: 20_000,
            priced_nodes: 3,
            tested_routes: 64,
        }
    }
}

/// The explanation of a plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// Always `rtt.explain`.
    pub kind: &'static str,
    /// Schema version.
    pub version: u32,
    /// The plan explained.
    pub plan: crate::diff::PlanRef,
    /// Whether the plan's `inputs.config` is this config's hash. When not,
    /// the figures are this config's view of the plan's placements, and the
    /// plan's bound no longer applies.
    pub config_matches_plan: bool,
    /// The objective and its parts.
    pub objective: ObjectiveSplit,
    /// Per route, sorted by (from, to).
    pub routes: Vec<RouteExplanation>,
    /// Constraints that hold with no room to spare.
    pub binding: Binding,
    /// Duals of the LP with the placement fixed, and marginal values by re-solve.
    pub shadow_prices: ShadowPrices,
    /// The `--what-if` counterfactuals, in the order given.
    pub what_ifs: Vec<WhatIfResult>,
    /// Moves against latency for churn weights around the configured one.
    pub churn_tradeoff: Tradeoff,
}

/// The objective split into its terms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectiveSplit {
    /// `latency_weight`.
    pub latency_weight: f64,
    /// Traffic-weighted mean route p99, µs.
    pub latency_us: f64,
    /// `latency_weight · latency_us`.
    pub latency_term: f64,
    /// `churn_weight`.
    pub churn_weight: f64,
    /// Replicas moved from the previous plan.
    pub moves: u64,
    /// `churn_weight · moves`.
    pub churn_term: f64,
    /// The sum.
    pub total: f64,
    /// The plan's proven lower bound (`solver.bound`).
    pub bound: f64,
    /// `total − bound`: at most this much better is possible.
    pub from_bound: f64,
    /// The plan's relative gap.
    pub gap: f64,
}

/// A placement change and what it does, shared by the improvement tests,
/// what-ifs and the trade-off.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// Objective total after the change.
    pub total: f64,
    /// `total` after − before.
    pub total_change: f64,
    /// Mean route p99 after, µs.
    pub latency_us: f64,
    /// Mean route p99 after − before, µs.
    pub latency_change_us: f64,
    /// Moves after (against the previous plan).
    pub moves: u64,
    /// Replicas that change slot against the explained plan.
    pub changed: Vec<Move>,
    /// Replica count changes against the explained plan.
    pub rescaled: Vec<ScaleChange>,
}

/// Why a plan cannot be explained against a config.
#[derive(Debug, Clone, PartialEq, thiserror::Error, miette::Diagnostic)]
pub enum ExplainError {
    /// The plan names agents or nodes the config lacks.
    #[error("failed to explain the plan: the plan does not fit the config: {0}")]
    #[diagnostic(code(rtt::explain::mismatch), help("pass the config the plan was made from (--config)"))]
    Mismatch(RowMismatch),
    /// The plan's placement breaks the config's constraints.
    #[error("failed to explain the plan: the plan breaks {count} constraint(s) of the config, e.g. {first}")]
    #[diagnostic(code(rtt::explain::breaks), help("pass the config the plan was made from (--config)"))]
    Breaks {
        /// How many.
        count: usize,
        /// The first, described.
        first: String,
    },
}

impl<'a> Input<'a> {
    /// The question as `rtt explain` and `rtt plan --explain` ask it: the
    /// plan under the loaded config, with the default effort.
    pub fn new(
        model: &'a Model,
        config_hash: Sha256,
        plan: &'a PlanDocument,
        previous: Option<&'a PlanDocument>,
        what_ifs: &'a [(String, WhatIf)],
    ) -> Self {
        Input { model, config_hash, plan, previous, what_ifs, effort: Effort::default() }
    }
}

/// Everything the parts of an explanation share.
struct Context<'a> {
    model: &'a Model,
    /// The plan explained (its stated transports are explained too).
    document: &'a PlanDocument,
    topology: Topology,
    previous_document: Option<&'a PlanDocument>,
    previous: Option<Previous>,
    placement: Placement,
    score: Score,
    effort: Effort,
}

impl Context<'_> {
    /// The outcome of moving from the explained placement to `other`.
    fn outcome(&self, model: &Model, other: &Placement, figures: &Score) -> Outcome {
        let rows = |p: &Placement| -> Vec<PlacementRow> {
            p.rows(model, &self.topology)
                .into_iter()
                .map(|(agent, host, numa, replicas)| PlacementRow {
                    agent: agent.into(),
                    host: host.into(),
                    numa,
                    replicas,
                })
                .collect()
        };
        let (changed, rescaled) = crate::diff::placement_changes(&rows(&self.placement), &rows(other));
        Outcome {
            total: round_figure(figures.total),
            total_change: round_figure(figures.total - self.score.total),
            latency_us: round_figure(figures.latency_us),
            latency_change_us: round_figure(figures.latency_us - self.score.latency_us),
            moves: figures.moves,
            changed,
            rescaled,
        }
    }
}

/// Explains a plan.
pub fn explain(input: &Input<'_>) -> Result<Explanation, ExplainError> {
    let model = input.model;
    let topology = Topology::new(model);
    let rows = input.plan.placements.iter().map(|r| (r.agent.as_str(), r.host.as_str(), r.numa, r.replicas));
    let placement = Placement::from_rows(model, &topology, rows).map_err(ExplainError::Mismatch)?;
    let previous = input.previous.map(|p| crate::previous_of(model, &topology, p));
    let figures = score(model, &topology, &placement, previous.as_ref());
    if let Some(first) = figures.violations.first() {
        return Err(ExplainError::Breaks { count: figures.violations.len(), first: format!("{first:?}") });
    }
    let context = Context {
        model,
        document: input.plan,
        topology,
        previous_document: input.previous,
        previous,
        placement,
        score: figures,
        effort: input.effort,
    };
    let solver = &input.plan.solver;
    let total = round_figure(context.score.total);
    let objective = ObjectiveSplit {
        latency_weight: model.latency_weight,
        latency_us: round_figure(context.score.latency_us),
        latency_term: round_figure(model.latency_weight * context.score.latency_us),
        churn_weight: model.churn_weight,
        moves: context.score.moves,
        churn_term: round_figure(model.churn_weight * context.score.moves as f64),
        total,
        bound: solver.bound,
        from_bound: round_figure((total - solver.bound).max(0.0)),
        gap: solver.gap,
    };
    let what_ifs = input.what_ifs.iter().map(|(text, change)| what_if::run(&context, text, change)).collect();
    Ok(Explanation {
        kind: EXPLAIN_KIND,
        version: EXPLAIN_VERSION,
        plan: crate::diff::PlanRef { hash: input.plan.hash().ok(), serial: input.plan.serial },
        config_matches_plan: input.plan.inputs.config == input.config_hash,
        objective,
        routes: routes::explain_routes(&context),
        binding: binding::binding(&context),
        shadow_prices: prices::shadow_prices(&context),
        what_ifs,
        churn_tradeoff: tradeoff::tradeoff(&context),
    })
}
