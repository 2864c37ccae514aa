//! Shared helpers for the end-to-end tests: run the real `rtt` binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (integration tests run with it as the working directory).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The bundled `cue` launcher, so tests never depend on PATH.
pub fn bundled_cue() -> PathBuf {
    repo().join("tools/cue/cue")
}

/// `rtt ARGS...` run from the repository root with the bundled cue.
pub fn rtt(args: &[&str]) -> Output {
    rtt_in(&repo(), args)
}

/// `rtt ARGS...` run from `dir`.
pub fn rtt_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rtt"))
        .args(args)
        .current_dir(dir)
        .env("RTT_CUE", bundled_cue())
        .env_remove("NO_COLOR")
        .output()
        .expect("the rtt binary runs")
}

/// Stdout as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Stderr as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Compares `actual` with the snapshot at `path`; with `RTT_BLESS=1` rewrites it.
pub fn check_snapshot(path: &Path, actual: &str) -> Result<(), String> {
    if std::env::var_os("RTT_BLESS").is_some() {
        std::fs::write(path, actual).map_err(|e| format!("writing {}: {e}", path.display()))?;
        return Ok(());
    }
    let expected = std::fs::read_to_string(path)
        .map_err(|e| format!("missing snapshot {} ({e}); run with RTT_BLESS=1 to create it", path.display()))?;
    if expected == actual {
        Ok(())
    } else {
        Err(format!(
            "{} differs (RTT_BLESS=1 rewrites it)\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        ))
    }
}
