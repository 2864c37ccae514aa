//! The bundled examples: they validate, their YAML and CUE twins are the same
//! config, and they (and the corpus) agree with `schema/rtt.cue` under `cue vet`.

mod support;

use std::path::Path;
use std::process::Command;

use support::{cue_tool, repo, rtt, stderr, stdout};

const EXAMPLES: &[&str] = &["examples/quickstart", "examples/fleet"];

fn config_hash(file: &str) -> String {
    let output = rtt(&["validate", "--format", "json", file]);
    assert!(output.status.success(), "{file}: {}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    report["config"].as_str().unwrap().to_owned()
}

#[test]
fn yaml_and_cue_twins_are_the_same_config() {
    for example in EXAMPLES {
        let yaml = config_hash(&format!("{example}/rtt.yaml"));
        let cue = config_hash(&format!("{example}/rtt.cue"));
        assert_eq!(yaml, cue, "{example}: rtt.yaml and rtt.cue differ");
    }
}

fn cue_vet(data: &Path) -> std::process::Output {
    Command::new(cue_tool())
        .args(["vet", "schema/rtt.cue"])
        .arg(data)
        .args(["-d", "#Config"])
        .current_dir(repo())
        .output()
        .unwrap()
}

#[test]
fn examples_and_ok_corpus_pass_cue_vet_against_the_cue_schema() {
    let mut files: Vec<_> = EXAMPLES.iter().map(|e| repo().join(e).join("rtt.yaml")).collect();
    for entry in std::fs::read_dir(repo().join("tests/data/config/ok")).unwrap() {
        let path = entry.unwrap().path();
        if matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "json")) {
            files.push(path);
        }
    }
    // The CUE examples are vetted through their export.
    let exported = std::env::temp_dir().join(format!("rtt-vet-{}.json", std::process::id()));
    for example in EXAMPLES {
        let output = Command::new(cue_tool())
            .args(["export", "--out", "json", &format!("{example}/rtt.cue")])
            .current_dir(repo())
            .output()
            .unwrap();
        assert!(output.status.success(), "{example}: {}", stderr(&output));
        std::fs::write(&exported, &output.stdout).unwrap();
        let vet = cue_vet(&exported);
        assert!(vet.status.success(), "{example}/rtt.cue: {}", stderr(&vet));
    }
    for file in files {
        let vet = cue_vet(&file);
        assert!(vet.status.success(), "{}: {}", file.display(), stderr(&vet));
    }
}

#[test]
fn shape_errors_fail_cue_vet_too() {
    for name in [
        "unknown-field",
        "wrong-type",
        "bad-qos",
        "zero-replicas",
        "negative-cpu",
        "malformed-manifest-hash",
        "bad-agent-id",
    ] {
        let vet = cue_vet(&repo().join(format!("tests/data/config/err/{name}.yaml")));
        assert!(!vet.status.success(), "{name} passed cue vet");
    }
}

#[test]
fn fleet_example_uses_every_constraint_kind() {
    let yaml = std::fs::read_to_string(repo().join("examples/fleet/rtt.yaml")).unwrap();
    for needle in [
        "pin:",
        "selector:",
        "spread:",
        "anti_affinity:",
        "colocate:",
        "avoid:",
        "schedulable: false",
        "slo_p99_us:",
        "qos: burstable",
        "qos: best-effort",
        "qos: guaranteed",
        "providers:",
        "drivers:",
        "hosts_driver:",
        "driver: fleet",
        "level: numa",
        "level: host",
        "level: rack",
        "level: zone",
    ] {
        assert!(yaml.contains(needle), "examples/fleet/rtt.yaml does not use {needle}");
    }
    let output = rtt(&["validate", "--format", "json", "examples/fleet/rtt.yaml"]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["hosts"], 36);
    assert_eq!(report["agents"], 40);
}
