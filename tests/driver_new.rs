//! `rtt driver new` in every language: the generated driver builds, answers
//! the shared protocol-1 vectors (`sdk/vectors`) as a process, exactly as the
//! SDK it carries does in its own tests, and passes `rtt driver test` in the
//! sandbox `rtt apply` gives it.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

mod support;

#[path = "../sdk/vectors/runner.rs"]
mod runner;

const MAX_LINE: usize = 1 << 20;

/// Runs every vector against `./driver` in `dir`, one process per segment,
/// with a fresh root per vector.
fn run_vectors(dir: &Path) -> Result<(), String> {
    for vector in runner::load(&support::repo().join("sdk/vectors"), MAX_LINE) {
        let root = tempfile::tempdir().expect("tempdir");
        for (index, segment) in vector.segments.iter().enumerate() {
            let mut child = Command::new(dir.join("driver"))
                .current_dir(dir)
                .env("RTT_DRIVER_ROOT", root.path())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("{}: cannot start: {e}", dir.display()))?;
            let mut stdin = child.stdin.take().expect("stdin");
            let input = segment.input.clone();
            // A driver that stops at an oversized line closes its stdin early.
            let writer = std::thread::spawn(move || {
                let _ = stdin.write_all(&input);
            });
            let mut output = Vec::new();
            child.stdout.take().expect("stdout").read_to_end(&mut output).expect("reads");
            let mut stderr = String::new();
            child.stderr.take().expect("stderr").read_to_string(&mut stderr).expect("reads");
            let status = child.wait().expect("waits");
            writer.join().expect("writer");
            let name = vector.file.display();
            if status.success() == segment.oversized {
                return Err(format!(
                    "{name}: segment {index}: exit {status} (oversized line: {})\n{stderr}",
                    segment.oversized
                ));
            }
            runner::judge(&vector.file, index, segment, &output).map_err(|why| format!("{why}\n{stderr}"))?;
        }
    }
    Ok(())
}

fn generate_build_and_check(lang: &str) -> Result<(), String> {
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path().join("vectors");
    let output = support::rtt_in(work.path(), &["driver", "new", "--lang", lang, "vectors"]);
    if !output.status.success() {
        return Err(format!("driver new failed: {}", support::stderr(&output)));
    }
    let printed = support::stdout(&output);
    if dir.join("build").exists() {
        let built = Command::new(dir.join("build")).current_dir(&dir).output().expect("build runs");
        if !built.status.success() {
            return Err(format!("./build failed:\n{}{}", support::stdout(&built), support::stderr(&built)));
        }
    }
    run_vectors(&dir)?;
    // The command `rtt driver new` printed, as printed.
    let test_line = printed.lines().last().unwrap_or_default().trim().to_owned();
    let args: Vec<&str> = test_line.split_whitespace().skip(1).collect();
    if args.first() != Some(&"driver") {
        return Err(format!("no test command printed: {printed}"));
    }
    let tested = support::rtt_in(&dir, &args);
    let out = support::stdout(&tested);
    if !tested.status.success() || out.lines().filter(|l| l.starts_with("ok ")).count() != 14 {
        return Err(format!("`{test_line}` failed:\n{out}{}", support::stderr(&tested)));
    }
    Ok(())
}

/// All languages, two at a time (the machine has two cores; compilers run).
#[test]
fn every_language_generates_a_driver_that_answers_the_vectors_and_passes_the_harness() {
    let output = support::rtt(&["driver", "new", "--help"]);
    let help = support::stdout(&output);
    let languages: Vec<String> = help
        .split("possible values: ")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .expect("--lang lists its values")
        .split(',')
        .map(|word| word.trim().to_owned())
        .collect();
    assert!(languages.len() >= 6, "{languages:?}");
    let failures: Vec<String> = languages
        .chunks(2)
        .flat_map(|pair| {
            std::thread::scope(|scope| {
                let handles: Vec<_> =
                    pair.iter().map(|lang| (lang, scope.spawn(move || generate_build_and_check(lang)))).collect();
                handles
                    .into_iter()
                    .filter_map(|(lang, h)| h.join().expect("no panic").err().map(|e| format!("{lang}: {e}")))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn driver_new_refuses_a_bad_name_an_unknown_language_and_an_occupied_directory() {
    let work = tempfile::tempdir().expect("tempdir");
    let bad = support::rtt_in(work.path(), &["driver", "new", "--lang", "python", "Bad_Name"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(support::stderr(&bad).contains("lowercase letters"), "{}", support::stderr(&bad));
    let unknown = support::rtt_in(work.path(), &["driver", "new", "--lang", "cobol", "x"]);
    assert_eq!(unknown.status.code(), Some(1));
    std::fs::create_dir(work.path().join("taken")).expect("mkdir");
    std::fs::write(work.path().join("taken/keep.txt"), "mine").expect("write");
    let taken = support::rtt_in(work.path(), &["driver", "new", "--lang", "python", "taken"]);
    assert_eq!(taken.status.code(), Some(1));
    assert!(support::stderr(&taken).contains("not empty"), "{}", support::stderr(&taken));
    assert_eq!(std::fs::read_to_string(work.path().join("taken/keep.txt")).expect("kept"), "mine");
    assert_eq!(std::fs::read_dir(work.path().join("taken")).expect("dir").count(), 1);
}
