//! `--explain` text: the objective split, each route's p99 and the level that
//! sets it, and the NUMA nodes that are full.

use rtt_planner::Planned;
use rtt_schema::model::{Locality, Model};

/// Renders the explanation for a person (fixed width, no colour).
pub fn render(model: &Model, planned: &Planned) -> String {
    let document = &planned.document;
    let mut out = String::new();
    out.push_str("\nobjective\n");
    out.push_str(&format!(
        "  latency  {:>12.3}  (traffic-weighted mean route p99 {:.3} µs × weight {})\n",
        model.latency_weight * document.objective.latency_us,
        document.objective.latency_us,
        model.latency_weight
    ));
    out.push_str(&format!(
        "  churn    {:>12.3}  ({} moves × weight {})\n",
        model.churn_weight * document.objective.moves as f64,
        document.objective.moves,
        model.churn_weight
    ));
    out.push_str(&format!(
        "  total    {:>12.3}  (proven bound {:.3}, gap {:.4}%)\n",
        document.objective.total,
        document.solver.bound,
        document.solver.gap * 100.0
    ));
    if !model.routes.is_empty() {
        out.push_str("\nroutes\n");
        out.push_str(&format!(
            "  {:<40} {:>9} {:>7} {:>9}  {}\n",
            "route", "p99 µs", "level", "slo µs", "local share numa/host/rack/zone"
        ));
        let mut rows: Vec<(String, usize)> = model
            .routes
            .iter()
            .enumerate()
            .map(|(i, r)| (format!("{} → {}", model.agents[r.from.0 as usize].id, model.agents[r.to.0 as usize].id), i))
            .collect();
        rows.sort();
        for (name, index) in rows {
            let figure = &planned.score.routes[index];
            let slo = model.routes[index].slo_p99_us.map_or("-".to_owned(), |s| format!("{s}"));
            let f = figure.locality;
            out.push_str(&format!(
                "  {:<40} {:>9.1} {:>7} {:>9}  {:.2}/{:.2}/{:.2}/{:.2}\n",
                name,
                figure.p99_us,
                level_name(figure.level),
                slo,
                f[0],
                f[1],
                f[2],
                f[3]
            ));
        }
    }
    out
}

fn level_name(level: Locality) -> &'static str {
    match level {
        Locality::Numa => "numa",
        Locality::Host => "host",
        Locality::Rack => "rack",
        Locality::Zone => "zone",
        Locality::Region => "region",
    }
}
