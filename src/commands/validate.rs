//! `rtt validate`: check a config, report every error, exit 0 or 1.

use std::path::Path;
use std::process::ExitCode;

use miette::Diagnostic;
use rtt_schema::{ConfigError, LoadedConfig};

use crate::cli::{Format, ValidateArgs};
use crate::exit::{EXIT_INVALID, Failure, Internal};
use crate::files::config_path;

pub fn run(args: &ValidateArgs, all_errors: bool) -> Result<ExitCode, Failure> {
    let path = config_path(args.config.as_deref())?;
    let result = rtt_schema::load(&path);
    match (args.format, result) {
        (Format::Text, Ok(loaded)) => {
            println!("{}", summary(&path, &loaded)?);
            Ok(ExitCode::SUCCESS)
        }
        (Format::Text, Err(error)) => Err(error.into()),
        (Format::Json, Ok(loaded)) => {
            let model = &loaded.model;
            let out = serde_json::json!({
                "ok": true,
                "file": path.display().to_string(),
                "config": Internal::config_hash(&loaded)?.to_string(),
                "hosts": model.hosts.len(),
                "agents": model.agents.len(),
                "routes": model.routes.len(),
            });
            println!("{out:#}");
            Ok(ExitCode::SUCCESS)
        }
        (Format::Json, Err(error)) => {
            let error = if all_errors { error } else { error.keep_first(crate::exit::ERRORS_SHOWN) };
            println!("{:#}", errors_json(&path, &error));
            Ok(ExitCode::from(EXIT_INVALID))
        }
    }
}

/// The one-line success message.
fn summary(path: &Path, loaded: &LoadedConfig) -> Result<String, Internal> {
    let model = &loaded.model;
    let replicas: u64 = model.agents.iter().map(|a| u64::from(a.n_replicas)).sum();
    Ok(format!(
        "{}: valid — {} hosts in {} zones, {} agents ({} replicas), {} routes; config {}",
        path.display(),
        model.hosts.len(),
        model.zones.len(),
        model.agents.len(),
        replicas,
        model.routes.len(),
        Internal::config_hash(loaded)?
    ))
}

fn errors_json(path: &Path, error: &ConfigError) -> serde_json::Value {
    let issues = error.issues();
    let errors: Vec<serde_json::Value> = if issues.is_empty() {
        vec![serde_json::json!({
            "file": path.display().to_string(),
            "message": error.to_string(),
            "help": error.help().map(|h| h.to_string()),
        })]
    } else {
        issues
            .iter()
            .map(|issue| {
                serde_json::json!({
                    "file": issue.file,
                    "line": issue.line,
                    "column": issue.column,
                    "path": issue.path,
                    "message": issue.message,
                    "label": issue.label,
                    "help": issue.help,
                })
            })
            .collect()
    };
    let total = error.total().max(errors.len());
    serde_json::json!({ "ok": false, "file": path.display().to_string(), "total": total, "errors": errors })
}
