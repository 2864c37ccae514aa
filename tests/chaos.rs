//! The chaos pack end to end (issue 17): `rtt chaos run --quick` against a
//! workspace with a built-in driver and two driver processes, moving from
//! the plan in force to the next; every scenario must survive (wholly one
//! plan, consistent, recovered), and the report and flight records land
//! under `--out`. A second workspace with SLO routes covers the telemetry
//! breach, which must end on the previous plan.

mod apply_workspace;
mod support;

use apply_workspace::{Drivers, ok, run, template};

#[test]
fn the_short_pack_survives_every_scenario() {
    let (dir, _) = template(Drivers::Mixed, 1);
    let root = dir.path();
    let out = root.join("chaos-out");
    let output = run(
        root,
        &["chaos", "run", "--quick", "--plan", "p2.json", "--out", out.to_str().expect("utf-8"), "--format", "json"],
        &[],
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", support::stdout(&output), support::stderr(&output)));
    assert!(output.status.success(), "{report:#}\n{}", support::stderr(&output));
    assert_eq!(report["totals"]["mixed"], 0, "{report:#}");
    assert_eq!(report["totals"]["lost"], 0, "{report:#}");
    assert!(report["totals"]["survived"].as_u64().expect("count") >= 20, "{report:#}");
    let names: Vec<&str> =
        report["scenarios"].as_array().expect("scenarios").iter().map(|s| s["name"].as_str().expect("name")).collect();
    for wanted in
        ["coordinator-kill", "driver-crash", "driver-slow", "driver-garbage", "enospc", "slow-disk", "telemetry-breach"]
    {
        assert!(names.contains(&wanted), "{names:?}");
    }
    assert!(out.join("report.json").is_file());
    // Every killed run left a flight record, kept beside the report.
    let kills = &report["scenarios"][0]["cases"];
    assert!(kills.as_array().expect("cases").iter().all(|c| c["flight"].is_string()), "{kills:#}");
    // The real workspace was only read: still on p1, nothing recorded there.
    let status: serde_json::Value =
        serde_json::from_slice(&ok(root, &["status", "--format", "json"]).stdout).expect("json");
    assert_eq!(status["wal"]["transactions"], 1);
    if let Ok(keep) = std::env::var("RTT_CHAOS_KEEP") {
        std::fs::write(keep, serde_json::to_string_pretty(&report).expect("json")).expect("keep");
    }
}
