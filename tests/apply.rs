//! `rtt apply`, `recover`, `rollback`, `status`, `wal verify` and
//! `driver test` end to end, through the real binary: plans are verified
//! before anything is touched, the WAL catches tampering, and every example
//! driver passes the conformance harness.

mod apply_workspace;
mod support;

use std::path::Path;

use apply_workspace::{Drivers, HOSTS, copy_tree, ok, run, template};

fn code_of(output: &std::process::Output) -> Option<i32> {
    output.status.code()
}

#[test]
fn every_example_driver_and_the_built_in_one_pass_the_conformance_harness() {
    let repo = support::repo();
    let rtt = env!("CARGO_BIN_EXE_rtt").to_owned();
    // Each in the sandbox `rtt apply` gives it: the bash driver runs
    // programs (mv, sync, …), so it needs `exec`; the others need nothing.
    let drivers: Vec<(&str, Vec<String>, &[&str])> = vec![
        ("python", vec![repo.join("examples/drivers/python/driver").display().to_string()], &[]),
        ("node", vec![repo.join("examples/drivers/node/driver").display().to_string()], &[]),
        ("bash", vec![repo.join("examples/drivers/bash/driver").display().to_string()], &["--grant", "exec"]),
        ("built-in dir", vec![rtt.clone(), "driver".into(), "dir".into()], &[]),
    ];
    std::thread::scope(|scope| {
        for (name, command, grants) in &drivers {
            let rtt = &rtt;
            scope.spawn(move || {
                let state = tempfile::tempdir().expect("tempdir");
                let root = state.path().display().to_string();
                let mut args = vec!["driver".to_owned(), "test".to_owned(), "--root".to_owned(), root.clone()];
                args.extend(grants.iter().map(|g| (*g).to_owned()));
                args.push("--".to_owned());
                args.extend(command.iter().cloned());
                if *name == "built-in dir" {
                    args.extend(["--root".to_owned(), root]);
                }
                let output = std::process::Command::new(rtt).args(&args).output().expect("rtt runs");
                let out = support::stdout(&output);
                assert!(
                    output.status.success(),
                    "{name} driver failed conformance:\n{out}{}",
                    support::stderr(&output)
                );
                assert_eq!(out.lines().filter(|l| l.starts_with("ok ")).count(), 14, "{name}: {out}");
            });
        }
    });
}

/// The misbehaving driver loads the Python example driver: its sandbox must let it read it.
fn example_driver_grant() -> String {
    format!("fs.read:{}", support::repo().join("examples/drivers/python").display())
}

#[test]
fn the_harness_fails_a_driver_that_writes_garbage() {
    let state = tempfile::tempdir().expect("tempdir");
    let script = support::repo().join("apply/tests/drivers/misbehaving");
    let root = state.path().display().to_string();
    let output = support::rtt(&[
        "driver",
        "test",
        "--timeout-ms",
        "2000",
        "--root",
        &root,
        "--grant",
        &example_driver_grant(),
        "--",
        &support::python(),
        script.to_str().expect("utf-8"),
        "garbage",
        "--root",
        &root,
    ]);
    assert_eq!(code_of(&output), Some(1));
    let out = support::stdout(&output);
    assert!(out.contains("FAIL  Open with a newer epoch succeeds"), "{out}");
    assert!(out.contains("not a protocol-1 response"), "{out}");
    assert!(support::stderr(&output).contains("failed 11 of 14 conformance checks"), "{}", support::stderr(&output));
}

#[test]
fn an_unsigned_plan_is_refused_before_anything_is_touched() {
    let (dir, _) = template(Drivers::BuiltIn, 0);
    let root = dir.path();
    let mut plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("p1.json")).expect("plan")).expect("json");
    plan["signatures"] = serde_json::json!([]);
    let unsigned = rtt_canonical::to_canonical_vec(&plan).expect("canonical");
    std::fs::write(root.join("unsigned.json"), [unsigned, b"\n".to_vec()].concat()).expect("write");
    let output = run(root, &["apply", "unsigned.json"], &[]);
    assert_eq!(code_of(&output), Some(1), "{}", support::stderr(&output));
    assert!(support::stderr(&output).contains("plan rejected"), "{}", support::stderr(&output));
    assert!(!root.join(".rtt/wal").exists(), "nothing logged");
    assert!(!root.join("hosts").exists(), "no driver touched");
    assert!(!root.join(".rtt/state/applied.json").exists());
}

#[test]
fn applying_the_plan_in_force_again_is_nothing_to_do() {
    let (dir, hashes) = template(Drivers::BuiltIn, 0);
    let root = dir.path();
    ok(root, &["apply", "p1.json"]);
    let wal_bytes = || -> u64 {
        std::fs::read_dir(root.join(".rtt/wal"))
            .expect("wal")
            .map(|e| e.expect("entry").metadata().expect("meta").len())
            .sum()
    };
    let wal_before = wal_bytes();
    let again = ok(root, &["apply", "p1.json"]);
    let out = support::stdout(&again);
    assert!(out.contains(&format!("nothing to do: plan {} (serial 1) is already in force", hashes[0])), "{out}");
    assert_eq!(wal_bytes(), wal_before, "no transaction was logged");
    // An older plan is still refused once a newer one is in force.
    ok(root, &["apply", "p2.json"]);
    let old = run(root, &["apply", "p1.json"], &[]);
    assert_eq!(code_of(&old), Some(1), "{}", support::stderr(&old));
}

#[test]
fn apply_recover_rollback_and_wal_verify_report_as_json() {
    let (dir, _) = template(Drivers::BuiltIn, 0);
    let root = dir.path();
    let json = |args: &[&str]| -> serde_json::Value {
        let output = ok(root, args);
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{args:?}: one JSON document: {e}"))
    };
    let applied = json(&["apply", "p1.json", "--format", "json"]);
    assert_eq!((applied["kind"].as_str(), applied["result"].as_str()), (Some("rtt.apply"), Some("committed")));
    assert!(applied["txn"].is_string() && applied["epoch"].is_u64(), "{applied}");
    let again = json(&["apply", "p1.json", "--format", "json"]);
    assert_eq!(again["result"], "nothing to do", "{again}");
    json(&["apply", "p2.json", "--format", "json"]);
    assert_eq!(json(&["recover", "--format", "json"])["result"], "nothing to do");
    let back = json(&["rollback", "--format", "json"]);
    assert_eq!((back["action"].as_str(), back["result"].as_str()), (Some("rollback"), Some("committed")));
    let wal = json(&["wal", "verify", "--format", "json"]);
    assert_eq!((wal["kind"].as_str(), wal["ok"].as_bool()), (Some("rtt.wal.verify"), Some(true)));
    assert!(wal["records"].as_u64().is_some_and(|n| n > 0), "{wal}");
}

#[test]
fn apply_status_rollback_and_an_old_serial_refused() {
    let (dir, hashes) = template(Drivers::BuiltIn, 0);
    let root = dir.path();
    let applied = ok(root, &["apply", "p1.json"]);
    assert!(support::stdout(&applied).contains("committed and verified"), "{}", support::stdout(&applied));
    ok(root, &["apply", "p2.json"]);
    let status = support::stdout(&ok(root, &["status"]));
    assert!(status.contains(&format!("applied   {} serial 2", hashes[1])), "{status}");
    assert!(status.contains("in doubt  none"), "{status}");
    assert!(status.contains("breaker   d1: closed"), "{status}");
    assert!(status.contains("prepare"), "phase percentiles shown: {status}");
    let again = run(root, &["apply", "p1.json"], &[]);
    assert_eq!(code_of(&again), Some(1));
    assert!(support::stderr(&again).contains("rollback protection"), "{}", support::stderr(&again));
    ok(root, &["rollback"]);
    let json: serde_json::Value =
        serde_json::from_slice(&ok(root, &["status", "--format", "json"]).stdout).expect("json status");
    assert_eq!(json["applied"]["plan"], serde_json::json!(hashes[0].to_string()));
    assert_eq!(json["applied"]["highest_serial"], serde_json::json!(2));
    let held = std::fs::read_to_string(root.join("hosts/d1/h1/placements.json")).expect("h1");
    assert!(held.contains(&hashes[0].to_string()), "h1 back on plan 1: {held}");
    let none = run(root, &["rollback"], &[]);
    assert_eq!(code_of(&none), Some(1), "plan 1 was not planned from a previous plan");
}

#[test]
fn fifty_concurrent_applies_of_one_plan_have_exactly_one_coordinator() {
    let (dir, hashes) = template(Drivers::Processes, 0);
    let root = dir.path();
    // All fifty are started before any is waited for; each is an
    // independent `rtt apply` racing for the lock.
    let children: Vec<_> = (0..50)
        .map(|_| {
            std::process::Command::new(apply_workspace::rtt_bin())
                .args(["apply", "p1.json", "--format", "json"])
                .current_dir(root)
                .env_remove("RTT_FAULT")
                .env_remove("RTT_FAULT_ONCE")
                .env_remove("RTT_FAULT_TRACE")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("rtt apply starts")
        })
        .collect();
    let (mut committed, mut nothing, mut locked) = (0, 0, 0);
    for child in children {
        let output = child.wait_with_output().expect("rtt apply ends");
        let (out, err) = (support::stdout(&output), support::stderr(&output));
        match code_of(&output) {
            Some(0) => {
                let json: serde_json::Value = serde_json::from_str(&out).expect("one JSON report");
                match json["result"].as_str() {
                    Some("committed") => committed += 1,
                    Some("nothing to do") => nothing += 1,
                    other => panic!("unexpected result {other:?}: {out}{err}"),
                }
            }
            Some(1) if err.contains("locked") => locked += 1,
            code => panic!("exit {code:?}: {out}{err}"),
        }
    }
    assert_eq!(committed, 1, "exactly one coordinated ({nothing} found nothing to do, {locked} were locked out)");
    assert_eq!(nothing + locked, 49);
    eprintln!("50 concurrent applies: 1 committed, {nothing} nothing to do, {locked} locked");
    let wal = std::fs::read_to_string(root.join(".rtt/wal/wal.jsonl")).expect("wal");
    assert_eq!(wal.lines().count(), 3, "one transaction logged: {wal}");
    ok(root, &["wal", "verify"]);
    let status = support::stdout(&ok(root, &["status"]));
    assert!(status.contains(&format!("applied   {} serial 1", hashes[0])), "{status}");
    assert!(status.contains("in doubt  none"), "{status}");
}

/// A workspace with three plans applied (nine WAL records), and its WAL lines.
fn applied_three() -> (tempfile::TempDir, Vec<String>) {
    let (dir, _) = template(Drivers::BuiltIn, 3);
    let text = std::fs::read_to_string(dir.path().join(".rtt/wal/wal.jsonl")).expect("wal");
    let lines = text.lines().map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(lines.len(), 9);
    (dir, lines)
}

fn tampered(dir: &Path, lines: &[String]) -> tempfile::TempDir {
    let copy = tempfile::tempdir().expect("tempdir");
    copy_tree(dir, copy.path());
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(copy.path().join(".rtt/wal/wal.jsonl"), text).expect("write wal");
    copy
}

fn wal_verify_fails_with(dir: &Path, code: &str) {
    let output = run(dir, &["wal", "verify"], &[]);
    assert_eq!(code_of(&output), Some(1), "{}", support::stdout(&output));
    assert!(support::stderr(&output).contains(code), "expected {code}:\n{}", support::stderr(&output));
    // The coordinator (recover, and apply after verifying its plan) and
    // status refuse a damaged log too (fail closed).
    let apply = run(dir, &["recover"], &[]);
    assert_eq!(code_of(&apply), Some(1));
    assert!(support::stderr(&apply).contains(code), "{}", support::stderr(&apply));
    assert_eq!(code_of(&run(dir, &["status"], &[])), Some(1));
}

#[test]
fn wal_verify_passes_an_intact_log_and_tolerates_a_torn_last_record() {
    let (dir, lines) = applied_three();
    let out = support::stdout(&ok(dir.path(), &["wal", "verify"]));
    assert!(out.contains("WAL intact: 9 records, 3 transactions, anchored at seq 9"), "{out}");
    let torn = tampered(dir.path(), &lines);
    let wal = torn.path().join(".rtt/wal/wal.jsonl");
    let mut bytes = std::fs::read(&wal).expect("wal");
    bytes.extend_from_slice(&lines[0].as_bytes()[..40]);
    std::fs::write(&wal, bytes).expect("torn write");
    let out = support::stdout(&ok(torn.path(), &["wal", "verify"]));
    assert!(out.contains("torn last record (40 bytes) tolerated"), "{out}");
}

#[test]
fn an_edited_record_is_detected() {
    let (dir, mut lines) = applied_three();
    lines[4] = lines[4].replace("\"commit\"", "\"abort\"");
    wal_verify_fails_with(tampered(dir.path(), &lines).path(), "rtt::wal::edited");
}

#[test]
fn a_dropped_record_is_detected() {
    let (dir, mut lines) = applied_three();
    lines.remove(3);
    wal_verify_fails_with(tampered(dir.path(), &lines).path(), "rtt::wal::gap");
}

#[test]
fn reordered_records_are_detected() {
    let (dir, mut lines) = applied_three();
    lines.swap(4, 5);
    wal_verify_fails_with(tampered(dir.path(), &lines).path(), "rtt::wal::gap");
}

#[test]
fn records_cut_from_the_end_are_detected_by_the_anchor() {
    let (dir, mut lines) = applied_three();
    lines.truncate(6);
    wal_verify_fails_with(tampered(dir.path(), &lines).path(), "rtt::wal::truncated");
}

#[test]
fn a_rehashed_forgery_is_caught_by_the_anchor() {
    // Rewriting the last record and re-sealing it (a valid chain) still
    // differs from what was anchored.
    let (dir, lines) = applied_three();
    let mut last: serde_json::Value = serde_json::from_str(&lines[8]).expect("json");
    last["detail"] = serde_json::json!("forged");
    last.as_object_mut().expect("object").remove("hash");
    let hash = rtt_canonical::canonical_hash(&last).expect("hash");
    last["hash"] = serde_json::json!(hash.to_string());
    let mut forged = lines.clone();
    forged[8] = serde_json::to_string(&last).expect("encode");
    wal_verify_fails_with(tampered(dir.path(), &forged).path(), "rtt::wal::rewritten");
    assert_eq!(HOSTS.len(), 6);
}

#[test]
fn the_harness_reports_every_driver_fault_at_every_method_as_a_failed_check() {
    const FAULTS: [&str; 8] = ["hang", "crash", "garbage", "huge", "partial", "wrong-id", "stale-id", "stderr-flood"];
    const POINTS: [&str; 8] = ["Probe", "Open", "prepare", "commit", "abort", "Rx", "Health", "Close"];
    let script = support::repo().join("apply/tests/drivers/misbehaving");
    let cases: Vec<(&str, &str)> = FAULTS.iter().flat_map(|f| POINTS.iter().map(move |p| (*f, *p))).collect();
    let results: Vec<(String, Option<i32>, String)> = std::thread::scope(|scope| {
        cases
            .chunks(cases.len().div_ceil(4))
            .map(|chunk| {
                let script = &script;
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|(fault, point)| {
                            let mode = format!("{fault}@{point}");
                            let state = tempfile::tempdir().expect("tempdir");
                            let root = state.path().display().to_string();
                            let python = support::python();
                            let output = support::rtt(&[
                                "driver",
                                "test",
                                "--timeout-ms",
                                "2000",
                                "--root",
                                &root,
                                "--grant",
                                &example_driver_grant(),
                                "--",
                                &python,
                                script.to_str().expect("utf-8"),
                                &mode,
                                "--root",
                                &root,
                            ]);
                            (mode, code_of(&output), support::stdout(&output) + &support::stderr(&output))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .flat_map(|h| h.join().expect("a case panicked"))
            .collect()
    });
    let mut reported = 0;
    for (mode, code, out) in &results {
        assert!(!out.contains("panicked"), "{mode}: {out}");
        if mode.starts_with("stderr-flood") {
            assert_eq!(*code, Some(0), "{mode}: a stderr flood is only noise:\n{out}");
        } else {
            assert_eq!(*code, Some(1), "{mode}: the fault is a failed check:\n{out}");
            assert!(out.contains("FAIL "), "{mode}: {out}");
            reported += 1;
        }
    }
    eprintln!(
        "driver test: {reported} of {} faulty drivers failed a named check; 8 stderr floods passed",
        results.len()
    );
}

#[test]
fn a_plan_named_by_hash_is_verified_and_applied_only_when_the_file_is_that_plan() {
    let (dir, hashes) = template(Drivers::BuiltIn, 0);
    let root = dir.path();
    let (p1, p2) = (hashes[0].to_string(), hashes[1].to_string());
    // The right hash: accepted, and the report says the hash was checked.
    let verified = ok(root, &["verify", "p1.json", "--hash", &p1]);
    assert!(support::stdout(&verified).contains("hash        the one --hash names"), "{}", support::stdout(&verified));
    // Another plan's hash: refused by `verify` as the `hash` check…
    let wrong = run(root, &["verify", "p1.json", "--hash", &p2, "--format", "json"], &[]);
    assert_eq!(code_of(&wrong), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&wrong.stdout).expect("json");
    assert_eq!((report["accepted"].as_bool(), report["check"].as_str()), (Some(false), Some("hash")), "{report}");
    // …and by `apply` before anything is touched.
    let before = support::snapshot(root);
    let refused = run(root, &["apply", "p1.json", "--hash", &p2], &[]);
    assert_eq!(code_of(&refused), Some(1));
    let err = support::stderr(&refused);
    assert!(err.contains("rtt::verify::hash") && err.contains(&p1) && err.contains(&p2), "{err}");
    assert_eq!(support::snapshot(root), before, "nothing written");
    assert!(!root.join("hosts").exists(), "no driver touched");
    // A malformed hash is refused, naming the form (exit 1, like every usage error).
    let malformed = run(root, &["apply", "p1.json", "--hash", "sha256:xyz"], &[]);
    assert_eq!(code_of(&malformed), Some(1), "{}", support::stderr(&malformed));
    assert!(support::stderr(&malformed).contains("64 lowercase hex digits"), "{}", support::stderr(&malformed));
    let applied = ok(root, &["apply", "p1.json", "--hash", &p1]);
    assert!(support::stdout(&applied).contains("committed and verified"), "{}", support::stdout(&applied));
}
