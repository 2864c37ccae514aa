//! The SLO gate's verdict (pure): a plan passes when every route observed
//! often enough keeps its p99 within its SLO and, when a regression budget
//! is set, within that budget of the previous plan's observed p99.

use serde::Serialize;

use crate::RouteKey;
use crate::observations::{Observations, Summary};

/// What the gate demands.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Policy {
    /// Samples a route needs before it is judged.
    pub min_samples: u64,
    /// How much worse than the previous plan's observed p99 a route may get,
    /// percent; `None`: only SLOs are checked.
    pub regression_pct: Option<f64>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy { min_samples: 20, regression_pct: None }
    }
}

/// A route as the plan states it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedRoute {
    /// The route.
    pub route: RouteKey,
    /// Planned p99, µs.
    pub planned_p99_us: f64,
    /// Its SLO, µs.
    pub slo_p99_us: Option<f64>,
}

/// What the gate found on one route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    /// Within its SLO (and budget).
    Pass,
    /// Observed p99 above the SLO.
    SloBreach,
    /// Observed p99 above the previous plan's by more than the budget.
    Regression,
    /// Fewer samples than the policy needs.
    Unobserved,
}

/// One route's reading.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteVerdict {
    /// `from->to`.
    pub route: String,
    /// Planned p99, µs.
    pub planned_p99_us: f64,
    /// SLO, µs.
    pub slo_p99_us: Option<f64>,
    /// What was observed under the plan.
    pub observed: Option<Summary>,
    /// The previous plan's observed p99 on the route, µs (when judged).
    pub baseline_p99_us: Option<u64>,
    /// The finding.
    pub finding: Finding,
}

/// The gate's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// No route breached.
    Pass,
    /// At least one route breached its SLO or regressed.
    Breach,
    /// No route had enough samples to judge.
    NoEvidence,
}

/// The verdict on a plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// The outcome.
    pub outcome: Outcome,
    /// The policy applied.
    pub policy: Policy,
    /// Every route of the plan, in the plan's order.
    pub routes: Vec<RouteVerdict>,
}

impl Verdict {
    /// The routes that failed, one line each: the evidence a rollback records.
    pub fn evidence(&self) -> Vec<String> {
        self.routes
            .iter()
            .filter(|r| matches!(r.finding, Finding::SloBreach | Finding::Regression))
            .map(|r| {
                let observed = r.observed.map_or(0, |o| o.p99_us);
                let count = r.observed.map_or(0, |o| o.count);
                match r.finding {
                    Finding::Regression => format!(
                        "{}: observed p99 {observed} µs over {count} samples, previous plan {} µs (budget {}%)",
                        r.route,
                        r.baseline_p99_us.unwrap_or(0),
                        self.policy.regression_pct.unwrap_or(0.0)
                    ),
                    _ => format!(
                        "{}: observed p99 {observed} µs over {count} samples > SLO {} µs",
                        r.route,
                        r.slo_p99_us.unwrap_or(0.0)
                    ),
                }
            })
            .collect()
    }
}

/// Judges `observed` (under the plan) against the plan's routes, and
/// against `baseline` (under the previous plan) when the policy has a budget.
pub fn judge(
    planned: &[PlannedRoute],
    observed: &Observations,
    baseline: Option<&Observations>,
    policy: Policy,
) -> Verdict {
    let mut routes = Vec::with_capacity(planned.len());
    let mut judged = 0usize;
    let mut failed = false;
    for route in planned {
        let summary = observed.summary(&route.route);
        let enough = |s: &Option<Summary>| s.filter(|s| s.count >= policy.min_samples.max(1));
        let baseline_p99 = policy
            .regression_pct
            .and_then(|_| enough(&baseline.and_then(|b| b.summary(&route.route))))
            .map(|s| s.p99_us);
        let finding = match enough(&summary) {
            None => Finding::Unobserved,
            Some(seen) => {
                judged += 1;
                if route.slo_p99_us.is_some_and(|slo| seen.p99_us as f64 > slo) {
                    Finding::SloBreach
                } else if let (Some(pct), Some(before)) = (policy.regression_pct, baseline_p99)
                    && seen.p99_us as f64 > before as f64 * (1.0 + pct / 100.0)
                {
                    Finding::Regression
                } else {
                    Finding::Pass
                }
            }
        };
        failed |= matches!(finding, Finding::SloBreach | Finding::Regression);
        routes.push(RouteVerdict {
            route: route.route.to_string(),
            planned_p99_us: route.planned_p99_us,
            slo_p99_us: route.slo_p99_us,
            observed: summary,
            baseline_p99_us: baseline_p99,
            finding,
        });
    }
    let outcome = if failed {
        Outcome::Breach
    } else if judged == 0 && !planned.is_empty() {
        Outcome::NoEvidence
    } else {
        Outcome::Pass
    };
    Verdict { outcome, policy, routes }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(slo: Option<f64>) -> Vec<PlannedRoute> {
        vec![PlannedRoute { route: RouteKey::new("a", "b"), planned_p99_us: 300.0, slo_p99_us: slo }]
    }

    fn seen(us: u64, count: u64) -> Observations {
        let mut observations = Observations::default();
        observations.record(&RouteKey::new("a", "b"), us, count, 1);
        observations
    }

    #[test]
    fn an_slo_breach_fails_and_says_why() {
        let verdict = judge(&planned(Some(500.0)), &seen(900, 50), None, Policy::default());
        assert_eq!(verdict.outcome, Outcome::Breach);
        assert_eq!(verdict.routes[0].finding, Finding::SloBreach);
        assert!(verdict.evidence()[0].starts_with("a->b: observed p99 9"), "{:?}", verdict.evidence());
        assert_eq!(judge(&planned(Some(1000.0)), &seen(900, 50), None, Policy::default()).outcome, Outcome::Pass);
    }

    #[test]
    fn too_few_samples_are_not_judged() {
        let verdict = judge(&planned(Some(500.0)), &seen(900, 19), None, Policy::default());
        assert_eq!(verdict.outcome, Outcome::NoEvidence);
        assert_eq!(verdict.routes[0].finding, Finding::Unobserved);
        assert_eq!(judge(&[], &seen(900, 19), None, Policy::default()).outcome, Outcome::Pass);
    }

    #[test]
    fn regressions_count_only_with_a_budget_and_a_judged_baseline() {
        let budget = Policy { min_samples: 20, regression_pct: Some(20.0) };
        let before = seen(500, 100);
        assert_eq!(judge(&planned(None), &seen(700, 50), Some(&before), budget).outcome, Outcome::Breach);
        assert_eq!(judge(&planned(None), &seen(590, 50), Some(&before), budget).outcome, Outcome::Pass);
        assert_eq!(judge(&planned(None), &seen(700, 50), Some(&before), Policy::default()).outcome, Outcome::Pass);
        assert_eq!(judge(&planned(None), &seen(700, 50), Some(&seen(500, 3)), budget).outcome, Outcome::Pass);
    }
}
