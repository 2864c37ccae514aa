//! `rtt diff` for a person (fixed-width text) and for a pull request
//! (markdown). The data comes from `rtt_planner::diff`; this only lays it out.

use rtt_planner::diff::{Move, PlanDiff, RouteChange, ScaleChange, SloStatus};

use super::number::{figure, short_hash, signed};

fn hash(h: &Option<rtt_canonical::Sha256>) -> String {
    h.map_or_else(|| "-".to_owned(), |h| short_hash(&h.to_string()))
}

fn slot(s: &rtt_planner::diff::Slot) -> String {
    format!("{}/{}", s.host, s.numa)
}

fn route_name(r: &RouteChange) -> String {
    format!("{} → {}", r.from, r.to)
}

fn p99(side: &Option<rtt_planner::diff::RouteFigures>) -> String {
    side.as_ref().map_or_else(|| "-".to_owned(), |f| format!("{} ({})", figure(f.p99_us, 1), f.level))
}

fn change(r: &RouteChange) -> String {
    match (r.p99_change_us, r.p99_change_pct) {
        (Some(us), Some(pct)) => format!("{} ({}%)", signed(us, 1), signed(pct, 1)),
        (Some(us), None) => signed(us, 1),
        _ if r.old.is_none() => "added".to_owned(),
        _ => "removed".to_owned(),
    }
}

fn slo(r: &RouteChange) -> String {
    let of = |side: &Option<rtt_planner::diff::RouteFigures>| side.as_ref().and_then(|f| f.slo_p99_us);
    let show = |s: Option<f64>| s.map_or_else(|| "-".to_owned(), |s| figure(s, 1));
    match (of(&r.old), of(&r.new)) {
        (old, new) if r.old.is_some() && r.new.is_some() && old != new => format!("{}→{}", show(old), show(new)),
        (old, new) => show(new.or(old)),
    }
}

fn status(r: &RouteChange) -> &'static str {
    let side = r.new.as_ref().or(r.old.as_ref());
    match side.map(|f| f.slo_status) {
        Some(SloStatus::Violated) => "VIOLATED",
        Some(SloStatus::Ok) => "ok",
        _ => "-",
    }
}

fn scale_detail(s: &ScaleChange) -> String {
    let mut parts: Vec<String> = s.added.iter().map(|c| format!("+{} on {}", c.replicas, slot(&c.slot))).collect();
    parts.extend(s.removed.iter().map(|c| format!("-{} from {}", c.replicas, slot(&c.slot))));
    parts.join(", ")
}

fn moved_replicas(moves: &[Move]) -> u32 {
    moves.iter().map(|m| m.replicas).sum()
}

/// One line saying what changed, for headings.
pub fn headline(diff: &PlanDiff) -> String {
    if diff.is_empty() {
        return "no changes".to_owned();
    }
    let mut parts = Vec::new();
    let moved = moved_replicas(&diff.moves);
    if moved > 0 {
        parts.push(format!("{moved} replica{} moved", if moved == 1 { "" } else { "s" }));
    }
    if !diff.scale.is_empty() {
        parts.push(format!("{} agent{} rescaled", diff.scale.len(), if diff.scale.len() == 1 { "" } else { "s" }));
    }
    let slower = diff.routes.iter().filter(|r| r.p99_change_us.is_some_and(|c| c > 0.0)).count();
    let faster = diff.routes.iter().filter(|r| r.p99_change_us.is_some_and(|c| c < 0.0)).count();
    if slower > 0 {
        parts.push(format!("{slower} route{} slower", if slower == 1 { "" } else { "s" }));
    }
    if faster > 0 {
        parts.push(format!("{faster} route{} faster", if faster == 1 { "" } else { "s" }));
    }
    let violations = diff.new_slo_violations.len();
    if violations > 0 {
        parts.push(format!("{violations} new SLO violation{}", if violations == 1 { "" } else { "s" }));
    }
    if let Some(objective) = &diff.objective {
        parts.push(format!("objective {}", signed(objective.total_change, 3)));
    }
    if parts.is_empty() {
        parts.push("inputs changed, placements identical".to_owned());
    }
    parts.join(", ")
}

/// Fixed-width text.
pub fn text(diff: &PlanDiff) -> String {
    let mut out = format!(
        "diff {} (serial {}) → {} (serial {}): {}\n",
        hash(&diff.old.hash),
        diff.old.serial,
        hash(&diff.new.hash),
        diff.new.serial,
        headline(diff)
    );
    if !diff.inputs.is_empty() {
        out.push_str("\ninputs\n");
        for input in &diff.inputs {
            out.push_str(&format!("  {:<9} {} → {}\n", input.input, hash(&input.old), hash(&input.new)));
        }
    }
    if let Some(o) = &diff.objective {
        out.push_str("\nobjective\n");
        out.push_str(&format!(
            "  total     {:>12} → {:<12} ({})\n",
            figure(o.old.total, 3),
            figure(o.new.total, 3),
            signed(o.total_change, 3)
        ));
        out.push_str(&format!(
            "  latency   {:>12} → {:<12} ({} µs mean p99)\n",
            figure(o.old.latency_us, 3),
            figure(o.new.latency_us, 3),
            signed(o.latency_change_us, 3)
        ));
        out.push_str(&format!("  moves     {:>12} → {}\n", o.old.moves, o.new.moves));
        out.push_str(&format!(
            "  solver    {:>12} → {}\n",
            format!("{:?} {}%", o.old.status, figure(o.old.gap * 100.0, 4)).to_lowercase(),
            format!("{:?} {}%", o.new.status, figure(o.new.gap * 100.0, 4)).to_lowercase()
        ));
    }
    if !diff.moves.is_empty() {
        out.push_str(&format!("\nmoved replicas ({})\n", moved_replicas(&diff.moves)));
        for m in &diff.moves {
            out.push_str(&format!("  {:<24} {:>16} → {:<16} ×{}\n", m.agent, slot(&m.from), slot(&m.to), m.replicas));
        }
    }
    if !diff.scale.is_empty() {
        out.push_str("\nscale\n");
        for s in &diff.scale {
            out.push_str(&format!(
                "  {:<24} {:>4} → {:<4} {}\n",
                s.agent,
                s.old_replicas,
                s.new_replicas,
                scale_detail(s)
            ));
        }
    }
    if !diff.routes.is_empty() {
        out.push_str(&format!("\nroutes{}\n", if diff.rescored { " (recomputed under --config)" } else { "" }));
        out.push_str(&format!(
            "  {:<40} {:>16} {:>16} {:>18} {:>8}  {}\n",
            "route", "old p99 µs", "new p99 µs", "change", "slo µs", "status"
        ));
        for r in &diff.routes {
            out.push_str(&format!(
                "  {:<40} {:>16} {:>16} {:>18} {:>8}  {}\n",
                route_name(r),
                p99(&r.old),
                p99(&r.new),
                change(r),
                slo(r),
                status(r)
            ));
        }
    }
    if !diff.new_slo_violations.is_empty() {
        out.push_str("\nnew SLO violations\n");
        for v in &diff.new_slo_violations {
            out.push_str(&format!("  {} → {}\n", v.from, v.to));
        }
    }
    if !diff.views.is_empty() {
        out.push_str("\nviews\n");
        for v in &diff.views {
            let side = |h: &Option<String>| h.as_deref().map_or_else(|| "-".to_owned(), short_hash);
            out.push_str(&format!("  {:<12} {:<24} {} → {}\n", v.provider, v.id, side(&v.old), side(&v.new)));
        }
    }
    out
}

/// Markdown for a pull-request comment: a headline, the objective, a route
/// table, and the long lists folded away.
pub fn markdown(diff: &PlanDiff) -> String {
    let mut out = format!("### rtt plan diff: {}\n\n", headline(diff));
    out.push_str(&format!(
        "`{}` (serial {}) → `{}` (serial {})\n",
        hash(&diff.old.hash),
        diff.old.serial,
        hash(&diff.new.hash),
        diff.new.serial
    ));
    if diff.is_empty() {
        return out;
    }
    if !diff.new_slo_violations.is_empty() {
        out.push_str("\n> [!WARNING]\n> New SLO violations: ");
        let list: Vec<String> = diff.new_slo_violations.iter().map(|v| format!("`{} → {}`", v.from, v.to)).collect();
        out.push_str(&list.join(", "));
        out.push('\n');
    }
    if let Some(o) = &diff.objective {
        out.push_str("\n| | old | new | change |\n| --- | ---: | ---: | ---: |\n");
        out.push_str(&format!(
            "| objective | {} | {} | {} |\n",
            figure(o.old.total, 3),
            figure(o.new.total, 3),
            signed(o.total_change, 3)
        ));
        out.push_str(&format!(
            "| mean p99 µs | {} | {} | {} |\n",
            figure(o.old.latency_us, 3),
            figure(o.new.latency_us, 3),
            signed(o.latency_change_us, 3)
        ));
        out.push_str(&format!("| moves | {} | {} | |\n", o.old.moves, o.new.moves));
    }
    if !diff.routes.is_empty() {
        out.push_str("\n| route | old p99 µs | new p99 µs | change | SLO µs | status |\n");
        out.push_str("| --- | ---: | ---: | ---: | ---: | --- |\n");
        for r in &diff.routes {
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} | {} |\n",
                route_name(r),
                p99(&r.old),
                p99(&r.new),
                change(r),
                slo(r),
                if status(r) == "VIOLATED" { "**violated**" } else { status(r) }
            ));
        }
    }
    if !diff.moves.is_empty() {
        out.push_str(&format!(
            "\n<details><summary>Moved replicas ({})</summary>\n\n| agent | from | to | replicas |\n| --- | --- | --- | ---: |\n",
            moved_replicas(&diff.moves)
        ));
        for m in &diff.moves {
            out.push_str(&format!("| `{}` | {} | {} | {} |\n", m.agent, slot(&m.from), slot(&m.to), m.replicas));
        }
        out.push_str("\n</details>\n");
    }
    if !diff.scale.is_empty() {
        out.push_str("\n| agent | old replicas | new replicas | where |\n| --- | ---: | ---: | --- |\n");
        for s in &diff.scale {
            out.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                s.agent,
                s.old_replicas,
                s.new_replicas,
                scale_detail(s)
            ));
        }
    }
    if !diff.inputs.is_empty() || !diff.views.is_empty() {
        out.push_str("\n<details><summary>Inputs and views</summary>\n\n");
        for input in &diff.inputs {
            out.push_str(&format!("- `inputs.{}`: `{}` → `{}`\n", input.input, hash(&input.old), hash(&input.new)));
        }
        for v in &diff.views {
            let side = |h: &Option<String>| h.as_deref().map_or_else(|| "-".to_owned(), short_hash);
            out.push_str(&format!("- view `{}/{}`: `{}` → `{}`\n", v.provider, v.id, side(&v.old), side(&v.new)));
        }
        out.push_str("\n</details>\n");
    }
    out
}
