//! Each driver SDK's own test suite, run by its own language's test runner
//! (`sdk/<lang>/`): every one answers the shared vectors (`sdk/vectors`) in
//! process. The Rust SDK's suite is a workspace member's and runs with
//! `cargo test`; generated drivers are `tests/driver_new.rs`. Toolchains come
//! from scripts/setup.

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

#[test]
fn the_java_sdk_passes_its_tests() {
    // The JDK alone: javac, then the vector runner (no build tool, nothing fetched).
    let scratch = tempfile::tempdir().expect("tempdir");
    let dir = support::repo().join("sdk/java");
    let mut sources = Vec::new();
    let mut stack = vec![dir.join("src")];
    while let Some(next) = stack.pop() {
        for entry in std::fs::read_dir(&next).expect("sources").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "java") {
                sources.push(path.display().to_string());
            }
        }
    }
    let out = scratch.path().display().to_string();
    let mut javac = vec!["-Xlint:all", "-Werror", "-d", out.as_str()];
    javac.extend(sources.iter().map(String::as_str));
    run("java", "javac", &javac);
    run("java", "java", &["-cp", &out, "rtt.driver.VectorsTest", "../vectors"]);
}

#[test]
fn the_c_sdk_passes_its_tests_as_c_and_its_header_compiles_as_cpp() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let runner = scratch.path().join("vectors");
    let runner = runner.to_str().expect("UTF-8 path");
    // Sanitisers catch what the vectors alone would not: leaks of a refusal, reads past a buffer.
    run(
        "c",
        "cc",
        &[
            "-std=c99",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-g",
            "-fsanitize=address,undefined",
            "-o",
            runner,
            "tests/vectors.c",
        ],
    );
    run("c", runner, &["../vectors"]);
    let header_as_cpp = scratch.path().join("header.o");
    run(
        "c",
        "c++",
        &[
            "-std=c++17",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-x",
            "c++",
            "-c",
            "-o",
            header_as_cpp.to_str().expect("UTF-8"),
            "rtt_driver.h",
        ],
    );
}
