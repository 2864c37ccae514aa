//! The churn trade-off: for churn weights around the configured one, the
//! moves and mean p99 the planner reaches from this plan. Without a previous
//! plan nothing can move (moves are 0 at every weight), so there is no
//! trade-off to show and the table is empty with a note saying so.
//!
//! Each point is a bounded re-solve from the plan (see `resolve`): on small
//! models exact, on large ones a few search rounds — an upper bound on what
//! each weight achieves.

use std::collections::BTreeSet;

use serde::Serialize;

use super::Context;
use super::resolve::{Resolved, resolve};
use rtt_plan::round_figure;

/// Moves against latency for several churn weights.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tradeoff {
    /// Why the table is empty, when it is.
    pub note: Option<String>,
    /// By weight, ascending; the configured weight is this plan.
    pub points: Vec<TradeoffPoint>,
}

/// One churn weight.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TradeoffPoint {
    /// The churn weight.
    pub churn_weight: f64,
    /// Whether it is the configured weight (this plan).
    pub configured: bool,
    /// Moves against the previous plan.
    pub moves: u64,
    /// Mean route p99, µs.
    pub latency_us: f64,
    /// The objective at that weight.
    pub total: f64,
}

/// Weights around `w`: 0, w/4, w/2, w, 2w, 4w (w = 0: 0, 1, 10, 100).
fn weights(configured: f64) -> Vec<f64> {
    let mut weights = if configured > 0.0 {
        vec![0.0, configured / 4.0, configured / 2.0, configured, configured * 2.0, configured * 4.0]
    } else {
        vec![0.0, 1.0, 10.0, 100.0]
    };
    weights.dedup_by(|a, b| (*a - *b).abs() < 1e-12);
    weights
}

pub(super) fn tradeoff(context: &Context<'_>) -> Tradeoff {
    if context.previous.is_none() {
        return Tradeoff {
            note: Some("no previous plan: nothing can move, so churn costs nothing at any weight".into()),
            points: Vec::new(),
        };
    }
    let model = context.model;
    let mut points = Vec::new();
    for weight in weights(model.churn_weight) {
        let configured = (weight - model.churn_weight).abs() < 1e-12;
        let figures = if configured {
            Some(context.score.clone())
        } else {
            let mut changed = model.clone();
            changed.churn_weight = weight;
            match resolve(context, &changed, &BTreeSet::new()) {
                Resolved::Found(_, figures) => Some(figures),
                Resolved::Infeasible(_) | Resolved::NoPlan(_) => None,
            }
        };
        if let Some(figures) = figures {
            points.push(TradeoffPoint {
                churn_weight: weight,
                configured,
                moves: figures.moves,
                latency_us: round_figure(figures.latency_us),
                total: round_figure(figures.total),
            });
        }
    }
    Tradeoff { note: None, points }
}
