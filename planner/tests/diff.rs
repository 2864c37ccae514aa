//! The plan diff on random plan documents: a plan against itself, or against
//! its own JSON with every object's keys in another order, is an empty diff;
//! paired moves are SPEC §4's moves; any change to a placement shows.

use std::collections::BTreeMap;

use proptest::prelude::*;
use rtt_canonical::Sha256;
use rtt_plan::{
    Inputs, Locality, ObjectiveReport, PLAN_KIND, PlacementRow, PlanDocument, RouteRow, Signature, SolverReport,
    SolverStatus, View,
};
use rtt_planner::diff::diff;

const AGENTS: [&str; 4] = ["a@1", "b@1", "c@2", "d@1"];
const HOSTS: [&str; 3] = ["h01", "h02", "h03"];

fn plan_from(rows: &BTreeMap<(usize, usize, u32), u32>, routes: &[(usize, usize, u8)], serial: u64) -> PlanDocument {
    let placements = rows
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|((a, h, numa), n)| PlacementRow {
            agent: AGENTS[*a].into(),
            host: HOSTS[*h].into(),
            numa: *numa,
            replicas: *n,
        })
        .collect();
    let mut route_rows: Vec<RouteRow> = routes
        .iter()
        .filter(|(f, t, _)| f != t)
        .map(|(f, t, level)| {
            let share = |l: u8| if *level <= l { 1.0 } else { 0.5 };
            RouteRow {
                from: AGENTS[*f].into(),
                to: AGENTS[*t].into(),
                p99_us: [1.5, 4.0, 25.0, 120.0, 900.0][usize::from(*level)] + 10.0,
                slo_p99_us: (*level % 2 == 0).then_some(100.0),
                locality: Locality { numa: share(0), host: share(1), rack: share(2), zone: share(3) },
                transport: None,
            }
        })
        .collect();
    route_rows.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
    route_rows.dedup_by(|a, b| a.from == b.from && a.to == b.to);
    PlanDocument {
        kind: PLAN_KIND.into(),
        version: 1,
        serial,
        inputs: Inputs { config: Sha256::of(b"config"), previous: None, registry: None },
        solver: SolverReport { status: SolverStatus::Optimal, objective: 1.0, bound: 1.0, gap: 0.0 },
        objective: ObjectiveReport { latency_us: 1.0, moves: 0, total: 1.0 },
        placements,
        routes: route_rows,
        views: BTreeMap::new(),
        signatures: vec![Signature { alg: "ed25519".into(), key_id: format!("{serial:016x}"), sig: "00".into() }],
    }
}

fn rows() -> impl Strategy<Value = BTreeMap<(usize, usize, u32), u32>> {
    prop::collection::btree_map((0..AGENTS.len(), 0..HOSTS.len(), 0u32..2), 0u32..4, 0..10)
}

fn routes() -> impl Strategy<Value = Vec<(usize, usize, u8)>> {
    prop::collection::vec((0..AGENTS.len(), 0..AGENTS.len(), 0u8..5), 0..5)
}

/// JSON text of a value with every object's keys written in reverse order.
fn reversed_json(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .rev()
                .map(|(k, v)| format!("{}: {}", serde_json::Value::from(k.as_str()), reversed_json(v)))
                .collect();
            format!("{{ {} }}", fields.join(", "))
        }
        serde_json::Value::Array(items) => {
            format!("[{}]", items.iter().map(reversed_json).collect::<Vec<_>>().join(", "))
        }
        other => other.to_string(),
    }
}

/// SPEC §4's moves of `new` against `old`, computed directly from the rows.
fn spec_moves(old: &BTreeMap<(usize, usize, u32), u32>, new: &BTreeMap<(usize, usize, u32), u32>) -> u64 {
    let mut total = 0i64;
    for agent in 0..AGENTS.len() {
        let of = |rows: &BTreeMap<(usize, usize, u32), u32>| -> Vec<((usize, u32), i64)> {
            rows.iter().filter(|((a, _, _), _)| *a == agent).map(|((_, h, n), c)| ((*h, *n), i64::from(*c))).collect()
        };
        let (before, after) = (of(old), of(new));
        let r_old: i64 = before.iter().map(|(_, c)| c).sum();
        let r_new: i64 = after.iter().map(|(_, c)| c).sum();
        if r_old == 0 || r_new == 0 {
            continue;
        }
        let left: i64 = before
            .iter()
            .map(|(slot, p)| {
                let y = after.iter().find(|(s, _)| s == slot).map_or(0, |(_, c)| *c);
                (p - y).max(0)
            })
            .sum();
        total += left - (r_old - r_new).max(0);
    }
    total as u64
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn a_plan_against_itself_is_an_empty_diff(rows in rows(), routes in routes(), serial in 1u64..5) {
        let plan = plan_from(&rows, &routes, serial);
        let same = diff(&plan, &plan);
        prop_assert!(same.is_empty(), "{same:?}");
        // Another serial and other signatures: still the same plan.
        let resigned = plan_from(&rows, &routes, serial + 1);
        prop_assert!(diff(&plan, &resigned).is_empty());
    }

    #[test]
    fn reordered_json_keys_never_show_as_a_change(rows in rows(), routes in routes()) {
        let plan = plan_from(&rows, &routes, 1);
        let text = reversed_json(&serde_json::to_value(&plan).unwrap());
        let reparsed = PlanDocument::parse(&text).unwrap();
        prop_assert!(diff(&plan, &reparsed).is_empty());
        prop_assert!(diff(&reparsed, &plan).is_empty());
    }

    #[test]
    fn paired_moves_are_the_spec_moves_and_any_placement_change_shows(old in rows(), new in rows(), routes in routes()) {
        let (a, b) = (plan_from(&old, &routes, 1), plan_from(&new, &routes, 2));
        let d = diff(&a, &b);
        let paired: u64 = d.moves.iter().map(|m| u64::from(m.replicas)).sum();
        prop_assert_eq!(paired, spec_moves(&old, &new));
        prop_assert_eq!(d.moves.is_empty() && d.scale.is_empty(), a.placements == b.placements);
        // Moves and scale changes account for every replica that changed slot.
        let arrived: u64 = paired + d.scale.iter().flat_map(|s| &s.added).map(|c| u64::from(c.replicas)).sum::<u64>();
        let changed: i64 = {
            let mut per_slot: BTreeMap<(String, String, u32), i64> = BTreeMap::new();
            for r in &a.placements { *per_slot.entry((r.agent.clone(), r.host.clone(), r.numa)).or_default() -= i64::from(r.replicas); }
            for r in &b.placements { *per_slot.entry((r.agent.clone(), r.host.clone(), r.numa)).or_default() += i64::from(r.replicas); }
            per_slot.values().filter(|v| **v > 0).sum()
        };
        prop_assert_eq!(arrived as i64, changed);
        let mut sorted = d.moves.clone();
        sorted.sort();
        prop_assert_eq!(sorted, d.moves);
    }
}

#[test]
fn a_slower_route_is_a_regression_only_beyond_the_gate() {
    let rows = BTreeMap::from([((0, 0, 0), 1), ((1, 0, 0), 1)]);
    let before = plan_from(&rows, &[(0, 1, 0)], 1);
    let after = plan_from(&rows, &[(0, 1, 2)], 2);
    let d = diff(&before, &after);
    assert_eq!(d.routes.len(), 1);
    // 11.5 µs → 35 µs: +204 %.
    assert_eq!(d.routes[0].p99_change_us, Some(23.5));
    assert_eq!(d.regressions(200.0).len(), 1);
    assert!(d.regressions(205.0).is_empty());
    assert!(diff(&after, &before).regressions(0.0).is_empty(), "a faster route never regresses");
    // Level 2 has no SLO in these plans, level 0 has 100 µs: no new violation either way.
    assert!(d.new_slo_violations.is_empty());
}

#[test]
fn view_changes_show_by_content_hash_and_signatures_never_count() {
    let rows = BTreeMap::from([((0, 0, 0), 1)]);
    let mut before = plan_from(&rows, &[], 1);
    let entry = |id: &str, result: &[u8]| View {
        id: id.into(),
        path: format!("{id}.json"),
        base: Sha256::of(b"base"),
        overlays: Vec::new(),
        result: Sha256::of(result),
    };
    before.views.insert("claude".into(), vec![entry("a@1", b"aa"), entry("b@1", b"bb")]);
    let mut after = before.clone();
    after.views.insert("claude".into(), vec![entry("a@1", b"aa"), entry("b@1", b"cc")]);
    after.views.insert("codex".into(), vec![entry("a@1", b"aa")]);
    after.signatures.clear();
    let d = diff(&before, &after);
    let hash = |bytes: &[u8]| Sha256::of(bytes).to_string();
    let changes: Vec<(String, String, Option<String>, Option<String>)> =
        d.views.iter().map(|v| (v.provider.clone(), v.id.clone(), v.old.clone(), v.new.clone())).collect();
    assert_eq!(
        changes,
        vec![
            ("claude".into(), "b@1".into(), Some(hash(b"bb")), Some(hash(b"cc"))),
            ("codex".into(), "a@1".into(), None, Some(hash(b"aa"))),
        ]
    );
    assert!(d.moves.is_empty() && d.routes.is_empty() && d.inputs.is_empty());
    after.views = before.views.clone();
    assert!(diff(&before, &after).is_empty(), "only signatures differ");
}
