//! The one place the binary finds configs and reads and writes plan files,
//! and where `-` means standard input or output (`rtt plan - -o - | rtt sign - --key k -o -`).
//! Files are written atomically (temp file, fsync, rename, fsync of the
//! directory); standard output is written as it is.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use miette::Diagnostic;
use rtt_plan::PlanDocument;

use crate::exit::Failure;

/// Whether `path` is `-`.
pub fn is_stdio(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// The bytes of `path`, or of standard input for `-`.
pub fn read_bytes(path: &Path) -> std::io::Result<Vec<u8>> {
    if is_stdio(path) {
        let mut bytes = Vec::new();
        std::io::stdin().lock().read_to_end(&mut bytes)?;
        Ok(bytes)
    } else {
        std::fs::read(path)
    }
}

/// Writes `bytes` to `path` atomically, or to standard output for `-`.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if is_stdio(path) {
        let mut stdout = std::io::stdout().lock();
        let written = stdout.write_all(bytes).and_then(|()| stdout.flush());
        if written.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) {
            // The reader has gone (`| head`): end quietly, as the panic hook does for println!.
            std::process::exit(141);
        }
        written
    } else {
        rtt_durable::write_atomic(path, bytes, rtt_durable::READ_WRITE)
    }
}

/// A plan file's bytes (`-`: standard input).
pub fn read_plan_bytes(path: &Path) -> Result<Vec<u8>, BadPlan> {
    read_bytes(path).map_err(|e| BadPlan { action: "read", path: path.to_owned(), reason: e.to_string() })
}

/// Reads and parses a plan file (`-`: standard input).
pub fn read_plan(path: &Path) -> Result<PlanDocument, Failure> {
    let bytes = read_plan_bytes(path)?;
    let text = String::from_utf8(bytes).map_err(|_| BadPlan {
        action: "read",
        path: path.to_owned(),
        reason: "not UTF-8".into(),
    })?;
    PlanDocument::parse(&text).map_err(|reason| BadPlan { action: "read", path: path.to_owned(), reason }.into())
}

/// Writes a plan's canonical bytes (`-`: standard output).
pub fn write_plan(path: &Path, plan: &PlanDocument) -> Result<(), Failure> {
    let failed = |reason: String| BadPlan { action: "write", path: path.to_owned(), reason };
    let bytes = plan.to_file_bytes().map_err(|e| failed(e.to_string()))?;
    write_bytes(path, &bytes).map_err(|e| failed(e.to_string()).into())
}

/// A plan file that cannot be used.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("failed to {action} plan {}: {reason}", if *.action == "write" { shown_output(.path) } else { shown(.path) })]
#[diagnostic(help("plans are written by `rtt plan -o FILE`; `-` is standard input or output"))]
pub struct BadPlan {
    /// "read" or "write".
    pub action: &'static str,
    pub path: PathBuf,
    pub reason: String,
}

/// A path read from, as messages show it: `-` is standard input.
pub fn shown(path: &Path) -> String {
    if is_stdio(path) { "(standard input)".to_owned() } else { path.display().to_string() }
}

/// A path written to, as messages show it: `-` is standard output.
pub fn shown_output(path: &Path) -> String {
    if is_stdio(path) { "(standard output)".to_owned() } else { path.display().to_string() }
}

/// The config named on the command line, or the one in this directory.
pub fn config_path(given: Option<&Path>) -> Result<PathBuf, Failure> {
    if let Some(path) = given {
        return Ok(path.to_owned());
    }
    let found: Vec<PathBuf> =
        ["rtt.cue", "rtt.yaml", "rtt.yml", "rtt.json"].iter().map(PathBuf::from).filter(|p| p.is_file()).collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(NoConfig::Missing.into()),
        several => Err(NoConfig::Ambiguous(several.iter().map(|p| p.display().to_string()).collect()).into()),
    }
}

/// No config was named and the directory does not settle which one to use.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum NoConfig {
    /// None found.
    #[error("failed to find a config in this directory")]
    #[diagnostic(help("name one (rtt validate path/to/rtt.yaml) or run `rtt init` to write rtt.yaml"))]
    Missing,
    /// Several found.
    #[error("failed to choose a config: found {}", .0.join(", "))]
    #[diagnostic(help("name the one to use on the command line"))]
    Ambiguous(Vec<String>),
}

/// The config with a calibration's latencies in it (`--profile`,
/// docs/telemetry.md), or as it was without one.
pub fn with_calibration(
    loaded: rtt_schema::LoadedConfig,
    profile: Option<&Path>,
) -> Result<rtt_schema::LoadedConfig, Failure> {
    let Some(path) = profile else { return Ok(loaded) };
    let bytes = read_bytes(path).map_err(|e| BadCalibration { path: path.to_owned(), reason: e.to_string() })?;
    let profile = rtt_telemetry::calibrate::Profile::parse(&bytes)
        .map_err(|reason| BadCalibration { path: path.to_owned(), reason })?;
    let (loaded, skipped) = loaded.calibrated(&profile.latency_us, &profile.service_us)?;
    for agent in skipped {
        crate::output::note(format_args!("note: the calibration's agent `{agent}` is not in the config; skipped"));
    }
    Ok(loaded)
}

/// A calibration profile that cannot be read.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("failed to read the calibration {}: {reason}", path.display())]
#[diagnostic(code(rtt::calibrate::bad_profile), help("write one with `rtt calibrate`"))]
pub struct BadCalibration {
    path: PathBuf,
    reason: String,
}
