//! Group rules over agent labels (issue 14), through the binary: each rule
//! binds where the routes alone would place the agents otherwise, the plan
//! keeps it, and `rtt explain` scores the plan feasible by the same rule.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use support::{rtt_in, stderr, write};

/// Four hosts, two per zone, one rack each; `web` and `api` call each other
/// heavily and call `batch`, so without rules all three share one host.
const FLEET: &str = "version: 1
topology:
  latency_us: {numa: 1.5, host: 4, rack: 25, zone: 120, region: 900}
  hosts:
    - {name: h1, zone: z1, rack: r1, numa: [{cores: 16, memory_mib: 65536}]}
    - {name: h2, zone: z1, rack: r2, numa: [{cores: 16, memory_mib: 65536}]}
    - {name: h3, zone: z2, rack: r3, numa: [{cores: 16, memory_mib: 65536}]}
    - {name: h4, zone: z2, rack: r4, numa: [{cores: 16, memory_mib: 65536}]}
agents:
  - {id: web@1, replicas: 2, cpu: 1, memory_mib: 1024, qos: guaranteed, service_us: 50, labels: {tier: front}}
  - {id: api@1, replicas: 2, cpu: 1, memory_mib: 1024, qos: guaranteed, service_us: 50, labels: {tier: front}}
  - {id: batch@1, replicas: 1, cpu: 1, memory_mib: 1024, qos: best-effort, service_us: 0, labels: {tier: batch}}
routes:
  - {from: web@1, to: api@1, rps: 1000}
  - {from: api@1, to: batch@1, rps: 500}
";

/// `(agent, host)` → replicas of the plan `rtt plan` writes for `groups`.
fn plan(groups: &str) -> BTreeMap<(String, String), u64> {
    plan_and_explain(groups).0
}

/// [`plan`], and what `rtt explain` says of it.
fn plan_and_explain(groups: &str) -> (BTreeMap<(String, String), u64>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(root, "rtt.yaml", &format!("{FLEET}{groups}"));
    let out = rtt_in(root, &["plan", "rtt.yaml", "-o", "plan.json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let explain = rtt_in(root, &["explain", "plan.json", "--config", "rtt.yaml"]);
    assert!(explain.status.success(), "explain scores the plan feasible: {}", stderr(&explain));
    (placements(root), support::stdout(&explain))
}

fn placements(root: &Path) -> BTreeMap<(String, String), u64> {
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("plan.json")).expect("plan")).expect("json");
    let mut out = BTreeMap::new();
    for row in plan["placements"].as_array().expect("placements") {
        let key = (row["agent"].as_str().expect("agent").to_owned(), row["host"].as_str().expect("host").to_owned());
        *out.entry(key).or_insert(0) += row["replicas"].as_u64().expect("replicas");
    }
    out
}

fn hosts_of(placed: &BTreeMap<(String, String), u64>, agents: &[&str]) -> Vec<String> {
    placed
        .iter()
        .filter(|((agent, _), _)| agents.contains(&agent.as_str()))
        .flat_map(|((_, host), n)| std::iter::repeat_n(host.clone(), *n as usize))
        .collect()
}

#[test]
fn without_groups_the_routes_pack_everything_onto_one_host() {
    let placed = plan("");
    let hosts: BTreeSet<String> = hosts_of(&placed, &["web@1", "api@1", "batch@1"]).into_iter().collect();
    assert_eq!(hosts.len(), 1, "{placed:?}");
}

#[test]
fn group_anti_affinity_keeps_one_replica_of_any_member_per_host() {
    let (placed, explain) =
        plan_and_explain("groups:\n  - {name: front, selector: {tier: front}, anti_affinity: {level: host}}\n");
    let hosts = hosts_of(&placed, &["web@1", "api@1"]);
    let distinct: BTreeSet<&String> = hosts.iter().collect();
    assert_eq!((hosts.len(), distinct.len()), (4, 4), "four replicas of the group on four hosts: {placed:?}");
    assert!(explain.contains("group anti-affinity uses every eligible host: front (4 domains)"), "{explain}");
}

#[test]
fn group_avoid_keeps_the_selected_agents_off_the_members_hosts() {
    let placed =
        plan("groups:\n  - {name: front, selector: {tier: front}, avoid: [{selector: {tier: batch}, level: host}]}\n");
    let front: BTreeSet<String> = hosts_of(&placed, &["web@1", "api@1"]).into_iter().collect();
    let batch: BTreeSet<String> = hosts_of(&placed, &["batch@1"]).into_iter().collect();
    assert!(front.is_disjoint(&batch), "{placed:?}");
    assert_eq!(front.len(), 1, "the members themselves still share a host: {placed:?}");
}

#[test]
fn group_spread_counts_the_members_together() {
    let (placed, explain) =
        plan_and_explain("groups:\n  - {name: front, selector: {tier: front}, spread: {level: zone, max_skew: 0}}\n");
    assert!(explain.contains("group spread at max skew: front over zones, max_skew 0"), "{explain}");
    let hosts = hosts_of(&placed, &["web@1", "api@1"]);
    let zone1 = hosts.iter().filter(|h| *h == "h1" || *h == "h2").count();
    assert_eq!((zone1, hosts.len() - zone1), (2, 2), "two of the four member replicas per zone: {placed:?}");
}

#[test]
fn an_impossible_group_rule_is_reported_as_the_conflict() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    // Five replicas of the group, four hosts.
    let fleet = FLEET.replace(
        "replicas: 1, cpu: 1, memory_mib: 1024, qos: best-effort, service_us: 0, labels: {tier: batch}",
        "replicas: 1, cpu: 1, memory_mib: 1024, qos: best-effort, service_us: 0, labels: {tier: front}",
    );
    write(
        root,
        "rtt.yaml",
        &format!("{fleet}groups:\n  - {{name: front, selector: {{tier: front}}, anti_affinity: {{level: host}}}}\n"),
    );
    let out = rtt_in(root, &["plan", "rtt.yaml", "-o", "plan.json"]);
    let err = stderr(&out).split_whitespace().filter(|w| *w != "│").collect::<Vec<_>>().join(" ");
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("anti_affinity of group front"), "{err}");
    assert!(!root.join("plan.json").exists());
}
