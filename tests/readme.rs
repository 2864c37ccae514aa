//! The README's "A first tour" block, run line by line as a newcomer would
//! (the built binary standing in for `cargo run -q --`), in a scratch
//! directory that sees the repository's `examples/` and `tests/`. A line's
//! expected exit code is the `# exit N` in its comment, else 0.

mod support;

use std::process::Command;

#[test]
fn the_first_tour_runs_verbatim() {
    let readme = std::fs::read_to_string(support::repo().join("README.md")).expect("README");
    let tour = readme.split("## A first tour").nth(1).expect("a tour section");
    let block = tour.split("```sh\n").nth(1).and_then(|b| b.split("```").next()).expect("a sh block");
    let dir = tempfile::tempdir().expect("temp dir");
    for name in ["examples", "tests"] {
        std::os::unix::fs::symlink(support::repo().join(name), dir.path().join(name)).expect("symlink");
    }
    let rtt = env!("CARGO_BIN_EXE_rtt");
    let mut ran = 0;
    for line in block.lines().filter(|l| !l.trim().is_empty()) {
        let expected = line
            .split("# exit ")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .map_or(0, |code| code.parse::<i32>().expect("an exit code"));
        let command = line.replace("cargo run -q --", rtt);
        let output = Command::new("bash")
            .args(["-o", "pipefail", "-c", &command])
            .current_dir(dir.path())
            .env("RTT_CUE", support::cue_tool())
            .output()
            .expect("bash runs");
        assert_eq!(
            output.status.code(),
            Some(expected),
            "README tour line `{line}`:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        ran += 1;
    }
    assert!(ran >= 10, "the tour has its commands ({ran})");
    assert!(dir.path().join("man/rtt-plan.1").is_file());
}
