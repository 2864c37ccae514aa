//! `rtt-sandbox`: the driver sandbox's launcher (docs/apply.md, "Sandbox").
//! The coordinator starts every external driver as
//! `rtt-sandbox --policy JSON -- COMMAND…`; this applies the policy to its
//! own process and execs the driver. `rtt-sandbox --probe` applies a
//! driver's default policy and prints which layers took effect (JSON).
//!
//! A binary of its own, beside `rtt`, because it is started once per
//! driver: it links only the sandbox (no solver, no parser of configs), so
//! its exec costs what a small program's does (BENCHMARKS.md, "Sandbox").

use std::process::ExitCode;

use rtt_apply::driver::sandbox::{Mode, Policy, enforce};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("rtt-sandbox: {message}");
            ExitCode::from(125)
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    match args {
        [probe] if probe == "--probe" => {
            let root = std::env::temp_dir().join(format!("rtt-sandbox-probe-{}", std::process::id()));
            let policy = Policy::new(Mode::Default, &["true".into()], &root, &root, &[], &[], None)
                .map_err(|e| e.to_string())?;
            let layers = enforce::apply(&policy).map_err(|e| e.to_string());
            let _ = std::fs::remove_dir(&root);
            println!("{}", serde_json::to_string(&layers?).map_err(|e| e.to_string())?);
            Ok(ExitCode::SUCCESS)
        }
        [flag, policy, dashes, command @ ..] if flag == "--policy" && dashes == "--" && !command.is_empty() => {
            let policy: Policy = serde_json::from_str(policy).map_err(|e| format!("malformed policy: {e}"))?;
            let layers = enforce::apply(&policy).map_err(|e| format!("failed to sandbox the driver: {e}"))?;
            let missing = layers.missing();
            if !missing.is_empty() {
                eprintln!("rtt sandbox: running without {} (set `sandbox: required` to refuse)", missing.join(", "));
            }
            Err(enforce::exec(&policy, command).to_string())
        }
        _ => Err("usage: rtt-sandbox --policy JSON -- COMMAND… | rtt-sandbox --probe".into()),
    }
}
