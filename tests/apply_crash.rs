//! The crash matrix (SPEC §8's promise): SIGKILL the coordinator at every
//! step it reaches and every driver at every step it reaches, then recover,
//! and check that every host holds wholly the old plan or wholly the new one,
//! that the applied pointer names it, that nothing stays staged or in doubt,
//! and that the WAL verifies. Some recoveries are killed too.
//!
//! The steps are not listed by hand: a first run with `RTT_FAULT_TRACE`
//! records every fault point reached (apply/src/fault.rs), and the matrix
//! kills at each. Drivers run as real processes (`rtt driver dir`) or in the
//! coordinator's process (the built-in driver; a kill there kills both).

mod apply_workspace;
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use apply_workspace::{Drivers, HOSTS, copy_tree, ok, plan_rows, run, template};
use rtt_canonical::Sha256;

/// Placements of every host as the dir drivers hold them.
fn held(dir: &Path) -> BTreeMap<String, Vec<(String, u32)>> {
    HOSTS
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let path = dir.join(format!("hosts/d{}/{host}/placements.json", i / 2 + 1));
            let rows = match std::fs::read(&path) {
                Ok(bytes) => {
                    let value: serde_json::Value = serde_json::from_slice(&bytes).expect("placements parse");
                    value["placements"]
                        .as_array()
                        .expect("array")
                        .iter()
                        .map(|p| {
                            (p["agent"].as_str().expect("agent").to_owned(), p["replicas"].as_u64().expect("n") as u32)
                        })
                        .collect()
                }
                Err(_) => Vec::new(),
            };
            (host.to_string(), rows)
        })
        .collect()
}

fn expected(serial: Option<u64>) -> BTreeMap<String, Vec<(String, u32)>> {
    let rows = serial.map(plan_rows).unwrap_or_default();
    HOSTS
        .iter()
        .map(|host| {
            let mut on_host: Vec<(String, u32)> =
                rows.iter().filter(|r| r.host == *host).map(|r| (r.agent.clone(), r.replicas)).collect();
            on_host.sort();
            (host.to_string(), on_host)
        })
        .collect()
}

fn staged_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.join("hosts")];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("placements.json.")) {
                found.push(path);
            }
        }
    }
    found
}

struct Scenario {
    name: &'static str,
    drivers: Drivers,
    /// Plans applied before the command.
    applied: u64,
    command: &'static [&'static str],
    /// Serial in force before and after the command.
    old: Option<u64>,
    new: u64,
}

const SCENARIOS: [Scenario; 7] = [
    Scenario {
        name: "apply 1→2, mixed drivers",
        drivers: Drivers::Mixed,
        applied: 1,
        command: &["apply", "p2.json"],
        old: Some(1),
        new: 2,
    },
    Scenario {
        name: "apply 1→2, verify fails and rolls back",
        drivers: Drivers::WithLiar,
        applied: 1,
        command: &["apply", "p2.json"],
        old: Some(1),
        new: 2,
    },
    Scenario {
        name: "apply 1→2, driver processes",
        drivers: Drivers::Processes,
        applied: 1,
        command: &["apply", "p2.json"],
        old: Some(1),
        new: 2,
    },
    Scenario {
        name: "apply 1→2, built-in drivers",
        drivers: Drivers::BuiltIn,
        applied: 1,
        command: &["apply", "p2.json"],
        old: Some(1),
        new: 2,
    },
    Scenario {
        name: "first apply, driver processes",
        drivers: Drivers::Processes,
        applied: 0,
        command: &["apply", "p1.json"],
        old: None,
        new: 1,
    },
    Scenario {
        name: "rollback 2→1, built-in drivers",
        drivers: Drivers::BuiltIn,
        applied: 2,
        command: &["rollback"],
        old: Some(2),
        new: 1,
    },
    Scenario {
        name: "rollback 2→1, driver processes",
        drivers: Drivers::Processes,
        applied: 2,
        command: &["rollback"],
        old: Some(2),
        new: 1,
    },
];

/// Every fault point the command reaches, by scope, in order.
fn trace(template: &Path, command: &[&str]) -> BTreeMap<String, Vec<String>> {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(template, dir.path());
    let trace = dir.path().join("trace");
    // (The rollback scenario's traced run fails on purpose: verify fails.)
    run(dir.path(), command, &[("RTT_FAULT_TRACE", trace.display().to_string())]);
    let mut points: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in std::fs::read_to_string(&trace).expect("trace written").lines() {
        let (scope, label) = line.split_once(' ').expect("scope and label");
        points.entry(scope.to_owned()).or_default().push(label.to_owned());
    }
    points
}

struct Case<'a> {
    scenario: &'a Scenario,
    template: &'a Path,
    hashes: [Sha256; 3],
    scope: String,
    nth: usize,
    label: String,
}

/// What a case ended with.
struct Ending {
    kills: usize,
    new_in_force: bool,
}

/// Runs one case: the kills that fired and which plan ended in force.
fn crash_and_recover(case: &Case<'_>, index: usize) -> Ending {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    copy_tree(case.template, root);
    let what = format!("{} — kill {} at point {} ({})", case.scenario.name, case.scope, case.nth, case.label);
    let fired = root.join("fired");
    let env = [("RTT_FAULT", format!("{}@{}", case.scope, case.nth)), ("RTT_FAULT_ONCE", fired.display().to_string())];
    run(root, case.scenario.command, &env);
    assert!(fired.exists(), "{what}: the fault point was not reached");
    let mut kills = 1;
    // Every other case also kills the recovery, at one of its steps.
    if index.is_multiple_of(2) {
        let fired_again = root.join("fired-again");
        let env = [
            ("RTT_FAULT", format!("coordinator@{}", 1 + index % 7)),
            ("RTT_FAULT_ONCE", fired_again.display().to_string()),
        ];
        run(root, &["recover"], &env);
        kills += usize::from(fired_again.exists());
    }
    let recovered = run(root, &["recover"], &[]);
    // The liar fails verify once; a recovery that finishes its commit then
    // rolls back and says so (exit 1). A second recovery has nothing to do.
    let verify_failed =
        case.scenario.drivers == Drivers::WithLiar && support::stderr(&recovered).contains("verify_failed");
    assert!(recovered.status.success() || verify_failed, "{what}: recover failed:\n{}", support::stderr(&recovered));
    if verify_failed {
        let again = ok(root, &["recover"]);
        assert!(support::stdout(&again).contains("nothing to recover"), "{what}: second recovery had work");
    }

    let holding = held(root);
    let old = expected(case.scenario.old);
    let new = expected(Some(case.scenario.new));
    assert!(holding == old || holding == new, "{what}: MIXED STATE\nheld {holding:#?}\nold {old:#?}\nnew {new:#?}");
    let in_force = if holding == new { Some(case.scenario.new) } else { case.scenario.old };
    let applied = std::fs::read_to_string(root.join(".rtt/state/applied.json")).ok();
    match in_force {
        Some(serial) => {
            let hash = case.hashes[serial as usize - 1].to_string();
            assert!(
                applied.as_deref().is_some_and(|a| a.contains(&hash)),
                "{what}: applied.json {applied:?} does not name {hash}"
            );
        }
        None => assert!(applied.is_none(), "{what}: applied.json {applied:?} though nothing is in force"),
    }
    assert!(staged_files(root).is_empty(), "{what}: staged files left: {:?}", staged_files(root));
    let status = ok(root, &["status", "--format", "json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status json");
    assert_eq!(status["in_doubt"], serde_json::json!([]), "{what}: in doubt after recovery");
    assert_eq!(status["rollback_pending"], serde_json::Value::Null, "{what}");
    ok(root, &["wal", "verify"]);
    // Now and then: the workspace still moves forward.
    if index.is_multiple_of(4) {
        if case.scenario.drivers == Drivers::WithLiar {
            std::fs::write(root.join("hosts/d3/.lied"), "").expect("no more lies");
        }
        ok(root, &["apply", "p3.json"]);
        assert_eq!(held(root), expected(Some(3)), "{what}: apply after recovery");
    }
    Ending { kills, new_in_force: in_force == Some(case.scenario.new) }
}

#[test]
fn every_crash_point_recovers_to_wholly_old_or_wholly_new_placements() {
    let mut templates = Vec::new();
    for scenario in &SCENARIOS {
        let (dir, hashes) = template(scenario.drivers, scenario.applied);
        let points = trace(dir.path(), scenario.command);
        templates.push((dir, hashes, points));
    }
    let mut cases = Vec::new();
    for (scenario, (dir, hashes, points)) in SCENARIOS.iter().zip(&templates) {
        for (scope, labels) in points {
            for (i, label) in labels.iter().enumerate() {
                cases.push(Case {
                    scenario,
                    template: dir.path(),
                    hashes: *hashes,
                    scope: scope.clone(),
                    nth: i + 1,
                    label: label.clone(),
                });
            }
        }
    }
    let next = AtomicUsize::new(0);
    let kills = AtomicUsize::new(0);
    let ended_new = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(case) = cases.get(index) else { break };
                    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| crash_and_recover(case, index))) {
                        Ok(ending) => {
                            kills.fetch_add(ending.kills, Ordering::Relaxed);
                            ended_new.fetch_add(usize::from(ending.new_in_force), Ordering::Relaxed);
                        }
                        Err(panic) => {
                            let message = panic
                                .downcast_ref::<String>()
                                .cloned()
                                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                                .unwrap_or_default();
                            failures.lock().expect("lock").push(message);
                        }
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().expect("lock");
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n\n"));
    let kills = kills.into_inner();
    let ended_new = ended_new.into_inner();
    eprintln!(
        "crash matrix: {} cases, {kills} injected SIGKILLs, 0 mixed states ({ended_new} ended on the new plan, {} on the old)",
        cases.len(),
        cases.len() - ended_new
    );
    // Both outcomes must occur, or the matrix is not reaching both sides of the decision.
    assert!(ended_new > 0 && ended_new < cases.len(), "{ended_new} of {} cases ended on the new plan", cases.len());
    assert!(kills >= 200, "only {kills} crashes injected; the matrix must inject at least 200");
}
