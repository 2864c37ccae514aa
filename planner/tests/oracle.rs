//! The planner against brute force: on tiny random configs, every placement
//! is enumerated and scored; the planner's plan must reach the best score, and
//! at optimality the solver's objective must equal the scorer's total.

use std::collections::BTreeMap;

use proptest::prelude::*;
use rtt_canonical::Sha256;
use rtt_plan::{PlacementRow, PlanDocument};
use rtt_planner::placement::Placement;
use rtt_planner::previous::Previous;
use rtt_planner::score::score;
use rtt_planner::topology::{NodeId, Topology};
use rtt_planner::{PlanError, Request};
use rtt_schema::model::{AgentId, Model};
use rtt_schema::raw::{
    self, AntiAffinity, Avoid, Colocate, Config, Host, LatencyUs, Level, NumaNode, Qos, Route, Spread, SpreadLevel,
    Topology as RawTopology,
};
use rtt_solver::Limits;

#[derive(Debug, Clone)]
struct Tiny {
    hosts: Vec<(u32, u32, Vec<u32>)>, // (zone, rack, cores per numa)
    agents: Vec<(u32, u32, u8)>,      // (replicas, cpu, rule kind)
    routes: Vec<(usize, usize, u32, Option<u32>)>,
    group: u8, // 0 none; 1 anti-affinity, 2 spread, 3 avoid over the even-numbered agents
    gpus: u8,  // 0 none; 1 one per NUMA node, 2 two per host; the even-numbered agents take one per replica
}

fn tiny() -> impl Strategy<Value = Tiny> {
    let host = (0u32..2, 0u32..2, prop::collection::vec(2u32..6, 1..3));
    let agent = (1u32..3, 1u32..3, 0u8..8);
    (prop::collection::vec(host, 1..3), prop::collection::vec(agent, 2..4), 0u8..4, 0u8..3).prop_flat_map(
        |(hosts, agents, group, gpus)| {
            let n = agents.len();
            let route = (0..n, 0..n, 1u32..100, prop::option::of(0u32..4));
            (Just(hosts), Just(agents), prop::collection::vec(route, 0..4))
                .prop_map(move |(hosts, agents, routes)| Tiny { hosts, agents, routes, group, gpus })
        },
    )
}

fn config(t: &Tiny) -> Config {
    let hosts = t
        .hosts
        .iter()
        .enumerate()
        .map(|(i, (zone, rack, numa))| Host {
            name: format!("h{i}"),
            zone: format!("z{zone}"),
            rack: format!("r{rack}"),
            labels: BTreeMap::new(),
            schedulable: true,
            driver: None,
            numa: numa
                .iter()
                .map(|cores| NumaNode { cores: *cores, memory_mib: 1024, resources: gpus(t.gpus == 1, 1) })
                .collect(),
            resources: gpus(t.gpus == 2, 2),
            fingerprint: None,
        })
        .collect();
    let n = t.agents.len();
    let agents = t
        .agents
        .iter()
        .enumerate()
        .map(|(i, (replicas, cpu, rule))| {
            let other = format!("a{}@1", (i + 1) % n);
            raw::Agent {
                id: format!("a{i}@1"),
                manifest: None,
                replicas: *replicas,
                cpu: f64::from(*cpu),
                memory_mib: 100,
                qos: Qos::Guaranteed,
                service_us: 10.0 * i as f64,
                selector: BTreeMap::new(),
                pin: None,
                spread: (*rule == 1).then_some(Spread { level: SpreadLevel::Host, max_skew: 0 }),
                anti_affinity: (*rule == 2).then_some(AntiAffinity { level: Level::Numa }),
                colocate: if *rule == 3 { vec![Colocate { with: other.clone(), level: Level::Host }] } else { vec![] },
                avoid: if *rule == 4 { vec![Avoid { agent: other, level: Level::Numa }] } else { vec![] },
                labels: BTreeMap::from([("g".to_owned(), if i % 2 == 0 { "even" } else { "odd" }.to_owned())]),
                resources: gpus(t.gpus > 0 && i % 2 == 0, 1),
            }
        })
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    let routes = t
        .routes
        .iter()
        .filter(|(from, to, ..)| from != to && seen.insert((*from, *to)))
        .map(|(from, to, rps, slo)| Route {
            from: format!("a{from}@1"),
            to: format!("a{to}@1"),
            rps: f64::from(*rps),
            // SLOs that pick a level: numa+service, host+service, … up to zone.
            slo_p99_us: slo.map(|level| [1.5, 4.0, 25.0, 120.0][level as usize] + 10.0 * *to as f64),
            message_bytes: None,
        })
        .collect();
    Config {
        version: 1,
        topology: RawTopology {
            latency_us: LatencyUs { numa: 1.5, host: 4.0, rack: 25.0, zone: 120.0, region: 900.0 },
            hosts,
        },
        agents,
        routes,
        objective: raw::Objective::default(),
        qos_overcommit: raw::QosOvercommit::default(),
        providers: BTreeMap::new(),
        env: None,
        drivers: BTreeMap::new(),
        hosts_driver: None,
        groups: group(t.group),
        transports: None,
    }
}

/// `{gpu: n}` when `on`, else nothing.
fn gpus(on: bool, n: u64) -> BTreeMap<String, u64> {
    if on { BTreeMap::from([("gpu".to_owned(), n)]) } else { BTreeMap::new() }
}

/// The group rule of a case, over the even-numbered agents (the odd ones
/// are the agents an `avoid` keeps away).
fn group(kind: u8) -> Vec<raw::Group> {
    let selector = |value: &str| BTreeMap::from([("g".to_owned(), value.to_owned())]);
    let mut group = raw::Group {
        name: "even".into(),
        selector: selector("even"),
        spread: None,
        anti_affinity: None,
        avoid: Vec::new(),
    };
    match kind {
        1 => group.anti_affinity = Some(AntiAffinity { level: Level::Host }),
        2 => group.spread = Some(Spread { level: SpreadLevel::Host, max_skew: 0 }),
        3 => group.avoid.push(raw::GroupAvoid { selector: selector("odd"), level: Level::Numa }),
        _ => return Vec::new(),
    }
    vec![group]
}

/// Every placement of every agent over every node, scored; the best feasible total.
fn brute_force(model: &Model, topology: &Topology) -> Option<f64> {
    brute_force_from(model, topology, None)
}

/// [`brute_force`] with churn against a previous plan.
fn brute_force_from(model: &Model, topology: &Topology, previous: Option<&Previous>) -> Option<f64> {
    let n_nodes = topology.nodes.len();
    let per_agent: Vec<Vec<Vec<u32>>> = model.agents.iter().map(|a| compositions(a.n_replicas, n_nodes)).collect();
    let mut best: Option<f64> = None;
    let mut choice = vec![0usize; per_agent.len()];
    loop {
        let mut placement = Placement::empty(model.agents.len());
        for (agent, options) in per_agent.iter().enumerate() {
            for (node, count) in options[choice[agent]].iter().enumerate() {
                placement.add(AgentId(agent as u32), NodeId(node as u32), *count);
            }
        }
        let figures = score(model, topology, &placement, previous);
        if figures.violations.is_empty() && best.is_none_or(|b| figures.total < b) {
            best = Some(figures.total);
        }
        // Next combination (odometer).
        let mut i = 0;
        loop {
            if i == choice.len() {
                return best;
            }
            choice[i] += 1;
            if choice[i] < per_agent[i].len() {
                break;
            }
            choice[i] = 0;
            i += 1;
        }
    }
}

/// A request solved to proven optimality (gap 0, full branch and bound).
fn exact(model: &Model) -> Request<'_> {
    Request {
        model,
        config_hash: Sha256([0; 32]),
        previous: None,
        limits: Limits { gap: 0.0, ..Limits::default() },
        exhaustive: true,
        search: None,
        progress: None,
        memory_limit: None,
    }
}

fn compositions(total: u32, parts: usize) -> Vec<Vec<u32>> {
    if parts == 1 {
        return vec![vec![total]];
    }
    let mut out = Vec::new();
    for first in 0..=total {
        for mut rest in compositions(total - first, parts - 1) {
            rest.insert(0, first);
            out.push(rest);
        }
    }
    out
}

/// HiGHS's MIP presolve reduces this model (with the symmetry rows) to an
/// infeasible one, though a plan of objective 0 exists: the solver must ask
/// again without presolve before it reports "infeasible".
#[test]
fn a_model_highs_presolve_calls_infeasible_is_planned() {
    let t = Tiny {
        hosts: vec![(0, 1, vec![2, 2]), (0, 1, vec![2, 2])],
        agents: vec![(1, 1, 4), (2, 1, 4), (2, 2, 0)],
        routes: vec![],
        group: 0,
        gpus: 2,
    };
    let model = rtt_schema::refine(&config(&t)).expect("valid");
    let topology = Topology::new(&model);
    assert_eq!(brute_force(&model, &topology), Some(0.0));
    let planned = rtt_planner::plan(&exact(&model)).expect("a plan");
    assert!(planned.score.violations.is_empty());
    assert_eq!(planned.score.total, 0.0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn planner_matches_brute_force_and_the_scorer(t in tiny()) {
        let config = config(&t);
        let model = rtt_schema::refine(&config).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        let topology = Topology::new(&model);
        let oracle = brute_force(&model, &topology);
        let request = exact(&model);
        match (rtt_planner::plan(&request), oracle) {
            (Ok(planned), Some(best)) => {
                // Same input, same bytes.
                let again = rtt_planner::plan(&request).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(planned.document.to_file_bytes().unwrap(), again.document.to_file_bytes().unwrap());
                prop_assert!(planned.score.violations.is_empty());
                prop_assert!((planned.score.total - best).abs() < 1e-6, "planner {} vs brute force {}", planned.score.total, best);
                // At proven optimality the MILP's objective is the scorer's total.
                prop_assert!((planned.document.solver.objective - planned.document.objective.total).abs() < 1e-5,
                    "solver {} vs scorer {}", planned.document.solver.objective, planned.document.objective.total);
            }
            (Err(PlanError::Infeasible(conflict)), None) => prop_assert!(!conflict.statements.is_empty()),
            (outcome, oracle) => prop_assert!(false, "planner {:?} but brute force {:?}", outcome.map(|p| p.score.total), oracle),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Dropping every placement rule and SLO never makes a feasible config
    /// infeasible, nor its optimum worse.
    #[test]
    fn removing_constraints_never_hurts(t in tiny()) {
        let config = config(&t);
        let mut relaxed = config.clone();
        for agent in &mut relaxed.agents {
            agent.spread = None;
            agent.anti_affinity = None;
            agent.colocate.clear();
            agent.avoid.clear();
        }
        relaxed.groups.clear();
        for route in &mut relaxed.routes {
            route.slo_p99_us = None;
        }
        let solve = |config: &Config| {
            let model = rtt_schema::refine(config).expect("valid");
            rtt_planner::plan(&exact(&model)).map(|p| p.score.total).ok()
        };
        match (solve(&config), solve(&relaxed)) {
            (Some(strict), Some(loose)) => prop_assert!(loose <= strict + 1e-6, "relaxed {} > strict {}", loose, strict),
            (Some(_), None) => prop_assert!(false, "relaxing made the config infeasible"),
            _ => {}
        }
    }
}

/// Hosts drawn from two shapes in one or two racks, so that many are alike
/// (the symmetry rows of docs/model.md §3 are in play), and a previous plan:
/// some replicas of each agent on some node, which tells that node apart.
fn alike() -> impl Strategy<Value = (Tiny, Vec<(usize, u32)>)> {
    let shapes = [vec![2u32, 2], vec![4u32]];
    let host = (0u32..2, 0usize..2).prop_map(move |(rack, shape)| (0u32, rack, shapes[shape].clone()));
    let agent = (1u32..3, 1u32..3, prop_oneof![Just(0u8), Just(1), Just(2), Just(3), Just(4)]);
    (prop::collection::vec(host, 2..4), prop::collection::vec(agent, 2..4), 0u8..4, 0u8..3).prop_flat_map(
        |(hosts, agents, group, gpus)| {
            let n = agents.len();
            let n_nodes: usize = hosts.iter().map(|h| h.2.len()).sum();
            let route = (0..n, 0..n, 1u32..100, prop::option::of(0u32..4));
            let before = prop::collection::vec((0..n_nodes, 0u32..2), n);
            (Just(hosts), Just(agents), prop::collection::vec(route, 0..4), before)
                .prop_map(move |(hosts, agents, routes, before)| (Tiny { hosts, agents, routes, group, gpus }, before))
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// With alike hosts and nodes, and churn against a previous plan, the
    /// planner still reaches the brute-force optimum: the symmetry rows and
    /// the canonical MIP start cut off no optimal placement.
    #[test]
    fn symmetry_breaking_keeps_the_optimum(case in alike()) {
        let (t, before) = case;
        let config = config(&t);
        let model = rtt_schema::refine(&config).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        let topology = Topology::new(&model);
        let rows: Vec<PlacementRow> = before
            .iter()
            .enumerate()
            .filter(|(_, (_, count))| *count > 0)
            .map(|(agent, (node, count))| {
                let numa = topology.node(NodeId(*node as u32));
                PlacementRow {
                    agent: model.agents[agent].id.clone(),
                    host: model.hosts[numa.host.0 as usize].name.clone(),
                    numa: numa.numa,
                    replicas: *count,
                }
            })
            .collect();
        let previous_plan = PlanDocument::bare(Sha256([1; 32]), 1, None, rows);
        let previous = rtt_planner::previous_of(&model, &topology, &previous_plan);
        let oracle = brute_force_from(&model, &topology, Some(&previous));
        let request = Request { previous: Some(&previous_plan), ..exact(&model) };
        match (rtt_planner::plan(&request), oracle) {
            (Ok(planned), Some(best)) => {
                prop_assert!(planned.score.violations.is_empty());
                prop_assert!((planned.score.total - best).abs() < 1e-6, "planner {} vs brute force {}", planned.score.total, best);
                prop_assert!((planned.document.solver.objective - planned.document.objective.total).abs() < 1e-5,
                    "solver {} vs scorer {}", planned.document.solver.objective, planned.document.objective.total);
            }
            (Err(PlanError::Infeasible(_)), None) => {}
            (outcome, oracle) => prop_assert!(false, "planner {:?} but brute force {:?}", outcome.map(|p| p.score.total), oracle),
        }
    }
}
