//! `rtt report --html`: one self-contained page (inline CSS, SVG and a few
//! lines of script; nothing fetched) with the fleet map, routes planned
//! against observed against their SLOs, and the churn/latency trade-off.
//! Pure: data in, HTML out.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::telemetry::RouteRow;

/// A host on the map.
#[derive(Debug, Clone)]
pub struct HostView {
    /// Its name.
    pub name: String,
    /// Whether new replicas may go there.
    pub schedulable: bool,
    /// Its NUMA nodes.
    pub numa_nodes: usize,
    /// `(agent, numa, replicas)` placed on it.
    pub placements: Vec<(String, u32, u32)>,
}

/// A rack and its hosts.
#[derive(Debug, Clone)]
pub struct RackView {
    /// Its name.
    pub name: String,
    /// Its hosts.
    pub hosts: Vec<HostView>,
}

/// A zone and its racks.
#[derive(Debug, Clone)]
pub struct ZoneView {
    /// Its name.
    pub name: String,
    /// Its racks.
    pub racks: Vec<RackView>,
}

/// Everything on the page.
#[derive(Debug, Clone)]
pub struct Page {
    /// Title line: the plan's hash and serial.
    pub title: String,
    /// Facts under the title (objective, solver, moves, …).
    pub facts: Vec<(String, String)>,
    /// The fleet.
    pub zones: Vec<ZoneView>,
    /// The routes.
    pub routes: Vec<RouteRow>,
    /// The churn trade-off chart (SVG), or why there is none.
    pub tradeoff: Result<String, String>,
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A colour per agent, the same on every page (a hue from the name's bytes).
fn colour(agent: &str) -> String {
    let hue = agent.bytes().fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b))) % 360;
    format!("hsl({hue}, 60%, 72%)")
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}\
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #ccc}\
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px;font-size:13px}dt{color:#666}\
.zone{border:2px solid #888;border-radius:6px;padding:6px;margin:6px;display:inline-block;vertical-align:top;background:#fff}\
.rack{border:1px dashed #aaa;border-radius:4px;padding:4px;margin:4px;display:inline-block;vertical-align:top}\
.host{border:1px solid #555;border-radius:3px;padding:3px;margin:3px;display:inline-block;vertical-align:top;min-width:110px;font-size:12px;background:#fff}\
.host.drained{background:#eee;color:#888}.title{font-weight:600;font-size:12px}\
.rep{border-radius:3px;padding:1px 4px;margin:1px;display:inline-block;font-size:11px}\
.rep.dim{opacity:.15}table{border-collapse:collapse;font-size:12px}td,th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}\
td:first-child,th:first-child{text-align:left}.bad{color:#b00;font-weight:600}.legend span{cursor:pointer}";

/// The page.
pub fn page(page: &Page) -> String {
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n",
        escape(&page.title)
    );
    let _ = writeln!(html, "<h1>{}</h1>\n<dl>", escape(&page.title));
    for (key, value) in &page.facts {
        let _ = writeln!(html, "<dt>{}</dt><dd>{}</dd>", escape(key), escape(value));
    }
    html.push_str("</dl>\n");
    fleet(&mut html, &page.zones);
    routes(&mut html, &page.routes);
    html.push_str("<h2>Churn against latency</h2>\n");
    match &page.tradeoff {
        Ok(svg) => html.push_str(svg),
        Err(why) => {
            let _ = writeln!(html, "<p>{}</p>", escape(why));
        }
    }
    // Hovering an agent in the legend dims every other replica; the last
    // line marks the page as rendered (the report's test reads it).
    html.push_str(
        "\n<script>\n(function () {\n  var reps = document.querySelectorAll('.rep');\n  \
         document.querySelectorAll('.legend span').forEach(function (item) {\n    \
         item.addEventListener('mouseenter', function () {\n      reps.forEach(function (r) { \
         r.classList.toggle('dim', r.dataset.agent !== item.dataset.agent); });\n    });\n    \
         item.addEventListener('mouseleave', function () {\n      reps.forEach(function (r) { r.classList.remove('dim'); });\n    });\n  });\n  \
         document.body.dataset.rendered = 'yes';\n})();\n</script>\n</body></html>\n",
    );
    html
}

fn fleet(html: &mut String, zones: &[ZoneView]) {
    html.push_str("<h2>Fleet</h2>\n<div class=\"legend\">");
    let mut agents: BTreeMap<&str, u32> = BTreeMap::new();
    for host in zones.iter().flat_map(|z| &z.racks).flat_map(|r| &r.hosts) {
        for (agent, _, replicas) in &host.placements {
            *agents.entry(agent).or_default() += replicas;
        }
    }
    for (agent, replicas) in &agents {
        let _ = write!(
            html,
            "<span class=\"rep\" data-agent=\"{0}\" style=\"background:{1}\">{0} ×{replicas}</span>",
            escape(agent),
            colour(agent)
        );
    }
    html.push_str("</div>\n");
    for zone in zones {
        let _ = write!(html, "<div class=\"zone\"><div class=\"title\">zone {}</div>", escape(&zone.name));
        for rack in &zone.racks {
            let _ = write!(html, "<div class=\"rack\"><div class=\"title\">rack {}</div>", escape(&rack.name));
            for host in &rack.hosts {
                let _ = write!(
                    html,
                    "<div class=\"host{}\"><div class=\"title\">{}{}</div>",
                    if host.schedulable { "" } else { " drained" },
                    escape(&host.name),
                    if host.schedulable { String::new() } else { " (drained)".to_owned() }
                );
                for numa in 0..host.numa_nodes {
                    let here: Vec<&(String, u32, u32)> =
                        host.placements.iter().filter(|(_, n, _)| *n as usize == numa).collect();
                    let _ = write!(html, "<div>numa {numa}: ");
                    if here.is_empty() {
                        html.push('–');
                    }
                    for (agent, _, replicas) in here {
                        let _ = write!(
                            html,
                            "<span class=\"rep\" data-agent=\"{0}\" style=\"background:{1}\">{0} ×{replicas}</span>",
                            escape(agent),
                            colour(agent)
                        );
                    }
                    html.push_str("</div>");
                }
                html.push_str("</div>");
            }
            html.push_str("</div>");
        }
        html.push_str("</div>\n");
    }
}

fn routes(html: &mut String, rows: &[RouteRow]) {
    html.push_str("<h2>Routes: planned and observed p99 against the SLO</h2>\n");
    if rows.is_empty() {
        html.push_str("<p>The plan has no routes.</p>\n");
        return;
    }
    let scale = rows
        .iter()
        .flat_map(|r| [Some(r.planned_p99_us), r.slo_p99_us, r.observed.map(|o| o.p99_us as f64)])
        .flatten()
        .fold(1.0f64, f64::max)
        * 1.1;
    const LABEL: f64 = 220.0;
    const PLOT: f64 = 520.0;
    const ROW: f64 = 34.0;
    let height = 40.0 + ROW * rows.len() as f64;
    let _ = writeln!(
        html,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">\
         <rect width=\"{w}\" height=\"{height}\" fill=\"white\"/>\
         <rect x=\"{LABEL}\" y=\"6\" width=\"12\" height=\"8\" fill=\"#6a8fd8\"/><text x=\"{l1}\" y=\"14\">planned p99</text>\
         <rect x=\"{l2}\" y=\"6\" width=\"12\" height=\"8\" fill=\"#e8944a\"/><text x=\"{l3}\" y=\"14\">observed p99</text>\
         <line x1=\"{l4}\" y1=\"4\" x2=\"{l4}\" y2=\"16\" stroke=\"#c00\" stroke-width=\"2\"/><text x=\"{l5}\" y=\"14\">SLO</text>",
        w = LABEL + PLOT + 90.0,
        l1 = LABEL + 16.0,
        l2 = LABEL + 110.0,
        l3 = LABEL + 126.0,
        l4 = LABEL + 230.0,
        l5 = LABEL + 236.0
    );
    let x = |us: f64| LABEL + PLOT * (us / scale);
    for (index, row) in rows.iter().enumerate() {
        let top = 28.0 + ROW * index as f64;
        let _ = write!(
            html,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\
             <rect x=\"{LABEL}\" y=\"{top}\" width=\"{:.1}\" height=\"12\" fill=\"#6a8fd8\"><title>planned {:.1} µs</title></rect>",
            LABEL - 8.0,
            top + 14.0,
            escape(&row.route),
            x(row.planned_p99_us) - LABEL,
            row.planned_p99_us
        );
        if let Some(seen) = row.observed {
            let _ = write!(
                html,
                "<rect x=\"{LABEL}\" y=\"{}\" width=\"{:.1}\" height=\"12\" fill=\"#e8944a\"><title>observed {} µs over {} samples</title></rect>",
                top + 13.0,
                x(seen.p99_us as f64) - LABEL,
                seen.p99_us,
                seen.count
            );
        }
        if let Some(slo) = row.slo_p99_us {
            let _ = write!(
                html,
                "<line x1=\"{0:.1}\" y1=\"{1}\" x2=\"{0:.1}\" y2=\"{2}\" stroke=\"#c00\" stroke-width=\"2\"><title>SLO {slo} µs</title></line>",
                x(slo),
                top - 2.0,
                top + 27.0
            );
        }
    }
    html.push_str("</svg>\n<table><tr><th>route</th><th>planned p99 µs</th><th>observed p50 / p95 / p99 µs</th><th>samples</th><th>SLO µs</th><th>slack µs</th></tr>\n");
    for row in rows {
        let observed = row.observed.map_or("–".to_owned(), |o| format!("{} / {} / {}", o.p50_us, o.p95_us, o.p99_us));
        let samples = row.observed.map_or(0, |o| o.count);
        let slack = row.slo_p99_us.zip(row.observed).map(|(slo, o)| slo - o.p99_us as f64);
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{:.1}</td><td>{observed}</td><td>{samples}</td><td>{}</td><td{}>{}</td></tr>",
            escape(&row.route),
            row.planned_p99_us,
            row.slo_p99_us.map_or("–".to_owned(), |s| format!("{s:.0}")),
            if slack.is_some_and(|s| s < 0.0) { " class=\"bad\"" } else { "" },
            slack.map_or("–".to_owned(), |s| format!("{s:.0}"))
        );
    }
    html.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_the_page_is_self_contained() {
        let page = page(&Page {
            title: "plan <x> & \"y\"".into(),
            facts: vec![("moves".into(), "3".into())],
            zones: vec![ZoneView {
                name: "z1".into(),
                racks: vec![RackView {
                    name: "r1".into(),
                    hosts: vec![HostView {
                        name: "h1".into(),
                        schedulable: false,
                        numa_nodes: 2,
                        placements: vec![("a@1".into(), 1, 2)],
                    }],
                }],
            }],
            routes: vec![RouteRow {
                route: "a@1->b@1".into(),
                planned_p99_us: 40.0,
                slo_p99_us: Some(100.0),
                observed: None,
                note: String::new(),
            }],
            tradeoff: Err("no previous plan".into()),
        });
        assert!(page.contains("plan &lt;x&gt; &amp; &quot;y&quot;"));
        assert!(page.contains("h1 (drained)"));
        assert!(page.contains("numa 1: <span class=\"rep\" data-agent=\"a@1\""));
        assert!(!page.contains("src=") && !page.contains("href="), "nothing is fetched");
        assert!(page.contains("document.body.dataset.rendered = 'yes'"));
    }
}
