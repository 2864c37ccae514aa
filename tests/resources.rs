//! Extended resources (issue 14), through the binary: a per-NUMA `gpu` and
//! a host-wide `net_mbps` hold where cores and memory would not, the plan
//! keeps them, `rtt explain` scores it feasible, and a shortfall is named.

mod support;

use std::collections::BTreeMap;

use support::{rtt_in, stderr, write};

/// h1 has one GPU per NUMA node; h2 none. Both have 1,000 Mbit/s for the
/// whole host. `trainer` and `feeder` talk a lot, so without resources
/// everything would share one NUMA node.
const FLEET: &str = "version: 1
topology:
  latency_us: {numa: 1.5, host: 4, rack: 25, zone: 120, region: 900}
  hosts:
    - name: h1
      zone: z1
      rack: r1
      resources: {net_mbps: 1000}
      numa: [{cores: 32, memory_mib: 65536, resources: {gpu: 1}}, {cores: 32, memory_mib: 65536, resources: {gpu: 1}}]
    - {name: h2, zone: z1, rack: r2, resources: {net_mbps: 1000}, numa: [{cores: 32, memory_mib: 65536}, {cores: 32, memory_mib: 65536}]}
agents:
  - {id: trainer@1, replicas: 2, cpu: 2, memory_mib: 1024, qos: guaranteed, service_us: 50, resources: {gpu: 1}}
  - {id: feeder@1, replicas: 2, cpu: 2, memory_mib: 1024, qos: guaranteed, service_us: 50, resources: {net_mbps: 400}}
routes:
  - {from: feeder@1, to: trainer@1, rps: 1000}
";

/// `(agent, host, numa)` → replicas of the plan for `config`, checked by `rtt explain`.
fn plan(config: &str) -> BTreeMap<(String, String, u64), u64> {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(root, "rtt.yaml", config);
    let out = rtt_in(root, &["plan", "rtt.yaml", "-o", "plan.json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let explain = rtt_in(root, &["explain", "plan.json", "--config", "rtt.yaml"]);
    assert!(explain.status.success(), "explain scores the plan feasible: {}", stderr(&explain));
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("plan.json")).expect("plan")).expect("json");
    let mut out = BTreeMap::new();
    for row in plan["placements"].as_array().expect("placements") {
        let key = (
            row["agent"].as_str().expect("agent").to_owned(),
            row["host"].as_str().expect("host").to_owned(),
            row["numa"].as_u64().expect("numa"),
        );
        *out.entry(key).or_insert(0) += row["replicas"].as_u64().expect("replicas");
    }
    out
}

fn on_host(placed: &BTreeMap<(String, String, u64), u64>, agent: &str, host: &str) -> u64 {
    placed.iter().filter(|((a, h, _), _)| a == agent && h == host).map(|(_, n)| n).sum()
}

#[test]
fn a_gpu_per_numa_node_takes_one_trainer_each() {
    let placed = plan(FLEET);
    assert_eq!(placed.get(&("trainer@1".into(), "h1".into(), 0)), Some(&1), "{placed:?}");
    assert_eq!(placed.get(&("trainer@1".into(), "h1".into(), 1)), Some(&1), "{placed:?}");
}

#[test]
fn a_host_wide_pool_is_shared_by_its_numa_nodes() {
    // Two feeders take 800 of a host's 1,000 Mbit/s; at 600 each they cannot share one.
    let placed = plan(FLEET);
    assert_eq!(on_host(&placed, "feeder@1", "h1"), 2, "both beside the trainers at 400 each: {placed:?}");
    let placed = plan(&FLEET.replace("net_mbps: 400", "net_mbps: 600"));
    assert_eq!(
        (on_host(&placed, "feeder@1", "h1"), on_host(&placed, "feeder@1", "h2")),
        (1, 1),
        "one per host at 600 each: {placed:?}"
    );
}

#[test]
fn too_little_of_a_resource_is_named_with_what_to_add() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(root, "rtt.yaml", &FLEET.replace("trainer@1, replicas: 2", "trainer@1, replicas: 3"));
    let out = rtt_in(root, &["plan", "rtt.yaml", "-o", "plan.json"]);
    let err = stderr(&out).split_whitespace().filter(|w| *w != "│").collect::<Vec<_>>().join(" ");
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("1 gpu"), "the advice names the resource: {err}");
    assert!(!root.join("plan.json").exists());
}
