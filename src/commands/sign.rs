//! `rtt sign PLAN --key KEY [-o OUT]`: add (or replace) this key's signature.

use std::process::ExitCode;

use crate::cli::SignArgs;
use crate::exit::Failure;
use crate::files::{read_plan_bytes, write_plan};

pub fn run(args: &SignArgs) -> Result<ExitCode, Failure> {
    let key = rtt_trust::keyfile::read_secret_key(&args.key)?;
    let bytes = read_plan_bytes(&args.plan)?;
    // The same strict parse as `verify`: signing a file that verify would
    // refuse as malformed or non-canonical would only produce a useless signature.
    let parsed = rtt_trust::parse_plan(&bytes)?;
    let mut document = parsed.document;
    let key_id = rtt_trust::sign_document(&mut document, &key)?;
    let output = args.output.as_ref().unwrap_or(&args.plan);
    write_plan(output, &document)?;
    let text = || {
        format!(
            "signed plan {} (serial {}) with key {key_id}; written to {}\n",
            parsed.hash,
            document.serial,
            crate::files::shown_output(output)
        )
    };
    let json = || {
        serde_json::json!({"kind": "rtt.sign", "plan": parsed.hash.to_string(), "serial": document.serial,
            "key_id": key_id.to_string(), "output": crate::files::shown_output(output)})
    };
    // With `-o -` stdout carries the plan; the report goes to stderr.
    if crate::files::is_stdio(output) {
        crate::output::emit_to_stderr(args.format, text, json);
    } else {
        crate::output::emit(args.format, text, json);
    }
    Ok(ExitCode::SUCCESS)
}
