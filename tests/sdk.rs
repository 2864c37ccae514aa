//! Each driver SDK's own test suite, run by its own language's test runner
//! (`sdk/<lang>/`): every one answers the shared vectors (`sdk/vectors`) in
//! process. The Rust SDK's suite is a workspace member's and runs with
//! `cargo test`; generated drivers are `tests/driver_new.rs`.

use std::process::Command;

mod support;

fn run(lang: &str, program: &str, args: &[&str]) {
    let dir = support::repo().join("sdk").join(lang);
    let output = Command::new(program)
        .args(args)
        .current_dir(&dir)
        // Go's build cache is per user; the module needs nothing fetched.
        .env("GOFLAGS", "-mod=mod")
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    assert!(
        output.status.success(),
        "the {lang} SDK's tests failed:\n{}{}",
        support::stdout(&output),
        support::stderr(&output)
    );
}

#[test]
fn the_python_sdk_passes_its_tests() {
    run("python", &support::python(), &["-m", "unittest", "discover", "-s", "tests", "-v"]);
}

#[test]
fn the_go_sdk_passes_its_tests() {
    run("go", "go", &["test", "-count=1", "./..."]);
}

#[test]
fn the_node_sdk_passes_its_tests() {
    run("node", "node", &["--test", "test/"]);
}
