//! The SLO gate end to end (issue 17): the example Python driver reports the
//! latency its simulated network gives the committed placements; `rtt apply
//! --soak` keeps a plan whose routes stay within their SLOs and rolls back,
//! through a second two-phase commit, a plan whose new placement breaches
//! one. The WAL holds the verdict and its evidence, `rtt status` shows
//! planned against observed, and `rtt gate` gives CI the same verdict.

mod apply_workspace;
mod support;

use std::path::Path;

use apply_workspace::{ok, run};
use rtt_canonical::Sha256;
use rtt_plan::{Locality, PlacementRow, PlanDocument, RouteRow};

/// h1 and h2 (rack r1) on the Python example driver with a simulated
/// network; h3–h6 on the built-in driver.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let mut config = apply_workspace::config(apply_workspace::Drivers::BuiltIn);
    let example = support::repo().join("examples/drivers/python");
    config = config.replace(
        "  d1: {builtin: dir, root: ./hosts/d1}",
        &format!(
            "  d1: {{command: [{}, {}, --root, ./hosts/d1], root: ./hosts/d1, capabilities: [placements.write, \"fs.read:{}\"], timeout_ms: 10000}}",
            support::python(),
            example.join("driver").display(),
            example.display()
        ),
    );
    std::fs::write(root.join("rtt.yaml"), config).expect("config");
    std::fs::create_dir_all(root.join("hosts/d1")).expect("driver root");
    let sim = serde_json::json!({
        "hosts": {"h1": {"zone": "z1", "rack": "r1"}, "h2": {"zone": "z1", "rack": "r1"}},
        "latency_us": {"numa": 30, "host": 80, "rack": 800, "zone": 2000, "region": 9000},
        "routes": [{"from": "a@1", "to": "b@1"}],
        "samples": 50
    });
    std::fs::write(root.join("hosts/d1/sim.json"), sim.to_string()).expect("sim");
    ok(root, &["keygen", "--out", "k"]);
    let trust = root.join(".rtt/registry/trust");
    std::fs::create_dir_all(trust.join("keys")).expect("trust dir");
    std::fs::copy(root.join("k.pub"), trust.join("keys/k.pub")).expect("trust key");
    std::fs::write(trust.join("policy.json"), "{\"threshold\": 1}\n").expect("policy");
    dir
}

/// A signed plan placing a@1 and b@1 on `hosts` with route a@1→b@1 (SLO 500 µs).
fn plan(root: &Path, serial: u64, previous: Option<Sha256>, hosts: [&str; 2], planned_p99: f64) -> Sha256 {
    let rows = vec![
        PlacementRow { agent: "a@1".into(), host: hosts[0].into(), numa: 0, replicas: 1 },
        PlacementRow { agent: "b@1".into(), host: hosts[1].into(), numa: 0, replicas: 1 },
    ];
    let mut document = PlanDocument::bare(Sha256::of(b"gate"), serial, previous, rows);
    let local = if hosts[0] == hosts[1] { 1.0 } else { 0.0 };
    document.routes.push(RouteRow {
        from: "a@1".into(),
        to: "b@1".into(),
        p99_us: planned_p99,
        slo_p99_us: Some(500.0),
        locality: Locality { numa: local, host: local, rack: 1.0, zone: 1.0 },
        transport: None,
    });
    let path = root.join(format!("p{serial}.json"));
    std::fs::write(&path, document.to_file_bytes().expect("encodes")).expect("write plan");
    ok(root, &["sign", path.to_str().expect("utf-8"), "--key", "k.key"]);
    document.hash().expect("hash")
}

fn placements(root: &Path, host: &str) -> serde_json::Value {
    let path = root.join("hosts/d1").join(host).join("placements.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice::<serde_json::Value>(&bytes).expect("json")["placements"].clone()
}

fn wal(root: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(root.join(".rtt/wal/wal.jsonl"))
        .expect("wal")
        .lines()
        .map(|l| serde_json::from_str(l).expect("record"))
        .collect()
}

fn json(output: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", support::stdout(output)))
}

const SOAK: [&str; 4] = ["--soak", "2s", "--soak-interval", "200ms"];

#[test]
fn a_plan_that_breaches_its_slo_in_the_soak_is_rolled_back_automatically() {
    let dir = workspace();
    let root = dir.path();
    let p1 = plan(root, 1, None, ["h1", "h1"], 40.0);
    // The model thought a rack hop costs little; the network says 800 µs.
    let p2 = plan(root, 2, Some(p1), ["h1", "h2"], 120.0);

    let first = ok(root, &[&["apply", "p1.json", "--format", "json"][..], &SOAK].concat());
    let first = json(&first);
    assert_eq!(first["gate"]["outcome"], "pass", "{first:#}");
    assert!(first["soak_samples"].as_u64().expect("samples") >= 100, "{first:#}");
    assert_eq!(first["rollback"], serde_json::Value::Null);

    let second = run(root, &[&["apply", "p2.json", "--format", "json"][..], &SOAK].concat(), &[]);
    assert_eq!(
        second.status.code(),
        Some(2),
        "a breach exits 2: {}{}",
        support::stdout(&second),
        support::stderr(&second)
    );
    let second = json(&second);
    assert_eq!(second["result"], "committed");
    assert_eq!(second["gate"]["outcome"], "breach", "{second:#}");
    let route = &second["gate"]["routes"][0];
    assert_eq!(route["finding"], "slo_breach");
    assert!(route["observed"]["p99_us"].as_u64().expect("p99") >= 800, "{route:#}");
    assert_eq!(second["rollback"]["result"], "committed", "{second:#}");

    // State equals the previous plan: both agents back on h1, h2 empty.
    assert_eq!(
        placements(root, "h1"),
        serde_json::json!([{"agent": "a@1", "numa": 0, "replicas": 1}, {"agent": "b@1", "numa": 0, "replicas": 1}])
    );
    assert_eq!(placements(root, "h2"), serde_json::json!([]));
    let status = json(&ok(root, &["status", "--format", "json"]));
    assert_eq!(status["applied"]["plan"], p1.to_string());

    // The WAL says why: the gate's breach with its evidence, then the rollback of that transaction.
    let records = wal(root);
    let gate = records.iter().rfind(|r| r["kind"] == "gate").expect("a gate record");
    assert_eq!(gate["outcome"], "breach");
    let evidence = gate["evidence"][0].as_str().expect("evidence");
    assert!(evidence.starts_with("a@1->b@1: observed p99 ") && evidence.contains("> SLO 500"), "{evidence}");
    let rollback = records.iter().rfind(|r| r["kind"] == "begin").expect("begin");
    assert_eq!(rollback["rollback_of"], gate["txn"]);
    assert_eq!(rollback["to"], p1.to_string());
    ok(root, &["wal", "verify"]);

    // So does the flight record the breach kept: the readings, the verdict, the rollback's calls.
    let list = support::stdout(&ok(root, &["flight", "list"]));
    assert!(list.contains("-gate "), "{list}");
    let flight = json(&ok(root, &["flight", "show", "--format", "json"]));
    assert_eq!(flight["reason"], "gate");
    let events = flight["events"].as_array().expect("events");
    let verdict = events.iter().find(|e| e["what"]["event"] == "verdict").expect("a verdict event");
    assert_eq!(verdict["what"]["outcome"], "breach");
    assert_eq!(verdict["what"]["evidence"][0], serde_json::Value::String(evidence.to_owned()));
    assert!(events.iter().any(|e| e["what"]["event"] == "reading"), "soak readings are recorded");
    let health =
        events.iter().find(|e| e["what"]["event"] == "call" && e["what"]["phase"] == "health").expect("a Health call");
    assert!(health["what"]["response"].as_str().expect("response").contains("\"routes\""), "{health:#}");
    assert!(
        events
            .iter()
            .any(|e| e["what"]["event"] == "wal" && e["what"]["kind"] == "begin" && e["what"]["txn"] != gate["txn"]),
        "the rollback transaction is on the record"
    );
    let timeline = support::stdout(&ok(root, &["flight", "show"]));
    assert!(timeline.contains("verdict   breach"), "{timeline}");

    // Status: planned against observed for the plan in force; the last verdict.
    let text = support::stdout(&ok(root, &["status"]));
    assert!(text.contains("gate      last verdict: breach"), "{text}");
    assert!(text.contains("a@1->b@1"), "{text}");
    let observed = &status["routes"][0];
    assert_eq!(observed["route"], "a@1->b@1");
    assert!(observed["observed"]["count"].as_u64().expect("count") >= 100, "{observed:#}");
    assert!(observed["slack_us"].as_f64().expect("slack") > 400.0, "{observed:#}");

    // CI's verdicts, from the observations kept per plan.
    assert_eq!(run(root, &["gate", "p2.json"], &[]).status.code(), Some(2));
    let pass = ok(root, &["gate", "p1.json"]);
    assert!(support::stdout(&pass).starts_with("gate      pass: 1 of 1 routes judged"), "{}", support::stdout(&pass));
    let kept = root.join(".rtt/telemetry/routes").join(format!("{}.json", p2.hex()));
    assert!(kept.is_file(), "the breaching plan's observations are kept for later gates");
}

#[test]
fn a_crash_between_the_verdict_and_the_rollback_is_finished_by_recovery() {
    let dir = workspace();
    let root = dir.path();
    let p1 = plan(root, 1, None, ["h1", "h1"], 40.0);
    plan(root, 2, Some(p1), ["h1", "h2"], 120.0);
    plan(root, 3, Some(p1), ["h1", "h2"], 120.0);
    ok(root, &["apply", "p1.json"]);
    // Find the fault point just after the gate's record, then die there.
    let trace = root.join("trace");
    let traced =
        run(root, &[&["apply", "p2.json"][..], &SOAK].concat(), &[("RTT_FAULT_TRACE", trace.display().to_string())]);
    assert_eq!(traced.status.code(), Some(2));
    let points: Vec<String> = std::fs::read_to_string(&trace)
        .expect("trace")
        .lines()
        .filter(|l| l.starts_with("coordinator "))
        .map(str::to_owned)
        .collect();
    let gated = points.iter().position(|p| p == "coordinator gated").expect("the gated point") + 1;
    // Back on p1 by the gate's rollback; p3 places like p2 and dies after the verdict.
    let killed =
        run(root, &[&["apply", "p3.json"][..], &SOAK].concat(), &[("RTT_FAULT", format!("coordinator@{gated}"))]);
    assert_eq!(killed.status.code(), None, "killed by the fault: {}", support::stderr(&killed));
    let status = json(&ok(root, &["status", "--format", "json"]));
    assert!(status["rollback_pending"].is_string(), "{status:#}");
    let recovered = ok(root, &["recover"]);
    // The killed run's events became a record of their own; the recovery kept one too.
    let notes = support::stderr(&recovered);
    assert!(notes.contains("the previous run stopped without finishing; its flight record is"), "{notes}");
    let list = support::stdout(&ok(root, &["flight", "list"]));
    assert!(list.contains("-crash ") && list.contains("-recovery "), "{list}");
    let crash = list.lines().find(|l| l.contains("-crash ")).and_then(|l| l.split_whitespace().next()).expect("id");
    let crashed = json(&ok(root, &["flight", "show", crash, "--format", "json"]));
    let last = crashed["events"].as_array().and_then(|e| e.last()).expect("events");
    assert_eq!(last["what"]["kind"], "gate", "the killed run's last event is the verdict's WAL record: {last:#}");
    let status = json(&ok(root, &["status", "--format", "json"]));
    assert_eq!(status["applied"]["plan"], p1.to_string());
    assert_eq!(placements(root, "h2"), serde_json::json!([]));
}

#[test]
fn gate_reads_openmetrics_and_json_lines_and_says_when_it_has_no_evidence() {
    let dir = workspace();
    let root = dir.path();
    plan(root, 1, None, ["h1", "h1"], 40.0);
    ok(root, &["apply", "p1.json"]);
    let none = run(root, &["gate", "p1.json"], &[]);
    assert_eq!(none.status.code(), Some(1), "no samples: {}", support::stdout(&none));
    assert!(support::stdout(&none).contains("no evidence"), "{}", support::stdout(&none));

    let page = root.join("metrics.prom");
    std::fs::write(
        &page,
        "# TYPE rpc_seconds histogram\n\
         rpc_seconds_bucket{from=\"a@1\",to=\"b@1\",le=\"0.0001\"} 99\n\
         rpc_seconds_bucket{from=\"a@1\",to=\"b@1\",le=\"0.001\"} 100\n\
         rpc_seconds_bucket{from=\"a@1\",to=\"b@1\",le=\"+Inf\"} 100\n",
    )
    .expect("page");
    let lines = root.join("samples.jsonl");
    std::fs::write(&lines, "{\"route\":\"a@1->b@1\",\"latency_us\":90,\"count\":30}\n").expect("lines");
    let (page_arg, lines_arg) = (page.to_str().expect("utf-8"), lines.to_str().expect("utf-8"));
    let gate = |extra: &[&str]| {
        let sources = ["--metrics", page_arg, "--samples", lines_arg, "--format", "json"];
        json(&ok(root, &[&["gate", "p1.json"][..], extra, &sources].concat()))
    };
    let verdict = gate(&["--from-zero"]);
    assert_eq!(verdict["verdict"]["outcome"], "pass", "{verdict:#}");
    let observed = &verdict["verdict"]["routes"][0]["observed"];
    assert_eq!(observed["count"], 130);
    // From the page 99 samples at ≤ 100 µs and one at ≤ 1 ms, 30 at 90 µs from the lines: the p99 is 100 µs.
    assert!((100..=101).contains(&observed["p99_us"].as_u64().expect("p99")), "{observed:#}");
    // Read again: the lines are not counted twice, the page's counters did not grow.
    let again = gate(&[]);
    assert_eq!(again["verdict"]["routes"][0]["observed"]["count"], 130);

    // A bad page says where.
    std::fs::write(&page, "# TYPE rpc_seconds histogram\nrpc_seconds_bucket{from=\"a@1\" 3\n").expect("bad page");
    let bad = run(root, &["gate", "p1.json", "--metrics", page.to_str().expect("utf-8")], &[]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(support::stderr(&bad).contains("line 2, column"), "{}", support::stderr(&bad));
}

#[test]
fn the_chaos_packs_telemetry_breach_ends_on_the_previous_plan() {
    let dir = workspace();
    let root = dir.path();
    let p1 = plan(root, 1, None, ["h1", "h1"], 40.0);
    // The next plan keeps a and b together: only the injected telemetry breaches.
    plan(root, 2, Some(p1), ["h2", "h2"], 40.0);
    ok(root, &["apply", "p1.json"]);
    let output =
        run(root, &["chaos", "run", "telemetry-breach", "driver-crash", "--plan", "p2.json", "--format", "json"], &[]);
    let report = json(&output);
    assert_eq!(report["totals"]["lost"], 0, "{report:#}");
    assert_eq!(report["totals"]["mixed"], 0, "{report:#}");
    let breach = &report["scenarios"][0];
    assert_eq!(breach["name"], "telemetry-breach");
    assert_eq!(breach["cases"][0]["holds"], "previous", "{breach:#}");
    assert_eq!(breach["cases"][0]["apply_exit"], 2, "apply --soak exits 2 on the breach: {breach:#}");
    // The Python example driver, in another language, behind the proxy in every phase.
    assert_eq!(report["scenarios"][1]["tally"]["survived"], 5, "{report:#}");
}
