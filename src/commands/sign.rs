//! `rtt sign PLAN --key KEY [-o OUT]`: add (or replace) this key's signature.

use std::process::ExitCode;

use super::Failure;
use super::plan::{BadPlan, write_plan};
use crate::cli::SignArgs;

pub fn run(args: &SignArgs) -> Result<ExitCode, Failure> {
    let key = rtt_trust::keyfile::read_secret_key(&args.key)?;
    let bytes = std::fs::read(&args.plan).map_err(|e| BadPlan { path: args.plan.clone(), reason: e.to_string() })?;
    // The same strict parse as `verify`: signing a file that verify would
    // refuse as malformed or non-canonical would only produce a useless signature.
    let parsed = rtt_trust::parse_plan(&bytes)?;
    let mut document = parsed.document;
    let key_id = rtt_trust::sign_document(&mut document, &key)?;
    let output = args.output.as_ref().unwrap_or(&args.plan);
    write_plan(output, &document)?;
    println!(
        "signed plan {} (serial {}) with key {key_id}; written to {}",
        parsed.hash,
        document.serial,
        output.display()
    );
    Ok(ExitCode::SUCCESS)
}
