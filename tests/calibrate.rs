//! Calibration end to end (issue 17): synthetic telemetry from known level
//! latencies, through `rtt telemetry ingest`, fitted by `rtt calibrate`
//! within 5 %, then planned with by `rtt plan --profile` and shown by
//! `rtt explain` planned against observed.

mod support;

use std::fmt::Write as _;
use std::path::Path;

use rtt_canonical::Sha256;
use rtt_plan::{Locality, PlanDocument, RouteRow};

const TRUTH: [f64; 5] = [20.0, 60.0, 300.0, 900.0, 4000.0];
const LEVELS: [&str; 5] = ["numa", "host", "rack", "zone", "region"];
/// The quickstart's callees and their configured service times (kept true here).
const CALLEES: [(&str, f64); 3] = [("search@1", 150.0), ("cache@2", 20.0), ("ranker@1", 200.0)];

fn locality(level: usize) -> Locality {
    let at = |l: usize| if level <= l { 1.0 } else { 0.0 };
    Locality { numa: at(0), host: at(1), rack: at(2), zone: at(3) }
}

/// A plan with one route per level and callee, and 100 samples per route
/// whose p99 is the truth (±2 %); one route is five times slower than any
/// model would say.
fn observed_plan(root: &Path) -> (Sha256, String) {
    let mut document = PlanDocument::bare(Sha256::of(b"calibrate"), 1, None, Vec::new());
    let mut lines = String::new();
    let mut n = 0u32;
    for (level, truth) in TRUTH.iter().enumerate() {
        for (callee, service) in CALLEES {
            n += 1;
            let from = format!("caller-{}@1", LEVELS[level]);
            let noise = 1.0 + 0.02 * (f64::from(n % 5) - 2.0) / 2.0;
            let mut p99 = (truth + service) * noise;
            if n == 4 {
                p99 *= 5.0;
            }
            document.routes.push(RouteRow {
                from: from.clone(),
                to: callee.to_owned(),
                p99_us: 0.0,
                slo_p99_us: None,
                locality: locality(level),
                transport: None,
            });
            writeln!(lines, "{{\"from\":\"{from}\",\"to\":\"{callee}\",\"latency_us\":{:.1},\"count\":98}}", p99 * 0.6)
                .expect("write");
            writeln!(lines, "{{\"from\":\"{from}\",\"to\":\"{callee}\",\"latency_us\":{p99:.1},\"count\":2}}")
                .expect("write");
        }
    }
    std::fs::write(root.join("observed.json"), document.to_file_bytes().expect("encodes")).expect("plan");
    std::fs::write(root.join("samples.jsonl"), lines).expect("samples");
    (document.hash().expect("hash"), "observed.json".to_owned())
}

fn json(output: &std::process::Output) -> serde_json::Value {
    assert!(output.status.success(), "{}{}", support::stdout(output), support::stderr(output));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", support::stdout(output)))
}

#[test]
fn calibration_recovers_known_level_latencies_and_plans_with_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::copy(support::repo().join("examples/quickstart/rtt.yaml"), root.join("rtt.yaml")).expect("config");
    let (hash, plan) = observed_plan(root);
    let ingested = json(&support::rtt_in(
        root,
        &["telemetry", "ingest", "--plan", &plan, "--samples", "samples.jsonl", "--format", "json"],
    ));
    assert_eq!(ingested["samples"], 1500);

    let calibrated = json(&support::rtt_in(root, &["calibrate", "--plan", &plan, "--format", "json"]));
    let profile = &calibrated["profile"];
    assert_eq!(profile["plan"], hash.to_string());
    for (level, truth) in LEVELS.iter().zip(TRUTH) {
        let fitted = profile["latency_us"][level].as_f64().expect("fitted");
        assert!((fitted - truth).abs() <= 0.05 * truth, "{level}: fitted {fitted} µs, truth {truth} µs");
    }
    let disagree: Vec<&serde_json::Value> =
        profile["residuals"].as_array().expect("residuals").iter().filter(|r| r["disagrees"] == true).collect();
    assert_eq!(disagree.len(), 1, "the slow route is named: {disagree:#?}");
    assert_eq!(disagree[0]["route"], "caller-host@1->search@1");
    let text = support::stdout(&support::rtt_in(root, &["calibrate", "--plan", &plan]));
    assert!(text.contains("disagrees caller-host@1->search@1"), "{text}");

    // Planning with the profile: the route figures use the fitted latencies.
    let plain = json(&support::rtt_in(root, &["plan", "--format", "json"]));
    let with = support::rtt_in(root, &["plan", "--profile", ".rtt/calibration.json", "-o", "cal.json"]);
    assert!(with.status.success(), "{}", support::stderr(&with));
    let planned: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("cal.json")).expect("plan")).expect("json");
    assert_ne!(planned["inputs"]["config"], plain["inputs"]["config"], "the calibrated config is another config");
    let route = planned["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .find(|r| r["from"] == "search@1" && r["to"] == "cache@2")
        .expect("route");
    let share = |l: &str| route["locality"][l].as_f64().expect("share");
    let level = ["numa", "host", "rack", "zone"].into_iter().find(|l| share(l) >= 0.99).unwrap_or("region");
    let expected =
        profile["latency_us"][level].as_f64().expect("level") + profile["service_us"]["cache@2"].as_f64().expect("svc");
    assert!((route["p99_us"].as_f64().expect("p99") - expected).abs() < 0.01, "{route:#} vs {expected}");

    // explain with the same profile matches the plan, and shows planned vs observed once samples exist.
    let lines: String = planned["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .map(|r| format!("{{\"from\":{},\"to\":{},\"latency_us\":123,\"count\":30}}\n", r["from"], r["to"]))
        .collect();
    std::fs::write(root.join("cal-samples.jsonl"), lines).expect("samples");
    json(&support::rtt_in(
        root,
        &["telemetry", "ingest", "--plan", "cal.json", "--samples", "cal-samples.jsonl", "--format", "json"],
    ));
    let explained =
        support::rtt_in(root, &["explain", "cal.json", "--config", "rtt.yaml", "--profile", ".rtt/calibration.json"]);
    let text = support::stdout(&explained);
    assert!(explained.status.success(), "{text}{}", support::stderr(&explained));
    assert!(text.contains("planned vs observed"), "{text}");
    assert!(!text.contains("does not match"), "the profile makes the config the plan's: {text}");
    let explained = json(&support::rtt_in(
        root,
        &["explain", "cal.json", "--config", "rtt.yaml", "--profile", ".rtt/calibration.json", "--format", "json"],
    ));
    assert_eq!(explained["observed"][0]["observed"]["count"], 30);
}

#[test]
fn calibrate_without_observations_says_what_is_missing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::copy(support::repo().join("examples/quickstart/rtt.yaml"), root.join("rtt.yaml")).expect("config");
    let (_, plan) = observed_plan(root);
    let out = support::rtt_in(root, &["calibrate", "--plan", &plan]);
    assert_eq!(out.status.code(), Some(1));
    assert!(support::stderr(&out).contains("has 20 samples"), "{}", support::stderr(&out));
    std::fs::write(root.join("bad.json"), "{\"kind\":\"rtt.calibration\"}").expect("bad");
    let out = support::rtt_in(root, &["plan", "--profile", "bad.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(support::stderr(&out).contains("failed to read the calibration"), "{}", support::stderr(&out));
}
