//! `rtt diff` end to end: golden output of every format on plans of the
//! examples (checked in under tests/data/diff, made by `rtt plan`), and the
//! exit codes a CI job gates on.

mod support;

use std::path::PathBuf;

use support::{repo, rtt, stderr, stdout};

const DATA: &str = "tests/data/diff";

/// `(old plan, new plan, snapshot stem, extra args)`: the quickstart before
/// and after `quickstart-pr.yaml`'s edits, and the fleet before and after a drain.
const CASES: [(&str, &str, &str, &[&str]); 3] = [
    ("quickstart-old.json", "quickstart-new.json", "quickstart", &[]),
    (
        "quickstart-old.json",
        "quickstart-new.json",
        "quickstart-rescored",
        &["--config", "tests/data/diff/quickstart-pr.yaml"],
    ),
    ("fleet-old.json", "fleet-new.json", "fleet", &[]),
];

fn path(name: &str) -> String {
    format!("{DATA}/{name}")
}

#[test]
fn every_format_matches_its_snapshot() {
    for (old, new, stem, extra) in CASES {
        for (format, extension) in [("text", "txt"), ("markdown", "md"), ("json", "json")] {
            let (old_path, new_path) = (path(old), path(new));
            let mut args = vec!["diff", &old_path, &new_path, "--format", format];
            args.extend_from_slice(extra);
            let output = rtt(&args);
            assert!(output.status.success(), "{args:?}: {}", stderr(&output));
            let snapshot = repo().join(DATA).join(format!("{stem}.diff.{extension}"));
            support::check_snapshot(&snapshot, &stdout(&output)).unwrap();
        }
    }
}

#[test]
fn json_output_is_the_documented_schema() {
    let output = rtt(&["diff", &path("quickstart-old.json"), &path("quickstart-new.json"), "--format", "json"]);
    let diff: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(diff["kind"], "rtt.diff");
    assert_eq!(diff["version"], 1);
    let moved: u64 = diff["moves"].as_array().unwrap().iter().map(|m| m["replicas"].as_u64().unwrap()).sum();
    let new_plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo().join(path("quickstart-new.json"))).unwrap()).unwrap();
    assert_eq!(moved, new_plan["objective"]["moves"].as_u64().unwrap(), "paired moves are the plan's moves");
}

#[test]
fn exit_codes_gate_ci() {
    let (old, new) = (path("quickstart-old.json"), path("quickstart-new.json"));
    let code = |args: &[&str]| rtt(args).status.code();
    // Same plan: 0, with or without --exit-code.
    assert_eq!(code(&["diff", &old, &old, "--exit-code"]), Some(0));
    // Different plans: 0 unless --exit-code asks for 2.
    assert_eq!(code(&["diff", &old, &new]), Some(0));
    assert_eq!(code(&["diff", &old, &new, "--exit-code"]), Some(2));
    // gateway → search grows by 593 %: a 10 % gate fails with 1 and names it; a 600 % gate passes.
    let gated = rtt(&["diff", &old, &new, "--exit-code", "--fail-on-regression", "10"]);
    assert_eq!(gated.status.code(), Some(1));
    assert!(stderr(&gated).contains("gateway@1 → search@1 (+593.1%)"), "{}", stderr(&gated));
    assert!(stdout(&gated).contains("gateway@1 → search@1"), "the diff is still shown");
    assert_eq!(code(&["diff", &old, &new, "--exit-code", "--fail-on-regression", "600"]), Some(2));
    assert_eq!(code(&["diff", &old, &new, "--fail-on-regression", "600"]), Some(0));
    // Backwards, gateway → search gets faster and search → ranker slower by 243.75 %.
    assert_eq!(code(&["diff", &new, &old, "--fail-on-regression", "250"]), Some(0));
    assert_eq!(code(&["diff", &new, &old, "--fail-on-regression", "240"]), Some(1));
    // Errors: 1.
    assert_eq!(code(&["diff", &old, "no-such-plan.json"]), Some(1));
    assert_eq!(code(&["diff", &old, &new, "--fail-on-regression", "-3"]), Some(1));
    assert_eq!(code(&["diff", &old, &path("fleet-new.json"), "--config", "examples/quickstart/rtt.yaml"]), Some(1));
}

#[test]
fn a_plan_with_reordered_keys_and_whitespace_is_no_change() {
    let original = std::fs::read_to_string(repo().join(path("quickstart-new.json"))).unwrap();
    let value: serde_json::Value = serde_json::from_str(&original).unwrap();
    // serde_json sorts keys; write them reversed by hand, pretty-printed.
    fn reversed(value: &serde_json::Value, indent: usize) -> String {
        let pad = " ".repeat(indent + 2);
        match value {
            serde_json::Value::Object(map) => {
                let fields: Vec<String> = map
                    .iter()
                    .rev()
                    .map(|(k, v)| format!("{pad}{}: {}", serde_json::Value::from(k.as_str()), reversed(v, indent + 2)))
                    .collect();
                format!("{{\n{}\n{}}}", fields.join(",\n"), " ".repeat(indent))
            }
            serde_json::Value::Array(items) => {
                format!("[{}]", items.iter().map(|i| reversed(i, indent)).collect::<Vec<_>>().join(", "))
            }
            other => other.to_string(),
        }
    }
    let dir = std::env::temp_dir().join(format!("rtt-diff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy: PathBuf = dir.join("reordered.json");
    std::fs::write(&copy, reversed(&value, 0)).unwrap();
    assert_ne!(std::fs::read_to_string(&copy).unwrap(), original);
    let output = rtt(&["diff", &path("quickstart-new.json"), copy.to_str().unwrap(), "--exit-code"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).contains("no changes"));
}
