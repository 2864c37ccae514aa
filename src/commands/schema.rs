//! `rtt schema`: the config's JSON Schema, derived from the Rust types.

use std::process::ExitCode;

use crate::exit::Failure;

pub fn run() -> Result<ExitCode, Failure> {
    println!("{}", schema_text());
    Ok(ExitCode::SUCCESS)
}

/// The schema as checked in at `schema/rtt.schema.json` (pretty, sorted keys).
pub fn schema_text() -> String {
    // serde_json's Value map is sorted, so the text is stable.
    serde_json::to_string_pretty(&rtt_schema::raw::json_schema()).unwrap_or_default()
}
