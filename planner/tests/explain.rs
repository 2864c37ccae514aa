//! Explanations checked against the planner itself: a counterfactual that
//! relaxes a constraint with room to spare changes nothing; every "what stops
//! it" answer is verified by relaxing what it names and testing the route
//! again; every "feasible" answer reaches the level it claims; the same
//! inputs give the same explanation.

use std::path::PathBuf;

use rtt_plan::PlanDocument;
use rtt_planner::explain::what_if::{self, WhatIf};
use rtt_planner::explain::{Effort, Explanation, Improvement, Input, WhatIfOutcome, explain};
use rtt_planner::{Request, plan};
use rtt_schema::LoadedConfig;
use rtt_schema::model::Model;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn load(config: &str) -> LoadedConfig {
    rtt_schema::load(&repo().join(config)).unwrap()
}

fn planned(loaded: &LoadedConfig) -> PlanDocument {
    let request = Request {
        model: &loaded.model,
        config_hash: loaded.config_hash().expect("a checked config hashes"),
        previous: None,
        limits: rtt_solver::Limits::default(),
        exhaustive: false,
        search: None,
        progress: None,
        memory_limit: None,
    };
    plan(&request).unwrap().document
}

fn explained(model: &Model, loaded: &LoadedConfig, plan: &PlanDocument, what_ifs: &[(String, WhatIf)]) -> Explanation {
    let input = Input {
        model,
        config_hash: loaded.config_hash().expect("a checked config hashes"),
        plan,
        previous: None,
        what_ifs,
        effort: Effort::default(),
    };
    explain(&input).unwrap()
}

/// The small configs: the quickstart and the one built to have full nodes.
const CONFIGS: [&str; 2] = ["examples/quickstart/rtt.yaml", "tests/data/explain/full-nodes.yaml"];

#[test]
fn relaxing_a_constraint_with_room_to_spare_changes_nothing() {
    for config in CONFIGS {
        let loaded = load(config);
        let model = &loaded.model;
        let plan = planned(&loaded);
        let base = explained(model, &loaded, &plan, &[]);
        let id = |a: rtt_schema::model::AgentId| model.agents[a.0 as usize].id.clone();
        let mut texts = Vec::new();
        // SLOs not at their limit: loosening them cannot help.
        for route in &model.routes {
            let (from, to) = (id(route.from), id(route.to));
            let at_limit = base.binding.slos_at_limit.iter().any(|s| s.from == from && s.to == to);
            if let (Some(slo), false) = (route.slo_p99_us, at_limit) {
                texts.push(format!("slo {from}->{to} = {}", slo + 1000.0));
            }
        }
        // Cores on NUMA nodes that are not full; memory where it is not short.
        for host in &model.hosts {
            for numa in 0..host.numa.len() {
                let full = base.binding.full_nodes.iter().find(|n| n.host == host.name && n.numa as usize == numa);
                if full.is_none() {
                    texts.push(format!("cores {}/{numa} +8", host.name));
                }
                if full.is_none_or(|n| !n.short_of.contains(&"memory")) {
                    texts.push(format!("memory {}/{numa} +4096", host.name));
                }
            }
        }
        let what_ifs: Vec<(String, WhatIf)> =
            texts.iter().map(|t| (t.clone(), what_if::parse(model, t).unwrap())).collect();
        let answers = explained(model, &loaded, &plan, &what_ifs);
        for answer in &answers.what_ifs {
            match &answer.outcome {
                WhatIfOutcome::Solved(outcome) => {
                    assert_eq!(outcome.total_change, 0.0, "{config}: {}", answer.what_if);
                    assert!(outcome.changed.is_empty(), "{config}: {} moved {:?}", answer.what_if, outcome.changed);
                }
                other => panic!("{config}: {} gave {other:?}", answer.what_if),
            }
        }
    }
}

/// The what-if that relaxes a named blocker, when there is one.
fn relaxing(model: &Model, statement: &str, relaxation: Option<&str>) -> Option<String> {
    if let Some(route) = statement.strip_prefix("slo_p99_us of ") {
        let (from, to) = route.split_once(" → ")?;
        let _ = model;
        return Some(format!("drop slo {from}->{to}"));
    }
    if let Some(node) = statement.strip_prefix("capacity of ") {
        // "add N cores on h1 NUMA 0"
        let cores = relaxation?.strip_prefix("add ")?.split(' ').next()?.to_owned();
        let (host, numa) = node.split_once(" NUMA ")?;
        return Some(format!("cores {host}/{numa} +{cores}"));
    }
    for rule in ["anti_affinity", "spread", "selector", "pin"] {
        if let Some(agent) = statement.strip_prefix(&format!("{rule} of ")) {
            return Some(format!("drop {rule} of {agent}"));
        }
    }
    None
}

#[test]
fn what_stops_a_route_is_verified_by_relaxing_it_and_testing_again() {
    let mut verified = 0;
    for config in CONFIGS {
        let loaded = load(config);
        let model = &loaded.model;
        let plan = planned(&loaded);
        let base = explained(model, &loaded, &plan, &[]);
        for route in &base.routes {
            let Improvement::Blocked { target_level, blockers, .. } = &route.improvement else { continue };
            for blocker in blockers.iter().filter(|b| b.sufficient) {
                let Some(text) = relaxing(model, &blocker.statement, blocker.relaxation.as_deref()) else { continue };
                let change = what_if::parse(model, &text).unwrap();
                let relaxed = what_if::apply(model, &change);
                let again = explained(&relaxed, &loaded, &plan, &[]);
                let same = again.routes.iter().find(|r| r.from == route.from && r.to == route.to).unwrap();
                match &same.improvement {
                    Improvement::Feasible { target_level: reached, .. } => assert_eq!(reached, target_level),
                    other => panic!("{config}: {} → {} after `{text}`: {other:?}", route.from, route.to),
                }
                verified += 1;
            }
        }
    }
    // The quickstart's search → ranker is held by an SLO; full-nodes' api → db by capacity.
    assert!(verified >= 2, "only {verified} blockers verified");
}

#[test]
fn a_feasible_improvement_reaches_the_level_it_claims() {
    let loaded = load("tests/data/explain/full-nodes.yaml");
    let model = &loaded.model;
    let plan = planned(&loaded);
    let relaxed = what_if::apply(model, &what_if::parse(model, "cores h1/0 +4").unwrap());
    let again = explained(&relaxed, &loaded, &plan, &[]);
    let route = &again.routes[0];
    let Improvement::Feasible { target_level, p99_us, outcome } = &route.improvement else {
        panic!("{:?}", route.improvement)
    };
    assert_eq!(*target_level, "host");
    // numa/host latency 1/2 µs plus db@1's 100 µs: the one replica each ends up on one node.
    assert!(*p99_us <= 102.0, "{p99_us}");
    assert!(outcome.total_change < 0.0);
    assert!(!outcome.changed.is_empty());
}

#[test]
fn a_core_on_a_full_node_is_priced_by_re_solving() {
    let loaded = load("tests/data/explain/full-nodes.yaml");
    let plan = planned(&loaded);
    let explanation = explained(&loaded.model, &loaded, &plan, &[]);
    assert_eq!(explanation.binding.full_nodes.len(), 2);
    let marginal = &explanation.shadow_prices.marginal;
    assert!(!marginal.is_empty());
    // With 4 more cores api@1 and db@1 share a node: 120 → 101 µs, 19 µs for 4 cores.
    assert_eq!(marginal[0].added_cores, 4);
    assert_eq!(marginal[0].latency_change_us, -19.0);
    assert_eq!(marginal[0].mean_p99_us_per_core, -4.75);
}

#[test]
fn bad_what_ifs_say_what_would_be_valid() {
    let loaded = load("examples/quickstart/rtt.yaml");
    let model = &loaded.model;
    let cases = [
        ("drop anti_affinity of nope@1", "no agent `nope@1`", "agents: gateway@1"),
        ("drop anti_affinity of gateway@1", "has no such anti_affinity", "gateway@1 has: spread"),
        ("drop colour of search@1", "not a rule", "anti_affinity, spread"),
        ("cores h09/0 +8", "no NUMA node `h09/0`", "HOST/NUMA"),
        ("cores h01/0 eight", "not a whole change", "cores HOST/NUMA +N"),
        ("cores h01/0 -16", "cannot lose 16", "cores HOST/NUMA"),
        ("cores h01/0 +9223372036854775807", "out of range", "cores HOST/NUMA"),
        ("slo gateway@1->cache@2 = 300", "no such route", "routes: gateway@1->search@1"),
        ("slo gateway@1->search@1 = fast", "not a positive number", "slo FROM->TO"),
        ("make it faster", "not a counterfactual", "drop RULE of AGENT"),
    ];
    for (text, reason, help) in cases {
        let error = what_if::parse(model, text).unwrap_err();
        assert!(error.reason.contains(reason), "{text}: {}", error.reason);
        assert!(error.help.contains(help), "{text}: {}", error.help);
    }
    // Both arrows name a route.
    assert_eq!(
        what_if::parse(model, "slo gateway@1→search@1 = 300").unwrap(),
        what_if::parse(model, "slo gateway@1 -> search@1 = 300").unwrap()
    );
}

#[test]
fn the_same_inputs_give_the_same_explanation() {
    let loaded = load("examples/quickstart/rtt.yaml");
    let plan = planned(&loaded);
    let what_ifs = vec![(
        "drop spread of gateway@1".to_owned(),
        what_if::parse(&loaded.model, "drop spread of gateway@1").unwrap(),
    )];
    let first = serde_json::to_string(&explained(&loaded.model, &loaded, &plan, &what_ifs)).unwrap();
    let second = serde_json::to_string(&explained(&loaded.model, &loaded, &plan, &what_ifs)).unwrap();
    assert_eq!(first, second);
}
