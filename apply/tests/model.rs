//! The Promela models of apply, checked with spin. `apply/model/two_phase.pml`
//! exhaustively for 1, 2 and 3 drivers: atomicity, no lost commit,
//! a failed verify always rolled back, nothing left prepared, a finished WAL
//! (assertions and valid end states), and termination (the `terminates` LTL
//! claim), with verify- and gate-triggered rollbacks and breakers in the
//! model; `apply/model/leader_change.pml`: leader change with fencing (the
//! HA design), one controller per epoch, no mixed state, a truthful WAL.
//! Seven seeded bugs must be found, so a model that checks nothing cannot
//! pass.
//!
//! Needs `spin` and a C compiler (`scripts/setup` installs the Debian
//! package `spin`); their absence fails the test, it is not skipped.

use std::path::{Path, PathBuf};
use std::process::Command;

fn model(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("model").join(name)
}

/// Generates, compiles and runs the verifier of two_phase.pml; returns pan's output.
fn verify(defines: &[&str], liveness: bool) -> String {
    verify_model("two_phase.pml", defines, liveness)
}

/// The same for any model under apply/model/.
fn verify_model(name: &str, defines: &[&str], liveness: bool) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join(name);
    std::fs::copy(model(name), &source).expect("copy the model");
    let spin = Command::new("spin")
        .args(defines)
        .args(["-a", name])
        .current_dir(dir.path())
        .output()
        .expect("spin runs (install it with scripts/setup: Debian package `spin`)");
    assert!(spin.status.success(), "spin -a failed: {}", String::from_utf8_lossy(&spin.stderr));
    let mut cc = Command::new("cc");
    cc.args(["-O0", "-w", "-o", "pan", "pan.c"]).current_dir(dir.path());
    if !liveness {
        cc.args(["-DSAFETY", "-DNOCLAIM"]);
    }
    let compiled = cc.output().expect("a C compiler runs");
    assert!(compiled.status.success(), "cc failed: {}", String::from_utf8_lossy(&compiled.stderr));
    let mut pan = Command::new(dir.path().join("pan"));
    pan.arg("-m1000000").current_dir(dir.path());
    if liveness {
        pan.args(["-a", "-N", "terminates"]);
    }
    let run = pan.output().expect("pan runs");
    String::from_utf8_lossy(&run.stdout).into_owned()
}

fn errors(output: &str) -> usize {
    output
        .lines()
        .find_map(|l| l.split("errors: ").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no error count in pan's output:\n{output}"))
}

fn states(output: &str) -> u64 {
    output
        .lines()
        .find(|l| l.contains("states, stored"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn the_protocol_keeps_every_invariant_for_up_to_three_drivers_with_crashes_anywhere() {
    for n in 1..=3 {
        let define = format!("-DN={n}");
        let safety = verify(&[&define], false);
        assert_eq!(errors(&safety), 0, "N={n}: safety violated:\n{safety}");
        assert!(!safety.contains("search depth too small"), "N={n}: search was truncated:\n{safety}");
        assert!(states(&safety) > 1000, "N={n}: suspiciously few states:\n{safety}");
        let liveness = verify(&[&define], true);
        assert_eq!(errors(&liveness), 0, "N={n}: recovery does not always terminate:\n{liveness}");
    }
}

#[test]
fn without_fencing_the_model_finds_a_mixed_state() {
    let output = verify(&["-DNOFENCE"], false);
    assert!(errors(&output) > 0 && output.contains("assertion violated"), "{output}");
}

#[test]
fn reading_the_decision_before_fencing_is_found_to_mix_plans() {
    let output = verify(&["-DREAD_BEFORE_FENCE"], false);
    assert!(errors(&output) > 0 && output.contains("assertion violated"), "{output}");
}

#[test]
fn a_recovery_that_honours_breakers_is_found_to_leave_drivers_prepared() {
    let output = verify(&["-DRECOVERY_HONOURS_BREAKERS"], false);
    assert!(errors(&output) > 0 && output.contains("assertion violated"), "{output}");
}

#[test]
fn a_recovery_that_ignores_a_logged_breach_is_found_to_skip_the_rollback() {
    let output = verify(&["-DNO_GATE_ROLLBACK_IN_RECOVERY"], false);
    assert!(errors(&output) > 0 && output.contains("wal_gate"), "{output}");
}

#[test]
fn a_recovery_that_ignores_a_failed_verify_is_found_to_skip_the_rollback() {
    let output = verify(&["-DNO_ROLLBACK_IN_RECOVERY"], false);
    assert!(errors(&output) > 0 && output.contains("wal_begin[1]"), "{output}");
}

#[test]
fn leader_change_with_fencing_keeps_one_controller_per_epoch_and_no_mixed_state() {
    // apply/model/leader_change.pml: the HA protocol (docs/ha.md).
    let output = verify_model("leader_change.pml", &[], false);
    assert_eq!(errors(&output), 0, "leader change violated an invariant:\n{output}");
    assert!(!output.contains("search depth too small"), "search was truncated:\n{output}");
    assert!(states(&output) > 1000, "suspiciously few states:\n{output}");
}

#[test]
fn unguarded_wal_writes_let_a_deposed_leader_contradict_the_log() {
    let output = verify_model("leader_change.pml", &["-DUNGUARDED_WAL"], false);
    assert!(errors(&output) > 0 && output.contains("wal_decision"), "{output}");
}

#[test]
fn epochs_not_derived_from_leadership_let_two_leaders_share_one() {
    let output = verify_model("leader_change.pml", &["-DLOCAL_EPOCH"], false);
    assert!(errors(&output) > 0 && output.contains("accepted_by"), "{output}");
}
