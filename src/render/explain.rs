//! An explanation for a person: fixed-width text, no colour. The data comes
//! from `rtt_planner::explain`; this only lays it out.

use rtt_planner::diff::Move;
use rtt_planner::explain::{Explanation, Improvement, Outcome, WhatIfOutcome};

use super::number::{figure, short_hash, signed};

/// How many changed placements an outcome lists before summarising.
const SHOWN_MOVES: usize = 6;

/// The whole explanation as text.
pub fn text(explanation: &Explanation) -> String {
    let mut out = String::new();
    let hash = explanation.plan.hash.map_or_else(|| "-".to_owned(), |h| short_hash(&h.to_string()));
    out.push_str(&format!("explain plan {hash} (serial {})\n", explanation.plan.serial));
    if !explanation.config_matches_plan {
        out.push_str("  note: the plan was made from another config; figures are this config's view of it\n");
    }
    objective(&mut out, explanation);
    routes(&mut out, explanation);
    binding(&mut out, explanation);
    prices(&mut out, explanation);
    what_ifs(&mut out, explanation);
    tradeoff(&mut out, explanation);
    out
}

fn objective(out: &mut String, e: &Explanation) {
    let o = &e.objective;
    out.push_str("\nobjective\n");
    out.push_str(&format!(
        "  latency  {:>12}  (traffic-weighted mean route p99 {} µs × weight {})\n",
        figure(o.latency_term, 3),
        figure(o.latency_us, 3),
        figure(o.latency_weight, 6)
    ));
    out.push_str(&format!(
        "  churn    {:>12}  ({} moves × weight {})\n",
        figure(o.churn_term, 3),
        o.moves,
        figure(o.churn_weight, 6)
    ));
    out.push_str(&format!(
        "  total    {:>12}  (proven bound {}: at most {} better; gap {}%)\n",
        figure(o.total, 3),
        figure(o.bound, 3),
        figure(o.from_bound, 3),
        figure(o.gap * 100.0, 4)
    ));
}

fn moves_line(moves: &[Move]) -> String {
    let mut parts: Vec<String> = moves
        .iter()
        .take(SHOWN_MOVES)
        .map(|m| format!("{} {}/{} → {}/{} ×{}", m.agent, m.from.host, m.from.numa, m.to.host, m.to.numa, m.replicas))
        .collect();
    if moves.len() > SHOWN_MOVES {
        parts.push(format!("and {} more", moves.len() - SHOWN_MOVES));
    }
    parts.join("; ")
}

fn outcome_lines(out: &mut String, indent: &str, o: &Outcome) {
    let moved: u32 = o.changed.iter().map(|m| m.replicas).sum();
    out.push_str(&format!(
        "{indent}objective {} ({}), mean p99 {} µs ({}), moves {}; {} replica{} change slot\n",
        figure(o.total, 3),
        signed(o.total_change, 3),
        figure(o.latency_us, 3),
        signed(o.latency_change_us, 3),
        o.moves,
        moved,
        if moved == 1 { "" } else { "s" }
    ));
    if !o.changed.is_empty() {
        out.push_str(&format!("{indent}  {}\n", moves_line(&o.changed)));
    }
}

fn routes(out: &mut String, e: &Explanation) {
    if e.routes.is_empty() {
        return;
    }
    out.push_str(
        "\nroutes (closer: the next faster level, tested with the route's two agents free and the rest held)\n",
    );
    out.push_str(&format!(
        "  {:<40} {:>8} {:>9} {:>7} {:>8} {:>8}  {}\n",
        "route", "rps", "p99 µs", "level", "slo µs", "slack", "share numa/host/rack/zone"
    ));
    for r in &e.routes {
        let f = r.locality;
        out.push_str(&format!(
            "  {:<40} {:>8} {:>9} {:>7} {:>8} {:>8}  {:.2}/{:.2}/{:.2}/{:.2}\n",
            format!("{} → {}", r.from, r.to),
            figure(r.rps, 3),
            figure(r.p99_us, 1),
            r.level,
            r.slo_p99_us.map_or_else(|| "-".to_owned(), |s| figure(s, 1)),
            r.slack_us.map_or_else(|| "-".to_owned(), |s| figure(s, 1)),
            f[0],
            f[1],
            f[2],
            f[3]
        ));
        if let Some(why) = &r.transport {
            out.push_str(&format!("      transport {why}\n"));
        }
        match &r.improvement {
            Improvement::AlreadyBest => out.push_str("      closer: already at the fastest level\n"),
            Improvement::NotTested => out.push_str("      closer: not tested (only the busiest routes are)\n"),
            Improvement::Feasible { target_level, p99_us, outcome } => {
                let verdict = if outcome.total_change < 0.0 {
                    format!("feasible and better by {}: the plan is not optimal here", figure(-outcome.total_change, 3))
                } else {
                    format!("feasible at a cost of {}", signed(outcome.total_change, 3))
                };
                out.push_str(&format!("      to {target_level} ({} µs): {verdict}\n", figure(*p99_us, 1)));
                outcome_lines(out, "        ", outcome);
            }
            Improvement::Blocked { target_level, blockers, together_suffice } => {
                let all = if *together_suffice { "" } else { " (and more: relaxing these is not enough)" };
                out.push_str(&format!("      to {target_level}: blocked by{all}\n"));
                for b in blockers {
                    let mut line = format!("        - {} ({})", b.statement, b.path);
                    if let Some(relaxation) = &b.relaxation {
                        line.push_str(&format!(": {relaxation}"));
                    }
                    line.push_str(if b.sufficient { " — relaxing it alone suffices" } else { " — not alone" });
                    out.push_str(&line);
                    out.push('\n');
                    if !b.held_by.is_empty() {
                        out.push_str(&format!("          held by {}\n", b.held_by.join(", ")));
                    }
                }
            }
            Improvement::Undetermined { target_level, reason } => {
                out.push_str(&format!("      to {target_level}: undetermined ({reason})\n"));
            }
        }
    }
}

fn binding(out: &mut String, e: &Explanation) {
    let b = &e.binding;
    out.push_str("\nbinding constraints\n");
    if b.full_nodes.is_empty()
        && b.slos_at_limit.is_empty()
        && b.spreads_at_max_skew.is_empty()
        && b.saturated_anti_affinity.is_empty()
        && b.pins.is_empty()
        && b.groups_at_limit.is_empty()
    {
        out.push_str("  none: every constraint has room to spare\n");
        return;
    }
    for n in &b.full_nodes {
        out.push_str(&format!(
            "  full NUMA node {}/{}: cpu {}/{} cores, memory {}/{} MiB, short of {}; holds {}\n",
            n.host,
            n.numa,
            figure(n.cpu_used, 3),
            n.cores,
            n.memory_used_mib,
            n.memory_mib,
            n.short_of.join(" and "),
            n.agents.join(", ")
        ));
    }
    for s in &b.slos_at_limit {
        out.push_str(&format!(
            "  SLO at its limit: {} → {} p99 {} ≤ {} µs; one level worse would be {} µs\n",
            s.from,
            s.to,
            figure(s.p99_us, 1),
            figure(s.slo_p99_us, 1),
            figure(s.one_level_worse_us, 1)
        ));
    }
    for s in &b.spreads_at_max_skew {
        out.push_str(&format!("  spread at max skew: {} over {}s, max_skew {}\n", s.agent, s.level, s.max_skew));
    }
    for a in &b.saturated_anti_affinity {
        out.push_str(&format!(
            "  anti-affinity uses every eligible {}: {} ({} domains)\n",
            a.level, a.agent, a.domains
        ));
    }
    for g in &b.groups_at_limit {
        match g.rule {
            "spread" => out.push_str(&format!(
                "  group spread at max skew: {} over {}s, max_skew {}\n",
                g.group, g.level, g.limit
            )),
            _ => out.push_str(&format!(
                "  group anti-affinity uses every eligible {}: {} ({} domains)\n",
                g.level, g.group, g.limit
            )),
        }
    }
    for p in &b.pins {
        let numa = p.numa.map_or_else(String::new, |n| format!(" NUMA {n}"));
        out.push_str(&format!("  pinned: {} to {}{numa}\n", p.agent, p.host));
    }
}

fn prices(out: &mut String, e: &Explanation) {
    let p = &e.shadow_prices;
    out.push_str("\nshadow prices\n");
    out.push_str(&format!("  LP with the placement fixed: {}\n", if p.lp.is_empty() { "all zero" } else { "" }));
    for price in &p.lp {
        out.push_str(&format!(
            "    {}: {} per {} ({} µs of mean p99)\n",
            price.constraint,
            signed(price.objective_per_unit, 4),
            price.unit,
            signed(price.mean_p99_us_per_unit, 4)
        ));
    }
    if p.marginal.is_empty() {
        out.push_str("  marginal value of cores by re-solve: no full NUMA node short of cpu\n");
    }
    for m in &p.marginal {
        let worth = if m.mean_p99_us_per_core.abs() < 5e-7 {
            "worth nothing now: the plan would not change".to_owned()
        } else {
            format!("worth {} µs of mean p99", figure(-m.mean_p99_us_per_core, 3))
        };
        out.push_str(&format!(
            "  one more core on {} NUMA {} is {worth} (re-solved with +{} cores, room for one more replica: objective {})\n",
            m.host,
            m.numa,
            m.added_cores,
            signed(m.total_change, 3)
        ));
    }
}

fn what_ifs(out: &mut String, e: &Explanation) {
    if e.what_ifs.is_empty() {
        return;
    }
    out.push_str("\nwhat if\n");
    for w in &e.what_ifs {
        out.push_str(&format!("  {} ({})\n", w.what_if, w.change));
        match &w.outcome {
            WhatIfOutcome::Solved(o) if o.changed.is_empty() && o.rescaled.is_empty() && o.total_change == 0.0 => {
                out.push_str("    no change: the plan stays as it is\n");
            }
            WhatIfOutcome::Solved(o) => {
                outcome_lines(out, "    ", o);
                if w.baseline_total < o.total - o.total_change - 5e-7 {
                    out.push_str(&format!(
                        "    (the plan is not optimal: the same re-solve without the change reaches {}, so the change itself is worth {})\n",
                        figure(w.baseline_total, 3),
                        signed(o.total - w.baseline_total, 3)
                    ));
                }
            }
            WhatIfOutcome::Infeasible { conflict } => {
                out.push_str(&format!("    infeasible: {} conflict\n", conflict.join(", ")));
            }
            WhatIfOutcome::NoPlan { reason } => out.push_str(&format!("    no plan within the limits ({reason})\n")),
        }
    }
}

fn tradeoff(out: &mut String, e: &Explanation) {
    let t = &e.churn_tradeoff;
    out.push_str("\nchurn trade-off\n");
    if let Some(note) = &t.note {
        out.push_str(&format!("  {note}\n"));
    }
    if t.points.is_empty() {
        return;
    }
    out.push_str(&format!("  {:>12} {:>7} {:>14} {:>12}\n", "churn weight", "moves", "mean p99 µs", "total"));
    for p in &t.points {
        out.push_str(&format!(
            "  {:>12} {:>7} {:>14} {:>12}{}\n",
            figure(p.churn_weight, 3),
            p.moves,
            figure(p.latency_us, 3),
            figure(p.total, 3),
            if p.configured { "  ← this plan" } else { "" }
        ));
    }
}

/// The churn trade-off as an SVG scatter: moves across, mean p99 up, one
/// labelled point per weight. Fixed size and fixed number formatting, so the
/// same explanation gives the same bytes.
pub fn chart(explanation: &Explanation) -> String {
    const W: f64 = 560.0;
    const H: f64 = 340.0;
    const LEFT: f64 = 70.0;
    const RIGHT: f64 = 30.0;
    const TOP: f64 = 40.0;
    const BOTTOM: f64 = 50.0;
    let points = &explanation.churn_tradeoff.points;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"{W}\" height=\"{H}\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">churn trade-off: moves against mean route p99</text>\n",
        W / 2.0
    );
    let (plot_w, plot_h) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    svg.push_str(&format!(
        "<line x1=\"{LEFT}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n<line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{}\" stroke=\"black\"/>\n",
        TOP + plot_h,
        LEFT + plot_w,
        TOP + plot_h,
        TOP + plot_h
    ));
    svg.push_str(&format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">moves</text>\n<text x=\"16\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {})\">mean p99 µs</text>\n",
        LEFT + plot_w / 2.0,
        H - 12.0,
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0
    ));
    if points.is_empty() {
        let note = explanation.churn_tradeoff.note.as_deref().unwrap_or("no points");
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n</svg>\n",
            LEFT + plot_w / 2.0,
            TOP + plot_h / 2.0,
            escape(note)
        ));
        return svg;
    }
    let max_moves = points.iter().map(|p| p.moves).max().unwrap_or(0).max(1) as f64;
    let lat_min = points.iter().map(|p| p.latency_us).fold(f64::INFINITY, f64::min);
    let lat_max = points.iter().map(|p| p.latency_us).fold(f64::NEG_INFINITY, f64::max);
    let span = if lat_max - lat_min > 1e-9 { lat_max - lat_min } else { 1.0 };
    let x = |moves: u64| LEFT + moves as f64 / max_moves * plot_w;
    let y = |lat: f64| TOP + plot_h - (lat - lat_min) / span * plot_h * 0.9 - plot_h * 0.05;
    svg.push_str(&format!(
        "<text x=\"{LEFT}\" y=\"{}\" text-anchor=\"middle\">0</text>\n<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
        TOP + plot_h + 16.0,
        LEFT + plot_w,
        TOP + plot_h + 16.0,
        max_moves as u64
    ));
    svg.push_str(&format!(
        "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
        LEFT - 6.0,
        y(lat_min) + 4.0,
        figure(lat_min, 1),
        LEFT - 6.0,
        y(lat_max) + 4.0,
        figure(lat_max, 1)
    ));
    let path: Vec<String> = points.iter().map(|p| format!("{:.1},{:.1}", x(p.moves), y(p.latency_us))).collect();
    svg.push_str(&format!("<polyline points=\"{}\" fill=\"none\" stroke=\"#888\"/>\n", path.join(" ")));
    for p in points {
        let fill = if p.configured { "#d62728" } else { "#1f77b4" };
        svg.push_str(&format!(
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"5\" fill=\"{fill}\"/>\n<text x=\"{:.1}\" y=\"{:.1}\">w={}{}</text>\n",
            x(p.moves),
            y(p.latency_us),
            x(p.moves) + 8.0,
            y(p.latency_us) - 8.0,
            figure(p.churn_weight, 3),
            if p.configured { " (this plan)" } else { "" }
        ));
    }
    svg.push_str("</svg>\n");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
