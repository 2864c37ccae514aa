//! The zone plan: how many replicas of each agent go to each zone, chosen
//! for the whole fleet at once (docs/model.md §5, "Zone plan").
//!
//! Whether a route stays in a zone is the largest step of its p99 (on the
//! planbench tiers, 1,250 of the 1,498.5 µs between region and NUMA), and it
//! depends only on the two agents' counts per zone: with `R_a·R_b < 100` the
//! route is zone-local exactly when the counts are proportional (§4). A
//! search of 5-agent neighbourhoods rarely changes those counts well, since
//! capacity ties every agent of a zone to every other. This module states the
//! zone-level problem alone, where it is small, and hands the answer to the
//! greedy rule as per-agent zone targets.
//!
//! The model picks one *pattern* per agent, a vector of counts per zone that
//! sums to its replicas and keeps what the config says at zone level (spread,
//! anti-affinity, per-zone room, and bounds that a finer spread implies). Two
//! patterns are proportional when their primitive vectors (counts divided by
//! their gcd) are equal: that vector is the pattern's *class*. A route is
//! zone-local when both ends pick a pattern of one class:
//!
//! ```text
//! min  -Σ_r rps_r · Δ_zone · Σ_c w[r,c]
//! s.t. Σ_p v[a,p] = 1                                   every agent
//!      w[r,c] ≤ Σ_{p ∈ c} v[a,p],  w[r,c] ≤ Σ_{p ∈ c} v[b,p]   route r = (a, b), class c
//!      Σ_c w[r,c] = 1                                    SLO routes that need zone locality
//!      Σ_{a,p} cpu_a · p_z · v[a,p] ≤ cores_z  (and memory) every zone
//! ```
//!
//! In a re-plan each pattern also costs `(churn_weight / latency_weight) ·
//! Σ_z max(0, s_{a,z} − p_z)`, with `s_{a,z}` the replicas the agent had in
//! zone z on nodes it may still use: the moves its counts force, since a
//! replica can stay only where its zone keeps a count.
//!
//! This is much tighter than proportionality with big-M rows over counts:
//! HiGHS closes tier M's in about 0.2 s against more than 30 s. Capacity is
//! counted per zone, not per node, so the targets are a heuristic: the
//! placement built on them is accepted only when it is feasible and better.

use std::collections::{BTreeMap, BTreeSet};

use rtt_schema::model::{AgentId, Model};
use rtt_schema::raw::Level;
use rtt_solver::{Expression, Limits, Model as Milp, STRUCTURAL, Sense, Var};

use crate::placement::Placement;
use crate::previous::Previous;
use crate::topology::{NodeId, Topology, ZONE_LEVEL as ZONE, level_index};

/// Patterns one agent may have at most; an agent with more keeps the
/// counts it has in the start (one pattern), so that many replicas over many
/// zones cannot blow the model up.
pub const MAX_PATTERNS_PER_AGENT: usize = 256;

/// Branch-and-bound nodes of the zone plan's MILP (planbench M and L close
/// at the root or within a few hundred).
pub const ZONE_PLAN_NODES: u64 = 2_000;

/// Per agent, its replicas per zone (zone → count, zones with none left
/// out).
pub type ZoneTargets = Vec<BTreeMap<u32, u32>>;

/// One agent's possible patterns, and for each its class.
struct Patterns {
    counts: Vec<Vec<u32>>,
    classes: Vec<Vec<u32>>,
}

/// The zone plan from `start` (its counts are the MIP start, and what
/// agents with too many patterns keep); with `previous`, each pattern also
/// pays for the moves it forces. `None` with fewer than two zones, when the
/// zone-level model has no solution within `limits`, or when the answer
/// equals the start's counts (nothing to gain).
pub fn zone_plan(
    model: &Model,
    topology: &Topology,
    candidates: &[BTreeSet<NodeId>],
    start: &Placement,
    previous: Option<&Previous>,
    limits: &Limits,
) -> Option<ZoneTargets> {
    let n_zones = topology.n_domains[ZONE] as usize;
    // Against a previous plan with no weight on latency, the fewest moves
    // are all there is to want, and the churn-first stage has them.
    let churn_only = previous.is_some() && model.latency_weight <= 0.0;
    if n_zones < 2 || model.agents.is_empty() || churn_only {
        return None;
    }
    let current: ZoneTargets =
        (0..model.agents.len()).map(|a| start.per_domain(topology, AgentId(a as u32), ZONE)).collect();
    let patterns: Vec<Patterns> = (0..model.agents.len())
        .map(|a| patterns_of(model, topology, candidates, AgentId(a as u32), &current[a], n_zones))
        .collect();

    let mut milp = Milp::new();
    let mut v: Vec<Vec<Var>> = Vec::with_capacity(patterns.len());
    for agent in &patterns {
        let vars: Vec<Var> = agent.counts.iter().map(|_| milp.binary()).collect();
        let mut one = Expression::from(0.0);
        for var in &vars {
            one.add_mul(1.0, var.lp());
        }
        milp.constrain(one, Sense::Eq, 1.0, STRUCTURAL);
        v.push(vars);
    }
    // Against a previous plan, each pattern costs the moves it forces at
    // zone level: a replica may stay only where its zone keeps a count.
    if let Some(previous) = previous.filter(|_| model.churn_weight > 0.0) {
        let per_move = model.churn_weight / model.latency_weight;
        for (a, agent) in patterns.iter().enumerate() {
            let staying = staying_per_zone(topology, previous, &candidates[a], AgentId(a as u32), n_zones);
            for (p, counts) in agent.counts.iter().enumerate() {
                let moves: u32 = counts.iter().zip(&staying).map(|(count, stay)| stay.saturating_sub(*count)).sum();
                if moves > 0 {
                    milp.add_objective(per_move * f64::from(moves), v[a][p]);
                }
            }
        }
    }
    // Per zone: cores and memory.
    let mut cores = vec![0.0; n_zones];
    let mut memory = vec![0.0; n_zones];
    for (index, numa) in topology.nodes.iter().enumerate() {
        if model.hosts[numa.host.0 as usize].schedulable {
            let zone = topology.domain[ZONE][index] as usize;
            cores[zone] += f64::from(model.node(*numa).cores);
            memory[zone] += model.node(*numa).memory_mib as f64;
        }
    }
    for zone in 0..n_zones {
        let mut cpu = Expression::from(0.0);
        let mut mib = Expression::from(0.0);
        for (a, agent) in patterns.iter().enumerate() {
            let spec = &model.agents[a];
            for (p, counts) in agent.counts.iter().enumerate() {
                let count = f64::from(counts[zone]);
                if count > 0.0 {
                    cpu.add_mul(count * model.effective_cpu(spec), v[a][p].lp());
                    mib.add_mul(count * spec.memory_mib as f64, v[a][p].lp());
                }
            }
        }
        milp.constrain(cpu, Sense::Le, cores[zone] + 1e-9, STRUCTURAL);
        milp.constrain(mib, Sense::Le, memory[zone], STRUCTURAL);
    }
    // Zone-level rules between agents: colocate (the follower's zones among
    // the target's), avoid, and group anti-affinity.
    let present = |a: usize, zone: usize| sum_where(&v[a], |p| patterns[a].counts[p][zone] > 0);
    for (a, spec) in model.agents.iter().enumerate() {
        for (other, _) in &spec.colocate {
            for zone in 0..n_zones {
                milp.constrain(present(a, zone) - present(other.0 as usize, zone), Sense::Le, 0.0, STRUCTURAL);
            }
        }
        for (other, level) in &spec.avoid {
            if level_index(*level) == ZONE {
                for zone in 0..n_zones {
                    milp.constrain(present(a, zone) + present(other.0 as usize, zone), Sense::Le, 1.0, STRUCTURAL);
                }
            }
        }
    }
    for group in model.groups.iter().filter(|g| g.anti_affinity == Some(Level::Zone)) {
        for zone in 0..n_zones {
            let mut sum = Expression::from(0.0);
            for member in &group.members {
                let a = member.0 as usize;
                for (p, counts) in patterns[a].counts.iter().enumerate() {
                    sum.add_mul(f64::from(counts[zone]), v[a][p].lp());
                }
            }
            milp.constrain(sum, Sense::Le, 1.0, STRUCTURAL);
        }
    }
    // Routes: one share per class both ends can take.
    let total_rps: f64 = model.routes.iter().map(|r| r.rps).sum();
    let step = model.latency.by_locality[4] - model.latency.by_locality[3];
    let mut shares: Vec<Vec<(Vec<u32>, Var)>> = Vec::with_capacity(model.routes.len());
    for route in &model.routes {
        let (a, b) = (route.from.0 as usize, route.to.0 as usize);
        let mut local = Vec::new();
        if a != b {
            let class_sum =
                |agent: usize, class: &Vec<u32>| sum_where(&v[agent], |p| patterns[agent].classes[p] == *class);
            let of_b: BTreeSet<&Vec<u32>> = patterns[b].classes.iter().collect();
            let common: BTreeSet<&Vec<u32>> = patterns[a].classes.iter().filter(|c| of_b.contains(c)).collect();
            for class in common {
                let w = milp.continuous(0.0, 1.0);
                if total_rps > 0.0 {
                    milp.add_objective(-route.rps / total_rps * step, w);
                }
                milp.constrain(Expression::from(w.lp()) - class_sum(a, class), Sense::Le, 0.0, STRUCTURAL);
                milp.constrain(Expression::from(w.lp()) - class_sum(b, class), Sense::Le, 0.0, STRUCTURAL);
                local.push((class.clone(), w));
            }
            if crate::greedy::slo_level(model, route).is_some() {
                let mut sum = Expression::from(0.0);
                for (_, w) in &local {
                    sum.add_mul(1.0, w.lp());
                }
                milp.constrain(sum, Sense::Eq, 1.0, STRUCTURAL);
            }
        }
        shares.push(local);
    }

    // The start: each agent's current pattern, each route's class when both
    // ends have it.
    let mut point: Vec<(Var, f64)> = Vec::new();
    let mut chosen: Vec<Option<usize>> = vec![None; patterns.len()];
    for (a, agent) in patterns.iter().enumerate() {
        let now = dense(&current[a], n_zones);
        chosen[a] = agent.counts.iter().position(|c| *c == now);
        for (p, var) in v[a].iter().enumerate() {
            point.push((*var, if chosen[a] == Some(p) { 1.0 } else { 0.0 }));
        }
    }
    for (route, local) in model.routes.iter().zip(&shares) {
        let class_of = |agent: AgentId| chosen[agent.0 as usize].map(|p| &patterns[agent.0 as usize].classes[p]);
        for (class, w) in local {
            let both = class_of(route.from) == Some(class) && class_of(route.to) == Some(class);
            point.push((*w, if both { 1.0 } else { 0.0 }));
        }
    }
    let start_complete = chosen.iter().all(Option::is_some);
    let solution = milp.solve(limits, start_complete.then_some(point.as_slice())).ok()?;
    let targets: ZoneTargets = patterns
        .iter()
        .enumerate()
        .map(|(a, agent)| {
            let p = v[a].iter().position(|var| solution.value(*var) > 0.5).unwrap_or(0);
            agent.counts[p].iter().enumerate().filter(|(_, c)| **c > 0).map(|(z, c)| (z as u32, *c)).collect()
        })
        .collect();
    (targets != current).then_some(targets)
}

/// Per zone, the replicas an agent had there in the previous plan on nodes
/// it may still use: those may stay, the others move whatever the pattern.
fn staying_per_zone(
    topology: &Topology,
    previous: &Previous,
    candidates: &BTreeSet<NodeId>,
    agent: AgentId,
    n_zones: usize,
) -> Vec<u32> {
    let mut staying = vec![0; n_zones];
    for (node, count) in previous.agent(agent).map(|before| &before.on_nodes).into_iter().flatten() {
        if candidates.contains(node) {
            staying[topology.domain_of(ZONE, *node) as usize] += count;
        }
    }
    staying
}

/// `Σ v[a,p]` over an agent's pattern variables whose index `keep` accepts.
fn sum_where(vars: &[Var], keep: impl Fn(usize) -> bool) -> Expression {
    let mut sum = Expression::from(0.0);
    for (_, var) in vars.iter().enumerate().filter(|(p, _)| keep(*p)) {
        sum.add_mul(1.0, var.lp());
    }
    sum
}

/// Counts per zone as a dense vector.
fn dense(counts: &BTreeMap<u32, u32>, n_zones: usize) -> Vec<u32> {
    let mut out = vec![0; n_zones];
    for (zone, count) in counts {
        out[*zone as usize] = *count;
    }
    out
}

/// The patterns of one agent: per zone, at most what its candidate nodes
/// hold (one per host, rack or zone under anti-affinity at that level) and
/// within what a spread finer than zones allows there; in total its
/// replicas; and a zone spread kept. Past [`MAX_PATTERNS_PER_AGENT`], only
/// the current counts.
fn patterns_of(
    model: &Model,
    topology: &Topology,
    candidates: &[BTreeSet<NodeId>],
    agent: AgentId,
    current: &BTreeMap<u32, u32>,
    n_zones: usize,
) -> Patterns {
    let spec = &model.agents[agent.0 as usize];
    let replicas = spec.n_replicas;
    let cpu = model.effective_cpu(spec);
    let mut anti = spec.anti_affinity.map(level_index);
    for (_, group) in model.groups_of(agent) {
        if let Some(level) = group.anti_affinity.map(level_index) {
            anti = Some(anti.map_or(level, |own| own.max(level)));
        }
    }
    let mut upper = vec![0u32; n_zones];
    let mut lower = vec![0u32; n_zones];
    // Under anti-affinity below the zone: the domains of that level per zone
    // (only then: an XL agent has thousands of candidate nodes).
    let mut distinct: Vec<BTreeSet<u32>> = vec![BTreeSet::new(); n_zones];
    for node in &candidates[agent.0 as usize] {
        let zone = topology.domain_of(ZONE, *node) as usize;
        let capacity = model.node(topology.node(*node));
        let by_cpu = (f64::from(capacity.cores) / cpu + 1e-9).floor().min(f64::from(replicas)) as u32;
        let by_memory = (capacity.memory_mib / spec.memory_mib.max(1)).min(u64::from(replicas)) as u32;
        upper[zone] = upper[zone].saturating_add(by_cpu.min(by_memory));
        if let Some(level) = anti.filter(|level| *level < ZONE) {
            distinct[zone].insert(topology.domain_of(level, *node));
        }
    }
    for zone in 0..n_zones {
        upper[zone] = upper[zone].min(replicas);
        match anti {
            Some(ZONE) => upper[zone] = upper[zone].min(1),
            Some(_) => upper[zone] = upper[zone].min(distinct[zone].len() as u32),
            None => {}
        }
    }
    // A spread over racks or hosts: every domain holds between the smallest
    // and the largest count, and those are within max_skew of the mean.
    let mut zone_spread = None;
    if let Some((level, skew)) = spec.spread {
        let level = level_index(level);
        let domains = crate::definitions::spread_domains(model, topology, agent, level);
        if level == ZONE {
            zone_spread = Some((domains, skew));
        } else if !domains.is_empty() {
            let n = domains.len() as u32;
            let mut per_zone = vec![0u32; n_zones];
            let zone_of = zone_of_domains(topology, level);
            for domain in &domains {
                if let Some(zone) = zone_of.get(domain) {
                    per_zone[*zone as usize] += 1;
                }
            }
            for zone in 0..n_zones {
                upper[zone] = upper[zone].min(per_zone[zone] * (replicas / n + skew));
                lower[zone] = per_zone[zone] * replicas.div_ceil(n).saturating_sub(skew);
            }
        }
    }
    let mut counts = Vec::new();
    let mut vector = vec![0u32; n_zones];
    let feasible = enumerate(&lower, &upper, replicas, 0, &mut vector, &mut |p: &[u32]| {
        let spread_ok = zone_spread.as_ref().is_none_or(|(domains, skew)| {
            let of = |d: &u32| p.get(*d as usize).copied().unwrap_or(0);
            let max = domains.iter().map(of).max().unwrap_or(0);
            let min = domains.iter().map(of).min().unwrap_or(0);
            max - min <= *skew
        });
        if spread_ok {
            counts.push(p.to_vec());
        }
        counts.len() <= MAX_PATTERNS_PER_AGENT
    });
    let now = dense(current, n_zones);
    if !feasible {
        counts = vec![now];
    }
    let classes = counts.iter().map(|c| primitive(c)).collect();
    Patterns { counts, classes }
}

/// Calls `visit` with every vector within `lower..=upper` that sums to
/// `left` from position `at` on; false once `visit` said stop.
fn enumerate(
    lower: &[u32],
    upper: &[u32],
    left: u32,
    at: usize,
    vector: &mut Vec<u32>,
    visit: &mut dyn FnMut(&[u32]) -> bool,
) -> bool {
    if at == vector.len() {
        return left != 0 || visit(vector);
    }
    let rest_upper: u32 = upper[at + 1..].iter().sum();
    let rest_lower: u32 = lower[at + 1..].iter().sum();
    let from = lower[at].max(left.saturating_sub(rest_upper));
    let to = upper[at].min(left.saturating_sub(rest_lower));
    for count in from..=to {
        vector[at] = count;
        if !enumerate(lower, upper, left - count, at + 1, vector, visit) {
            return false;
        }
    }
    vector[at] = 0;
    true
}

/// The zone of each domain of a level.
fn zone_of_domains(topology: &Topology, level: usize) -> BTreeMap<u32, u32> {
    (0..topology.nodes.len()).map(|n| (topology.domain[level][n], topology.domain[ZONE][n])).collect()
}

/// A vector divided by the gcd of its entries: equal for proportional vectors.
fn primitive(counts: &[u32]) -> Vec<u32> {
    let g = counts.iter().copied().fold(0, crate::reach::gcd);
    counts.iter().map(|c| c.checked_div(g).unwrap_or(0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::from_yaml as model;

    /// Two zones of one 8-core host each. `a → b` carries most traffic, `c
    /// → d` a little; the start puts every route across zones with both
    /// zones full.
    const FULL: &str = "version: 1
topology:
  latency_us: {numa: 1, host: 2, rack: 25, zone: 250, region: 1500}
  hosts:
    - {name: h0, zone: z0, rack: r0, numa: [{cores: 8, memory_mib: 65536}]}
    - {name: h1, zone: z1, rack: r1, numa: [{cores: 8, memory_mib: 65536}]}
agents:
  - {id: a@1, replicas: 2, cpu: 2, memory_mib: 64, qos: guaranteed, service_us: 50}
  - {id: b@1, replicas: 2, cpu: 2, memory_mib: 64, qos: guaranteed, service_us: 50}
  - {id: c@1, replicas: 2, cpu: 2, memory_mib: 64, qos: guaranteed, service_us: 50}
  - {id: d@1, replicas: 2, cpu: 2, memory_mib: 64, qos: guaranteed, service_us: 50}
routes:
  - {from: a@1, to: b@1, rps: 100}
  - {from: c@1, to: d@1, rps: 1}
";

    /// Two replicas of each agent on the one node of the host given.
    fn on_hosts(topology: &Topology, hosts: [(u32, u32); 4]) -> Placement {
        let mut start = Placement::empty(4);
        for (agent, host) in hosts {
            let node = rtt_schema::model::NumaRef { host: rtt_schema::model::HostId(host), numa: 0 };
            start.add(AgentId(agent), topology.node_id(node), 2);
        }
        start
    }

    /// `a` and `d` on h0, `b` and `c` on h1: both routes cross zones.
    fn crossed(topology: &Topology) -> Placement {
        on_hosts(topology, [(0, 0), (1, 1), (2, 1), (3, 0)])
    }

    fn plan(yaml: &str, start: impl Fn(&Topology) -> Placement) -> (Model, Option<ZoneTargets>) {
        let model = model(yaml);
        let topology = Topology::new(&model);
        let candidates = crate::bound::candidate_nodes(&model, &topology);
        let targets = zone_plan(&model, &topology, &candidates, &start(&topology), None, &Limits::default());
        (model, targets)
    }

    fn proportional(targets: &ZoneTargets, a: usize, b: usize, replicas: [u32; 2]) -> bool {
        (0..2).all(|z| {
            let of = |agent: usize| targets[agent].get(&z).copied().unwrap_or(0);
            of(a) * replicas[1] == of(b) * replicas[0]
        })
    }

    #[test]
    fn the_plan_makes_every_route_zone_local_within_zone_capacity() {
        let (model, targets) = plan(FULL, crossed);
        let targets = targets.expect("the start is not optimal");
        assert!(proportional(&targets, 0, 1, [2, 2]), "{targets:?}");
        assert!(proportional(&targets, 2, 3, [2, 2]), "{targets:?}");
        for zone in 0..2 {
            let cores: f64 =
                (0..4).map(|a| f64::from(targets[a].get(&zone).copied().unwrap_or(0)) * model.agents[a].cpu).sum();
            assert!(cores <= 8.0, "zone {zone}: {cores} cores");
        }
        for (agent, target) in targets.iter().enumerate() {
            assert_eq!(target.values().sum::<u32>(), 2, "agent {agent}");
        }
    }

    #[test]
    fn the_whole_fleet_re_placed_on_the_plan_keeps_its_counts_and_gains() {
        let model = model(FULL);
        let topology = Topology::new(&model);
        let candidates = crate::bound::candidate_nodes(&model, &topology);
        let start = crossed(&topology);
        let targets =
            zone_plan(&model, &topology, &candidates, &start, None, &Limits::default()).expect("a better plan");
        let options = crate::formulation::Options::default();
        let sub = crate::formulation::Formulation::build_zoned(&model, &topology, None, &targets, options);
        let solution = sub.milp.solve(&Limits::default(), None).expect("the targets fit");
        let placed = sub.placement(&solution);
        for (agent, target) in targets.iter().enumerate() {
            assert_eq!(&placed.per_domain(&topology, AgentId(agent as u32), ZONE), target, "agent {agent}");
        }
        let (before, after) = (
            crate::score::score(&model, &topology, &start, None),
            crate::score::score(&model, &topology, &placed, None),
        );
        assert!(after.violations.is_empty(), "{:?}", after.violations);
        assert!(after.total < before.total, "{} → {}", before.total, after.total);
    }

    /// The crossed placement as a previous plan, with `churn_weight` per move.
    fn crossed_before(churn_weight: f64) -> (Model, Topology, Previous) {
        let model = model(&format!("{FULL}objective: {{latency_weight: 1.0, churn_weight: {churn_weight}}}\n"));
        let topology = Topology::new(&model);
        let rows =
            [("a@1", "h0"), ("b@1", "h1"), ("c@1", "h1"), ("d@1", "h0")].map(|(agent, host)| (agent, host, 0, 2));
        let previous = Previous::resolve(&model, &topology, rows);
        (model, topology, previous)
    }

    #[test]
    fn moves_are_priced_against_the_previous_plan() {
        // Making both routes zone-local moves 4 replicas (b and d swap
        // zones) for ~1,250 µs of mean latency: worth it at 10 a move, not
        // at 1,000.
        for (churn_weight, changes) in [(10.0, true), (1000.0, false)] {
            let (model, topology, previous) = crossed_before(churn_weight);
            let candidates = crate::bound::candidate_nodes(&model, &topology);
            let start = crossed(&topology);
            let targets = zone_plan(&model, &topology, &candidates, &start, Some(&previous), &Limits::default());
            assert_eq!(targets.is_some(), changes, "churn weight {churn_weight}: {targets:?}");
        }
    }

    #[test]
    fn a_repair_on_the_plan_moves_only_what_the_zones_change() {
        let (model, topology, previous) = crossed_before(10.0);
        let candidates = crate::bound::candidate_nodes(&model, &topology);
        let start = crossed(&topology);
        let targets = zone_plan(&model, &topology, &candidates, &start, Some(&previous), &Limits::default())
            .expect("a better plan");
        let (placed, broken) = crate::greedy::repair_in_zones(&model, &topology, &previous, &start, &targets);
        assert!(broken.is_empty(), "{broken:?}");
        for (agent, target) in targets.iter().enumerate() {
            assert_eq!(&placed.per_domain(&topology, AgentId(agent as u32), ZONE), target, "agent {agent}");
        }
        let (before, after) = (
            crate::score::score(&model, &topology, &start, Some(&previous)),
            crate::score::score(&model, &topology, &placed, Some(&previous)),
        );
        // No move beyond those the new counts force: a replica moves only
        // out of a zone whose count went down (a → b pays for two moves,
        // c → d's 12 µs does not).
        let forced: u32 = (0..4)
            .map(|a| {
                let was = start.per_domain(&topology, AgentId(a), ZONE);
                was.iter()
                    .map(|(zone, count)| count.saturating_sub(targets[a as usize].get(zone).copied().unwrap_or(0)))
                    .sum::<u32>()
            })
            .sum();
        assert_eq!((after.moves, forced), (2, 2));
        assert!(after.violations.is_empty(), "{:?}", after.violations);
        assert!(after.total < before.total, "{} → {}", before.total, after.total);
    }

    #[test]
    fn a_zone_spread_limits_the_patterns() {
        // Skew 0 over two zones: one replica in each, whatever the traffic.
        let yaml = FULL.replace(
            "{id: a@1, replicas: 2, cpu: 2, memory_mib: 64, qos: guaranteed, service_us: 50}",
            "{id: a@1, replicas: 2, cpu: 2, memory_mib: 64, qos: guaranteed, service_us: 50, spread: {level: zone, max_skew: 0}}",
        );
        let (_, targets) = plan(&yaml, crossed);
        let targets = targets.expect("the start is not optimal");
        assert_eq!(targets[0], BTreeMap::from([(0, 1), (1, 1)]));
        assert!(proportional(&targets, 0, 1, [2, 2]), "b follows a: {targets:?}");
    }

    #[test]
    fn a_zone_slo_is_kept_before_traffic() {
        // c → d needs zone locality (250 + 50 ≤ 400); a → b only pays.
        let yaml = FULL.replace("{from: c@1, to: d@1, rps: 1}", "{from: c@1, to: d@1, rps: 1, slo_p99_us: 400}");
        let (_, targets) = plan(&yaml, crossed);
        let targets = targets.expect("the start breaks the SLO");
        assert!(proportional(&targets, 2, 3, [2, 2]), "{targets:?}");
    }

    #[test]
    fn one_zone_has_nothing_to_plan() {
        let yaml = FULL.replace("zone: z1", "zone: z0");
        let (_, targets) = plan(&yaml, crossed);
        assert_eq!(targets, None);
    }

    #[test]
    fn an_optimal_start_gives_nothing_to_change() {
        let (_, targets) = plan(FULL, |topology| on_hosts(topology, [(0, 0), (1, 0), (2, 1), (3, 1)]));
        assert_eq!(targets, None);
    }

    #[test]
    fn proportional_counts_share_a_class() {
        assert_eq!(primitive(&[2, 0, 4]), primitive(&[1, 0, 2]));
        assert_ne!(primitive(&[2, 1, 0]), primitive(&[1, 1, 0]));
    }

    #[test]
    fn enumeration_respects_bounds_and_sum() {
        let mut seen = Vec::new();
        let mut vector = vec![0; 3];
        enumerate(&[0, 1, 0], &[2, 2, 1], 3, 0, &mut vector, &mut |p| {
            seen.push(p.to_vec());
            true
        });
        assert_eq!(seen, vec![vec![0, 2, 1], vec![1, 1, 1], vec![1, 2, 0], vec![2, 1, 0]]);
    }
}
