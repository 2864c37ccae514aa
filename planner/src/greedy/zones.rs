//! Zone shares for SLO components, decided before any replica is placed.
//!
//! An SLO that only zone locality (or finer) meets asks for the two ends'
//! replica counts to be proportional in every zone (docs/model.md §2). A hub
//! with many such partners ties them all together: the whole connected
//! component of those routes needs one zone distribution, scaled to each
//! member's replicas. Placed replica by replica, partners placed before the
//! hub each pick their own, and no later move reconciles them (planbench XL
//! seed 101 kept 6 such SLOs broken). Here each component gets its shares up
//! front: `u_z` units per zone summing to `g`, the gcd of its members'
//! replicas, so that member `a` takes `R_a · u_z / g` replicas in zone `z`.
//! Units go to the zone with the fewest units so far (balanced counts keep a
//! zone spread), then the most cores left; components with the most demand
//! choose first. Pure.

use std::collections::BTreeMap;

use rtt_schema::model::{AgentId, Model};

use crate::topology::{NodeId, Topology, ZONE_LEVEL as ZONE};

/// Per agent, the replicas it should have per zone (zone domain → count),
/// for members of an SLO component; `None` for every other agent.
pub(super) fn zone_targets(model: &Model, topology: &Topology) -> Vec<Option<BTreeMap<u32, u32>>> {
    let n = model.agents.len();
    let mut targets = vec![None; n];
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(parent: &mut [usize], mut a: usize) -> usize {
        while parent[a] != a {
            parent[a] = parent[parent[a]];
            a = parent[a];
        }
        a
    }
    let mut linked = vec![false; n];
    for route in &model.routes {
        if super::slo_level(model, route).is_none() || route.from == route.to {
            continue;
        }
        let (a, b) = (root(&mut parent, route.from.0 as usize), root(&mut parent, route.to.0 as usize));
        parent[a.max(b)] = a.min(b);
        linked[route.from.0 as usize] = true;
        linked[route.to.0 as usize] = true;
    }
    let mut components: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for agent in (0..n).filter(|a| linked[*a]) {
        let r = root(&mut parent, agent);
        components.entry(r).or_default().push(agent);
    }

    let n_zones = topology.n_domains[ZONE] as usize;
    let mut cores_left = vec![0.0; n_zones];
    // Zones where each member of a component has an eligible node.
    let mut eligible = vec![vec![false; n_zones]; n];
    for (index, numa) in topology.nodes.iter().enumerate() {
        let zone = topology.domain[ZONE][index] as usize;
        if model.hosts[numa.host.0 as usize].schedulable {
            cores_left[zone] += f64::from(model.node(*numa).cores);
        }
        for (agent, spec) in model.agents.iter().enumerate().filter(|(agent, _)| linked[*agent]) {
            let pinned_numa_ok = spec.pin.and_then(|(_, n)| n).is_none_or(|n| n == numa.numa);
            if pinned_numa_ok && model.host_is_eligible(spec, numa.host) {
                eligible[agent][zone] = true;
            }
        }
    }
    let demand = |agent: usize| model.effective_cpu(&model.agents[agent]) * f64::from(model.agents[agent].n_replicas);
    let mut ordered: Vec<Vec<usize>> = components.into_values().collect();
    ordered.sort_by(|x, y| {
        let total = |c: &Vec<usize>| c.iter().map(|a| demand(*a)).sum::<f64>();
        total(y).total_cmp(&total(x)).then(x.cmp(y))
    });
    for members in ordered {
        let g = members.iter().map(|a| model.agents[*a].n_replicas).fold(0, crate::reach::gcd);
        if g == 0 {
            continue;
        }
        let allowed: Vec<usize> = (0..n_zones).filter(|z| members.iter().all(|a| eligible[*a][*z])).collect();
        if allowed.is_empty() {
            continue;
        }
        // Cores one unit of the component takes in a zone.
        let per_unit: f64 = members.iter().map(|a| demand(*a) / f64::from(g)).sum();
        let mut units = vec![0u32; n_zones];
        for _ in 0..g {
            let Some(&zone) = allowed.iter().min_by(|x, y| {
                units[**x].cmp(&units[**y]).then(cores_left[**y].total_cmp(&cores_left[**x])).then(x.cmp(y))
            }) else {
                break;
            };
            units[zone] += 1;
            cores_left[zone] -= per_unit;
        }
        for agent in members {
            let r = model.agents[agent].n_replicas;
            let counts = (0..n_zones).filter(|z| units[*z] > 0).map(|z| (z as u32, r / g * units[z])).collect();
            targets[agent] = Some(counts);
        }
    }
    targets
}

/// Whether one more replica of `agent` on `node` stays within its zone target.
pub(super) fn within(
    targets: &[Option<BTreeMap<u32, u32>>],
    topology: &Topology,
    placed: &BTreeMap<u32, u32>,
    agent: AgentId,
    node: NodeId,
) -> bool {
    let Some(target) = &targets[agent.0 as usize] else { return true };
    let zone = topology.domain_of(ZONE, node);
    placed.get(&zone).copied().unwrap_or(0) < target.get(&zone).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::from_yaml as model;

    /// Three zones of one host (z2's is the largest); a hub with three
    /// replicas and zone SLOs to `a` (3) and `b` (6), a pair `c` (2) → `d` (4)
    /// with one, and `e` on a route without an SLO.
    const HUB: &str = "version: 1
topology:
  latency_us: {numa: 1, host: 2, rack: 25, zone: 250, region: 1500}
  hosts:
    - {name: h0, zone: z0, rack: r0, numa: [{cores: 16, memory_mib: 65536}]}
    - {name: h1, zone: z1, rack: r1, numa: [{cores: 16, memory_mib: 65536}]}
    - {name: h2, zone: z2, rack: r2, numa: [{cores: 32, memory_mib: 65536}]}
agents:
  - {id: hub@1, replicas: 3, cpu: 1, memory_mib: 64, qos: guaranteed, service_us: 50}
  - {id: a@1, replicas: 3, cpu: 1, memory_mib: 64, qos: guaranteed, service_us: 50}
  - {id: b@1, replicas: 6, cpu: 1, memory_mib: 64, qos: guaranteed, service_us: 50}
  - {id: c@1, replicas: 2, cpu: 1, memory_mib: 64, qos: guaranteed, service_us: 50}
  - {id: d@1, replicas: 4, cpu: 1, memory_mib: 64, qos: guaranteed, service_us: 50}
  - {id: e@1, replicas: 1, cpu: 1, memory_mib: 64, qos: guaranteed, service_us: 50}
routes:
  - {from: hub@1, to: a@1, rps: 10, slo_p99_us: 400}
  - {from: b@1, to: hub@1, rps: 10, slo_p99_us: 400}
  - {from: c@1, to: d@1, rps: 10, slo_p99_us: 400}
  - {from: hub@1, to: e@1, rps: 10}
";

    #[test]
    fn a_component_shares_one_distribution_scaled_to_each_member() {
        let model = model(HUB);
        let topology = Topology::new(&model);
        let targets = zone_targets(&model, &topology);
        let spread = BTreeMap::from([(0, 1), (1, 1), (2, 1)]);
        assert_eq!(targets[0], Some(spread.clone()), "hub: one per zone");
        assert_eq!(targets[1], Some(spread), "a follows the hub");
        assert_eq!(targets[2], Some(BTreeMap::from([(0, 2), (1, 2), (2, 2)])), "b: twice the hub's");
        // c and d: gcd 2, two units; the first goes to the zone with the
        // most cores left after the hub's component (z2).
        let c = targets[3].clone().expect("c has a target");
        assert_eq!(c.values().sum::<u32>(), 2);
        assert_eq!(c.get(&2), Some(&1));
        let d = targets[4].clone().expect("d has a target");
        assert!(c.iter().all(|(zone, count)| d.get(zone) == Some(&(2 * count))), "{c:?} vs {d:?}");
        assert_eq!(targets[5], None, "no SLO, no target");
    }

    #[test]
    fn the_slo_aware_rule_with_shares_places_each_member_on_its_target() {
        let model = model(HUB);
        let topology = Topology::new(&model);
        let targets = zone_targets(&model, &topology);
        let (placed, broken) = super::super::slo_aware(&model, &topology, None, Some(&targets));
        assert!(broken.is_empty(), "{broken:?}");
        for (agent, target) in targets.iter().enumerate() {
            if let Some(target) = target {
                assert_eq!(&placed.per_domain(&topology, AgentId(agent as u32), ZONE), target, "agent {agent}");
            }
        }
    }

    #[test]
    fn within_counts_what_is_placed_against_the_target() {
        let model = model(HUB);
        let topology = Topology::new(&model);
        let targets = zone_targets(&model, &topology);
        let placed = BTreeMap::from([(0, 1)]);
        assert!(!within(&targets, &topology, &placed, AgentId(0), NodeId(0)), "z0 has its one");
        assert!(within(&targets, &topology, &placed, AgentId(0), NodeId(1)));
        assert!(within(&targets, &topology, &placed, AgentId(5), NodeId(0)), "no target: anywhere");
    }
}
