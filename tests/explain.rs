//! `rtt explain` and `rtt plan --explain` end to end: golden text and json on
//! plans of the examples (checked in under tests/data), the SVG chart, and
//! the errors a person can make.

mod support;

use support::{repo, rtt, stderr, stdout};

/// `(snapshot stem, args after "explain")`.
const CASES: [(&str, &[&str]); 4] = [
    (
        "quickstart",
        &[
            "tests/data/diff/quickstart-old.json",
            "--config",
            "examples/quickstart/rtt.yaml",
            "--what-if",
            "drop anti_affinity of search@1",
            "--what-if",
            "slo gateway@1→search@1 = 300",
            "--what-if",
            "drop slo search@1->cache@2",
        ],
    ),
    (
        "quickstart-previous",
        &[
            "tests/data/diff/quickstart-new.json",
            "--config",
            "tests/data/diff/quickstart-pr.yaml",
            "--previous",
            "tests/data/diff/quickstart-old.json",
            "--what-if",
            "cores h01/0 -12",
        ],
    ),
    (
        "full-nodes",
        &[
            "tests/data/explain/full-nodes.plan.json",
            "--config",
            "tests/data/explain/full-nodes.yaml",
            "--what-if",
            "cores h1/0 +4",
        ],
    ),
    (
        "fleet",
        &[
            "tests/data/diff/fleet-old.json",
            "--config",
            "examples/fleet/rtt.yaml",
            "--what-if",
            "drop anti_affinity of catalog-db@7",
        ],
    ),
];

#[test]
fn text_and_json_match_their_snapshots() {
    for (stem, args) in CASES {
        for (format, extension) in [("text", "txt"), ("json", "json")] {
            let mut all = vec!["explain", "--format", format];
            all.extend_from_slice(args);
            let output = rtt(&all);
            assert!(output.status.success(), "{stem}: {}", stderr(&output));
            let snapshot = repo().join(format!("tests/data/explain/{stem}.explain.{extension}"));
            support::check_snapshot(&snapshot, &stdout(&output)).unwrap();
        }
    }
}

#[test]
fn json_is_the_documented_schema() {
    let output = rtt(&[
        "explain",
        "--format",
        "json",
        "tests/data/explain/full-nodes.plan.json",
        "--config",
        "tests/data/explain/full-nodes.yaml",
    ]);
    let explanation: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(explanation["kind"], "rtt.explain");
    assert_eq!(explanation["version"], 1);
    assert_eq!(explanation["config_matches_plan"], true);
    let route = &explanation["routes"][0];
    assert_eq!(route["improvement"]["answer"], "blocked");
    assert_eq!(route["improvement"]["blockers"][0]["statement"], "capacity of h1 NUMA 0");
    assert_eq!(route["improvement"]["blockers"][0]["path"], "topology.hosts[0].numa[0]");
}

#[test]
fn the_chart_is_an_svg_of_the_tradeoff() {
    let dir = std::env::temp_dir().join(format!("rtt-explain-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let chart = dir.join("tradeoff.svg");
    let output = rtt(&[
        "explain",
        "tests/data/diff/quickstart-new.json",
        "--config",
        "tests/data/diff/quickstart-pr.yaml",
        "--previous",
        "tests/data/diff/quickstart-old.json",
        "--chart",
        chart.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let svg = std::fs::read_to_string(&chart).unwrap();
    support::check_snapshot(&repo().join("tests/data/explain/quickstart-previous.tradeoff.svg"), &svg).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<circle").count(), 6, "one point per churn weight");
}

#[test]
fn plan_explain_matches_its_snapshot() {
    let output = rtt(&["plan", "--explain", "examples/quickstart/rtt.yaml"]);
    assert!(output.status.success(), "{}", stderr(&output));
    support::check_snapshot(&repo().join("tests/data/plan/quickstart-explain.stdout"), &stdout(&output)).unwrap();
    let json = rtt(&["plan", "--explain", "--format", "json", "examples/quickstart/rtt.yaml"]);
    assert_eq!(json.status.code(), Some(1), "two documents cannot share stdout");
    assert!(stderr(&json).contains("-o PLAN"), "{}", stderr(&json));
}

#[test]
fn mistakes_are_clear_errors_that_exit_1() {
    let plan = "tests/data/diff/quickstart-old.json";
    let config = "examples/quickstart/rtt.yaml";
    let bad = rtt(&["explain", plan, "--config", config, "--what-if", "drop anti_affinity of serach@1"]);
    assert_eq!(bad.status.code(), Some(1));
    let text = stderr(&bad);
    assert!(text.contains("no agent `serach@1`"), "{text}");
    assert!(text.contains("search@1"), "names the valid agents: {text}");
    let mismatch = rtt(&["explain", "tests/data/diff/fleet-old.json", "--config", config]);
    assert_eq!(mismatch.status.code(), Some(1));
    assert!(stderr(&mismatch).contains("does not fit the config"), "{}", stderr(&mismatch));
    let missing = rtt(&["explain", plan]);
    assert_eq!(missing.status.code(), Some(1), "--config is required");
}
