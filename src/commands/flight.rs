//! `rtt flight list` and `rtt flight show [ID]`: the flight records under
//! `.rtt/flight/`, listed or rendered as a timeline (text) or as they are
//! stored (JSON).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use miette::Diagnostic;
use rtt_apply::flight;

use crate::cli::{Format, WorkspaceArgs};
use crate::exit::Failure;
use crate::files::config_path;
use crate::output::emit;

pub fn list(args: &WorkspaceArgs, dir: Option<&Path>) -> Result<ExitCode, Failure> {
    let records = records(args, dir)?;
    let mut rows = Vec::new();
    for path in &records {
        let record = read(path)?;
        rows.push((record.id, record.reason, record.events.len()));
    }
    emit(
        args.format,
        || {
            if rows.is_empty() {
                return "no flight records yet: one is kept on an abort, a rollback, a failed gate or a recovery (or apply --flight-record)\n".to_owned();
            }
            rows.iter().map(|(id, reason, events)| format!("{id}  {reason:<10} {events:>5} events\n")).collect()
        },
        || {
            let records: Vec<serde_json::Value> = rows
                .iter()
                .map(|(id, reason, events)| serde_json::json!({"id": id, "reason": reason, "events": events}))
                .collect();
            serde_json::json!({"kind": "rtt.flight.list", "records": records})
        },
    );
    Ok(ExitCode::SUCCESS)
}

pub fn show(id: Option<&str>, args: &WorkspaceArgs, dir: Option<&Path>) -> Result<ExitCode, Failure> {
    let records = records(args, dir)?;
    let stem = |p: &PathBuf| p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let path = match id {
        None => records.last().ok_or(NoRecord { id: None })?,
        Some(id) => {
            let matching: Vec<&PathBuf> = records.iter().filter(|p| stem(p).starts_with(id)).collect();
            match matching.as_slice() {
                [one] => *one,
                [] => return Err(NoRecord { id: Some(id.to_owned()) }.into()),
                many => {
                    return Err(
                        Ambiguous { id: id.to_owned(), candidates: many.iter().map(|p| stem(p)).collect() }.into()
                    );
                }
            }
        }
    };
    let record = read(path)?;
    match args.format {
        Format::Text => print!("{}", crate::render::flight::timeline(&record)),
        Format::Json => emit(args.format, String::new, || serde_json::to_value(&record).unwrap_or_default()),
    }
    Ok(ExitCode::SUCCESS)
}

fn records(args: &WorkspaceArgs, dir: Option<&Path>) -> Result<Vec<PathBuf>, Failure> {
    let layout = crate::workspace::rtt_dir(dir, Some(&config_path(args.config.as_deref())?));
    let where_ = layout.flight();
    flight::list(&where_).map_err(|e| Unreadable { path: where_.display().to_string(), reason: e.to_string() }.into())
}

fn read(path: &Path) -> Result<flight::FlightRecord, Failure> {
    flight::read(path).map_err(|e| Unreadable { path: path.display().to_string(), reason: e.to_string() }.into())
}

/// No such record.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{}", match id { Some(id) => format!("no flight record `{id}`"), None => "no flight records yet".to_owned() })]
#[diagnostic(code(rtt::flight::none), help("`rtt flight list` shows the records kept"))]
struct NoRecord {
    id: Option<String>,
}

/// A prefix that names several records.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("`{id}` names {} flight records: {}", candidates.len(), candidates.join(", "))]
#[diagnostic(code(rtt::flight::ambiguous), help("give more of the id"))]
struct Ambiguous {
    id: String,
    candidates: Vec<String>,
}

/// A record that cannot be read.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("failed to read {path}: {reason}")]
#[diagnostic(code(rtt::flight::unreadable))]
struct Unreadable {
    path: String,
    reason: String,
}
