//! The config corpus: every file under tests/data/config/{ok,err} is one test
//! that runs `rtt validate` on it and compares the output with the snapshot
//! beside it (`<file>.stdout` for ok/, `<file>.stderr` for err/).

mod support;

use std::path::{Path, PathBuf};

use libtest_mimic::{Arguments, Failed, Trial};

fn main() {
    let args = Arguments::from_args();
    let mut trials = Vec::new();
    for (kind, expect_ok) in [("ok", true), ("err", false)] {
        for file in corpus_files(kind) {
            let name =
                format!("{kind}::{}", file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
            trials.push(Trial::test(name, move || check(&file, expect_ok)));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}

fn corpus_files(kind: &str) -> Vec<PathBuf> {
    let dir = support::repo().join("tests/data/config").join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus directory exists")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "json" | "cue")))
        .collect();
    files.sort();
    files
}

fn check(file: &Path, expect_ok: bool) -> Result<(), Failed> {
    let relative = file.strip_prefix(support::repo()).unwrap_or(file).to_string_lossy().into_owned();
    let output = support::rtt(&["validate", &relative]);
    let code = output.status.code();
    if expect_ok {
        if code != Some(0) {
            return Err(format!("expected exit 0, got {code:?}\n{}", support::stderr(&output)).into());
        }
        support::check_snapshot(&snapshot(file, "stdout"), &support::stdout(&output))?;
    } else {
        if code != Some(1) {
            return Err(format!("expected exit 1, got {code:?}\n{}", support::stderr(&output)).into());
        }
        let stderr = support::stderr(&output);
        if stderr.contains("panicked") {
            return Err(format!("rtt panicked:\n{stderr}").into());
        }
        support::check_snapshot(&snapshot(file, "stderr"), &stderr)?;
    }
    Ok(())
}

fn snapshot(file: &Path, stream: &str) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".");
    name.push(stream);
    PathBuf::from(name)
}
