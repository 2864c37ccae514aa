//! Observed route latency for a person: the SLO gate's verdict and the
//! route table `rtt status` and `rtt gate` share (planned p99, observed
//! p50/p95/p99 with samples and window, SLO and slack). Pure string building.

use rtt_telemetry::gate::{Finding, Outcome, Verdict};
use rtt_telemetry::observations::Summary;

/// The verdict as text: one line of outcome, then the route table.
pub fn render_verdict(verdict: &Verdict) -> String {
    let judged = verdict.routes.iter().filter(|r| r.finding != Finding::Unobserved).count();
    let failed =
        verdict.routes.iter().filter(|r| matches!(r.finding, Finding::SloBreach | Finding::Regression)).count();
    let mut out = match verdict.outcome {
        Outcome::Pass => format!("gate      pass: {judged} of {} routes judged, none breached", verdict.routes.len()),
        Outcome::Breach => format!("gate      breach: {failed} of {judged} routes judged failed"),
        Outcome::NoEvidence => format!(
            "gate      no evidence: no route has {} samples yet; nothing was judged",
            verdict.policy.min_samples
        ),
    };
    out.push_str(&format!(" (min {} samples", verdict.policy.min_samples));
    if let Some(pct) = verdict.policy.regression_pct {
        out.push_str(&format!(", regression budget {pct}%"));
    }
    out.push_str(")\n");
    let rows: Vec<RouteRow> = verdict
        .routes
        .iter()
        .map(|r| RouteRow {
            route: r.route.clone(),
            planned_p99_us: r.planned_p99_us,
            slo_p99_us: r.slo_p99_us,
            observed: r.observed,
            note: match r.finding {
                Finding::Pass => "pass".to_owned(),
                Finding::SloBreach => "SLO BREACH".to_owned(),
                Finding::Regression => format!("REGRESSION (was {} µs)", r.baseline_p99_us.unwrap_or(0)),
                Finding::Unobserved => "too few samples".to_owned(),
            },
        })
        .collect();
    out.push_str(&route_table(&rows));
    out
}

/// One row of a route table.
#[derive(Debug, Clone)]
pub struct RouteRow {
    pub route: String,
    pub planned_p99_us: f64,
    pub slo_p99_us: Option<f64>,
    pub observed: Option<Summary>,
    pub note: String,
}

impl RouteRow {
    /// A row whose note says when the observed p99 is over the SLO.
    pub fn observed(
        route: String,
        planned_p99_us: f64,
        slo_p99_us: Option<f64>,
        observed: Option<Summary>,
    ) -> RouteRow {
        let over = matches!((slo_p99_us, observed), (Some(slo), Some(o)) if o.p99_us as f64 > slo);
        RouteRow {
            route,
            planned_p99_us,
            slo_p99_us,
            observed,
            note: if over { "over SLO".to_owned() } else { String::new() },
        }
    }

    /// Every route of `plan`, with what `seen` holds of it.
    pub fn of_plan(plan: &rtt_plan::PlanDocument, seen: &rtt_telemetry::Observations) -> Vec<RouteRow> {
        plan.routes
            .iter()
            .map(|r| {
                let observed = seen.summary(&rtt_telemetry::RouteKey::new(&r.from, &r.to));
                RouteRow::observed(format!("{}->{}", r.from, r.to), r.p99_us, r.slo_p99_us, observed)
            })
            .collect()
    }
}

/// Routes: planned p99, observed p50/p95/p99 with samples and window, SLO
/// and slack (SLO − observed p99).
pub fn route_table(rows: &[RouteRow]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let width = rows.iter().map(|r| r.route.len()).max().unwrap_or(5).max(5);
    let mut out = format!(
        "routes    {:<width$}  {:>8}  {:>8} {:>8} {:>8}  {:>8}  {:>7}  {:>8}  {:>8}  {}\n",
        "route",
        "planned",
        "p50",
        "p95",
        "p99",
        "samples",
        "window",
        "SLO",
        "slack",
        "",
        width = width
    );
    for row in rows {
        let dash = || "-".to_owned();
        let (p50, p95, p99, count, window) = match row.observed {
            Some(o) => (
                o.p50_us.to_string(),
                o.p95_us.to_string(),
                o.p99_us.to_string(),
                o.count.to_string(),
                format!("{}s", o.last_ms.saturating_sub(o.first_ms).div_ceil(1000)),
            ),
            None => (dash(), dash(), dash(), "0".to_owned(), dash()),
        };
        let slo = row.slo_p99_us.map_or_else(dash, |s| format!("{s:.0}"));
        let slack = match (row.slo_p99_us, row.observed) {
            (Some(slo), Some(o)) => format!("{:.0}", slo - o.p99_us as f64),
            _ => dash(),
        };
        out.push_str(&format!(
            "          {:<width$}  {:>8.1}  {:>8} {:>8} {:>8}  {:>8}  {:>7}  {:>8}  {:>8}  {}\n",
            row.route,
            row.planned_p99_us,
            p50,
            p95,
            p99,
            count,
            window,
            slo,
            slack,
            row.note,
            width = width
        ));
    }
    out
}
