//! A workspace for apply's end-to-end tests: a config of six hosts on three
//! drivers, a trust store with one key, and three signed plans that each
//! change every host.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use rtt_canonical::Sha256;
use rtt_plan::{PlacementRow, PlanDocument};

use crate::support;

pub const HOSTS: [&str; 6] = ["h1", "h2", "h3", "h4", "h5", "h6"];

pub fn rtt_bin() -> &'static str {
    env!("CARGO_BIN_EXE_rtt")
}

pub fn run(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Output {
    let mut command = Command::new(rtt_bin());
    command
        .args(args)
        .current_dir(dir)
        .env_remove("RTT_FAULT")
        .env_remove("RTT_FAULT_ONCE")
        .env_remove("RTT_FAULT_TRACE");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("rtt runs")
}

pub fn ok(dir: &Path, args: &[&str]) -> Output {
    let output = run(dir, args, &[]);
    assert!(
        output.status.success(),
        "rtt {} failed in {}:\n{}{}",
        args.join(" "),
        dir.display(),
        support::stdout(&output),
        support::stderr(&output)
    );
    output
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drivers {
    /// `rtt driver dir` processes: driver kills leave the coordinator running.
    Processes,
    /// The built-in driver in the coordinator's process.
    BuiltIn,
    /// d1 built in, d2 and d3 processes.
    Mixed,
    /// d1 built in, d2 a process, d3 a driver whose first `Rx` lies, so that
    /// verify fails and apply rolls back through a second transaction.
    WithLiar,
}

pub fn config(drivers: Drivers) -> String {
    let mut text = String::from(
        "version: 1\ntopology:\n  latency_us: {numa: 1.5, host: 4, rack: 25, zone: 120, region: 900}\n  hosts:\n",
    );
    for (i, host) in HOSTS.iter().enumerate() {
        text.push_str(&format!(
            "    - {{name: {host}, zone: z1, rack: r{}, driver: d{}, numa: [{{cores: 16, memory_mib: 65536}}]}}\n",
            i / 2 + 1,
            i / 2 + 1
        ));
    }
    text.push_str("agents:\n");
    for agent in ["a@1", "b@1"] {
        text.push_str(&format!(
            "  - {{id: {agent}, replicas: 3, cpu: 1, memory_mib: 512, qos: guaranteed, service_us: 10}}\n"
        ));
    }
    text.push_str("drivers:\n");
    let liar = support::repo().join("apply/tests/drivers/misbehaving");
    for d in 1..=3 {
        let built_in = match drivers {
            Drivers::BuiltIn => true,
            Drivers::Processes => false,
            Drivers::Mixed | Drivers::WithLiar => d == 1,
        };
        if built_in {
            text.push_str(&format!("  d{d}: {{builtin: dir, root: ./hosts/d{d}}}\n"));
        } else if drivers == Drivers::WithLiar && d == 3 {
            text.push_str(&format!(
                "  d{d}: {{command: [{}, {}, rx-lies-once, --root, ./hosts/d{d}], root: ./hosts/d{d}, capabilities: [placements.write, \"fs.read:{}\"], timeout_ms: 10000}}\n",
                support::python(),
                liar.display(),
                support::repo().join("examples/drivers/python").display()
            ));
        } else {
            text.push_str(&format!(
                "  d{d}: {{command: [{}, driver, dir, --root, ./hosts/d{d}, --name, d{d}], root: ./hosts/d{d}, capabilities: [placements.write], timeout_ms: 10000}}\n",
                rtt_bin()
            ));
        }
    }
    text
}

/// Plans 1–3; each changes every host.
pub fn plan_rows(serial: u64) -> Vec<PlacementRow> {
    let row =
        |agent: &str, host: &str, replicas| PlacementRow { agent: agent.into(), host: host.into(), numa: 0, replicas };
    let mut rows: Vec<PlacementRow> = match serial {
        1 => HOSTS.iter().map(|h| row("a@1", h, 1)).collect(),
        2 => HOSTS.iter().enumerate().map(|(i, h)| row(if i % 2 == 0 { "a@1" } else { "b@1" }, h, 2)).collect(),
        _ => HOSTS.iter().enumerate().map(|(i, h)| row("b@1", h, 1 + (i as u32 % 3))).collect(),
    };
    rows.sort();
    rows
}

pub fn write_signed_plan(dir: &Path, serial: u64, previous: Option<Sha256>) -> Sha256 {
    let document = PlanDocument::bare(Sha256::of(b"crash-matrix"), serial, previous, plan_rows(serial));
    let path = dir.join(format!("p{serial}.json"));
    std::fs::write(&path, document.to_file_bytes().expect("encodes")).expect("write plan");
    ok(dir, &["sign", path.to_str().expect("utf-8"), "--key", "k.key"]);
    document.hash().expect("hash")
}

/// A workspace with config, trust store and three signed plans; `applied`
/// of them applied in order.
pub fn template(drivers: Drivers, applied: u64) -> (tempfile::TempDir, [Sha256; 3]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::write(root.join("rtt.yaml"), config(drivers)).expect("config");
    ok(root, &["keygen", "--out", "k"]);
    let trust = root.join(".rtt/registry/trust");
    std::fs::create_dir_all(trust.join("keys")).expect("trust dir");
    std::fs::copy(root.join("k.pub"), trust.join("keys/k.pub")).expect("trust key");
    std::fs::write(trust.join("policy.json"), "{\"threshold\": 1}\n").expect("policy");
    let p1 = write_signed_plan(root, 1, None);
    let p2 = write_signed_plan(root, 2, Some(p1));
    let p3 = write_signed_plan(root, 3, Some(p2));
    let lied = root.join("hosts/d3/.lied");
    if drivers == Drivers::WithLiar {
        // No lie while the template is made; the command under test gets it.
        std::fs::create_dir_all(root.join("hosts/d3")).expect("liar root");
        std::fs::write(&lied, "").expect("marker");
    }
    for serial in 1..=applied {
        ok(root, &["apply", &format!("p{serial}.json")]);
    }
    if drivers == Drivers::WithLiar {
        std::fs::remove_file(&lied).expect("marker removed");
    }
    (dir, [p1, p2, p3])
}

pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("list") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}
