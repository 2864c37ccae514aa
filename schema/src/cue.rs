//! Exports `.cue` configs to JSON with the real `cue` tool.
//!
//! The one place the schema crate starts a process. The tool is found through
//! `RTT_CUE`, then `PATH`; rtt never evaluates CUE itself.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Why a `.cue` file could not be exported.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CueError {
    /// No `cue` binary anywhere.
    #[error("failed to find the `cue` tool to read {file}")]
    #[diagnostic(
        code(rtt::cue::missing),
        help(
            "install CUE (a native `cue` on PATH), or run `scripts/setup`, which installs the bundled \
             launcher `tools/cue/cue` (CUE compiled to WebAssembly, run by node); set RTT_CUE=/path/to/cue \
             to choose a binary explicitly"
        )
    )]
    Missing {
        /// The config being read.
        file: String,
    },
    /// `RTT_CUE` names something that does not run.
    #[error("failed to run the `cue` tool at {tool}")]
    #[diagnostic(code(rtt::cue::spawn), help("check RTT_CUE, or unset it to use `cue` from PATH"))]
    Spawn {
        /// The binary tried.
        tool: String,
        /// Why it did not start.
        #[source]
        source: std::io::Error,
    },
    /// `cue export` rejected the file; its message carries file:line:col.
    #[error("cue could not export {file}:\n{stderr}")]
    #[diagnostic(code(rtt::cue::export), help("fix the CUE error above; `cue vet {file}` shows the same"))]
    Export {
        /// The config being read.
        file: String,
        /// What cue printed, positions included.
        stderr: String,
    },
}

/// The `cue` binary rtt would run: `RTT_CUE`, else the first `cue` on `PATH`.
pub fn find_cue() -> Option<PathBuf> {
    if let Some(explicit) = std::env::var_os("RTT_CUE").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(explicit));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|dir| dir.join("cue")).find(|candidate| candidate.is_file())
}

/// Runs `cue export --out json FILE` and returns the JSON text.
pub fn export_json(file: &Path) -> Result<String, CueError> {
    let display = file.display().to_string();
    let tool = find_cue().ok_or_else(|| CueError::Missing { file: display.clone() })?;
    let output = Command::new(&tool)
        .args(["export", "--out", "json"])
        .arg(file)
        .output()
        .map_err(|source| CueError::Spawn { tool: tool.display().to_string(), source })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr).trim_end().to_owned();
        return Err(CueError::Export { file: display, stderr });
    }
    String::from_utf8(output.stdout)
        .map_err(|_| CueError::Export { file: display, stderr: "cue wrote output that is not UTF-8".into() })
}
