//! `rtt reconcile` and `rtt drift` (issue 19, the single-machine
//! controller): a config change is planned from the plan in force, signed
//! and applied; unchanged inputs are left alone; drift is found and, when
//! allowed, repaired with only the drifted hosts sent; without a key, plans
//! wait in `.rtt/pending/` until their approvals verify; the long-running
//! controller serves /healthz, /readyz and /metrics on loopback, follows a
//! config change, and stops cleanly on SIGTERM.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn rtt(dir: &Path, args: &[&str]) -> Output {
    support::rtt_in(dir, args)
}

fn ok(dir: &Path, args: &[&str]) -> Output {
    let output = rtt(dir, args);
    assert!(
        output.status.success(),
        "rtt {}: {}{}",
        args.join(" "),
        support::stdout(&output),
        support::stderr(&output)
    );
    output
}

fn status(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&ok(dir, &["status", "--format", "json"]).stdout).expect("json")
}

/// The quickstart with a trusted key `k`.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::copy(support::repo().join("examples/quickstart/rtt.yaml"), root.join("rtt.yaml")).expect("config");
    ok(root, &["keygen", "--out", "k"]);
    let trust = root.join(".rtt/registry/trust");
    std::fs::create_dir_all(trust.join("keys")).expect("trust");
    std::fs::copy(root.join("k.pub"), trust.join("keys/k.pub")).expect("key");
    std::fs::write(trust.join("policy.json"), "{\"threshold\": 1}\n").expect("policy");
    dir
}

/// One more batch replica: a new plan with the rest unmoved.
fn grow(root: &Path) {
    let config = std::fs::read_to_string(root.join("rtt.yaml")).expect("config");
    let grown = config.replace("id: batch@1\n    replicas: 2", "id: batch@1\n    replicas: 3");
    assert_ne!(config, grown);
    std::fs::write(root.join("rtt.yaml"), grown).expect("config");
}

#[test]
fn once_plans_signs_and_applies_a_change_and_leaves_unchanged_inputs_alone() {
    let dir = workspace();
    let root = dir.path();
    ok(root, &["reconcile", "--once", "--sign-key", "k.key"]);
    assert_eq!(status(root)["applied"]["serial"], 1);
    let quiet = ok(root, &["reconcile", "--once", "--sign-key", "k.key"]);
    assert!(support::stderr(&quiet).contains("\"result\":\"idle\""), "{}", support::stderr(&quiet));
    assert_eq!(status(root)["wal"]["transactions"], 1, "nothing applied twice");
    grow(root);
    ok(root, &["reconcile", "--once", "--sign-key", "k.key"]);
    let now = status(root);
    assert_eq!(now["applied"]["serial"], 2);
    assert_eq!(now["wal"]["transactions"], 2);
}

#[test]
fn drift_is_reported_then_repaired_on_the_drifted_hosts_only() {
    let dir = workspace();
    let root = dir.path();
    ok(root, &["reconcile", "--once", "--sign-key", "k.key"]);
    let host = std::fs::read_dir(root.join(".rtt/hosts"))
        .expect("hosts")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("placements.json").is_file())
        .expect("a host with placements");
    let file = host.join("placements.json");
    std::fs::write(&file, "{\"plan\":\"sha256:0\",\"placements\":[]}\n").expect("drift");
    let found = rtt(root, &["drift", "--format", "json"]);
    assert_eq!(found.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&found.stdout).expect("json");
    assert_eq!(report["drifted"].as_array().expect("drifted").len(), 1);
    // Without --repair the controller alerts and exits 2; with it, it repairs.
    assert_eq!(rtt(root, &["reconcile", "--once", "--sign-key", "k.key"]).status.code(), Some(2));
    ok(root, &["reconcile", "--once", "--sign-key", "k.key", "--repair"]);
    ok(root, &["drift"]);
    let records: Vec<serde_json::Value> = std::fs::read_to_string(root.join(".rtt/wal/wal.jsonl"))
        .expect("wal")
        .lines()
        .map(|l| serde_json::from_str(l).expect("record"))
        .collect();
    let repair = records.iter().rfind(|r| r["kind"] == "begin").expect("the repair transaction");
    assert_eq!(repair["from"], repair["to"], "a repair puts the plan in force back");
    let participants: usize =
        repair["participants"].as_object().expect("map").values().map(|h| h.as_array().map_or(0, Vec::len)).sum();
    assert_eq!(participants, 1, "only the drifted host is sent: {repair:#}");
}

#[test]
fn without_a_key_plans_wait_for_approvals() {
    let dir = workspace();
    let root = dir.path();
    let waiting = ok(root, &["reconcile", "--once"]);
    assert!(support::stderr(&waiting).contains("\"result\":\"waiting\""), "{}", support::stderr(&waiting));
    assert!(status(root)["applied"].is_null(), "nothing applied before approval");
    let pending: Vec<_> =
        std::fs::read_dir(root.join(".rtt/pending")).expect("pending").flatten().map(|e| e.path()).collect();
    assert_eq!(pending.len(), 1);
    // Still waiting: the plan is unsigned.
    ok(root, &["reconcile", "--once"]);
    assert!(status(root)["applied"].is_null());
    ok(root, &["sign", pending[0].to_str().expect("utf-8"), "--key", "k.key"]);
    ok(root, &["reconcile", "--once"]);
    assert_eq!(status(root)["applied"]["serial"], 1);
    assert!(!pending[0].exists(), "an applied plan is no longer pending");
}

fn get(address: &str, path: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\n\r\n").expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    let code = response.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, response.split("\r\n\r\n").nth(1).unwrap_or("").to_owned())
}

#[test]
fn the_controller_serves_its_endpoint_follows_a_change_and_stops_on_sigterm() {
    let dir = workspace();
    let root = dir.path();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rtt"))
        .args(["reconcile", "--interval", "300ms", "--sign-key", "k.key", "--listen", "127.0.0.1:0"])
        .current_dir(root)
        .env("RTT_CUE", support::cue_tool())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let mut log = BufReader::new(child.stderr.take().expect("stderr"));
    let mut address = None;
    let mut line = String::new();
    while address.is_none() && log.read_line(&mut line).expect("log") > 0 {
        let event: serde_json::Value = serde_json::from_str(line.trim()).unwrap_or_default();
        if event["event"] == "listening" {
            address = event["address"].as_str().map(str::to_owned);
        }
        line.clear();
    }
    let address = address.expect("the controller says where it listens");
    let logs = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = log.read_to_string(&mut rest);
        rest
    });
    let wait_for = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_for("the first plan", &|| status(root)["applied"]["serial"] == 1);
    wait_for("ready", &|| get(&address, "/readyz").0 == 200);
    assert_eq!(get(&address, "/healthz").0, 200);
    let (code, metrics) = get(&address, "/metrics");
    assert_eq!(code, 200);
    assert!(metrics.contains("rtt_reconcile_cycles_total{result=\"applied\"} 1"), "{metrics}");
    assert_eq!(get(&address, "/nope").0, 404);
    grow(root);
    wait_for("the change applied", &|| status(root)["applied"]["serial"] == 2);
    // The cycle counts once its apply step has returned.
    wait_for("the metrics to count the second apply", &|| {
        get(&address, "/metrics").1.contains("rtt_reconcile_cycles_total{result=\"applied\"} 2")
    });
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).expect("pid"),
        rustix::process::Signal::TERM,
    )
    .expect("SIGTERM");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the controller did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    let rest = logs.join().expect("logs");
    assert!(rest.contains("\"event\":\"stop\""), "{rest}");
    for line in rest.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {line}"));
    }
}

#[test]
fn a_second_sigterm_kills_the_step_and_recovery_decides_its_transaction() {
    let dir = workspace();
    let root = dir.path();
    // Every host on one driver that sleeps 30 s at prepare: the apply step is
    // mid-transaction when the signals come.
    let driver = support::repo().join("apply/tests/drivers/misbehaving");
    let examples = support::repo().join("examples/drivers/python");
    let mut config = std::fs::read_to_string(root.join("rtt.yaml")).expect("config");
    config.push_str(&format!(
        "hosts_driver: slow\ndrivers:\n  slow: {{command: [{}, {}, slow-prepare, --root, ./hosts-slow], root: ./hosts-slow, capabilities: [placements.write, \"fs.read:{}\"], timeout_ms: 60000}}\n",
        support::python(),
        driver.display(),
        examples.display()
    ));
    std::fs::write(root.join("rtt.yaml"), config).expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rtt"))
        .args(["reconcile", "--interval", "300ms", "--sign-key", "k.key"])
        .current_dir(root)
        .env("RTT_CUE", support::cue_tool())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let mut log = child.stderr.take().expect("stderr");
    let wal = root.join(".rtt/wal/wal.jsonl");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&wal).is_ok_and(|w| w.contains("\"kind\":\"begin\"")) {
        assert!(Instant::now() < deadline, "the apply never began");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM");
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().expect("wait").is_none(), "the first SIGTERM waits for the step");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("second SIGTERM");
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("wait") {
            break exit;
        }
        assert!(Instant::now() < deadline, "the controller did not stop on the second SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut rest = String::new();
    log.read_to_string(&mut rest).expect("log");
    assert_eq!(exit.code(), Some(1), "{rest}");
    assert!(rest.contains("\"event\":\"abort\"") && rest.contains("\"event\":\"recovered\""), "{rest}");
    // The transaction is decided (aborted: no decision was logged) and nothing is in doubt.
    let now = status(root);
    assert!(now["in_doubt"].as_array().expect("in doubt").is_empty(), "{now:#}");
    assert!(now["applied"].is_null(), "the aborted plan is not in force");
    ok(root, &["wal", "verify"]);
}

#[test]
fn a_disruption_budget_applies_the_move_in_waves_that_end_at_the_plan() {
    let dir = workspace();
    let root = dir.path();
    ok(root, &["reconcile", "--once", "--sign-key", "k.key"]);
    // Drain h01 in the config: its replicas must move.
    let config = std::fs::read_to_string(root.join("rtt.yaml")).expect("config");
    let drained = config.replace("{name: h01, ", "{name: h01, schedulable: false, ");
    assert_ne!(config, drained);
    std::fs::write(root.join("rtt.yaml"), drained).expect("config");
    let run = ok(root, &["reconcile", "--once", "--sign-key", "k.key", "--wave-moves", "2"]);
    let log = support::stderr(&run);
    let waves: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "wave")
        .collect();
    assert!(waves.len() >= 2, "the drain's moves come in waves of two: {log}");
    assert!(waves.iter().all(|w| w["result"] == "applied"), "{log}");
    let now = status(root);
    assert_eq!(now["wal"]["transactions"], 1 + waves.len() as u64);
    // Every wave moved at most two replicas, and the last holds the plan: h01 is empty.
    let records: Vec<serde_json::Value> = std::fs::read_to_string(root.join(".rtt/wal/wal.jsonl"))
        .expect("wal")
        .lines()
        .map(|l| serde_json::from_str(l).expect("record"))
        .collect();
    assert!(records.iter().filter(|r| r["kind"] == "begin").count() > 2);
    let kept = root.join(".rtt/state/plans");
    let applied = now["applied"]["plan"].as_str().expect("plan").trim_start_matches("sha256:").to_owned();
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(kept.join(format!("{applied}.json"))).expect("kept")).expect("json");
    assert!(plan["placements"].as_array().expect("rows").iter().all(|r| r["host"] != "h01"), "{plan:#}");
    let moves: Vec<u64> = std::fs::read_dir(root.join(".rtt/reconcile/waves"))
        .expect("waves")
        .flatten()
        .map(|e| serde_json::from_slice::<serde_json::Value>(&std::fs::read(e.path()).expect("wave")).expect("json"))
        .map(|w| w["objective"]["moves"].as_u64().expect("moves"))
        .collect();
    assert!(moves.iter().all(|m| *m <= 2), "{moves:?}");
    ok(root, &["drift"]);
}

#[test]
fn with_calibrate_observed_latency_becomes_an_input() {
    let dir = workspace();
    let root = dir.path();
    ok(root, &["reconcile", "--once", "--sign-key", "k.key"]);
    // Observations under the plan in force: every route 30 % slower than the config says.
    let applied = status(root)["applied"]["plan"].as_str().expect("plan").trim_start_matches("sha256:").to_owned();
    let kept = root.join(".rtt/state/plans").join(format!("{applied}.json"));
    let plan: serde_json::Value = serde_json::from_slice(&std::fs::read(&kept).expect("kept")).expect("json");
    let lines: String = plan["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .map(|r| {
            format!(
                "{{\"from\":{},\"to\":{},\"latency_us\":{},\"count\":50}}\n",
                r["from"],
                r["to"],
                r["p99_us"].as_f64().expect("p99") * 1.3
            )
        })
        .collect();
    std::fs::write(root.join("samples.jsonl"), lines).expect("samples");
    ok(root, &["telemetry", "ingest", "--samples", "samples.jsonl"]);
    let run = ok(root, &["reconcile", "--once", "--sign-key", "k.key", "--profile", "cal.json", "--calibrate"]);
    let log = support::stderr(&run);
    assert!(log.contains("\"event\":\"recalibrated\""), "{log}");
    assert!(root.join("cal.json").is_file());
    // Planned with it: the calibrated config is the plan's (a new inputs.config), or the placements did not change.
    let settled = log.contains("\"result\":\"applied\"") || log.contains("the placements did not");
    assert!(settled, "{log}");
    // The same observations again: nothing moved, the profile stays, nothing is planned.
    let again = ok(root, &["reconcile", "--once", "--sign-key", "k.key", "--profile", "cal.json", "--calibrate"]);
    let log = support::stderr(&again);
    assert!(!log.contains("\"event\":\"recalibrated\"") && log.contains("\"result\":\"idle\""), "{log}");
}
