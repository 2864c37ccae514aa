//! `rtt validate`: check a config, report every error, exit 0 or 1.

use std::path::Path;
use std::process::ExitCode;

use miette::Diagnostic;
use rtt_canonical::Sha256;
use rtt_schema::model::Model;
use rtt_schema::{ConfigError, LoadedConfig, LocatedIssue};

use crate::cli::{Format, ValidateArgs};
use crate::exit::{EXIT_INVALID, Failure, Internal};
use crate::files::config_path;

pub fn run(args: &ValidateArgs, all_errors: bool) -> Result<ExitCode, Failure> {
    let path = config_path(args.config.as_deref())?;
    let result = rtt_schema::load(&path);
    match (args.format, result) {
        (format, Ok(loaded)) => {
            // Hashing buffers the canonical config: let go of the text and the
            // tree first, so peak memory is the larger of the two, not their sum.
            let LoadedConfig { source, root, config, model } = loaded;
            drop((source, root));
            let hash = Internal::config_hash(&config)?;
            crate::output::emit(
                format,
                || format!("{}\n", summary(&path, &model, hash)),
                || {
                    serde_json::json!({
                        "ok": true,
                        "file": path.display().to_string(),
                        "config": hash.to_string(),
                        "hosts": model.hosts.len(),
                        "agents": model.agents.len(),
                        "routes": model.routes.len(),
                    })
                },
            );
            Ok(ExitCode::SUCCESS)
        }
        (Format::Text, Err(error)) => Err(error.into()),
        (Format::Json, Err(error)) => {
            let error = if all_errors { error } else { error.keep_first(crate::exit::ERRORS_SHOWN) };
            println!("{:#}", errors_json(&path, error));
            Ok(ExitCode::from(EXIT_INVALID))
        }
    }
}

/// The one-line success message.
fn summary(path: &Path, model: &Model, hash: Sha256) -> String {
    let replicas: u64 = model.agents.iter().map(|a| u64::from(a.n_replicas)).sum();
    format!(
        "{}: valid — {} hosts in {} zones, {} agents ({} replicas), {} routes; config {hash}",
        path.display(),
        model.hosts.len(),
        model.zones.len(),
        model.agents.len(),
        replicas,
        model.routes.len(),
    )
}

/// The report of an invalid config; the issues' text moves into it (a
/// generated config can have thousands of errors: not two copies of them).
fn errors_json(path: &Path, error: ConfigError) -> serde_json::Value {
    let total = error.total();
    let errors: Vec<serde_json::Value> = if error.issues().is_empty() {
        vec![serde_json::json!({
            "file": path.display().to_string(),
            "message": error.to_string(),
            "help": error.help().map(|h| h.to_string()),
        })]
    } else {
        let issue_json = |issue: LocatedIssue| {
            let LocatedIssue { file, line, column, path, message, label, help, .. } = issue;
            let fields: [(&str, serde_json::Value); 7] = [
                ("file", file.into()),
                ("line", line.into()),
                ("column", column.into()),
                ("path", path.into()),
                ("message", message.into()),
                ("label", label.into()),
                ("help", help.into()),
            ];
            serde_json::Value::Object(fields.into_iter().map(|(key, value)| (key.to_owned(), value)).collect())
        };
        error.into_issues().into_iter().map(issue_json).collect()
    };
    let total = total.max(errors.len());
    serde_json::json!({ "ok": false, "file": path.display().to_string(), "total": total, "errors": errors })
}
