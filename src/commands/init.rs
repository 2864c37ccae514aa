//! `rtt init`: write a commented starter config that validates as is.

use std::path::PathBuf;
use std::process::ExitCode;

use miette::Diagnostic;

use crate::cli::InitArgs;
use crate::exit::Failure;

/// The starter config; a test checks that it validates.
pub const STARTER: &str = include_str!("starter.yaml");

pub fn run(args: &InitArgs) -> Result<ExitCode, Failure> {
    let written = if args.force {
        rtt_durable::write_atomic(&args.path, STARTER.as_bytes(), rtt_durable::READ_WRITE)
    } else {
        rtt_durable::create_new(&args.path, STARTER.as_bytes(), rtt_durable::READ_WRITE)
    };
    written.map_err(|source| InitError { path: args.path.clone(), source })?;
    println!("wrote {}; check it with `rtt validate {}`", args.path.display(), args.path.display());
    Ok(ExitCode::SUCCESS)
}

/// The starter config could not be written.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("failed to write {}", .path.display())]
#[diagnostic(help("an existing file is never overwritten without --force"))]
pub struct InitError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}
